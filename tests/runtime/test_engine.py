"""Engine behaviour on a real event log (SQLite file, PostgreSQL, and the in-memory store),
with a manual clock so retries and backoff never really wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime.actions import ActionContext
from runtime.clock import ManualClock
from runtime.engine import Engine, RunResult
from runtime.injection import Injection
from runtime.store import open_store
from runtime.store.tables import RunStatus

from .helpers import Script, registry_of, run_saga, saga, step, types_of

LINEAR = saga(step("a"), step("b", "a"), step("c", "b"))


def test_linear_saga_completes_with_contiguous_events(store_url: str) -> None:
    script = Script()
    result, events = run_saga(LINEAR, script, store_url, input={"price": 5})
    assert result.status is RunStatus.COMPLETED
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert types_of(events) == [
        "run_started", "step_started:a", "step_succeeded:a", "step_started:b",
        "step_succeeded:b", "step_started:c", "step_succeeded:c", "run_completed"]
    assert script.executed() == ["a", "b", "c"]


def test_context_carries_input_outputs_and_idempotency_keys(store_url: str) -> None:
    script = Script()
    result, _ = run_saga(LINEAR, script, store_url, input={"price": 5})
    by_step = {c.step: c for c in script.calls}
    assert by_step["a"].outputs == {} and by_step["a"].input == {"price": 5}
    assert by_step["c"].outputs == {"a": {"by": "svc.a"}, "b": {"by": "svc.b"}}
    assert by_step["b"].key == f"{result.run_id}:b"


def test_failure_compensates_succeeded_steps_in_reverse_order(store_url: str) -> None:
    script = Script(permanent={"svc.c"})
    result, events = run_saga(LINEAR, script, store_url)
    assert result.status is RunStatus.COMPENSATED
    assert result.trigger_step == "c"
    assert script.executed(compensating=True) == ["b", "a"]
    assert [c.key for c in script.calls if c.compensating] == [
        f"{result.run_id}:b:compensate", f"{result.run_id}:a:compensate"]
    assert "run_compensating:c" in types_of(events)
    assert types_of(events)[-1] == "run_compensated"


def test_retries_follow_backoff_then_succeed() -> None:
    clock = ManualClock()
    script = Script(transient={"svc.b": 2})
    definition = saga(step("a"), step("b", "a"))
    result, events = run_saga(definition, script, "sqlite://", clock=clock)
    assert result.status is RunStatus.COMPLETED
    assert [c.attempt for c in script.calls if c.step == "b"] == [1, 2, 3]
    assert clock.sleeps == [1.0, 2.0]  # initial 1s, x2, no jitter
    failed = [e for e in events if e.type.value == "step_failed"]
    assert [e.data for e in failed] == [{"final": False, "retry_in_ms": 1000.0},
                                        {"final": False, "retry_in_ms": 2000.0}]


def test_backoff_is_capped_and_jittered_deterministically() -> None:
    definition = saga(step("a", retry={"max_attempts": 6, "initial_interval": "10s",
                                       "backoff": 3, "max_interval": "60s", "jitter": True}))
    waits = []
    for _ in range(2):
        clock = ManualClock()
        result, _ = run_saga(definition, Script(transient={"svc.a": 5}), "sqlite://", clock=clock)
        waits.append(clock.sleeps)
    caps = [10, 30, 60, 60, 60]
    assert len(waits[0]) == 5
    assert all(cap / 2 <= w <= cap for w, cap in zip(waits[0], caps, strict=True))


def test_exhausted_retries_fail_the_step_and_compensate() -> None:
    script = Script(transient={"svc.b": 99})
    result, events = run_saga(saga(step("a"), step("b", "a")), script, "sqlite://")
    assert result.status is RunStatus.COMPENSATED
    assert [c.attempt for c in script.calls if c.step == "b" and not c.compensating] == [1, 2, 3]
    assert script.executed(compensating=True) == ["a"]  # b failed with a known outcome


def test_non_retryable_error_stops_retrying() -> None:
    script = Script(permanent={"svc.b"})
    run_saga(saga(step("a"), step("b", "a")), script, "sqlite://")
    assert [c.attempt for c in script.calls if c.step == "b"] == [1]


def test_timeout_outcome_unknown_is_compensated() -> None:
    definition = saga(step("a"), step("b", "a", timeout="50ms", retry={"max_attempts": 1}))
    script = Script(hang={"svc.b"})
    result, events = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.COMPENSATED
    assert "step_timed_out:b" in types_of(events)
    # b may have taken effect, so it is compensated too, before a
    assert script.executed(compensating=True) == ["b", "a"]


def test_parallel_branches_start_together_and_compensate_independently() -> None:
    definition = saga(step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c"))
    script = Script(permanent={"svc.d"})
    result, events = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.COMPENSATED
    kinds = types_of(events)
    # b and c both start before either succeeds: they ran concurrently
    assert kinds.index("step_started:c") < kinds.index("step_succeeded:b")
    undo = script.executed(compensating=True)
    assert sorted(undo[:2]) == ["b", "c"] and undo[2] == "a"


def test_pivot_and_retriable_steps_go_forward() -> None:
    definition = saga(step("a"), step("p", "a", kind="pivot"),
                      step("r", "p", kind="retriable",
                           retry={"max_attempts": 10, "initial_interval": "1s"}))
    script = Script(transient={"svc.r": 7})
    result, _ = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.COMPLETED
    assert script.executed(compensating=True) == []


def test_retriable_step_exhausted_fails_the_run_without_compensation() -> None:
    definition = saga(step("a"), step("p", "a", kind="pivot"),
                      step("r", "p", kind="retriable", retry={"max_attempts": 2}))
    script = Script(permanent={"svc.r"})
    result, events = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.FAILED
    assert result.failed_step == "r"
    assert script.executed(compensating=True) == []
    assert events[-1].data == {"reason": "forward_step_failed"}


def test_failed_pivot_compensates_the_steps_before_it() -> None:
    definition = saga(step("a"), step("p", "a", kind="pivot"), step("r", "p", kind="retriable"))
    script = Script(permanent={"svc.p"})
    result, _ = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.COMPENSATED
    assert script.executed(compensating=True) == ["a"]


def test_compensation_failure_ends_run_failed_and_stops(store_url: str) -> None:
    definition = saga(step("a"), step("b", "a"), step("c", "b"),
                      compensation_retry={"max_attempts": 2, "initial_interval": "1s"})
    script = Script(permanent={"svc.c"}, transient={"svc.undo_b": 99})
    result, events = run_saga(definition, script, store_url)
    assert result.status is RunStatus.FAILED
    assert result.failed_step == "b"
    assert [c.attempt for c in script.calls if c.step == "b" and c.compensating] == [1, 2]
    assert "a" not in script.executed(compensating=True)  # a waits for b's undo, never silently
    assert events[-1].data == {"reason": "compensation_failed"}


def test_continue_on_error_runs_remaining_compensations() -> None:
    definition = saga(step("a"), step("b", "a"), step("c", "b"),
                      compensation={"continue_on_error": True},
                      compensation_retry={"max_attempts": 1})
    script = Script(permanent={"svc.c", "svc.undo_b"})
    result, _ = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.FAILED
    assert script.executed(compensating=True) == ["b", "a"]


def test_read_only_step_is_not_compensated_but_ordering_holds() -> None:
    definition = saga(step("a"), step("look", "a", compensated=False, read_only=True),
                      step("c", "look"), step("d", "c"))
    script = Script(permanent={"svc.d"})
    result, _ = run_saga(definition, script, "sqlite://")
    assert result.status is RunStatus.COMPENSATED
    assert script.executed(compensating=True) == ["c", "a"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injection_is_deterministic_per_seed(seed: int) -> None:
    definition = saga(step("a"), step("b", "a"))
    injection = Injection(seed=seed, fail={"b": 0.5}, flaky={"a": 0.5})
    outcomes = []
    for _ in range(2):
        statuses = []
        for _ in range(20):
            script = Script()
            from .helpers import run_saga as go  # same helper, fresh store each run
            result, events = go(definition, script, "sqlite://", injection=injection.model_copy())
            statuses.append((result.status, len(events)))
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]


def test_oversized_output_fails_the_step() -> None:
    import asyncio

    from runtime.actions import ActionRegistry
    from runtime.engine import Engine
    from runtime.limits import Limits
    from runtime.store.sql import EventStore

    definition = saga(step("a"))
    registry = ActionRegistry()
    registry.register("svc.a", lambda ctx: {"blob": "x" * 2000}, blocking=False)
    registry.register("svc.undo_a", lambda ctx: None, blocking=False)
    store = EventStore("sqlite://")

    async def go():
        async with Engine(store, registry, clock=ManualClock(),
                          limits=Limits(max_payload_bytes=1000)) as engine:
            return await engine.start(definition, {})
    result = asyncio.run(go())
    events = store.load_run(result.run_id).events
    assert result.status is RunStatus.COMPENSATED
    failed = [e for e in events if e.type.value == "step_failed"]
    assert failed[0].error_type == "LimitExceededError" and failed[0].data["final"] is True


def test_actions_that_never_wait_complete_with_their_outputs(store_url: str) -> None:
    """The engine arms a step's timeout only once its action waits for something; an action
    that returns at once (no I/O) is recorded exactly like one that waited."""
    definition = saga(step("a"), step("b", "a", timeout="1ms"), step("c", "b"))
    seen: list[tuple[str, dict[str, object]]] = []

    def make(name: str) -> object:
        def act(ctx: ActionContext) -> object:  # sync, blocking=False: runs on the loop
            seen.append((name, dict(ctx.outputs)))
            time.sleep(0.005)  # longer than b's timeout, but it never yields to the loop
            return {"by": name}
        return act

    store = open_store(store_url)
    try:
        async def go() -> RunResult:
            async with Engine(store, registry_of(definition, make), clock=ManualClock()) as engine:
                return await engine.start(definition, {})
        result = asyncio.run(go())
        events = store.load_run(result.run_id).events
    finally:
        store.close()
    assert result.status is RunStatus.COMPLETED
    assert [name for name, _ in seen] == ["svc.a", "svc.b", "svc.c"]
    assert seen[2][1] == {"a": {"by": "svc.a"}, "b": {"by": "svc.b"}}
    assert types_of(events) == ["run_started", "step_started:a", "step_succeeded:a",
                                "step_started:b", "step_succeeded:b", "step_started:c",
                                "step_succeeded:c", "run_completed"]
    assert [e.data for e in events if e.type.value == "step_succeeded"] == [
        {"output": {"by": f"svc.{n}"}} for n in "abc"]


def test_a_waiting_action_is_cut_off_at_its_timeout_after_several_waits() -> None:
    definition = saga(step("a", timeout="30ms", retry={"max_attempts": 1}))
    reached: list[int] = []

    def make(name: str) -> object:
        async def act(ctx: ActionContext) -> object:
            for i in range(1000):
                reached.append(i)
                await asyncio.sleep(0.005)
            return "never"

        async def undo(ctx: ActionContext) -> object:
            return None
        return act if name == "svc.a" else undo

    store = open_store("memory:")

    async def go() -> RunResult:
        async with Engine(store, registry_of(definition, make)) as engine:
            return await engine.start(definition, {})
    result = asyncio.run(go())
    events = store.load_run(result.run_id).events
    assert result.status is RunStatus.COMPENSATED
    assert 2 <= len(reached) < 20  # it ran a few rounds, then the timeout cancelled it
    timed_out = [e for e in events if e.type.value == "step_timed_out"]
    assert len(timed_out) == 1 and "may have taken effect" in (timed_out[0].error or "")


def test_quick_actions_run_on_the_loop_thread_and_may_return_an_awaitable() -> None:
    """A sync action registered with ``blocking=False`` is called directly on the loop's
    thread (no worker thread, no coroutine); if it returns an awaitable, that is awaited."""
    import threading

    definition = saga(step("a"), step("b", "a"))
    threads: list[int] = []

    async def later(value: str) -> object:
        await asyncio.sleep(0)
        return {"late": value}

    def make(name: str) -> object:
        def act(ctx: ActionContext) -> object:
            threads.append(threading.get_ident())
            return later(name) if name == "svc.b" else {"now": name}
        return act

    store = open_store("memory:")

    async def go() -> tuple[RunResult, int]:
        async with Engine(store, registry_of(definition, make), clock=ManualClock()) as engine:
            return await engine.start(definition, {}), threading.get_ident()
    result, loop_thread = asyncio.run(go())
    events = store.load_run(result.run_id).events
    assert result.status is RunStatus.COMPLETED
    assert threads == [loop_thread, loop_thread]
    assert [e.data for e in events if e.type.value == "step_succeeded"] == [
        {"output": {"now": "svc.a"}}, {"output": {"late": "svc.b"}}]


def test_injected_latency_delays_quick_actions_before_their_injected_failure() -> None:
    """Simulated actions never wait; an injected latency makes the call wait first (the
    compensation's call too), and the injected failure comes after the wait, as it would
    from a slow service."""
    from runtime.batch import simulated_registry
    from runtime.injection import LatencySpec

    definition = saga(step("a"), step("b", "a", retry={"max_attempts": 1}))
    injection = Injection(seed=3, latency={"a": LatencySpec(p50_ms=40, p95_ms=40),
                                           "b": LatencySpec(p50_ms=70, p95_ms=70)},
                          fail={"b": 1.0})
    store = open_store("memory:")
    clock = ManualClock()

    async def go() -> RunResult:
        async with Engine(store, simulated_registry(definition), clock=clock) as engine:
            return await engine.start(definition, {}, injection=injection)
    result = asyncio.run(go())
    events = store.load_run(result.run_id).events
    assert result.status is RunStatus.COMPENSATED
    assert clock.sleeps == pytest.approx([0.04, 0.07, 0.04])
    assert types_of(events) == ["run_started", "step_started:a", "step_succeeded:a",
                                "step_started:b", "step_failed:b", "run_compensating:b",
                                "compensation_started:a", "compensation_succeeded:a",
                                "run_compensated"]
    durations = [(e.type.value, e.step, e.duration_ms) for e in events if e.duration_ms is not None
                 and e.step is not None]
    assert durations == [("step_succeeded", "a", pytest.approx(40.0)),
                         ("step_failed", "b", pytest.approx(70.0)),
                         ("compensation_succeeded", "a", pytest.approx(40.0))]
