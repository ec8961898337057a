"""One run's events as timeline segments (what the Gantt chart draws), in real order.

    segments = run_segments(events)      # attempts, backoff waits, compensations, unknowns

Each attempt spans its ``*_started`` to its outcome (or ``outcome.ts - duration_ms`` when the
start is missing); a backoff wait spans a failed attempt to the next start of the same step
(or compensation); an attempt with a start and no outcome is ``unknown`` up to the run's next
event. Segments come sorted by start time, then by the ``seq`` that opened them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dashboard.queries import RunEvent
from runtime.store.tables import EventType


class SegmentKind(StrEnum):
    SUCCEEDED = "attempt succeeded"
    FAILED = "attempt failed"
    TIMED_OUT = "attempt timed out"
    UNKNOWN = "outcome unknown"
    BACKOFF = "backoff wait"
    COMPENSATED = "compensation succeeded"
    COMPENSATION_FAILED = "compensation failed"
    COMPENSATION_BACKOFF = "compensation backoff"


@dataclass(frozen=True)
class Segment:
    row: str
    """the Gantt row: the step, or ``undo <step>`` for its compensation"""
    kind: SegmentKind
    start: datetime
    end: datetime
    label: str
    seq: int
    """the seq of the event that opened the segment (orders segments starting together)"""
    detail: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) / timedelta(milliseconds=1)


_OUTCOMES = {
    EventType.STEP_SUCCEEDED.value: (False, SegmentKind.SUCCEEDED),
    EventType.STEP_FAILED.value: (False, SegmentKind.FAILED),
    EventType.STEP_TIMED_OUT.value: (False, SegmentKind.TIMED_OUT),
    EventType.COMPENSATION_SUCCEEDED.value: (True, SegmentKind.COMPENSATED),
    EventType.COMPENSATION_FAILED.value: (True, SegmentKind.COMPENSATION_FAILED),
}
_STARTS = {EventType.STEP_STARTED.value: False, EventType.COMPENSATION_STARTED.value: True}


def row_name(step: str, compensation: bool) -> str:
    return f"undo {step}" if compensation else step


def run_segments(events: Sequence[RunEvent]) -> list[Segment]:
    """Segments of one run's events (given in ``seq`` order)."""
    events = sorted(events, key=lambda e: e.seq)
    segments: list[Segment] = []
    open_starts: dict[tuple[bool, str], RunEvent] = {}
    last_failure: dict[tuple[bool, str], RunEvent] = {}
    for event in events:
        if event.step is None:
            continue
        if event.type in _STARTS:
            key = (_STARTS[event.type], event.step)
            failure = last_failure.pop(key, None)
            if failure is not None and event.ts >= failure.ts:
                kind = SegmentKind.COMPENSATION_BACKOFF if key[0] else SegmentKind.BACKOFF
                wait = (event.ts - failure.ts) / timedelta(milliseconds=1)
                segments.append(Segment(row_name(event.step, key[0]), kind, failure.ts,
                                        event.ts, f"backoff {wait:,.0f} ms", failure.seq))
            previous = open_starts.pop(key, None)
            if previous is not None:  # a start without outcome, then a new start: unknown
                segments.append(_unknown(previous, event.ts, key[0]))
            open_starts[key] = event
        elif event.type in _OUTCOMES:
            compensation, kind = _OUTCOMES[event.type]
            key = (compensation, event.step)
            started = open_starts.pop(key, None)
            if started is not None:
                begin, seq = started.ts, started.seq
            else:
                begin = event.ts - timedelta(milliseconds=event.duration_ms or 0.0)
                seq = event.seq
            attempt = event.attempt or (started.attempt if started else None)
            what = "compensation" if compensation else "attempt"
            label = f"{what} {attempt}" if attempt else what
            detail = ": ".join(p for p in (event.error_type, event.error) if p)
            segments.append(Segment(row_name(event.step, compensation), kind, begin, event.ts,
                                    label, seq, detail))
            if kind in (SegmentKind.FAILED, SegmentKind.TIMED_OUT,
                        SegmentKind.COMPENSATION_FAILED):
                last_failure[key] = event
            else:
                last_failure.pop(key, None)
    end = events[-1].ts if events else None
    for key, started in open_starts.items():
        later = [e.ts for e in events if e.seq > started.seq]
        segments.append(_unknown(started, max(later) if later else end or started.ts, key[0]))
    segments.sort(key=lambda s: (s.start, s.seq))
    return segments


def _unknown(started: RunEvent, until: datetime, compensation: bool) -> Segment:
    assert started.step is not None
    return Segment(row_name(started.step, compensation), SegmentKind.UNKNOWN, started.ts,
                   max(until, started.ts), f"attempt {started.attempt or '?'} (no outcome)",
                   started.seq, "the runner stopped before recording an outcome")


def row_order(segments: Sequence[Segment]) -> list[str]:
    """Gantt rows in order of first appearance."""
    return list(dict.fromkeys(segment.row for segment in segments))
