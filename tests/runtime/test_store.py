"""The event log on SQLite and PostgreSQL: append-only rows, UNIQUE(run_id, seq), leases,
SQLite pragmas and BEGIN IMMEDIATE."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from runtime.batch import BatchOptions, enqueue, run_batch, simulated_registry
from runtime.clock import ManualClock
from runtime.errors import RunNotFoundError, StoreError
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.store.sql import EventStore, WriteBatch, event_row

from ..conftest import SAMPLES

FLIGHT = load_definition(SAMPLES / "flight_booking.yaml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def batch(store: EventStore, count: int = 20, seed: int = 1) -> None:
    asyncio.run(run_batch(FLIGHT, simulated_registry(FLIGHT), store, BatchOptions(
        count=count, concurrency=5, seed=seed, injection=Injection(seed=seed, fail={"charge_payment": 0.3}),
        origin="test"), clock=ManualClock()))


def test_runs_and_events_round_trip(db_url: str) -> None:
    with EventStore(db_url) as store:
        batch(store)
        runs = store.list_runs(limit=100)
        assert len(runs) == 20 and {r["status"] for r in runs} <= {"completed", "compensated"}
        record = store.load_run(runs[0]["id"])
        assert record.events[0].type.value == "run_started"
        assert record.events[0].data["injection"]["fail"] == {"charge_payment": 0.3}
        assert record.started_at.tzinfo is not None and record.duration_ms is not None
        assert store.load_definition(FLIGHT.content_hash) == FLIGHT.model_copy(update={"layout": FLIGHT.layout})
        assert store.find_run(runs[0]["id"][-12:]) == runs[0]["id"]  # the end `saga runs` shows
        assert store.find_run(runs[0]["id"]) == runs[0]["id"]
        with pytest.raises(RunNotFoundError):
            store.load_run("nope")


def test_seq_is_unique_per_run(db_url: str) -> None:
    with EventStore(db_url) as store:
        enqueue(FLIGHT, store, BatchOptions(count=1, origin="test"), clock=ManualClock(NOW))
        run_id = store.list_runs()[0]["id"]
        assert store.claim("me", NOW, NOW + timedelta(seconds=30)) == [run_id]
        duplicate = WriteBatch("me", NOW, events={run_id: [event_row(run_id, 1, NOW, "manual_action")]})
        with pytest.raises(StoreError):
            store.write(duplicate)
        assert len(store.load_run(run_id).events) == 1


def test_writes_of_a_runner_without_the_lease_are_rejected(db_url: str) -> None:
    with EventStore(db_url) as store:
        enqueue(FLIGHT, store, BatchOptions(count=2, origin="test"), clock=ManualClock(NOW))
        ids = sorted(r["id"] for r in store.list_runs())
        assert sorted(store.claim("a", NOW, NOW + timedelta(seconds=30))) == ids
        assert store.claim("b", NOW + timedelta(seconds=10), NOW + timedelta(seconds=40)) == []
        assert sorted(store.claim("b", NOW + timedelta(seconds=31), NOW + timedelta(seconds=60))) == ids
        row = event_row(ids[0], 2, NOW, "step_started", "reserve_seat", 1)
        rejected = store.write(WriteBatch("a", NOW, events={ids[0]: [row]}))
        assert rejected == {ids[0]}
        assert len(store.load_run(ids[0]).events) == 1
        assert store.write(WriteBatch("b", NOW, events={ids[0]: [row]})) == set()
        assert store.renew("a", ids, NOW) == set(ids)


def test_sqlite_pragmas_and_begin_immediate(sqlite_url: str) -> None:
    with EventStore(sqlite_url) as store:
        with store.engine.connect() as conn:
            assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
            assert conn.execute(text("pragma synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("pragma busy_timeout")).scalar() == 30000
        statements: list[str] = []
        from sqlalchemy import event

        event.listen(store.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *a: statements.append(statement))
        batch(store, count=2)
        assert "BEGIN IMMEDIATE" in statements
        assert not any(s.lstrip().upper().startswith(("UPDATE EVENT", "DELETE")) for s in statements)


def test_unreachable_database_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        EventStore("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "event log open failed" in str(caught.value)


def test_in_memory_store_at_concurrency_100_loses_nothing() -> None:
    """Regression (issue 6 bench): sqlite:// shared one connection between threads, and 100
    runs starting at once each saved the definition; events went missing or SQLite crashed."""
    store = EventStore("sqlite://")
    summary = asyncio.run(run_batch(FLIGHT, simulated_registry(FLIGHT), store, BatchOptions(
        count=600, concurrency=100, seed=7, injection=Injection(seed=7, fail={"charge_payment": 0.1}),
        origin="test")))
    expected = sum(Injection(seed=7, fail={"charge_payment": 0.1}).fails_for_good(i, "charge_payment")
                   for i in range(600))
    assert (summary.completed, summary.compensated) == (600 - expected, expected)
    with store.engine.connect() as conn:
        events = conn.execute(text("select count(*) from event")).scalar()
    # completed: 10 events, compensated: run_started + 2 steps' start/outcome + 3 more
    assert events == 10 * (600 - expected) + 9 * expected
    assert len(store.definitions()) == 1


def test_event_times_are_written_as_their_datetime_would_be() -> None:
    """Events are stamped with float seconds; the SQLite text made from the float directly
    (the text of each second cached) equals the text of the datetime the memory store returns,
    the microsecond rounded the same way, at second boundaries too."""
    import random

    from runtime.store.sql import _sqlite_stamp, _sqlite_time, event_time

    rng = random.Random(5)
    stamps = [rng.uniform(0, 4e9) for _ in range(20_000)]
    stamps += [s + edge for s in (1_700_000_000, 1_800_000_000.5)
               for edge in (0.0, 1e-7, 4.9e-7, 5e-7, 5.1e-7, 0.9999994, 0.9999995, 0.9999996)]
    stamps += [datetime(2026, 11, 26, 23, 59, 59, 999_999, tzinfo=UTC).timestamp()]
    for ts in stamps:
        assert _sqlite_stamp(ts) == _sqlite_time(event_time(ts)), ts
