"""Named crash points, forward and while compensating, with the exact attempt and effect
counts each must produce after recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine
from runtime.store.sql import EventStore
from runtime.store.tables import RunStatus

from .faults import CrashAt, CrashInCommit, Ledger, SimulatedCrash

FLIGHT = SagaDefinition.model_validate({
    "saga": "flight", "steps": [
        {"name": "reserve", "action": "seat.hold", "compensation": "seat.free"},
        {"name": "charge", "action": "card.charge", "compensation": "card.refund", "after": ["reserve"]},
        {"name": "ticket", "action": "ticket.issue", "after": ["charge"], "kind": "pivot"},
        {"name": "confirm", "action": "mail.send", "after": ["ticket"], "kind": "retriable"},
    ]})


def crash_then_recover(url: str, ledger: Ledger, *, crash: CrashAt | None = None,
                       store: EventStore | None = None) -> tuple[str, RunStatus | None, list[str]]:
    first = store or EventStore(url)
    clock = ManualClock()
    run_ids: list[str] = []

    async def doomed() -> None:
        async with Engine(first, ledger.registry(FLIGHT), clock=clock, crash_points=crash,
                          lease_seconds=5) as engine:
            original = engine.committer.buffer_new_run

            def remember(row: dict[str, object]) -> None:
                run_ids.append(str(row["id"]))
                original(row)
            engine.committer.buffer_new_run = remember  # type: ignore[method-assign]
            await engine.start(FLIGHT, {})

    with pytest.raises(SimulatedCrash):
        asyncio.run(doomed())
    first.close()

    # a new runner, after the dead one's lease ran out
    later = ManualClock(clock.now() + timedelta(seconds=60))
    second = EventStore(url)

    async def recover() -> RunStatus | None:
        claimed = second.claim("runner-2", later.now(), later.now() + timedelta(seconds=30))
        assert claimed == run_ids
        async with Engine(second, ledger.registry(FLIGHT), clock=later, owner="runner-2") as engine:
            return (await engine.resume(run_ids[0])).status
    status = asyncio.run(recover())
    events = [f"{e.type.value}:{e.step or ''}:{e.attempt or ''}" for e in second.load_run(run_ids[0]).events]
    assert [e for e in range(1, len(events) + 1)] == [e.seq for e in second.load_run(run_ids[0]).events]
    second.close()
    return run_ids[0], status, events


# point, step, calls of the step's action, effects: the step re-runs only if its outcome
# was not durable; its effect happens once either way.
FORWARD = [
    ("before_action", "charge", 1),
    ("after_action", "charge", 2),
    ("after_outcome", "charge", 2),
    ("after_commit", "charge", 1),
    ("before_action", "reserve", 1),
    ("after_action", "ticket", 2),
    ("after_action", "confirm", 2),
]


@pytest.mark.parametrize(("point", "step", "calls"), FORWARD, ids=[f"{p}@{s}" for p, s, _ in FORWARD])
def test_forward_crash_point(tmp_path: Path, point: str, step: str, calls: int) -> None:
    ledger = Ledger()
    _, status, events = crash_then_recover(f"sqlite:///{tmp_path / 'e.db'}", ledger,
                                           crash=CrashAt(point, step))
    action = FLIGHT.step(step).action
    assert status is RunStatus.COMPLETED
    assert ledger.calls[action] == calls
    assert all(n == 1 for n in ledger.effects.values()) and len(ledger.effects) == 4
    assert sum(e.startswith(f"step_succeeded:{step}:") for e in events) == 1


COMPENSATING = [
    ("compensation_before_action", "charge", 1),
    ("compensation_after_action", "charge", 2),
    ("compensation_after_outcome", "reserve", 2),
    ("compensation_after_commit", "charge", 1),
]


@pytest.mark.parametrize(("point", "step", "calls"), COMPENSATING,
                         ids=[f"{p}@{s}" for p, s, _ in COMPENSATING])
def test_compensating_crash_point(tmp_path: Path, point: str, step: str, calls: int) -> None:
    ledger = Ledger(refuse={"ticket.issue"})  # the pivot fails: undo charge, then reserve
    _, status, events = crash_then_recover(f"sqlite:///{tmp_path / 'e.db'}", ledger,
                                           crash=CrashAt(point, step))
    undo = FLIGHT.step(step).compensation
    assert status is RunStatus.COMPENSATED
    assert ledger.calls[undo] == calls
    assert ledger.effects["card.refund"] == 1 and ledger.effects["seat.free"] == 1
    assert ledger.effects["ticket.issue"] == 0
    assert sum(e.startswith(f"compensation_succeeded:{step}:") for e in events) == 1


def test_crash_while_step_in_flight_unknown_outcome_is_compensated(tmp_path: Path) -> None:
    """Crash after charge's effect; meanwhile nothing recorded. A later failure makes the run
    compensate, and the unknown charge is refunded (compensated, since it may have happened)."""
    ledger = Ledger()
    url = f"sqlite:///{tmp_path / 'e.db'}"
    _, status, _ = crash_then_recover(url, ledger, crash=CrashAt("after_action", "charge"))
    assert status is RunStatus.COMPLETED  # re-run forward with the same key: one charge
    assert ledger.effects["card.charge"] == 1


@pytest.mark.parametrize(("step", "outcome", "calls"), [
    ("charge", "step_succeeded", 2), ("reserve", "compensation_succeeded", 2)])
def test_crash_during_commit(tmp_path: Path, step: str, outcome: str, calls: int) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    compensating = outcome.startswith("compensation")
    ledger = Ledger(refuse={"ticket.issue"} if compensating else set())
    store = CrashInCommit(url, step, outcome)
    _, status, events = crash_then_recover(url, ledger, store=store)
    action = FLIGHT.step(step).compensation if compensating else FLIGHT.step(step).action
    assert status is (RunStatus.COMPENSATED if compensating else RunStatus.COMPLETED)
    assert ledger.calls[action] == calls and ledger.effects[action] == 1
    assert sum(e.startswith(f"{outcome}:{step}:") for e in events) == 1
