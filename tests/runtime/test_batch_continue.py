"""A batch continued after a crash starts exactly the runs it is missing: every run index once,
so the same seed gives the same outcomes as the batch would have had without the crash.

Runs start in index order but reach the log in group commits, so a crash can leave indexes
0-2, 5 and 7 logged and 3, 4, 6 not: continuing from "how many runs are logged" (5) would start
5 and 7 a second time and never run 3, 4 and 6 (seen with `saga run --batch` killed mid-way:
20,000 runs, 19,966 distinct indexes)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

from runtime.batch import BatchOptions, enqueue, run_batch, simulated_registry
from runtime.clock import ManualClock
from runtime.engine import time_ordered_id
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.store import open_store
from runtime.store.memory import MemoryEventStore
from runtime.store.sql import EventStore, WriteBatch, event_row

FLIGHT = load_definition(Path(__file__).resolve().parents[2] / "sample_sagas" / "flight_booking.yaml")
INJECTION = Injection(fail={"charge_payment": 0.3}, seed=3)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
Log = EventStore | MemoryEventStore


def log_runs_of_a_crashed_batch(store: Log, batch: str, indexes: list[int]) -> None:
    """The log a runner killed mid-batch leaves: some runs' ``run_started``, no owner left."""
    store.save_definition(FLIGHT, NOW)
    write, ids = WriteBatch(owner="", lease_until=NOW), random.Random(1)
    for index in indexes:
        run_id = time_ordered_id(ids)
        write.new_runs.append({
            "id": run_id, "saga": FLIGHT.saga, "definition_hash": FLIGHT.content_hash,
            "status": "running", "origin": "test", "batch": batch, "input": {},
            "started_at": NOW, "owner": None, "lease_expires_at": NOW})
        write.events[run_id] = [event_row(run_id, 1, NOW, "run_started", data={
            "input": {}, "run_index": index, "batch": batch,
            "injection": INJECTION.model_dump(mode="json")})]
    store.write(write)


def compensated_indexes(store: Log, batch: str) -> set[int]:
    found = set()
    for run in store.list_runs(batch=batch, limit=1000):
        if run["status"] == "compensated":
            events = store.load_run(run["id"]).events
            found.add(int(events[0].data["run_index"]))
    return found


def batch(store: Log, count: int, batch_id: str | None = None) -> str:
    options = BatchOptions(count=count, concurrency=4, seed=3, injection=INJECTION,
                           origin="test", batch_id=batch_id, lease_seconds=1)
    summary = asyncio.run(run_batch(FLIGHT, simulated_registry(FLIGHT), store, options))
    assert summary.unfinished == 0
    return summary.batch_id


def test_a_continued_batch_runs_each_missing_index_once(store_url: str) -> None:
    store = open_store(store_url)
    try:
        log_runs_of_a_crashed_batch(store, "b", [0, 1, 2, 5, 7])
        batch(store, 10, "b")
        assert sorted(store.run_indexes("b")) == list(range(10))
        # the outcomes of a batch that never crashed, same seed: the same runs compensate
        clean = open_store("memory:")
        expected = compensated_indexes(clean, batch(clean, 10))
        assert expected, "the seed makes no run fail: the comparison would prove nothing"
        assert compensated_indexes(store, "b") == expected
    finally:
        store.close()


def test_enqueueing_a_batch_again_writes_only_its_missing_runs(store_url: str) -> None:
    store = open_store(store_url)
    try:
        clock = ManualClock(NOW)
        assert enqueue(FLIGHT, store, BatchOptions(count=3, batch_id="q", origin="test"),
                       clock=clock) == ("q", 3)
        assert enqueue(FLIGHT, store, BatchOptions(count=5, batch_id="q", origin="test"),
                       clock=clock) == ("q", 2)
        assert sorted(store.run_indexes("q")) == [0, 1, 2, 3, 4]
    finally:
        store.close()
