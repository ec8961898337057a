"""MemoryEventStore against EventStore on a SQLite file: every operation is run on both and
must give the same result, or the same error (type and message)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.batch import BatchOptions, run_batch, simulated_registry
from runtime.clock import ManualClock
from runtime.errors import RunNotFoundError, SagaError, StoreError
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.store.memory import MemoryEventStore
from runtime.store.sql import EventRow, EventStore, RunUpdate, WriteBatch, sqlite_url
from runtime.store.sql import event_row as make_event_row
from runtime.store.tables import EventType, RunStatus

from ..conftest import SAMPLES

FLIGHT = load_definition(SAMPLES / "flight_booking.yaml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


class Both:
    """``both.op(...)`` runs ``op`` on each store and asserts the same outcome; a shared
    error is raised again for ``pytest.raises``."""

    def __init__(self, memory: MemoryEventStore, sql: EventStore) -> None:
        self.memory, self.sql = memory, sql

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            outcomes: list[Any] = []
            for store in (self.memory, self.sql):
                try:
                    outcomes.append(getattr(store, name)(*args, **kwargs))
                except SagaError as exc:
                    outcomes.append(exc)
            mine, theirs = outcomes
            if isinstance(theirs, SagaError) or isinstance(mine, SagaError):
                assert (type(mine), str(mine)) == (type(theirs), str(theirs)), name
                raise theirs
            assert mine == theirs, name
            return mine
        return call


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    with MemoryEventStore() as memory, EventStore(sqlite_url(tmp_path / "events.db")) as sql:
        pair = Both(memory, sql)
        pair.save_definition(FLIGHT, NOW)
        yield pair


def run_row(run_id: str, start: float = 0, *, owner: str | None = "a", lease: float | None = 30,
            status: str = "running", batch: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": run_id, "saga": FLIGHT.saga, "definition_hash": FLIGHT.content_hash, "status": status,
            "mode": "orchestration", "origin": "test", "batch": batch, "input": {"n": start},
            "started_at": at(start), "ended_at": None, "duration_ms": None, "owner": owner,
            "lease_expires_at": None if lease is None else at(lease)} | extra


def event_row(run_id: str, seq: int, type: str = "step_started", **extra: Any) -> EventRow:
    fields: dict[str, Any] = {"step": "reserve_seat", "attempt": 1} | extra
    return make_event_row(run_id, seq, at(seq), type, **fields)


def started(run_id: str) -> EventRow:
    return event_row(run_id, 1, "run_started", step=None, attempt=None, data={"input": {}, "t": (1, 2)})


def seed(both: Both, *rows: dict[str, Any]) -> None:
    """Insert runs as given, each with its run_started."""
    assert both.write(WriteBatch("seed", NOW, new_runs=list(rows),
                                 events={r["id"]: [started(r["id"])] for r in rows})) == set()


def test_definitions_and_runs_read_back_the_same(both: Both) -> None:
    assert both.save_definition(FLIGHT, at(5)) == FLIGHT.content_hash  # already there: kept as is
    both.definitions()
    assert both.load_definition(FLIGHT.content_hash) == FLIGHT
    with pytest.raises(StoreError):
        both.load_definition("0" * 64)
    assert both.write(WriteBatch("a", at(30), new_runs=[run_row("r1"), run_row("r2", 1, batch="b")], events={
        "r1": [started("r1"), event_row("r1", 2, data={"k": [1, {"x": None}]})],
        "r2": [started("r2")]})) == set()
    record = both.load_run("r1")
    assert [(e.type, e.seq) for e in record.events] == [(EventType.RUN_STARTED, 1), (EventType.STEP_STARTED, 2)]
    assert record.events[0].data == {"input": {}, "t": [1, 2]}  # as the JSON column gives it back
    assert (record.status, record.owner, record.started_at.tzinfo) == ("running", "a", UTC)
    assert both.load_run("r2", with_events=False).events == []
    both.list_runs()
    with pytest.raises(RunNotFoundError):
        both.load_run("nope")


def test_lease_fencing(both: Both) -> None:
    seed(both, run_row("r1"), run_row("r2", 1))
    assert both.write(WriteBatch("b", at(60), events={"r1": [event_row("r1", 2)]},
                                 updates={"r1": RunUpdate()})) == {"r1"}
    assert len(both.load_run("r1").events) == 1  # the rejected run's events are dropped
    assert both.write(WriteBatch("a", at(60), events={"r1": [event_row("r1", 2)], "ghost": [event_row("ghost", 1)]},
                                 updates={"r2": RunUpdate(status="compensating")})) == {"ghost"}
    assert both.load_run("r2").lease_expires_at == at(60)  # status and lease; owner kept
    assert both.write(WriteBatch("a", at(90), events={"r1": [event_row("r1", 3, "run_completed")]},
                                 updates={"r1": RunUpdate("completed", at(3), 12.5)})) == set()
    record = both.load_run("r1")
    assert (record.status, record.owner, record.lease_expires_at, record.duration_ms) == ("completed", None, None, 12.5)
    assert both.write(WriteBatch("a", at(90), updates={"r1": RunUpdate()})) == {"r1"}  # terminal: nobody owns it
    assert both.write(WriteBatch("a", at(90), updates={"r2": RunUpdate(RunStatus.FAILED)})) == set()
    assert both.load_run("r2").status == "failed"
    # enqueue's shape: runs without an owner, written by owner "": accepted once, fenced after
    seed(both, run_row("r3", 3, owner=None, lease=0))
    assert both.write(WriteBatch("", at(30), events={"r3": [event_row("r3", 2)]})) == {"r3"}
    assert both.write(WriteBatch("a", at(30))) == set()  # empty batch
    both.list_runs(limit=10)


def test_claim_renew_and_lease_expiry(both: Both) -> None:
    seed(both, run_row("r0", 0, owner=None, lease=0, batch="b1"), run_row("r1", 1, owner="x", lease=10, batch="b1"),
         run_row("r2", 2, owner="x", lease=-1, batch="b2"), run_row("r3", 3, owner="me", lease=10, batch="b1"),
         run_row("r4", 4, owner=None, lease=None, status="completed"),
         run_row("r5", 5, owner=None, lease=None, status="compensating", batch="b2"),
         run_row("r6", 6, owner="x", lease=None))
    assert both.next_lease_expiry() == at(-1)
    assert both.claim("me", NOW, at(30), batch="b2", include_own=False) == ["r2", "r5"]
    assert both.claim("other", NOW, at(30), limit=1) == ["r0"]
    assert both.claim("me", NOW, at(30), run_ids=["r6", "r1", "r3", "nope", "r3"]) == ["r3", "r6"]
    assert both.claim("me", NOW, at(30), include_own=False) == []
    assert both.claim("x", at(40), at(70), definition_hashes=["f" * 64]) == []
    assert both.claim("x", at(40), at(70), limit=0) == []
    assert both.next_lease_expiry(batch="b1") == at(10)
    assert both.claim("x", at(40), at(70), definition_hashes=[FLIGHT.content_hash]) == ["r0", "r1", "r2", "r3",
                                                                                          "r5", "r6"]
    assert both.renew("me", ["r2", "r3", "nope"], at(100)) == {"r2", "r3", "nope"}
    assert both.renew("x", ["r0", "r1", "r1"], at(100)) == set()
    assert both.renew("x", [], at(100)) == set()
    assert both.next_lease_expiry(batch="b1") == at(70)
    assert both.next_lease_expiry(batch="none") is None
    both.list_runs(limit=100)


def test_status_counts_and_list_filters(both: Both) -> None:
    seed(both, run_row("r0", 0, batch="b1"), run_row("r1", 1, batch="b1", status="completed", owner=None),
         run_row("r2", 2, batch="b2", status="compensated", origin="real"), run_row("r3", 3, status="failed"),
         run_row("r4", 4, batch="b2", origin="simulated"))
    assert both.status_counts() == {"running": 2, "completed": 1, "compensated": 1, "failed": 1}
    assert both.status_counts(batch="b2") == {"compensated": 1, "running": 1}
    assert both.status_counts(batch="") == both.status_counts()  # an empty filter is no filter
    assert [r["id"] for r in both.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r["id"] for r in both.list_runs(limit=2)] == ["r4", "r3"]
    assert [r["id"] for r in both.list_runs(batch="b1", status="completed")] == ["r1"]
    assert [r["id"] for r in both.list_runs(origin="test", batch="b2")] == []
    assert [r["id"] for r in both.list_runs(saga=FLIGHT.saga, status="running", batch="")] == ["r4", "r0"]
    assert both.list_runs(saga="nope") == []


def test_find_run_by_prefix(both: Both) -> None:
    seed(both, run_row("abc1"), run_row("abc2", 1), run_row("abd3", 2), run_row("x_y", 3), run_row("xzy", 4))
    assert both.find_run("abd") == "abd3"
    assert both.find_run("ABD") == "abd3"  # SQLite's LIKE ignores ASCII case
    assert both.find_run("x_") == "x_y"  # no wildcards
    assert both.find_run("abc1") == "abc1"
    for prefix in ("abc", "q", "", "%"):
        with pytest.raises(RunNotFoundError):
            both.find_run(prefix)


def test_manual_actions(both: Both) -> None:
    seed(both, run_row("r1"))
    both.write(WriteBatch("seed", NOW, new_runs=[run_row("bare", 1)]))  # a run row with no events
    assert both.write(WriteBatch("a", at(30), events={"r1": [event_row("r1", 2, "step_failed")]},
                                 updates={"r1": RunUpdate("failed", at(2), 5.0)})) == set()
    assert both.append_manual_action("r1", at(50), "retry", by="ops", note="again", step="reserve_seat",
                                     status="running") == 3
    assert both.append_manual_action("r1", at(51), "resolve", by="ops") == 4
    record = both.load_run("r1")
    assert (record.status, record.ended_at, record.duration_ms, record.owner) == ("running", None, None, None)
    assert record.events[-1].data == {"action": "resolve", "by": "ops", "note": ""}
    for run_id in ("nope", "bare"):
        with pytest.raises(RunNotFoundError):
            both.append_manual_action(run_id, NOW, "retry", by="ops")


def test_failed_writes_raise_store_errors_and_change_nothing(both: Both) -> None:
    seed(both, run_row("r1"))
    failing = [
        WriteBatch("a", at(60), new_runs=[run_row("r2", 1)], events={"r2": [started("r2")], "r1": [started("r1")]},
                   updates={"r1": RunUpdate("completed")}),
        WriteBatch("a", at(60), events={"r1": [event_row("r1", 2), event_row("r1", 2)]}),
        WriteBatch("a", at(60), new_runs=[run_row("r2", 1), run_row("r2", 2)]),
        WriteBatch("a", at(60), new_runs=[run_row("r1", 1)]),
        WriteBatch("a", at(60), new_runs=[run_row("r2", 1, definition_hash="f" * 64)]),
    ]
    for write in failing:
        with pytest.raises(StoreError):
            both.write(write)
    with pytest.raises(RunNotFoundError):
        both.load_run("r2")
    record = both.load_run("r1")
    assert (len(record.events), record.status, record.lease_expires_at) == (1, "running", at(30))


def test_the_engine_runs_on_the_memory_store(tmp_path: Path) -> None:
    def outcome(store: Any) -> tuple[dict[str, int], Counter[tuple[str, ...]]]:
        asyncio.run(run_batch(FLIGHT, simulated_registry(FLIGHT), store, BatchOptions(
            count=30, concurrency=8, seed=3, injection=Injection(seed=3, fail={"charge_payment": 0.3}),
            origin="test"), clock=ManualClock()))
        runs = store.list_runs(limit=100)
        return store.status_counts(), Counter(tuple(e.type.value for e in store.load_run(r["id"]).events)
                                              for r in runs)

    with MemoryEventStore() as memory, EventStore(sqlite_url(tmp_path / "events.db")) as sql:
        counts, histories = outcome(memory)
        assert (counts, histories) == outcome(sql) and sum(counts.values()) == 30


def test_append_events_is_write_of_one_runs_events(both: Both) -> None:
    """The inline committer's one-pass append gives what ``write`` of the same batch gives:
    written, rejected for a lost lease, or the same error; the general path takes over for
    anything but new events in order after the kept ones."""
    seed(both, run_row("r1"), run_row("r2", owner="b"))
    memory, sql = both.memory, both.sql

    def append(owner: str, run_id: str, rows: list[EventRow]) -> bool | str:
        """append_events on memory, write on SQLite: the same answer, or the same error."""
        outcomes: list[bool | str] = []
        for call in (lambda: memory.append_events(owner, run_id, rows),
                     lambda: not sql.write(WriteBatch(owner, NOW, events={run_id: rows}))):
            try:
                outcomes.append(call())
            except StoreError as exc:
                outcomes.append(f"StoreError: {exc}")
        mine, theirs = outcomes
        assert mine == theirs
        return mine

    assert append("a", "r1", [event_row("r1", 2), event_row("r1", 3, "step_succeeded", data={"output": {"k": (1,)}})])
    assert append("a", "r2", [event_row("r2", 2)]) is False            # b holds r2's lease
    assert append("a", "ghost", [event_row("ghost", 1)]) is False      # no such run: fenced too
    assert "UNIQUE constraint failed" in str(append("a", "r1", [event_row("r1", 3)]))
    assert append("a", "r1", [event_row("r1", 5), event_row("r1", 4)])  # out of order: general path
    for store in (memory, sql):
        events = store.load_run("r1").events
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[2].data == {"output": {"k": [1]}}  # as the JSON column gives it back
