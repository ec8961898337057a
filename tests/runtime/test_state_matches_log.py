"""The engine folds what it writes into each run's state as it goes (some transitions called
directly, not through ``record``). Recovery rebuilds that state from the log with ``fold``.
Both must agree, event for event: checked here at the end of every run of seeded batches
with failures, retries and failed compensations, on both stores."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from runtime.batch import simulated_registry
from runtime.clock import ManualClock
from runtime.engine import Engine, RunSpec
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.planner import Finish, RunState, fold
from runtime.store import open_store
from runtime.store.sql import sqlite_url

from ..conftest import SAMPLES

FLIGHT = load_definition(SAMPLES / "flight_booking.yaml")


class _Recording(Engine):
    """An engine that keeps a copy of each run's state as the run ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.final: dict[str, RunState] = {}

    async def _finish(self, live: Any, decision: Finish) -> Any:
        result = await super()._finish(live, decision)
        self.final[live.run_id] = copy.deepcopy(live.state)
        return result


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@pytest.mark.parametrize("seed", [1, 2])
def test_live_state_is_the_fold_of_the_log(tmp_path: Path, kind: str, seed: int) -> None:
    injection = Injection(seed=seed, fail={"charge_payment": 0.3}, flaky={"reserve_seat": 0.3},
                          fail_compensation={"reserve_seat": 0.3})
    store = open_store("memory:" if kind == "memory" else sqlite_url(tmp_path / "log.db"))

    async def go() -> _Recording:
        async with _Recording(store, simulated_registry(FLIGHT), clock=ManualClock()) as engine:
            async def worker(first: int) -> None:
                specs = (RunSpec(index) for index in range(first, first + 20))
                async for _ in engine.run_in_turn(FLIGHT, specs, injection=injection):
                    pass
            await asyncio.gather(*(worker(first) for first in range(0, 80, 20)))
            return engine

    engine = asyncio.run(go())
    try:
        statuses = set()
        for run_id, live in engine.final.items():
            folded = fold(FLIGHT, store.load_run(run_id).events)
            assert folded == live, run_id
            statuses.add(live.status.value)
        assert len(engine.final) == 80
        assert {"completed", "compensated", "failed"} <= statuses  # every kind of ending was seen
    finally:
        store.close()
