"""A batch worker runs its runs in turn: each run's ``run_started`` rides on the previous
run's final commit. Checked against the event log: one commit fewer per run, and still no
action before its run is in the log."""

from __future__ import annotations

import asyncio

from runtime.actions import ActionContext, ActionRegistry
from runtime.batch import BatchOptions, run_batch
from runtime.engine import Engine, RunSpec
from runtime.loading import load_definition
from runtime.store import open_store
from runtime.store.tables import EventType, RunStatus

from ..conftest import SAMPLES

FLIGHT = load_definition(SAMPLES / "flight_booking.yaml")


def _registry(store: object, seen_in_log: list[tuple[str, str, bool]]) -> ActionRegistry:
    """Actions that look the run up in the log (the store's own read) before doing anything."""
    registry = ActionRegistry()

    def make(name: str) -> object:
        def act(ctx: ActionContext) -> None:
            record = store.load_run(ctx.run_id)  # type: ignore[attr-defined]
            seen_in_log.append((ctx.run_id, name, record.events[0].type is EventType.RUN_STARTED))
        return act

    for step in FLIGHT.steps:
        for name in filter(None, (step.action, step.compensation)):
            if name not in registry:
                registry.register(name, make(name), blocking=False)
    return registry


def test_each_run_in_turn_commits_once_less_and_starts_durably(store_url: str) -> None:
    store = open_store(store_url)
    seen: list[tuple[str, str, bool]] = []
    try:
        summary = asyncio.run(run_batch(FLIGHT, _registry(store, seen), store, BatchOptions(
            count=6, concurrency=1, origin="test")))
        runs = store.list_runs(limit=10)
        events = {run["id"]: store.load_run(run["id"]).events for run in runs}
    finally:
        store.close()
    assert summary.completed == 6 and summary.unfinished == 0
    # 4 durable points per run (before steps 2, 3, 4 and the end) + the first run's start
    assert summary.commits == 6 * 4 + 1
    assert len(seen) == 6 * 4 and all(in_log for _, _, in_log in seen)
    for run_events in events.values():
        assert [e.seq for e in run_events] == list(range(1, 11))
        assert run_events[0].type is EventType.RUN_STARTED
        assert run_events[-1].type is EventType.RUN_COMPLETED
    assert sorted(e[0].data["run_index"] for e in events.values()) == list(range(6))


def test_runs_in_turn_yield_every_spec_with_its_result() -> None:
    store = open_store("memory:")
    seen: list[tuple[str, str, bool]] = []

    async def go() -> list[tuple[RunSpec, object]]:
        async with Engine(store, _registry(store, seen)) as engine:
            specs = [RunSpec(i, {"passenger": f"p{i}"}) for i in range(3)]
            return [pair async for pair in engine.run_in_turn(FLIGHT, specs, batch="b1")]
    results = asyncio.run(go())
    assert [spec.run_index for spec, _ in results] == [0, 1, 2]
    for spec, result in results:
        assert result.status is RunStatus.COMPLETED  # type: ignore[attr-defined]
        record = store.load_run(result.run_id)  # type: ignore[attr-defined]
        assert record.input == spec.input and record.batch == "b1" and record.status == "completed"
