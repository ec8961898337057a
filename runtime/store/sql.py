"""The event log over SQLAlchemy Core: SQLite by default, any SQLAlchemy URL.

    store = EventStore("sqlite:///saga.db")        # or postgresql+psycopg://host/db
    store.save_definition(definition)
    rejected = store.write(batch)                    # one transaction, many runs
    record = store.load_run(run_id)

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (so two writers never
deadlock on a lock upgrade), the journal is WAL with ``synchronous=FULL``, and a busy timeout
makes writers queue instead of failing; a residual "database is locked" is retried here and
never reaches the user. Writes go through Core ``executemany``, never the ORM; on SQLite the
group commit's statements run on the pooled DBAPI connection itself (``_sqlite_write``).
Event rows are :data:`EventRow` tuples.

Leases: each run row names the runner that owns it and until when. :meth:`write` accepts
events only for runs the writer still owns; the rest are returned as rejected.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection, Engine, and_, bindparam, create_engine, event, func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from runtime.definition import SagaDefinition
from runtime.errors import RunNotFoundError, StoreError
from runtime.planner import Event
from runtime.store.tables import (
    TERMINAL_STATUSES,
    EventType,
    Mode,
    Origin,
    RunStatus,
    definition_table,
    event_table,
    run_table,
)

T = TypeVar("T")
UNFINISHED = (RunStatus.RUNNING.value, RunStatus.COMPENSATING.value)


@dataclass(slots=True)
class RunUpdate:
    """A run row change written with a batch (``status`` None: only the lease is renewed)."""

    status: str | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None


# An event row as the engine buffers it and the stores write it: a plain tuple in the event
# table's column order (a tuple costs a fifth of a dict to build, and the engine builds ten
# per saga). ``ts`` is seconds since the epoch (``Clock.time()``: a float costs a quarter of a
# datetime to make); stores turn it into their time type. ``data`` is JSON text or None: the
# engine serialises each event's data once (an action's output is serialised anyway, to
# check its size), and no store encodes it again.
EVENT_COLUMNS = ("run_id", "seq", "ts", "type", "step", "attempt", "duration_ms", "error_type",
                 "error", "data")
EventRow = tuple[str, int, float, str, "str | None", "int | None", "float | None", "str | None",
                 "str | None", "str | None"]


def event_row(run_id: str, seq: int, ts: datetime | float, type: str, step: str | None = None,
              attempt: int | None = None, duration_ms: float | None = None,
              error_type: str | None = None, error: str | None = None,
              data: dict[str, Any] | None = None) -> EventRow:
    """An :data:`EventRow` by column name (for code off the hot path, and tests): ``ts`` may
    be an aware datetime, ``data`` is a JSON-able dict (raises TypeError if it is not)."""
    stamp = ts.timestamp() if isinstance(ts, datetime) else ts
    text = None if data is None else json_text(data)
    return (run_id, seq, stamp, type, step, attempt, duration_ms, error_type, error, text)


def event_time(ts: float) -> datetime:
    """An :data:`EventRow`'s ``ts`` as an aware UTC datetime (to the microsecond, rounded half
    to even, as the SQLite text of :func:`_sqlite_stamp` is)."""
    return datetime.fromtimestamp(ts, UTC)


@dataclass(slots=True)
class WriteBatch:
    """Everything one group commit writes: new runs, events by run, run updates."""

    owner: str
    lease_until: datetime
    new_runs: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[EventRow]] = field(default_factory=dict)
    updates: dict[str, RunUpdate] = field(default_factory=dict)

    def run_ids(self) -> set[str]:
        return set(self.events) | set(self.updates)

    def __bool__(self) -> bool:
        return bool(self.new_runs or self.events or self.updates)


@dataclass
class RunRecord:
    id: str
    saga: str
    definition_hash: str
    status: str
    mode: str
    origin: str
    batch: str | None
    input: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    owner: str | None
    lease_expires_at: datetime | None
    events: list[Event] = field(default_factory=list)


Bind = Engine | Connection


@contextmanager
def connection(bind: Bind) -> Iterator[Connection]:
    """Use a caller's connection as it is (and its transaction), or open one from an engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def normalise_url(url: str) -> str:
    """Accept a plain file path as SQLite and ``postgresql://`` / ``postgres://`` as psycopg 3."""
    url = url.strip()
    if "://" not in url:
        return sqlite_url(url)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class EventStore:
    """Rows in, rows out. Knows runs and events, not steps or sagas."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, create: bool = True,
                 lock_retries: int = 20) -> None:
        self.url = normalise_url(url)
        self.lock_retries = lock_retries
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._serial: threading.Lock | None = None  # one shared connection: one user at a time
        try:
            if self.is_sqlite:
                in_memory = not parsed.database or parsed.database == ":memory:"
                if in_memory:
                    self._serial = threading.Lock()
                else:
                    Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
                self.engine = create_engine(
                    self.url, connect_args={"timeout": busy_timeout_ms / 1000,
                                            "check_same_thread": False},
                    poolclass=StaticPool if in_memory else None)
                _configure_sqlite(self.engine, busy_timeout_ms)
            else:
                self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5)
            if create:
                self._retry("open", lambda: SQLModel.metadata.create_all(self.engine))
        except SQLAlchemyError as exc:
            raise StoreError("open", _short(exc)) from None
        except (ImportError, ValueError) as exc:
            raise StoreError("open", f"{self.url}: {exc}") from None

    _update_owned_run = run_table.update().where(
        run_table.c.id == bindparam("b_id"), run_table.c.owner == bindparam("b_owner"),
    ).values(
        status=func.coalesce(bindparam("b_status", type_=run_table.c.status.type), run_table.c.status),
        ended_at=func.coalesce(bindparam("b_ended_at", type_=run_table.c.ended_at.type),
                               run_table.c.ended_at),
        duration_ms=func.coalesce(bindparam("b_duration_ms", type_=run_table.c.duration_ms.type),
                                  run_table.c.duration_ms),
        lease_expires_at=bindparam("b_lease", type_=run_table.c.lease_expires_at.type),
        owner=bindparam("b_new_owner", type_=run_table.c.owner.type),
    )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _retry(self, operation: str, work: Callable[[], T]) -> T:
        if self._serial is not None:
            with self._serial:
                return self._retry_unlocked(operation, work)
        return self._retry_unlocked(operation, work)

    def _retry_unlocked(self, operation: str, work: Callable[[], T]) -> T:
        delay = 0.005
        for attempt in range(self.lock_retries + 1):
            try:
                return work()
            except (OperationalError, sqlite3.OperationalError) as exc:
                orig = getattr(exc, "orig", None)
                text = str(orig) if orig is not None else str(exc)
                transient = "locked" in text or "busy" in text or "deadlock" in text.lower()
                if not transient or attempt == self.lock_retries:
                    raise StoreError(operation, _short(exc)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except (SQLAlchemyError, sqlite3.Error) as exc:
                raise StoreError(operation, _short(exc)) from None
        raise AssertionError("unreachable")

    def _write_txn(self, operation: str, work: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self.engine.begin() as conn:
                return work(conn)
        return self._retry(operation, attempt)

    def _read(self, operation: str, work: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self.engine.connect().execution_options(saga_read=True) as conn:
                return work(conn)
        return self._retry(operation, attempt)

    # -- definitions -------------------------------------------------------------------
    def save_definition(self, definition: SagaDefinition, now: datetime | None = None) -> str:
        digest = definition.content_hash

        def work(conn: Connection) -> None:
            found = conn.execute(select(definition_table.c.hash)
                                 .where(definition_table.c.hash == digest)).first()
            if found is None:
                conn.execute(definition_table.insert().values(
                    hash=digest, name=definition.saga, version=definition.version,
                    body=definition.model_dump(mode="json"), created_at=now or _utcnow()))
        try:
            self._write_txn("save definition", work)
        except StoreError as exc:
            if "UNIQUE" not in exc.cause and "duplicate" not in exc.cause:
                raise
        return digest

    def load_definition(self, digest: str) -> SagaDefinition:
        row = self._read("load definition", lambda c: c.execute(
            select(definition_table.c.body).where(definition_table.c.hash == digest)).first())
        if row is None:
            raise StoreError("load definition", f"no definition {digest[:12]} in the event log")
        return SagaDefinition.model_validate(row[0])

    def definitions(self) -> list[dict[str, Any]]:
        rows = self._read("list definitions", lambda c: c.execute(
            select(definition_table.c.hash, definition_table.c.name, definition_table.c.version,
                   definition_table.c.created_at).order_by(definition_table.c.created_at)).all())
        return [dict(row._mapping) for row in rows]

    # -- writes --------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> set[str]:
        """Write a group commit in one transaction; return the run ids whose writes were
        rejected because ``batch.owner`` no longer holds their lease."""
        if not batch:
            return set()
        if self.is_sqlite:
            return self._retry("append", lambda: self._sqlite_write(batch))
        return self._write_txn("append", lambda conn: self._write_txn_body(conn, batch))

    def _sqlite_write(self, batch: WriteBatch) -> set[str]:
        """:meth:`write` on SQLite: the same statements, issued on the pooled DBAPI connection
        itself. SQLAlchemy's per-statement and per-transaction machinery was ~8% of a durable
        batch at 100 concurrent runs (bench/profile_engine.py)."""
        pooled = self.engine.raw_connection()
        try:
            dbapi = pooled.driver_connection
            assert dbapi is not None
            dbapi.execute("BEGIN IMMEDIATE")
            try:
                rejected = self._write_txn_body(cast(Connection, _DriverSql(dbapi)), batch)
                dbapi.execute("COMMIT")
            except BaseException:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
                raise
            return rejected
        finally:
            pooled.close()  # back to the pool

    def _write_txn_body(self, conn: Connection, batch: WriteBatch) -> set[str]:
        if batch.new_runs and self.is_sqlite:
            conn.exec_driver_sql(_SQLITE_RUN_INSERT, [_sqlite_run(row) for row in batch.new_runs])
        elif batch.new_runs:
            conn.execute(run_table.insert(), batch.new_runs)
        new_ids = {row["id"] for row in batch.new_runs}
        # the lease fence: one read of the runs this batch touches (locked: BEGIN IMMEDIATE on
        # SQLite, FOR UPDATE on PostgreSQL), not an UPDATE per run; leases are extended by the
        # heartbeat and by status changes, so a step's events rewrite no run row or index
        earlier = sorted(run_id for run_id in batch.run_ids() if run_id not in new_ids)
        rejected = set(earlier) - self._owned(conn, batch.owner, earlier) if earlier else set()
        updates = [(run_id, update) for run_id, update in batch.updates.items() if run_id not in rejected]
        if updates and self.is_sqlite:
            conn.exec_driver_sql(_SQLITE_RUN_UPDATE, [
                (update.status, _sqlite_time(update.ended_at), update.duration_ms,
                 *((None, None) if update.status in TERMINAL_STATUSES
                   else (_sqlite_time(batch.lease_until), batch.owner)), run_id, batch.owner)
                for run_id, update in updates])
        elif updates:
            conn.execute(self._update_owned_run, [{
                "b_id": run_id, "b_owner": batch.owner, "b_status": update.status,
                "b_ended_at": update.ended_at, "b_duration_ms": update.duration_ms,
                "b_lease": None if update.status in TERMINAL_STATUSES else batch.lease_until,
                "b_new_owner": None if update.status in TERMINAL_STATUSES else batch.owner,
            } for run_id, update in updates])
        rows = [row for run_id, rows in batch.events.items() if run_id not in rejected
                for row in rows]
        if rows and self.is_sqlite:
            # the hot path: the same rows SQLAlchemy's types would write, converted once here
            conn.exec_driver_sql(_SQLITE_EVENT_INSERT, [_sqlite_event(row) for row in rows])
        elif rows:
            conn.execute(event_table.insert(), [
                dict(zip(EVENT_COLUMNS, row, strict=True), ts=event_time(row[2]),
                     data=None if row[9] is None else json.loads(row[9])) for row in rows])
        return rejected

    def _owned(self, conn: Connection, owner: str, run_ids: Sequence[str]) -> set[str]:
        owned: set[str] = set()
        for start in range(0, len(run_ids), 500):
            chunk = list(run_ids[start:start + 500])
            if self.is_sqlite:  # hot (every group commit): plain SQL, no statement building
                places = ", ".join("?" * len(chunk))
                owned.update(row[0] for row in conn.exec_driver_sql(
                    f"SELECT id FROM run WHERE owner = ? AND id IN ({places})", (owner, *chunk)))
                continue
            query = select(run_table.c.id).where(run_table.c.id.in_(chunk),
                                                 run_table.c.owner == owner).with_for_update()
            owned.update(row[0] for row in conn.execute(query))
        return owned

    def claim(self, owner: str, now: datetime, lease_until: datetime, *,
              limit: int = 1000, run_ids: Iterable[str] | None = None,
              definition_hashes: Iterable[str] | None = None,
              batch: str | None = None, include_own: bool = True) -> list[str]:
        """Take the lease of unfinished runs that nobody holds (lease expired or no owner),
        or that ``owner`` already holds. Returns the ids now owned by ``owner``."""
        def work(conn: Connection) -> list[str]:
            free = [run_table.c.owner.is_(None), run_table.c.lease_expires_at.is_(None),
                    run_table.c.lease_expires_at < now]
            if include_own:
                free.append(run_table.c.owner == owner)
            query = select(run_table.c.id).where(run_table.c.status.in_(UNFINISHED), or_(*free))
            if not include_own:
                query = query.where(or_(run_table.c.owner.is_(None), run_table.c.owner != owner))
            if run_ids is not None:
                query = query.where(run_table.c.id.in_(list(run_ids)))
            if definition_hashes is not None:
                query = query.where(run_table.c.definition_hash.in_(list(definition_hashes)))
            if batch is not None:
                query = query.where(run_table.c.batch == batch)
            query = query.order_by(run_table.c.started_at).limit(limit)
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            ids = [row[0] for row in conn.execute(query)]
            if ids:
                conn.execute(run_table.update().where(run_table.c.id.in_(ids))
                             .values(owner=owner, lease_expires_at=lease_until))
            return ids
        return self._write_txn("claim runs", work)

    def renew(self, owner: str, run_ids: Iterable[str], lease_until: datetime) -> set[str]:
        """Extend leases; return the ids no longer owned by ``owner``."""
        ids = sorted(set(run_ids))
        if not ids:
            return set()

        def work(conn: Connection) -> set[str]:
            owned = self._owned(conn, owner, ids)
            if owned:
                conn.execute(run_table.update().where(run_table.c.id.in_(sorted(owned)))
                             .values(lease_expires_at=lease_until))
            return set(ids) - owned
        return self._write_txn("renew leases", work)

    def append_manual_action(self, run_id: str, now: datetime, action: str, *, by: str,
                             note: str = "", step: str | None = None,
                             status: str | None = None) -> int:
        """Write a ``manual_action`` event (retry / resolve) outside any runner's lease;
        ``status`` (with a retry) is the run's status from now on."""
        def work(conn: Connection) -> int:
            last = conn.execute(select(func.max(event_table.c.seq))
                                .where(event_table.c.run_id == run_id)).scalar()
            if last is None:
                raise RunNotFoundError(run_id)
            conn.execute(event_table.insert().values(
                run_id=run_id, seq=last + 1, ts=now, type=EventType.MANUAL_ACTION.value,
                step=step, data={"action": action, "by": by, "note": note}))
            if status is not None:
                conn.execute(run_table.update().where(run_table.c.id == run_id).values(
                    status=status, ended_at=None, duration_ms=None,
                    owner=None, lease_expires_at=None))
            return int(last + 1)
        try:
            return self._write_txn("manual action", work)
        except IntegrityError as exc:  # pragma: no cover - racing writers
            raise StoreError("manual action", _short(exc)) from None

    # -- reads ---------------------------------------------------------------------------
    def load_run(self, run_id: str, *, with_events: bool = True) -> RunRecord:
        def work(conn: Connection) -> RunRecord:
            row = conn.execute(select(run_table).where(run_table.c.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id)
            record = RunRecord(**row._mapping)
            if with_events:
                record.events = [_event(r) for r in conn.execute(
                    select(event_table).where(event_table.c.run_id == run_id)
                    .order_by(event_table.c.seq))]
            return record
        return self._read("load run", work)

    def find_run(self, part: str) -> str:
        """A run id from its unique start or end (as `saga show` accepts; `saga runs` shows the
        end, the random part: ids start with their creation time)."""
        pattern = _escape_like(part)
        for like in (f"{pattern}%", f"%{pattern}"):
            query = select(run_table.c.id).where(run_table.c.id.like(like, escape="\\")).limit(2)
            rows = self._read("find run", partial(_all, query))
            if len(rows) == 1:
                return str(rows[0][0])
            if rows:
                break  # ambiguous: say so rather than guess
        raise RunNotFoundError(part)

    def list_runs(self, *, saga: str | None = None, status: str | None = None,
                  batch: str | None = None, origin: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
        conditions = []
        if saga:
            conditions.append(run_table.c.saga == saga)
        if status:
            conditions.append(run_table.c.status == status)
        if batch:
            conditions.append(run_table.c.batch == batch)
        if origin:
            conditions.append(run_table.c.origin == origin)
        query = select(run_table).order_by(run_table.c.started_at.desc()).limit(limit)
        if conditions:
            query = query.where(and_(*conditions))
        rows = self._read("list runs", lambda c: c.execute(query).all())
        return [dict(row._mapping) for row in rows]

    def next_lease_expiry(self, *, batch: str | None = None) -> datetime | None:
        """When the first lease on an unfinished run (of ``batch``) runs out."""
        query = select(func.min(run_table.c.lease_expires_at)).where(
            run_table.c.status.in_(UNFINISHED))
        if batch is not None:
            query = query.where(run_table.c.batch == batch)
        value = self._read("read leases", lambda c: c.execute(query).scalar())
        if value is not None and value.tzinfo is None:
            from datetime import UTC
            value = value.replace(tzinfo=UTC)
        return value

    def status_counts(self, *, batch: str | None = None) -> dict[str, int]:
        query = select(run_table.c.status, func.count()).group_by(run_table.c.status)
        if batch:
            query = query.where(run_table.c.batch == batch)
        rows = self._read("count runs", lambda c: c.execute(query).all())
        return {str(status): int(count) for status, count in rows}

    def run_indexes(self, batch: str) -> list[int]:
        """The ``run_index`` of each run of ``batch`` in the log (from its ``run_started``, the
        first event of every run), so a batch continued after a crash starts exactly the
        runs it is missing."""
        query = (select(event_table.c.data)
                 .select_from(run_table.join(event_table, event_table.c.run_id == run_table.c.id))
                 .where(run_table.c.batch == batch, event_table.c.seq == 1,
                        event_table.c.type == EventType.RUN_STARTED.value))
        rows = self._read("read run indexes", lambda c: c.execute(query).scalars().all())
        return [int((data or {}).get("run_index") or 0) for data in rows]


_SQLITE_EVENT_INSERT = (
    "INSERT INTO event (run_id, seq, ts, type, step, attempt, duration_ms, error_type, error, "
    "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


_SQLITE_RUN_INSERT = (
    "INSERT INTO run (id, saga, definition_hash, status, mode, origin, batch, input, started_at, "
    "ended_at, duration_ms, owner, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SQLITE_RUN_UPDATE = (
    "UPDATE run SET status = coalesce(?, status), ended_at = coalesce(?, ended_at), "
    "duration_ms = coalesce(?, duration_ms), lease_expires_at = ?, owner = ? "
    "WHERE id = ? AND owner = ?")


class _DriverSql:
    """The one method of SQLAlchemy's ``Connection`` that the SQLite write path calls, on a
    DBAPI ``sqlite3`` connection: a list of parameter rows is an ``executemany``."""

    __slots__ = ("dbapi",)

    def __init__(self, dbapi: Any) -> None:
        self.dbapi = dbapi

    def exec_driver_sql(self, sql: str, parameters: Any = ()) -> Any:
        if isinstance(parameters, list):
            return self.dbapi.executemany(sql, parameters)
        return self.dbapi.execute(sql, parameters)


def json_text(value: Any) -> str:
    """``value`` as the text a JSON column keeps: orjson (about a tenth of ``json.dumps``'s
    cost, the same text for JSON data); ``json.dumps`` for what orjson refuses (integers
    beyond 64 bits) and to raise the usual error for what is not JSON."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def _sqlite_time(value: datetime | None) -> str | None:
    """A time as SQLAlchemy's UTC datetime type stores it on SQLite (``%Y-%m-%d %H:%M:%S.%f``
    in UTC; isoformat makes the same text at a third of strftime's cost)."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # the engine's clock: drop the "+00:00" instead of converting
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


@lru_cache(maxsize=16)
def _second_text(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))


def _sqlite_stamp(ts: float) -> str:
    """An event's ``ts`` as :func:`_sqlite_time` writes its :func:`event_time`: the text of
    the second is made once per second, the microseconds rounded as ``fromtimestamp`` does."""
    second = math.floor(ts)
    micro = round((ts - second) * 1e6)
    if micro == 1_000_000:
        second, micro = second + 1, 0
    return f"{_second_text(second)}.{micro:06d}"


def _sqlite_event(row: EventRow) -> tuple[Any, ...]:
    """An event row as SQLAlchemy stores it on SQLite: UTC text time (``data`` is JSON text
    already)."""
    return (row[0], row[1], _sqlite_stamp(row[2]), *row[3:])


def _sqlite_run(row: dict[str, Any]) -> tuple[Any, ...]:
    """A new run row as SQLAlchemy stores it on SQLite (the same defaults as the table)."""
    get = row.get
    return (row["id"], row["saga"], row["definition_hash"], row["status"],
            get("mode") or Mode.ORCHESTRATION.value, get("origin") or Origin.REAL.value, get("batch"),
            json_text(get("input") or {}), _sqlite_time(row["started_at"]),
            _sqlite_time(get("ended_at")), get("duration_ms"), get("owner"),
            _sqlite_time(get("lease_expires_at")))


def _all(query: Any, conn: Connection) -> list[Any]:
    return list(conn.execute(query).all())


def _event(row: Any) -> Event:
    m = row._mapping
    return Event(type=EventType(m["type"]), seq=m["seq"], ts=m["ts"], step=m["step"],
                 attempt=m["attempt"], duration_ms=m["duration_ms"], error_type=m["error_type"],
                 error=m["error"], data=m["data"])


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("saga_read", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _utcnow() -> datetime:
    from runtime.clock import SystemClock

    return SystemClock().now()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
