"""An event log in this process's memory, with :class:`~runtime.store.sql.EventStore`'s API.

    store = MemoryEventStore()
    store.save_definition(definition)
    rejected = store.write(batch)                    # same lease fencing as EventStore
    record = store.load_run(run_id)

For tests, embedding and benchmarks: nothing survives the process, so it is no use for crash
recovery across processes. One lock guards everything; :meth:`write` is cheap enough for the
group committer to call on the event loop thread (``inline_writes``). Events are kept as
they arrive, :data:`EventRow` tuples of plain values with data as JSON text, as a SQL store
keeps them (and so that the garbage collector stops tracking them: full collections then
don't walk a million events); reads decode them and convert times to UTC, as the SQL store
returns them.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from runtime.clock import SystemClock
from runtime.definition import SagaDefinition
from runtime.errors import RunNotFoundError, StoreError
from runtime.planner import Event
from runtime.store.sql import (
    UNFINISHED,
    EventRow,
    RunRecord,
    RunUpdate,
    WriteBatch,
    event_row,
    event_time,
    json_text,
)
from runtime.store.tables import TERMINAL_STATUSES, EventType, Mode, Origin

Row = dict[str, Any]
_NO_RUN: Row = {"owner": object()}  # owned by nobody: what a missing run is to the lease fence
_RUN_COLUMNS = ("id", "saga", "definition_hash", "status", "mode", "origin", "batch", "input", "started_at",
                "ended_at", "duration_ms", "owner", "lease_expires_at")


class MemoryEventStore:
    """Runs, events and definitions in dicts; the same results and errors as EventStore."""

    inline_writes: ClassVar[bool] = True
    url = "memory:"
    is_sqlite = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._definitions: dict[str, Row] = {}
        self._runs: dict[str, Row] = {}
        self._events: dict[str, tuple[EventRow, ...]] = {}  # run id -> its events by seq

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions -------------------------------------------------------------------
    def save_definition(self, definition: SagaDefinition, now: datetime | None = None) -> str:
        digest = definition.content_hash
        with self._lock:
            if digest not in self._definitions:
                self._definitions[digest] = {
                    "hash": digest, "name": definition.saga, "version": definition.version,
                    "body": definition.model_dump(mode="json"), "created_at": now or SystemClock().now()}
        return digest

    def load_definition(self, digest: str) -> SagaDefinition:
        with self._lock:
            row = self._definitions.get(digest)
        if row is None:
            raise StoreError("load definition", f"no definition {digest[:12]} in the event log")
        return SagaDefinition.model_validate(row["body"])

    def definitions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = sorted(self._definitions.values(), key=lambda r: r["created_at"])
        return [{"hash": r["hash"], "name": r["name"], "version": r["version"],
                 "created_at": _utc(r["created_at"])} for r in rows]

    # -- writes --------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> set[str]:
        """Apply a group commit all or nothing; return the run ids whose writes were rejected
        because ``batch.owner`` no longer holds their lease. (Hot: the group committer calls
        it for every flush of every run.)"""
        runs, all_events, owner = self._runs, self._events, batch.owner
        rejected: set[str] = set()
        with self._lock:
            new: dict[str, Row] = {}
            for new_run in batch.new_runs:
                run_id = new_run["id"]
                if run_id in runs or run_id in new:
                    raise StoreError("append", "UNIQUE constraint failed: run.id")
                if new_run["definition_hash"] not in self._definitions:
                    raise StoreError("append", "FOREIGN KEY constraint failed")
                new[run_id] = _run_in(new_run)
            appended: list[tuple[str, tuple[EventRow, ...]]] = []
            for run_id, rows in batch.events.items():
                # fenced by its lease unless new in this batch (an unknown run is rejected too)
                if run_id not in new and runs.get(run_id, _NO_RUN)["owner"] != owner:
                    rejected.add(run_id)
                    continue
                if rows:
                    appended.append((run_id, _merged(run_id, all_events.get(run_id, ()), rows)))
            owned: list[tuple[Row, RunUpdate]] = []
            for run_id, update in batch.updates.items():
                run = new.get(run_id) or runs.get(run_id)
                if run_id in rejected or run is None or (run_id not in new and run["owner"] != owner):
                    rejected.add(run_id)
                    continue
                owned.append((run, update))
            # checked: from here on nothing fails, so the batch is applied whole
            if new:
                runs.update(new)
            for run, update in owned:
                status = update.status
                if status in TERMINAL_STATUSES:
                    run["lease_expires_at"] = run["owner"] = None
                else:
                    run["lease_expires_at"], run["owner"] = batch.lease_until, owner
                if status is not None:
                    run["status"] = str(status)
                if update.ended_at is not None:
                    run["ended_at"] = update.ended_at
                if update.duration_ms is not None:
                    run["duration_ms"] = update.duration_ms
            for run_id, events in appended:
                all_events[run_id] = events
        return rejected

    def append_events(self, owner: str, run_id: str, rows: list[EventRow]) -> bool:
        """:meth:`write` of a batch holding only ``rows``, events of one run: the inline group
        committer's usual flush, without a batch object. True when written; False when
        ``owner`` no longer holds the run's lease (rejected, as ``write`` reports it)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run["owner"] != owner:
                return False
            if rows:
                self._events[run_id] = _merged(run_id, self._events.get(run_id, ()), rows)
        return True

    def claim(self, owner: str, now: datetime, lease_until: datetime, *,
              limit: int = 1000, run_ids: Iterable[str] | None = None,
              definition_hashes: Iterable[str] | None = None,
              batch: str | None = None, include_own: bool = True) -> list[str]:
        """Take the lease of unfinished runs that nobody holds (lease expired or no owner),
        or that ``owner`` already holds. Returns the ids now owned by ``owner``."""
        hashes = None if definition_hashes is None else set(definition_hashes)
        with self._lock:
            runs: Iterable[Row | None] = (self._runs.values() if run_ids is None
                                          else (self._runs.get(i) for i in dict.fromkeys(run_ids)))
            found = [r for r in runs if r is not None and r["status"] in UNFINISHED
                     and (hashes is None or r["definition_hash"] in hashes)
                     and (batch is None or r["batch"] == batch)
                     and (include_own or r["owner"] != owner)
                     and (r["owner"] is None or r["lease_expires_at"] is None or r["lease_expires_at"] < now
                          or r["owner"] == owner)]
            found = _take(sorted(found, key=lambda r: r["started_at"]), limit)
            for run in found:
                run["owner"], run["lease_expires_at"] = owner, lease_until
            return [r["id"] for r in found]

    def renew(self, owner: str, run_ids: Iterable[str], lease_until: datetime) -> set[str]:
        """Extend leases; return the ids no longer owned by ``owner``."""
        lost: set[str] = set()
        with self._lock:
            for run_id in set(run_ids):
                run = self._runs.get(run_id)
                if run is None or run["owner"] != owner:
                    lost.add(run_id)
                else:
                    run["lease_expires_at"] = lease_until
        return lost

    def append_manual_action(self, run_id: str, now: datetime, action: str, *, by: str,
                             note: str = "", step: str | None = None,
                             status: str | None = None) -> int:
        """Write a ``manual_action`` event (retry / resolve) outside any runner's lease;
        ``status`` (with a retry) is the run's status from now on."""
        with self._lock:
            events = self._events.get(run_id)
            if not events:
                raise RunNotFoundError(run_id)
            seq = events[-1][1] + 1
            self._events[run_id] = events + (event_row(
                run_id, seq, now, EventType.MANUAL_ACTION.value, step,
                data={"action": action, "by": by, "note": note}),)
            if status is not None:
                self._runs[run_id].update(status=status, ended_at=None, duration_ms=None, owner=None,
                                          lease_expires_at=None)
            return seq

    # -- reads ---------------------------------------------------------------------------
    def load_run(self, run_id: str, *, with_events: bool = True) -> RunRecord:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise RunNotFoundError(run_id)
            record = RunRecord(**_run_out(run))
            if with_events:
                record.events = [_event(event) for event in self._events.get(run_id, ())]
        return record

    def find_run(self, part: str) -> str:
        """A run id from its unique start or end (as `saga show` accepts); ASCII
        case-insensitive like SQLite's LIKE."""
        wanted = part.lower()
        with self._lock:
            for matches in (str.startswith, str.endswith):
                found = [run_id for run_id in self._runs if matches(run_id.lower(), wanted)][:2]
                if len(found) == 1:
                    return found[0]
                if found:
                    break
        raise RunNotFoundError(part)

    def list_runs(self, *, saga: str | None = None, status: str | None = None,
                  batch: str | None = None, origin: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = [r for r in self._runs.values()
                    if (not saga or r["saga"] == saga) and (not status or r["status"] == status)
                    and (not batch or r["batch"] == batch) and (not origin or r["origin"] == origin)]
            rows.sort(key=lambda r: r["started_at"], reverse=True)
            return [_run_out(r) for r in _take(rows, limit)]

    def next_lease_expiry(self, *, batch: str | None = None) -> datetime | None:
        """When the first lease on an unfinished run (of ``batch``) runs out."""
        with self._lock:
            leases = [r["lease_expires_at"] for r in self._runs.values()
                      if r["status"] in UNFINISHED and r["lease_expires_at"] is not None
                      and (batch is None or r["batch"] == batch)]
        return _utc(min(leases)) if leases else None

    def event_count(self) -> int:
        with self._lock:
            return sum(len(events) for events in self._events.values())

    def status_counts(self, *, batch: str | None = None) -> dict[str, int]:
        with self._lock:
            counts = Counter(str(r["status"]) for r in self._runs.values() if not batch or r["batch"] == batch)
        return dict(sorted(counts.items()))

    def run_indexes(self, batch: str) -> list[int]:
        """As :meth:`EventStore.run_indexes`: each run's index, from its ``run_started``."""
        with self._lock:
            firsts = [self._events.get(run["id"], ())[:1] for run in self._runs.values()
                      if run["batch"] == batch]
        started = EventType.RUN_STARTED.value
        return [int(json.loads(first[0][9] or "{}").get("run_index") or 0)
                for first in firsts if first and first[0][3] == started]


def _take(rows: list[Row], limit: int) -> list[Row]:
    return rows if limit < 0 else rows[:limit]  # SQLite: a negative LIMIT is no limit


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo is not None else value


def _by_seq(event: EventRow) -> int:
    return event[1]


def _merged(run_id: str, kept: tuple[EventRow, ...], rows: list[EventRow]) -> tuple[EventRow, ...]:
    """``kept`` (one run's events, by seq) with ``rows`` added; raises as the SQL store would."""
    last = kept[-1][1] if kept else 0
    in_order = True
    for row in rows:
        seq = row[1]
        if row[0] != run_id:
            raise StoreError("append", f"an event row of another run is filed under {run_id}")
        if seq <= last:
            in_order = False
        last = seq
    added = tuple(rows)  # kept as given: plain values, data as JSON text
    if in_order:  # the usual case: new seqs after the kept ones, nothing else to check
        return kept + added
    seen = {event[1] for event in kept}
    for row in rows:
        if row[1] in seen:
            raise StoreError("append", "UNIQUE constraint failed: event.run_id, event.seq")
        seen.add(row[1])
    return tuple(sorted(kept + added, key=_by_seq))


def _run_in(row: Row) -> Row:
    """A run row as kept: plain values only (built that way, so the collector never tracks it)."""
    try:
        input_ = row.get("input")
        text = json_text(input_) if input_ else "{}"
    except (TypeError, ValueError) as exc:
        raise StoreError("append", f"run input is not JSON: {exc}") from None
    get = row.get
    return {"id": row["id"], "saga": row["saga"], "definition_hash": row["definition_hash"],
            "status": row["status"], "mode": get("mode") or Mode.ORCHESTRATION.value,
            "origin": get("origin") or Origin.REAL.value, "batch": get("batch"), "input": text,
            "started_at": row["started_at"], "ended_at": get("ended_at"),
            "duration_ms": get("duration_ms"), "owner": get("owner"),
            "lease_expires_at": get("lease_expires_at")}


def _run_out(run: Row) -> Row:
    row = {column: _utc(run[column]) for column in _RUN_COLUMNS}
    row["input"] = json.loads(row["input"])
    return row


def _event(stored: EventRow) -> Event:
    _, seq, ts, type_, step, attempt, duration_ms, error_type, error, data = stored
    return Event(type=EventType(type_), seq=seq, ts=event_time(ts), step=step, attempt=attempt,
                 duration_ms=duration_ms, error_type=error_type, error=error,
                 data=None if data is None else json.loads(data))
