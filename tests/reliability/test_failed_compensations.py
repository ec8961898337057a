"""Failed compensations: transient failures retried by policy; permanent ones end the run
`failed` and listed as needing attention; continue_on_error; `saga retry` (redrive) resumes
at the failed compensation and re-executes no step that succeeded; manual actions logged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from runtime.batch import BatchOptions, run_batch
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.recovery import NotRetryableRunError, redrive
from runtime.store.sql import EventStore
from runtime.store.tables import RunStatus

from .faults import Ledger

SAGA = SagaDefinition.model_validate({
    "saga": "trip", "defaults": {"compensation_retry": {"max_attempts": 3, "initial_interval": "1s"}},
    "steps": [
        {"name": "flight", "action": "f.book", "compensation": "f.cancel"},
        {"name": "hotel", "action": "h.book", "compensation": "h.cancel"},
        {"name": "pay", "action": "p.charge", "compensation": "p.refund", "after": ["flight", "hotel"]},
    ]})


def run_one(url: str, ledger: Ledger, definition: SagaDefinition = SAGA) -> tuple[EventStore, str]:
    store = EventStore(url)
    asyncio.run(run_batch(definition, ledger.registry(definition), store,
                          BatchOptions(count=1, concurrency=1), clock=ManualClock()))
    return store, store.list_runs()[0]["id"]


def test_permanent_compensation_failure_needs_attention_then_redrive(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    ledger = Ledger(refuse={"p.charge", "h.cancel"})
    store, run_id = run_one(url, ledger)
    record = store.load_run(run_id)
    assert record.status == "failed"
    last = record.events[-1]
    assert last.type.value == "run_failed" and last.step == "hotel"
    assert last.data == {"reason": "compensation_failed"} and "h.cancel refused" in (last.error or "")
    assert ledger.calls["h.cancel"] == 1  # NonRetryableError: not retried
    calls_before = dict(ledger.calls)

    # the cause is fixed; an operator redrives the run
    ledger.refuse.discard("h.cancel")
    result = asyncio.run(redrive(store, run_id, lambda d, o: ledger.registry(d), by="ops",
                                 note="hotel API fixed", clock=ManualClock()))
    assert result.status is RunStatus.COMPENSATED
    assert ledger.calls["f.book"] == calls_before["f.book"] == 1  # nothing re-executed forward
    assert ledger.calls["h.book"] == 1 and ledger.calls["p.charge"] == 1
    assert ledger.calls["f.cancel"] == calls_before.get("f.cancel", 0) == 1
    assert ledger.effects["h.cancel"] == 1
    events = store.load_run(run_id).events
    manual = [e for e in events if e.type.value == "manual_action"]
    assert manual[0].data == {"action": "retry", "by": "ops", "note": "hotel API fixed"}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert store.load_run(run_id, with_events=False).status == "compensated"


def test_transient_compensation_failure_is_retried_by_policy(tmp_path: Path) -> None:
    ledger = Ledger(refuse={"p.charge"})
    calls = {"n": 0}
    registry = ledger.registry(SAGA)
    real = registry.get("h.cancel")

    async def flaky_cancel(ctx):
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("hotel API timed out")
        return await real(ctx)
    registry._actions["h.cancel"] = flaky_cancel  # noqa: SLF001 - test seam
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    clock = ManualClock()
    asyncio.run(run_batch(SAGA, registry, store, BatchOptions(count=1), clock=clock))
    run = store.list_runs()[0]
    assert run["status"] == "compensated" and calls["n"] == 3
    assert clock.sleeps and all(s > 0 for s in clock.sleeps)


def test_continue_on_error_runs_the_other_compensations(tmp_path: Path) -> None:
    definition = SAGA.model_copy(update={"defaults": SAGA.defaults.model_copy(update={
        "compensation": SAGA.defaults.compensation.model_copy(update={"continue_on_error": True})})})
    ledger = Ledger(refuse={"p.charge", "h.cancel"})
    store, run_id = run_one(f"sqlite:///{tmp_path / 'e.db'}", ledger, definition)
    assert store.load_run(run_id, with_events=False).status == "failed"
    assert ledger.effects["f.cancel"] == 1  # still undone despite the hotel failure


def test_retry_refuses_runs_that_are_not_failed(tmp_path: Path) -> None:
    store, run_id = run_one(f"sqlite:///{tmp_path / 'e.db'}", Ledger())
    try:
        asyncio.run(redrive(store, run_id, lambda d, o: Ledger().registry(d), by="ops"))
    except NotRetryableRunError as exc:
        assert "is completed; only failed runs can be retried" in str(exc)
    else:
        raise AssertionError("a completed run was retried")


def test_resolve_is_logged_as_a_manual_action(tmp_path: Path) -> None:
    from runtime.cli import app

    db = f"sqlite:///{tmp_path / 'e.db'}"
    store, run_id = run_one(db, Ledger(refuse={"p.charge", "h.cancel"}))
    result = CliRunner().invoke(app, ["resolve", run_id[-8:], "--db", db, "--note", "refunded by hand"])
    assert result.exit_code == 0, result.stderr
    last = store.load_run(run_id).events[-1]
    assert last.type.value == "manual_action"
    assert last.data["action"] == "resolve" and last.data["note"] == "refunded by hand"
