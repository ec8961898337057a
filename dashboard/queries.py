"""What the Monitor reads from the event log: SQL aggregations returning plain dataclasses.

    with engine.connect() as conn:
        view = overview(conn, MonitorFilter(saga="flight_booking"), now=now)
        view.kpis.compensation_rate, view.steps[0].p95_ms, view.paths[0].runs

Every function takes an ``Engine`` or a ``Connection`` and a :class:`MonitorFilter`, and
aggregates in the database (SQLAlchemy Core; SQLite and PostgreSQL): nothing here loads
every event into Python. Percentiles are exact nearest-rank values (``ORDER BY .. LIMIT 1
OFFSET k``); rates are shares of the runs the filter selects. docs/dashboard.md describes
each query and docs/event-log.md the index it uses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, and_, case, distinct, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from dashboard.dialect import (
    bucket_seconds,
    epoch_seconds,
    percentile_selects,
    pick_ranked,
    ranked_percentiles,
    unindexed_on_sqlite,
)
from dashboard.filters import STATUSES, MonitorFilter, as_utc
from runtime.definition import SagaDefinition
from runtime.store.sql import Bind, connection
from runtime.store.tables import EventType, RunStatus, definition_table, event_table, run_table

PERCENTILES = (50.0, 95.0, 99.0)
RUN = run_table.c
EVENT = event_table.c


# -- results ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Kpis:
    """Headline numbers over the filtered runs."""

    runs: int = 0
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    running: int = 0
    compensating: int = 0
    compensation_triggered: int = 0
    """runs that turned to compensating (a ``run_compensating`` event), whatever came next"""
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    """run duration percentiles over finished runs (``run.duration_ms``)"""

    @property
    def in_flight(self) -> int:
        return self.running + self.compensating

    @property
    def finished(self) -> int:
        return self.completed + self.compensated + self.failed

    @property
    def compensation_rate(self) -> float:
        """Share of runs that had to compensate."""
        return self.compensation_triggered / self.runs if self.runs else 0.0

    @property
    def failure_rate(self) -> float:
        """Share of runs that ended ``failed`` (need attention)."""
        return self.failed / self.runs if self.runs else 0.0

    @property
    def completion_rate(self) -> float:
        return self.completed / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class TimeBucket:
    """Runs *started* in ``[start, start + width)``, by what became of them."""

    start: datetime
    started: int = 0
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    in_flight: int = 0
    compensation_triggered: int = 0

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.started if self.started else None

    @property
    def compensation_rate(self) -> float | None:
        return self.compensation_triggered / self.started if self.started else None


@dataclass(frozen=True)
class TimeSeries:
    bucket_seconds: int
    buckets: list[TimeBucket] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(bucket.started for bucket in self.buckets)


@dataclass(frozen=True)
class StepStats:
    """One step over the filtered runs. Attempt-level counts come from the step's events."""

    step: str
    attempts: int = 0
    """``step_started`` events"""
    retries: int = 0
    """attempts after the first (``attempt > 1``)"""
    succeeded: int = 0
    failures: int = 0
    """failed attempts: ``step_failed`` + ``step_timed_out``"""
    timeouts: int = 0
    compensation_triggered: int = 0
    """runs whose compensation this step's failure triggered (``run_compensating.step``)"""
    compensation_attempts: int = 0
    compensations_succeeded: int = 0
    compensation_failures: int = 0
    """failed compensation attempts (``compensation_failed``)"""
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    """successful attempt duration percentiles (``step_succeeded.duration_ms``)"""

    @property
    def runs(self) -> int:
        """Runs that started this step (first attempts)."""
        return self.attempts - self.retries

    @property
    def failure_rate(self) -> float:
        """Failed attempts per attempt."""
        return self.failures / self.attempts if self.attempts else 0.0

    @property
    def trigger_rate(self) -> float:
        """Share of the runs that started this step whose compensation it triggered."""
        return self.compensation_triggered / self.runs if self.runs else 0.0

    @property
    def compensation_failure_rate(self) -> float:
        if not self.compensation_attempts:
            return 0.0
        return self.compensation_failures / self.compensation_attempts


@dataclass(frozen=True)
class PathGroup:
    """Runs that took the same path: same status, succeeded steps, trigger and failed step."""

    status: str
    steps: frozenset[str]
    """steps whose action succeeded"""
    trigger: str | None
    """the step whose failure triggered compensation"""
    failed_step: str | None
    """the step ``run_failed`` names (a compensation or a step after the pivot)"""
    runs: int


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    saga: str
    version: int | None
    definition_hash: str
    status: str
    origin: str
    batch: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None


@dataclass(frozen=True)
class RunEvent:
    seq: int
    ts: datetime
    type: str
    step: str | None
    attempt: int | None
    duration_ms: float | None
    error_type: str | None
    error: str | None
    data: dict[str, Any] | None


@dataclass(frozen=True)
class AttentionItem:
    """A ``failed`` run: what failed for good and why."""

    run_id: str
    saga: str
    started_at: datetime
    ended_at: datetime | None
    failed_step: str | None
    reason: str | None
    """``compensation_failed`` or ``forward_step_failed``"""
    error_type: str | None
    error: str | None
    trigger: str | None
    """the step whose failure started the compensation, if there was one"""


@dataclass(frozen=True)
class VersionOption:
    definition_hash: str
    saga: str
    version: int

    @property
    def short(self) -> str:
        """``saga v2 · 1a2b3c4d``: unique enough to name a version in a URL."""
        return f"{self.saga} v{self.version} · {self.definition_hash[:8]}"


@dataclass(frozen=True)
class BatchOption:
    batch: str
    saga: str
    origin: str
    runs: int
    started_at: datetime

    @property
    def label(self) -> str:
        return (f"{self.saga} · {self.origin} · {self.runs:,} runs · first started "
                f"{self.started_at:%Y-%m-%d %H:%M} UTC")


@dataclass(frozen=True)
class FilterOptions:
    sagas: list[str] = field(default_factory=list)
    """by number of runs, most first"""
    versions: list[VersionOption] = field(default_factory=list)
    batches: list[BatchOption] = field(default_factory=list)
    """newest first"""


@dataclass(frozen=True)
class Overview:
    """Everything the live section shows; one consistent read."""

    kpis: Kpis
    series: TimeSeries
    attention: list[AttentionItem]
    focus_saga: str | None = None
    definition: SagaDefinition | None = None
    steps: list[StepStats] = field(default_factory=list)
    paths: list[PathGroup] = field(default_factory=list)


# -- plumbing --------------------------------------------------------------------------
@contextmanager
def snapshot(bind: Bind) -> Iterator[Connection]:
    """A read transaction: every query inside sees the same state of the log
    (SQLite: one WAL snapshot; PostgreSQL: REPEATABLE READ)."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def run_conditions(flt: MonitorFilter) -> list[ColumnElement[bool]]:
    """The WHERE clause on ``run`` for a filter."""
    where: list[ColumnElement[bool]] = []
    if flt.saga:
        where.append(RUN.saga == flt.saga)
    if flt.definition_hash:
        where.append(RUN.definition_hash == flt.definition_hash)
    if flt.since is not None:
        where.append(RUN.started_at >= flt.since)
    if flt.until is not None:
        where.append(RUN.started_at < flt.until)
    if flt.statuses:
        where.append(RUN.status.in_(flt.statuses))
    if flt.origins:
        where.append(RUN.origin.in_(flt.origins))
    if flt.batch:
        where.append(RUN.batch == flt.batch)
    return where


def event_scope(flt: MonitorFilter) -> list[ColumnElement[bool]]:
    """The WHERE clause on ``event`` keeping the events of the filtered runs (none: all)."""
    where = run_conditions(flt)
    if not where:
        return []
    return [EVENT.run_id.in_(select(RUN.id).where(*where))]


def saga_own_steps(conn: Connection, flt: MonitorFilter) -> frozenset[str] | None:
    """The saga's step names when the filter only picks that saga and no other saga (any
    version) has a step of the same name; else None.

    Then the events naming those steps are exactly the saga's runs' events: a query can
    read them by type alone (one index range, no check of each event's run) and keep the
    saga's steps from the grouped rows."""
    if not flt.saga or flt != MonitorFilter(saga=flt.saga):
        return None
    own: set[str] = set()
    others: set[str] = set()
    for name, body in conn.execute(select(definition_table.c.name, definition_table.c.body)):
        steps = body.get("steps") if isinstance(body, dict) else None
        if not isinstance(steps, list):
            return None
        names = {s.get("name") for s in steps if isinstance(s, dict)}
        if not all(isinstance(n, str) for n in names):
            return None
        (own if name == flt.saga else others).update(names)  # type: ignore[arg-type]
    if not own or own & others:
        return None
    return frozenset(own)


def _type(value: EventType) -> str:
    return value.value


def unindexed(column: ColumnElement[str]) -> ColumnElement[str]:
    """On SQLite ``column || ''``: the same value, but no index on the column can serve a
    test on it (elsewhere the plain column: PostgreSQL plans from statistics).

    Used where a query must reach events through their run (``UNIQUE(run_id, seq)``, an
    index every log has): without statistics SQLite would otherwise pick ``(type, ...)``
    for ``type = ? AND run_id = ?`` and read every event of that type for each run."""
    return unindexed_on_sqlite(column)


def of_run(events: Any, type_: EventType) -> list[ColumnElement[bool]]:
    """The events of one type of the run in the enclosing query (``run.id``)."""
    return [events.c.run_id == RUN.id, unindexed(events.c.type) == _type(type_)]


# -- the run scan: KPIs, time series, completed runs per version -------------------------
@dataclass(frozen=True)
class _ScanRow:
    bucket: int | None
    status: str
    definition_hash: str
    runs: int
    timed: int
    turned: int


def _compensated_first() -> ColumnElement[int]:
    """Per run row: 1 if the run turned to compensating.

    ``compensating`` and ``compensated`` runs did by definition; a ``failed`` run did if it
    has a ``run_compensating`` event (checked only for failed runs: an index seek each)."""
    turned = select(EVENT.id).where(*of_run(event_table, EventType.RUN_COMPENSATING)).exists()
    return case(
        (RUN.status.in_([RunStatus.COMPENSATING.value, RunStatus.COMPENSATED.value]), 1),
        (RUN.status == RunStatus.FAILED.value, case((turned, 1), else_=0)),
        else_=0)


def _run_scan(conn: Connection, where: list[ColumnElement[bool]],
              width: int | None) -> list[_ScanRow]:
    """One pass over the filtered runs grouped by (start bucket, status, version): the
    KPIs, the time series and the completed paths are all sums of these rows."""
    keys: list[Any] = [RUN.status, RUN.definition_hash]
    if width is not None:
        keys.insert(0, (epoch_seconds(RUN.started_at, conn.dialect.name) // width * width)
                    .label("bucket"))
    rows = conn.execute(select(*keys, func.count(), func.count(RUN.duration_ms),
                               func.sum(_compensated_first()))
                        .where(*where).group_by(*keys)).all()
    if width is None:
        return [_ScanRow(None, r[0], r[1], r[2], r[3], int(r[4] or 0)) for r in rows]
    return [_ScanRow(int(r[0]), r[1], r[2], r[3], r[4], int(r[5] or 0)) for r in rows]


def _kpis_from(conn: Connection, where: list[ColumnElement[bool]],
               scan: list[_ScanRow]) -> Kpis:
    by_status: dict[str, int] = defaultdict(int)
    for row in scan:
        by_status[row.status] += row.runs
    timed = sum(row.timed for row in scan)
    p50, p95, p99 = _run_duration_percentiles(conn, where, timed)
    return Kpis(
        runs=sum(by_status.values()),
        completed=by_status[RunStatus.COMPLETED.value],
        compensated=by_status[RunStatus.COMPENSATED.value],
        failed=by_status[RunStatus.FAILED.value],
        running=by_status[RunStatus.RUNNING.value],
        compensating=by_status[RunStatus.COMPENSATING.value],
        compensation_triggered=sum(row.turned for row in scan),
        p50_ms=p50, p95_ms=p95, p99_ms=p99)


def kpis(bind: Bind, flt: MonitorFilter) -> Kpis:
    """Runs by status, runs that compensated, run duration p50/p95/p99."""
    where = run_conditions(flt)
    with connection(bind) as conn:
        return _kpis_from(conn, where, _run_scan(conn, where, None))


def _run_duration_percentiles(conn: Connection, where: list[ColumnElement[bool]],
                              count: int) -> list[float | None]:
    """Unfiltered: walk ``ix_run_duration`` from the nearer end. Filtered: one sort of the
    filtered runs (ordering by ``duration_ms + 0`` so that the planner reads them through the
    filter's index instead of walking the whole duration index checking each run)."""
    if not count:
        return [None] * len(PERCENTILES)
    if not where:
        row = conn.execute(select(*percentile_selects(RUN.duration_ms, [], count, PERCENTILES)))
        return [_float(v) for v in row.one()]
    query, ranks = ranked_percentiles(RUN.duration_ms + 0, RUN.duration_ms,
                                      [*where, RUN.duration_ms.is_not(None)], {None: count},
                                      PERCENTILES)
    return [_float(v) for v in pick_ranked(conn.execute(query), ranks)[None]]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _series_window(conn: Connection, flt: MonitorFilter, where: list[ColumnElement[bool]],
                   now: datetime | None, target: int) -> tuple[datetime, datetime, int] | None:
    """(first, last, bucket width): the filter's window, else the first to the last start."""
    first, last = flt.since, flt.until or (as_utc(now) if flt.since else None)
    if first is None or last is None:
        # two statements: each is one index seek (min and max together scan)
        low = conn.execute(select(func.min(RUN.started_at)).where(*where)).scalar()
        high = conn.execute(select(func.max(RUN.started_at)).where(*where)).scalar()
        if low is None or high is None:
            return None
        first = first or as_utc(low)
        last = last or as_utc(high)
    assert first is not None and last is not None
    return first, last, bucket_seconds(max((last - first).total_seconds(), 1.0), target)


def _series_from(scan: list[_ScanRow], first: datetime, last: datetime,
                 width: int) -> TimeSeries:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in scan:
        assert row.bucket is not None
        counts[row.bucket][row.status] += row.runs
        counts[row.bucket]["_turned"] += row.turned
    start = int(first.timestamp()) // width * width
    stop = int(last.timestamp()) // width * width
    buckets = []
    for key in sorted(set(range(start, stop + 1, width)) | set(counts)):
        by_status = counts.get(key, {})
        buckets.append(TimeBucket(
            start=datetime.fromtimestamp(key, UTC),
            started=sum(n for status, n in by_status.items() if status != "_turned"),
            completed=by_status.get(RunStatus.COMPLETED.value, 0),
            compensated=by_status.get(RunStatus.COMPENSATED.value, 0),
            failed=by_status.get(RunStatus.FAILED.value, 0),
            in_flight=(by_status.get(RunStatus.RUNNING.value, 0)
                       + by_status.get(RunStatus.COMPENSATING.value, 0)),
            compensation_triggered=by_status.get("_turned", 0)))
    return TimeSeries(bucket_seconds=width, buckets=buckets)


def time_series(bind: Bind, flt: MonitorFilter, *, now: datetime | None = None,
                target_buckets: int = 60) -> TimeSeries:
    """Runs started per bucket by outcome, and the runs among them that compensated.

    The series spans ``[since, until or now]`` when the filter has a window, else the
    first to the last run start; the bucket width is the smallest nice width giving at most
    ``target_buckets`` buckets. Empty buckets are included (zeros)."""
    where = run_conditions(flt)
    with connection(bind) as conn:
        window = _series_window(conn, flt, where, now, target_buckets)
        if window is None:
            return TimeSeries(bucket_seconds=60)
        first, last, width = window
        return _series_from(_run_scan(conn, where, width), first, last, width)


# -- steps -----------------------------------------------------------------------------
_STEP_TYPES = {
    EventType.STEP_STARTED.value: "attempts",
    EventType.STEP_SUCCEEDED.value: "succeeded",
    EventType.STEP_FAILED.value: "failures",
    EventType.STEP_TIMED_OUT.value: "timeouts",
    EventType.RUN_COMPENSATING.value: "compensation_triggered",
    EventType.COMPENSATION_STARTED.value: "compensation_attempts",
    EventType.COMPENSATION_SUCCEEDED.value: "compensations_succeeded",
    EventType.COMPENSATION_FAILED.value: "compensation_failures",
}


def prefer_run_seeks(conn: Connection, flt: MonitorFilter, *, share: float = 0.1) -> bool:
    """Whether the filter keeps few enough runs (at most ``share`` of all) that reading
    their events run by run beats scanning an index over every event of a type."""
    where = run_conditions(flt)
    if not where:
        return False
    total = conn.execute(select(func.count()).select_from(run_table)).scalar_one()
    cap = int(total * share)
    kept = conn.execute(select(func.count()).select_from(
        select(RUN.id).where(*where).limit(cap + 1).subquery())).scalar_one()
    return bool(kept <= cap)


def step_stats(bind: Bind, flt: MonitorFilter, *, order: Sequence[str] | None = None,
               seek_runs: bool | None = None) -> list[StepStats]:
    """Per step: attempts, retries, failures, compensation trigger and compensation counts,
    and p50/p95/p99 of successful attempt durations. Steps in ``order`` first (with zeros if
    they have no events), then the others by name.

    ``seek_runs`` (default: :func:`prefer_run_seeks`) reads the filtered runs' events run by
    run (through ``event(run_id, seq)``) instead of scanning ``ix_event_type_step_duration``;
    the type test is then written ``type || ''`` so that no type index is preferred."""
    retried = func.sum(case((EVENT.attempt > 1, 1), else_=0))
    with connection(bind) as conn:
        seek = prefer_run_seeks(conn, flt) if seek_runs is None else seek_runs
        own = None if seek else saga_own_steps(conn, flt)
        scope = [] if own is not None else event_scope(flt)
        type_col = unindexed(EVENT.type) if seek else EVENT.type
        rows = conn.execute(
            select(EVENT.step, EVENT.type, func.count(), func.count(EVENT.duration_ms), retried)
            .where(type_col.in_(list(_STEP_TYPES)), *scope)
            .group_by(EVENT.type, EVENT.step)).all()
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        timed: dict[str, int] = {}
        for step, type_, count, with_duration, retries in rows:
            if step is None or (own is not None and step not in own):
                continue
            counts[step][_STEP_TYPES[type_]] += count
            if type_ == EventType.STEP_STARTED.value:
                counts[step]["retries"] = int(retries or 0)
            if type_ == EventType.STEP_SUCCEEDED.value and with_duration:
                timed[step] = with_duration
        values = _step_percentiles(conn, timed, scope, seek)
    ordered = [*(order or [])]
    ordered += sorted(set(counts) - set(ordered))
    result = []
    for step in ordered:
        p50, p95, p99 = values.get(step, [None, None, None])
        c = counts.get(step, {})
        result.append(StepStats(
            step=step, attempts=c.get("attempts", 0), retries=c.get("retries", 0),
            succeeded=c.get("succeeded", 0),
            failures=c.get("failures", 0) + c.get("timeouts", 0), timeouts=c.get("timeouts", 0),
            compensation_triggered=c.get("compensation_triggered", 0),
            compensation_attempts=c.get("compensation_attempts", 0),
            compensations_succeeded=c.get("compensations_succeeded", 0),
            compensation_failures=c.get("compensation_failures", 0),
            p50_ms=p50, p95_ms=p95, p99_ms=p99))
    return result


def _step_percentiles(conn: Connection, timed: dict[str, int], scope: list[ColumnElement[bool]],
                      seek: bool) -> dict[str, list[float | None]]:
    """p50/p95/p99 of ``step_succeeded.duration_ms`` per step (``timed``: values per step).

    Scanning: ``LIMIT 1 OFFSET k`` walks ``ix_event_type_step_duration`` (type, step,
    duration_ms, ...) from the nearer end. Seeking runs: one ranked sort of the filtered
    runs' successes, every column test made unindexable so the planner starts from the runs."""
    if not timed:
        return {}
    succeeded = _type(EventType.STEP_SUCCEEDED)
    if seek:
        query, ranks = ranked_percentiles(
            EVENT.duration_ms + 0, EVENT.duration_ms,
            [unindexed(EVENT.type) == succeeded, EVENT.duration_ms.is_not(None), *scope],
            timed, PERCENTILES, partition=EVENT.step)
        picked = pick_ranked(conn.execute(query), ranks)
        return {step: [_float(v) for v in picked[step]] for step in picked}
    columns = []
    for step, n in timed.items():
        where = [EVENT.type == succeeded, EVENT.step == step, *scope]
        columns += [(step, sel) for sel in percentile_selects(EVENT.duration_ms, where, n,
                                                               PERCENTILES)]
    values: dict[str, list[float | None]] = {}
    row = conn.execute(select(*[sel for _, sel in columns])).one()
    for (step, _), value in zip(columns, row, strict=True):
        values.setdefault(step, []).append(_float(value))
    return values


# -- paths -----------------------------------------------------------------------------
_MASK_BITS = 62


def path_groups(bind: Bind, flt: MonitorFilter, steps: Sequence[str], *,
                completed_by_version: dict[str, int] | None = None) -> list[PathGroup]:
    """Runs grouped by (status, set of succeeded steps, trigger step, failed step).

    A ``completed`` run succeeded every step of its version (the engine's contract), so
    completed runs are counted per version from the run table alone. For the other runs
    the set of succeeded steps is a bit mask built in SQL (``SUM(DISTINCT bit)`` over the
    run's ``step_succeeded`` events, an index seek per run), and the database returns one
    row per distinct path, never one per run or per event. ``steps`` names the bits (the
    saga's steps); other steps are not shown. Largest groups first.

    ``completed_by_version`` (completed runs per definition hash under this filter) spares
    counting them when the caller already has the numbers."""
    steps = list(dict.fromkeys(steps))
    where = run_conditions(flt)
    with connection(bind) as conn:
        per_version: list[tuple[str, int]]
        if completed_by_version is None:
            per_version = [(h, int(n)) for h, n in conn.execute(
                select(RUN.definition_hash, func.count())
                .where(RUN.status == RunStatus.COMPLETED.value, *where)
                .group_by(RUN.definition_hash))]
        else:
            per_version = [(h, n) for h, n in completed_by_version.items() if n]
        version_steps = _definition_steps(conn, [h for h, _ in per_version])
        unknown = [h for h, _ in per_version if h not in version_steps]
        rest = RUN.status.in_([s for s in STATUSES if s != RunStatus.COMPLETED.value])
        if unknown:
            rest = rest | RUN.definition_hash.in_(unknown)
        rows = conn.execute(_path_query(steps, [rest, *where])).all()
    groups: dict[tuple[str, frozenset[str], str | None, str | None], int] = defaultdict(int)
    for digest, count in per_version:
        if digest in version_steps:
            groups[RunStatus.COMPLETED.value, frozenset(version_steps[digest]), None, None] += count
    chunks = _chunks(steps)
    for row in rows:
        status, *mask_values = row[:1 + len(chunks)]
        trigger, failed_step, runs = row[1 + len(chunks):]
        names = frozenset(name for chunk, mask in zip(chunks, mask_values, strict=True)
                          for bit, name in enumerate(chunk) if int(mask or 0) >> bit & 1)
        groups[status, names, trigger, failed_step] += int(runs)
    result = [PathGroup(status=status, steps=names, trigger=trigger, failed_step=failed,
                        runs=runs) for (status, names, trigger, failed), runs in groups.items()]
    result.sort(key=lambda g: (-g.runs, g.status, sorted(g.steps), g.trigger or "",
                               g.failed_step or ""))
    return result


def _definition_steps(conn: Connection, hashes: Sequence[str]) -> dict[str, list[str]]:
    """Step names of each stored definition that parses."""
    if not hashes:
        return {}
    found: dict[str, list[str]] = {}
    for digest, body in conn.execute(select(definition_table.c.hash, definition_table.c.body)
                                     .where(definition_table.c.hash.in_(list(hashes)))):
        steps = body.get("steps") if isinstance(body, dict) else None
        if isinstance(steps, list) and all(
                isinstance(s, dict) and isinstance(s.get("name"), str) for s in steps):
            found[digest] = [s["name"] for s in steps]
    return found


def _chunks(steps: list[str]) -> list[list[str]]:
    return [steps[i:i + _MASK_BITS] for i in range(0, len(steps), _MASK_BITS)] or [[]]


def _path_query(steps: list[str], where: list[ColumnElement[bool]]) -> Any:
    """Per-run correlated sub-queries, grouped: (status, mask..., trigger, failed step, runs)."""
    chunks = _chunks(steps)
    masks = []
    for chunk in chunks:
        bit = case({name: literal(1 << i) for i, name in enumerate(chunk)},
                   value=EVENT.step, else_=literal(0)) if chunk else literal(0)
        masks.append(func.coalesce(
            select(func.sum(distinct(bit)))
            .where(*of_run(event_table, EventType.STEP_SUCCEEDED))
            .scalar_subquery(), 0))

    def step_of(type_: EventType) -> Any:
        return (select(func.max(EVENT.step))
                .where(*of_run(event_table, type_)).scalar_subquery())

    trigger = case((RUN.status.in_([RunStatus.COMPENSATING.value, RunStatus.COMPENSATED.value,
                                    RunStatus.FAILED.value]), step_of(EventType.RUN_COMPENSATING)))
    failed = case((RUN.status == RunStatus.FAILED.value, step_of(EventType.RUN_FAILED)))
    inner = select(RUN.status.label("status"),
                   *[m.label(f"m{i}") for i, m in enumerate(masks)],
                   trigger.label("trigger"), failed.label("failed_step")).where(*where).subquery()
    keys = [inner.c.status, *[inner.c[f"m{i}"] for i in range(len(chunks))],
            inner.c.trigger, inner.c.failed_step]
    return select(*keys, func.count()).group_by(*keys)


# -- runs ------------------------------------------------------------------------------
def _summary_columns() -> list[Any]:
    return [RUN.id, RUN.saga, definition_table.c.version, RUN.definition_hash, RUN.status,
            RUN.origin, RUN.batch, RUN.started_at, RUN.ended_at, RUN.duration_ms]


def _summary(row: Any) -> RunSummary:
    return RunSummary(run_id=row[0], saga=row[1], version=row[2], definition_hash=row[3],
                      status=row[4], origin=row[5], batch=row[6], started_at=as_utc(row[7]),  # type: ignore[arg-type]
                      ended_at=as_utc(row[8]), duration_ms=_float(row[9]))


def list_runs(bind: Bind, flt: MonitorFilter, *, limit: int = 100,
              offset: int = 0) -> list[RunSummary]:
    """The filtered runs, newest first."""
    query = (select(*_summary_columns())
             .select_from(run_table.outerjoin(
                 definition_table, definition_table.c.hash == RUN.definition_hash))
             .where(*run_conditions(flt))
             .order_by(RUN.started_at.desc(), RUN.id).limit(limit).offset(offset))
    with connection(bind) as conn:
        return [_summary(row) for row in conn.execute(query)]


def run_summary(bind: Bind, run_id: str) -> RunSummary | None:
    query = (select(*_summary_columns())
             .select_from(run_table.outerjoin(
                 definition_table, definition_table.c.hash == RUN.definition_hash))
             .where(RUN.id == run_id))
    with connection(bind) as conn:
        row = conn.execute(query).first()
    return _summary(row) if row else None


def run_events(bind: Bind, run_id: str) -> list[RunEvent]:
    """All events of one run in ``seq`` order."""
    query = (select(EVENT.seq, EVENT.ts, EVENT.type, EVENT.step, EVENT.attempt,
                    EVENT.duration_ms, EVENT.error_type, EVENT.error, EVENT.data)
             .where(EVENT.run_id == run_id).order_by(EVENT.seq))
    with connection(bind) as conn:
        return [RunEvent(seq=r[0], ts=as_utc(r[1]), type=r[2], step=r[3], attempt=r[4],  # type: ignore[arg-type]
                         duration_ms=_float(r[5]), error_type=r[6], error=r[7], data=r[8])
                for r in conn.execute(query)]


def needs_attention(bind: Bind, flt: MonitorFilter, *, limit: int = 50) -> list[AttentionItem]:
    """Runs that ended ``failed``, newest first, with what failed for good and its error."""
    if flt.statuses and RunStatus.FAILED.value not in flt.statuses:
        return []
    fail = event_table.alias("fail")
    trig = event_table.alias("trig")
    query = (select(RUN.id, RUN.saga, RUN.started_at, RUN.ended_at, fail.c.step,
                    fail.c.data, fail.c.error_type, fail.c.error, trig.c.step)
             .select_from(run_table
                          .outerjoin(fail, and_(*of_run(fail, EventType.RUN_FAILED)))
                          .outerjoin(trig, and_(*of_run(trig, EventType.RUN_COMPENSATING))))
             .where(RUN.status == RunStatus.FAILED.value, *run_conditions(flt))
             .order_by(RUN.started_at.desc(), RUN.id).limit(limit))
    with connection(bind) as conn:
        rows = conn.execute(query).all()
    items = []
    for run_id, saga, started, ended, step, data, error_type, error, trigger in rows:
        reason = data.get("reason") if isinstance(data, dict) else None
        items.append(AttentionItem(run_id=run_id, saga=saga, started_at=as_utc(started),  # type: ignore[arg-type]
                                   ended_at=as_utc(ended), failed_step=step,
                                   reason=reason, error_type=error_type, error=error,
                                   trigger=trigger))
    return items


# -- options and definitions -----------------------------------------------------------
def filter_options(bind: Bind, *, batch_limit: int = 200) -> FilterOptions:
    """Values the filter widgets offer: sagas (most runs first), versions, recent batches."""
    with connection(bind) as conn:
        sagas = [saga for saga, _ in conn.execute(
            select(RUN.saga, func.count().label("n")).group_by(RUN.saga)
            .order_by(func.count().desc(), RUN.saga))]
        versions = [VersionOption(definition_hash=h, saga=name, version=v) for h, name, v in
                    conn.execute(select(definition_table.c.hash, definition_table.c.name,
                                        definition_table.c.version)
                                 .order_by(definition_table.c.name,
                                           definition_table.c.version.desc()))]
        first = func.min(RUN.started_at)
        batches = [BatchOption(batch=b, saga=s, origin=o, runs=n, started_at=as_utc(t))  # type: ignore[arg-type]
                   for b, s, o, n, t in conn.execute(
                       select(RUN.batch, func.min(RUN.saga), func.min(RUN.origin), func.count(),
                              first)
                       .where(RUN.batch.is_not(None)).group_by(RUN.batch)
                       .order_by(first.desc()).limit(batch_limit))]
    return FilterOptions(sagas=sagas, versions=versions, batches=batches)


def saga_definition(bind: Bind, saga: str,
                    definition_hash: str | None = None) -> SagaDefinition | None:
    """The definition to draw: that version, else the saga's newest. None if none is stored
    or its body no longer parses."""
    query = select(definition_table.c.body)
    if definition_hash:
        query = query.where(definition_table.c.hash == definition_hash)
    else:
        query = (query.where(definition_table.c.name == saga)
                 .order_by(definition_table.c.version.desc(),
                           definition_table.c.created_at.desc()).limit(1))
    with connection(bind) as conn:
        body = conn.execute(query).scalar()
    if not isinstance(body, dict):
        return None
    try:
        return SagaDefinition.model_validate(body)
    except ValidationError:
        return None


# -- the live section ------------------------------------------------------------------
def overview(bind: Bind, flt: MonitorFilter, *, focus_saga: str | None = None,
             now: datetime | None = None, attention_limit: int = 50,
             target_buckets: int = 60) -> Overview:
    """Everything the live section shows, from one read transaction.

    ``focus_saga`` (default: the filter's saga) is the saga whose graph, paths and step
    statistics are shown: step names only make sense within one saga. One grouped scan of
    the filtered runs feeds the KPIs, the time series and the completed paths."""
    now = as_utc(now) or datetime.now(UTC)
    focus = flt.saga or focus_saga
    where = run_conditions(flt)
    with snapshot(bind) as conn:
        definition = saga_definition(conn, focus, flt.definition_hash) if focus else None
        window = _series_window(conn, flt, where, now, target_buckets)
        if window is None:
            return Overview(kpis=Kpis(), series=TimeSeries(bucket_seconds=60), attention=[],
                            focus_saga=focus, definition=definition)
        first, last, width = window
        scan = _run_scan(conn, where, width)
        head = _kpis_from(conn, where, scan)
        series = _series_from(scan, first, last, width)
        attention = needs_attention(conn, flt, limit=attention_limit)
        if not focus:
            return Overview(kpis=head, series=series, attention=attention)
        focused = flt if flt.saga else replace(flt, saga=focus)
        order = [step.name for step in definition.steps] if definition else []
        steps = step_stats(conn, focused, order=order,
                           seek_runs=prefer_run_seeks(conn, focused))
        focus_hashes = set(conn.execute(select(definition_table.c.hash)
                                        .where(definition_table.c.name == focus)).scalars())
        completed: dict[str, int] = defaultdict(int)
        for row in scan:
            if row.status == RunStatus.COMPLETED.value and row.definition_hash in focus_hashes:
                completed[row.definition_hash] += row.runs
        paths = path_groups(conn, focused, order or [s.step for s in steps],
                            completed_by_version=completed)
    return Overview(kpis=head, series=series, attention=attention, focus_saga=focus,
                    definition=definition, steps=steps, paths=paths)


__all__ = [
    "AttentionItem", "BatchOption", "FilterOptions", "Kpis", "Overview", "PathGroup",
    "RunEvent", "RunSummary", "StepStats", "TimeBucket", "TimeSeries", "VersionOption",
    "event_scope", "filter_options", "kpis", "list_runs", "needs_attention", "overview",
    "of_run", "path_groups", "prefer_run_seeks", "run_conditions", "run_events", "run_summary",
    "saga_definition", "saga_own_steps", "snapshot", "step_stats", "time_series", "unindexed",
]
