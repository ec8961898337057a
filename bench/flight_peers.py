"""The same flight saga on each system, one system per process (so peak RSS is per system).

    python bench/flight_peers.py runtime --runs 2000 --concurrency 100
    python bench/flight_peers.py sqlite-txn-per-saga --runs 2000
    bench/.venv-peers/bin/python bench/flight_peers.py dbos --runs 300 --concurrency 1

Prints one JSON object on stdout: system, runs, completed, compensated, elapsed_s (the timed
part only: no imports, no schema creation, no DBOS launch; it starts after a full garbage
collection and ``gc.freeze``, as the ``saga`` command does: ``start_clock``), sagas_per_s, step_calls (actions
and compensations called), events (rows written, where a log is written), peak_rss_mb (this
process's high-water mark: VmHWM, else ``resource.getrusage``) and notes.
``bench/run_all.py`` runs each system in its own process, in rounds, and reports medians.

The saga everywhere: reserve_seat -> charge_payment -> issue_ticket -> send_confirmation,
no-op actions. ``charge_payment`` fails for good (non-retryable) in the runs where
``fails(run_index)`` is true: the runtime's own seeded rule (``Injection(fail=
{"charge_payment": 0.1}, seed=SEED)``, a blake2b hash of seed, run index and step, so about
one run in ten), re-implemented here with the standard library so every system fails the
very same runs; the run then compensates (release_seat). Every system must therefore report
the same completed / compensated counts.

Systems (``SYSTEMS``), what each writes, and with what:

- ``runtime``: this runtime, durable default: ``run_batch`` on a fresh SQLite file (WAL,
  synchronous=FULL, BEGIN IMMEDIATE), ``simulated_registry`` (no-op actions) and failure
  injection. ``--concurrency`` 1 or 100.
- ``runtime-memory``: the same engine on the in-memory store (``runtime.store.memory``:
  the event log in Python dicts, written inline by the group committer; no SQL, no disk).
- ``runtime-null``: the same engine on a store whose writes do nothing (engine cost alone;
  informational, not a target).
- ``sqlite-txn-per-saga``: raw ``sqlite3``, one run at a time; the run row and all its event
  rows (the rows the engine writes for that run) inserted in one transaction at the end.
- ``sqlite-commit-per-event``: raw ``sqlite3``, one run at a time, one transaction per event
  (the run row with ``run_started``, its status with ``run_compensating`` and the terminal
  event).
- ``sqlmodel-orm``: the event log's own SQLModel classes, ``session.add`` + ``commit`` per
  event, one run at a time.
- ``dbos``: DBOS Transact 3.4 on a SQLite system database (WAL, synchronous=FULL): each
  action a ``@DBOS.step``, the saga a ``@DBOS.workflow`` that calls the compensation steps on
  failure. Concurrency 1: the sync workflow called in a loop; otherwise async workflows
  gathered under a semaphore of ``--concurrency``.
- ``saga-py``: saga-py 1.1.0 (``SagaBuilder``), in memory, no durability. Note that saga-py
  also calls the failed action's own compensation (payments.refund, a no-op here).

The three raw/ORM floors write the same tables (``runtime/store/tables.py``: same columns,
same indexes) and the same rows per run as the runtime (10 events for a completed run, 9 for
a compensated one), so the ratios measure the engine, not a schema.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import struct
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLIGHT = ROOT / "sample_sagas" / "flight_booking.yaml"
SEED = 7
FAIL_STEP = "charge_payment"
FAIL_RATE = 0.1
STEPS = ("reserve_seat", "charge_payment", "issue_ticket", "send_confirmation")
ACTIONS = {"reserve_seat": "flight.reserve_seat", "charge_payment": "payments.charge",
           "issue_ticket": "tickets.issue", "send_confirmation": "notify.confirm"}


# -- the shared failure rule --------------------------------------------------------------

def uniform(seed: int, key: int | str, step: str, what: str) -> float:
    """``runtime.injection.deterministic_uniform``, with the standard library only."""
    digest = hashlib.blake2b(f"{seed}|{key}|{step}|{what}".encode(), digest_size=8).digest()
    return (struct.unpack("<Q", digest)[0] >> 11) * (1.0 / (1 << 53))


def fails(run_index: int) -> bool:
    """Does charge_payment fail for good in this run? (Injection.fails_for_good's rule.)"""
    return uniform(SEED, run_index, FAIL_STEP, "fail") < FAIL_RATE


def expected_counts(runs: int) -> tuple[int, int]:
    compensated = sum(1 for i in range(runs) if fails(i))
    return runs - compensated, compensated


def step_calls(completed: int, compensated: int, *, compensate_failed: bool = False) -> int:
    """Actions + compensations called: 4 per completed run; reserve, charge and release_seat
    per compensated run (+ the failed charge's refund where the library calls it)."""
    return 4 * completed + (4 if compensate_failed else 3) * compensated


# -- the rows the engine writes for one run (for the floors) ------------------------------

def flight_rows(run_id: str, index: int, batch: str) -> tuple[list[tuple[Any, ...]], str]:
    """The event rows of one run, in the event table's column order, and its final status.
    Columns: run_id, seq, ts, type, step, attempt, duration_ms, error_type, error, data."""
    rows: list[tuple[Any, ...]] = []

    def add(type_: str, step: str | None = None, attempt: int | None = None,
            duration_ms: float | None = None, error_type: str | None = None,
            error: str | None = None, data: Any = None) -> None:
        rows.append((run_id, len(rows) + 1, _ts(), type_, step, attempt, duration_ms,
                     error_type, error, None if data is None else json.dumps(data)))

    add("run_started", data={"input": {}, "run_index": index, "batch": batch,
                             "injection": {"seed": SEED, "fail": {FAIL_STEP: FAIL_RATE}}})
    for step in STEPS:
        add("step_started", step, 1)
        if step == FAIL_STEP and fails(index):
            add("step_failed", step, 1, 0.01, "NonRetryableError",
                f"injected failure of {step} (like a declined card)",
                {"final": True, "retry_in_ms": None})
            add("run_compensating", step, error="injected failure", data={"reason": "step_failed"})
            add("compensation_started", "reserve_seat", 1)
            add("compensation_succeeded", "reserve_seat", 1, 0.01, data={"output": None})
            add("run_compensated", duration_ms=1.0)
            return rows, "compensated"
        add("step_succeeded", step, 1, 0.01, data={"output": None})
    add("run_completed", duration_ms=1.0)
    return rows, "completed"


class Declined(Exception):
    """The injected failure in the peers (DBOS pickles it: it must live at module level)."""


def _ts() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- systems --------------------------------------------------------------------------------

def _definition() -> Any:
    from runtime.loading import load_definition
    return load_definition(FLIGHT)


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def run_runtime(args: argparse.Namespace, url: str | None = None,
                null_store: bool = False) -> dict[str, Any]:
    import asyncio

    from runtime.batch import BatchOptions, run_batch, simulated_registry
    from runtime.injection import Injection
    from runtime.store.sql import EventStore, sqlite_url

    definition = _definition()
    if null_store:
        store: Any = _NullStore()
    elif url == "memory:":
        from runtime.store.memory import MemoryEventStore
        store = MemoryEventStore()
    else:
        store = EventStore(url or sqlite_url(_fresh(args.db)))
    options = BatchOptions(count=args.runs, concurrency=args.concurrency, seed=SEED,
                           injection=Injection(fail={FAIL_STEP: FAIL_RATE}, seed=SEED),
                           origin="test")
    progress = None
    extra: dict[str, Any] = {}
    if args.rss_every:
        extra["rss_start_mb"] = current_rss_mb()
        print(f"{0:>9,} runs  RSS {extra['rss_start_mb']:7.1f} MB  (start)", flush=True)
        clock = time.perf_counter()

        def progress(tally: Any) -> None:
            if tally.done % args.rss_every == 0:
                print(f"{tally.done:>9,} runs  RSS {current_rss_mb():7.1f} MB  "
                      f"{time.perf_counter() - clock:6.0f}s", flush=True)
    began = start_clock()
    summary = asyncio.run(run_batch(definition, simulated_registry(definition), store, options,
                                    progress=progress))
    elapsed = time.perf_counter() - began
    if args.rss_every:
        extra["rss_end_mb"] = current_rss_mb()
        print(f"{summary.total:>9,} runs  RSS {extra['rss_end_mb']:7.1f} MB  (end)", flush=True)
    events = summary.events
    if url == "memory:":
        events = store.event_count()
    elif not null_store:
        from sqlalchemy import func, select

        from runtime.store.tables import event_table
        with store.engine.connect() as conn:
            events = int(conn.execute(select(func.count()).select_from(event_table)).scalar() or 0)
        store.close()
    return _result(args, summary.completed, summary.compensated, elapsed,
                   step_calls(summary.completed, summary.compensated), events,
                   failed=summary.failed, unfinished=summary.unfinished,
                   commits=summary.commits, **extra)


def start_clock() -> float:
    """Where every system's timed part starts, the same for each: after one full garbage
    collection of what start-up (imports, schema creation, DBOS's launch) left behind, and
    with what remains frozen out of the collector, as the ``saga`` command does for itself
    (``runtime/process.py``). Without the collection, a fresh process's first full one (~50 ms
    after heavy imports) lands in the timed part of some systems and not of others."""
    gc.collect()
    gc.freeze()
    return time.perf_counter()


def current_rss_mb() -> float:
    """Resident set size now (not the peak), from /proc."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _NullStore:
    """An EventStore stand-in whose writes do nothing but count run outcomes."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def save_definition(self, definition: Any, now: Any = None) -> str:
        return str(definition.content_hash)

    def write(self, batch: Any) -> set[str]:
        for update in batch.updates.values():
            if update.status in ("completed", "compensated", "failed"):
                self.counts[update.status] = self.counts.get(update.status, 0) + 1
        return set()

    def renew(self, owner: str, run_ids: Any, lease_until: Any) -> set[str]:
        return set()

    def status_counts(self, *, batch: str | None = None) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        pass


def _prepare_log(path: Path) -> tuple[str, str]:
    """A fresh event log file with the runtime's schema and the flight definition; returns
    (definition hash, saga name)."""
    from runtime.store.sql import EventStore, sqlite_url

    definition = _definition()
    with EventStore(sqlite_url(_fresh(path))) as store:
        store.save_definition(definition)
    return definition.content_hash, definition.saga


def _sqlite_connect(path: Path) -> Any:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


_RUN_SQL = ("INSERT INTO run (id, saga, definition_hash, status, mode, origin, batch, input, "
            "started_at, ended_at, duration_ms, owner, lease_expires_at) "
            "VALUES (?, ?, ?, ?, 'orchestration', 'test', ?, '{}', ?, ?, ?, ?, ?)")
_EVENT_SQL = ("INSERT INTO event (run_id, seq, ts, type, step, attempt, duration_ms, error_type, "
              "error, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_STATUS_SQL = ("UPDATE run SET status = ?, ended_at = ?, duration_ms = ?, owner = ?, "
               "lease_expires_at = ? WHERE id = ?")


def run_sqlite_txn_per_saga(args: argparse.Namespace) -> dict[str, Any]:
    digest, saga = _prepare_log(args.db)
    conn = _sqlite_connect(args.db)
    batch = uuid.uuid4().hex[:12]
    counts = {"completed": 0, "compensated": 0}
    events = 0
    began = start_clock()
    for index in range(args.runs):
        run_id = uuid.uuid4().hex
        started = _ts()
        rows, status = flight_rows(run_id, index, batch)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_RUN_SQL, (run_id, saga, digest, status, batch, started, _ts(), 1.0,
                                None, None))
        conn.executemany(_EVENT_SQL, rows)
        conn.execute("COMMIT")
        counts[status] += 1
        events += len(rows)
    elapsed = time.perf_counter() - began
    conn.close()
    return _result(args, counts["completed"], counts["compensated"], elapsed,
                   step_calls(counts["completed"], counts["compensated"]), events,
                   commits=args.runs)


def run_sqlite_commit_per_event(args: argparse.Namespace) -> dict[str, Any]:
    digest, saga = _prepare_log(args.db)
    conn = _sqlite_connect(args.db)
    batch = uuid.uuid4().hex[:12]
    counts = {"completed": 0, "compensated": 0}
    events = commits = 0
    began = start_clock()
    for index in range(args.runs):
        run_id = uuid.uuid4().hex
        rows, status = flight_rows(run_id, index, batch)
        for row in rows:
            kind = row[3]
            conn.execute("BEGIN IMMEDIATE")
            if kind == "run_started":
                conn.execute(_RUN_SQL, (run_id, saga, digest, "running", batch, row[2], None,
                                        None, "bench", row[2]))
            conn.execute(_EVENT_SQL, row)
            if kind == "run_compensating":
                conn.execute(_STATUS_SQL, ("compensating", None, None, "bench", row[2], run_id))
            elif kind in ("run_completed", "run_compensated"):
                conn.execute(_STATUS_SQL, (status, row[2], 1.0, None, None, run_id))
            conn.execute("COMMIT")
            commits += 1
        counts[status] += 1
        events += len(rows)
    elapsed = time.perf_counter() - began
    conn.close()
    return _result(args, counts["completed"], counts["compensated"], elapsed,
                   step_calls(counts["completed"], counts["compensated"]), events,
                   commits=commits)


def run_sqlmodel_orm(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import create_engine, event
    from sqlmodel import Session

    from runtime.store.tables import EventRow, RunRow

    digest, saga = _prepare_log(args.db)
    engine = create_engine(f"sqlite:///{args.db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    batch = uuid.uuid4().hex[:12]
    counts = {"completed": 0, "compensated": 0}
    events = commits = 0
    began = start_clock()
    with Session(engine) as session:
        for index in range(args.runs):
            run_id = uuid.uuid4().hex
            rows, status = flight_rows(run_id, index, batch)
            run: RunRow | None = None
            for row in rows:
                now = datetime.now(UTC)
                kind = row[3]
                if kind == "run_started":
                    run = RunRow(id=run_id, saga=saga, definition_hash=digest, status="running",
                                 origin="test", batch=batch, input={}, started_at=now,
                                 owner="bench", lease_expires_at=now)
                    session.add(run)
                session.add(EventRow(run_id=run_id, seq=row[1], ts=now, type=kind, step=row[4],
                                     attempt=row[5], duration_ms=row[6], error_type=row[7],
                                     error=row[8],
                                     data=None if row[9] is None else json.loads(row[9])))
                assert run is not None
                if kind == "run_compensating":
                    run.status = "compensating"
                elif kind in ("run_completed", "run_compensated"):
                    run.status, run.ended_at, run.duration_ms = status, now, 1.0
                    run.owner, run.lease_expires_at = None, None
                session.commit()
                commits += 1
            counts[status] += 1
            events += len(rows)
    elapsed = time.perf_counter() - began
    engine.dispose()
    return _result(args, counts["completed"], counts["compensated"], elapsed,
                   step_calls(counts["completed"], counts["compensated"]), events,
                   commits=commits)


def run_dbos(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import logging
    import sqlite3

    for name in [k for k in os.environ if k.startswith("DBOS")]:
        os.environ.pop(name)  # no Conductor, no cloud: a local SQLite system database only
    from dbos import DBOS, DBOSConfig

    path = _fresh(args.db)
    with sqlite3.connect(path) as conn:  # WAL is a property of the file; DBOS keeps it
        conn.execute("PRAGMA journal_mode=WAL")
    config: DBOSConfig = {"name": "flight-bench", "system_database_url": f"sqlite:///{path}",
                          "log_level": "WARNING", "enable_otlp": False}
    dbos = DBOS(config=config)
    calls = {"n": 0}

    def act(step: str, index: int) -> None:
        calls["n"] += 1
        if step == FAIL_STEP and fails(index):
            raise Declined(f"injected failure of {step} (like a declined card)")

    @DBOS.step()
    def reserve_seat(index: int) -> None:
        act("reserve_seat", index)

    @DBOS.step()
    def charge_payment(index: int) -> None:
        act("charge_payment", index)

    @DBOS.step()
    def issue_ticket(index: int) -> None:
        act("issue_ticket", index)

    @DBOS.step()
    def send_confirmation(index: int) -> None:
        act("send_confirmation", index)

    @DBOS.step()
    def release_seat(index: int) -> None:
        act("release_seat", index)

    @DBOS.workflow()
    def flight(index: int) -> str:
        reserve_seat(index)
        try:
            charge_payment(index)
        except Declined:
            release_seat(index)
            return "compensated"
        issue_ticket(index)
        send_confirmation(index)
        return "completed"

    @DBOS.step()
    async def reserve_seat_async(index: int) -> None:
        act("reserve_seat", index)

    @DBOS.step()
    async def charge_payment_async(index: int) -> None:
        act("charge_payment", index)

    @DBOS.step()
    async def issue_ticket_async(index: int) -> None:
        act("issue_ticket", index)

    @DBOS.step()
    async def send_confirmation_async(index: int) -> None:
        act("send_confirmation", index)

    @DBOS.step()
    async def release_seat_async(index: int) -> None:
        act("release_seat", index)

    @DBOS.workflow()
    async def flight_async(index: int) -> str:
        await reserve_seat_async(index)
        try:
            await charge_payment_async(index)
        except Declined:
            await release_seat_async(index)
            return "compensated"
        await issue_ticket_async(index)
        await send_confirmation_async(index)
        return "completed"

    logging.getLogger("dbos").setLevel(logging.WARNING)
    DBOS.launch()
    with dbos._sys_db.engine.connect() as check:  # what DBOS's own connections run with
        synchronous = check.exec_driver_sql("PRAGMA synchronous").scalar()
    counts = {"completed": 0, "compensated": 0}
    began = start_clock()
    if args.concurrency <= 1:
        for index in range(args.runs):
            counts[flight(index)] += 1
    else:
        async def all_runs() -> list[str]:
            gate = asyncio.Semaphore(args.concurrency)

            async def one(index: int) -> str:
                async with gate:
                    return await flight_async(index)
            return await asyncio.gather(*(one(i) for i in range(args.runs)))
        for status in asyncio.run(all_runs()):
            counts[status] += 1
    elapsed = time.perf_counter() - began
    DBOS.destroy()
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        steps = conn.execute("SELECT count(*) FROM operation_outputs").fetchone()[0]
    return _result(args, counts["completed"], counts["compensated"], elapsed, calls["n"], steps,
                   notes=f"journal_mode={mode}, synchronous={synchronous} (2 = FULL); "
                         "events = step rows (operation_outputs)")


def run_saga_py(args: argparse.Namespace) -> dict[str, Any]:
    from saga import SagaBuilder, SagaError

    calls = {"n": 0}
    counts = {"completed": 0, "compensated": 0}
    began = start_clock()
    for index in range(args.runs):
        failing = fails(index)

        def noop() -> None:
            calls["n"] += 1

        def charge(failing: bool = failing) -> None:
            calls["n"] += 1
            if failing:
                raise Declined("injected failure of charge_payment (like a declined card)")

        saga = (SagaBuilder.create()
                .action(noop, noop)      # reserve_seat / release_seat
                .action(charge, noop)    # charge_payment / refund
                .action(noop, noop)      # issue_ticket (pivot: nothing to undo)
                .action(noop, noop)      # send_confirmation
                .build())
        try:
            saga.execute()
            counts["completed"] += 1
        except SagaError:
            counts["compensated"] += 1
    elapsed = time.perf_counter() - began
    return _result(args, counts["completed"], counts["compensated"], elapsed, calls["n"], 0,
                   notes="in memory; also calls the failed step's compensation")


SYSTEMS = {
    "runtime": lambda a: run_runtime(a),
    "runtime-memory": lambda a: run_runtime(a, url="memory:"),
    "runtime-null": lambda a: run_runtime(a, null_store=True),
    "sqlite-txn-per-saga": run_sqlite_txn_per_saga,
    "sqlite-commit-per-event": run_sqlite_commit_per_event,
    "sqlmodel-orm": run_sqlmodel_orm,
    "dbos": run_dbos,
    "saga-py": run_saga_py,
}
PEER_SYSTEMS = frozenset({"dbos", "saga-py"})   # need bench/.venv-peers


def _result(args: argparse.Namespace, completed: int, compensated: int, elapsed: float,
            calls: int, events: int, **extra: Any) -> dict[str, Any]:
    runs = completed + compensated
    if args.system not in PEER_SYSTEMS and args.system != "runtime-null":
        extra["events_expected"] = 10 * completed + 9 * compensated  # rows in the log
    return {"system": args.system, "concurrency": args.concurrency, "runs": args.runs,
            "completed": completed, "compensated": compensated, "elapsed_s": elapsed,
            "sagas_per_s": runs / elapsed if elapsed else 0.0, "step_calls": calls,
            "us_per_step": elapsed / calls * 1e6 if calls else 0.0, "events": events,
            "expected": list(expected_counts(args.runs)),
            "peak_rss_mb": peak_rss_mb(), **extra}


def peak_rss_mb() -> float:
    """This process's peak RSS. /proc's VmHWM starts afresh at exec; ``getrusage``'s
    ru_maxrss does not (on Linux it keeps the parent's size at fork), so it is the fallback."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--db", type=Path,
                        default=ROOT / "artifacts" / "bench" / "work" / "flight.db",
                        help="the SQLite file to create (deleted first)")
    parser.add_argument("--rss-every", type=int, default=0,
                        help="runtime: print the current RSS every N runs (and at start, end)")
    args = parser.parse_args(argv)
    if args.system not in PEER_SYSTEMS:
        sys.path.insert(0, str(ROOT))
    result = SYSTEMS[args.system](args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
