"""A run stays on the definition hash it started with: editing the definition while runs
are in flight changes nothing for them; a mismatch names the run, the hash and the step."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine
from runtime.errors import DefinitionMismatchError
from runtime.recovery import resume_unfinished
from runtime.store.sql import EventStore
from runtime.store.tables import RunStatus

from .faults import CrashAt, Ledger, SimulatedCrash

V1 = SagaDefinition.model_validate({"saga": "order", "version": 1, "steps": [
    {"name": "hold", "action": "stock.hold", "compensation": "stock.free"},
    {"name": "pay", "action": "card.charge", "compensation": "card.refund", "after": ["hold"]}]})
V2 = SagaDefinition.model_validate({"saga": "order", "version": 2, "steps": [
    {"name": "hold", "action": "stock.hold", "compensation": "stock.free"},
    {"name": "pay", "action": "wallet.debit", "compensation": "wallet.credit", "after": ["hold"]},
    {"name": "ship", "action": "ship.send", "compensation": "ship.cancel", "after": ["pay"]}]})


def start_and_crash(url: str, ledger: Ledger) -> tuple[str, ManualClock]:
    store, clock = EventStore(url), ManualClock()

    async def go() -> None:
        async with Engine(store, ledger.registry(V1), clock=clock,
                          crash_points=CrashAt("before_action", "pay"), lease_seconds=5) as engine:
            await engine.start(V1, {})
    with pytest.raises(SimulatedCrash):
        asyncio.run(go())
    run_id = store.list_runs()[0]["id"]
    store.close()
    return run_id, clock


def test_in_flight_run_finishes_on_its_own_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    ledger = Ledger()
    run_id, clock = start_and_crash(url, ledger)
    later = ManualClock(clock.now() + timedelta(seconds=60))
    store = EventStore(url)
    store.save_definition(V2)  # the saga was edited meanwhile
    seen: list[int] = []

    def registry_for(definition: SagaDefinition, origin: str):  # both versions' actions exist
        seen.append(definition.version)
        merged = ledger.registry(V1)
        for name, action in ((n, a) for n, a in ledger.registry(V2)._actions.items()  # noqa: SLF001
                             if n not in merged):
            merged._actions[name] = action  # noqa: SLF001
        return merged
    report = asyncio.run(resume_unfinished(store, registry_for, clock=later))
    assert [r.status for r in report.results] == [RunStatus.COMPLETED]
    assert seen == [1]
    assert ledger.effects["card.charge"] == 1 and ledger.calls["wallet.debit"] == 0
    assert ledger.calls["ship.send"] == 0
    assert store.load_run(run_id, with_events=False).definition_hash == V1.content_hash


def test_resuming_with_another_version_names_run_hash_and_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    run_id, clock = start_and_crash(url, Ledger())
    store = EventStore(url)
    later = ManualClock(clock.now() + timedelta(seconds=60))
    store.claim("r2", later.now(), later.now() + timedelta(seconds=30))

    async def go() -> None:
        async with Engine(store, Ledger().registry(V2), clock=later, owner="r2") as engine:
            await engine.resume(run_id, V2)
    with pytest.raises(DefinitionMismatchError) as caught:
        asyncio.run(go())
    message = str(caught.value)
    assert run_id in message and V1.content_hash[:12] in message and V2.content_hash[:12] in message
    assert "at step 'pay'" in message
