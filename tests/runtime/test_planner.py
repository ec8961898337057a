"""The planner as a table: given what happened (events), what does it decide?"""

from __future__ import annotations

import pytest

from runtime.planner import (
    CompensateSteps,
    Event,
    Finish,
    Planner,
    StartSteps,
    TurnToCompensating,
    Wait,
    fold,
)
from runtime.store.tables import EventType as T
from runtime.store.tables import RunStatus

from .helpers import saga, step

# a -> (b | c) -> d (pivot) -> e (retriable)
DIAMOND = saga(step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c", kind="pivot"),
               step("e", "d", kind="retriable"))


def ev(kind: T, step: str | None = None, attempt: int | None = None, **data: object) -> Event:
    return Event(kind, step=step, attempt=attempt, data=dict(data) or None)


def ok(name: str) -> list[Event]:
    return [ev(T.STEP_STARTED, name, 1), ev(T.STEP_SUCCEEDED, name, 1)]


START = [ev(T.RUN_STARTED, input={})]
CASES = [
    ("fresh run starts the roots", START, frozenset(), StartSteps(("a",))),
    ("both branches start together", START + ok("a"), frozenset(), StartSteps(("b", "c"))),
    ("join waits for both", START + ok("a") + ok("b"), frozenset({"c"}), Wait()),
    ("join starts when both done", START + ok("a") + ok("b") + ok("c"), frozenset(), StartSteps(("d",))),
    ("retry pending after a non-final failure", START + [ev(T.STEP_STARTED, "a", 1),
     ev(T.STEP_FAILED, "a", 1, final=False)], frozenset(), StartSteps(("a",))),
    ("started without outcome is re-run (recovery)", START + [ev(T.STEP_STARTED, "a", 1)],
     frozenset(), StartSteps(("a",))),
    ("failure waits for in-flight sibling", START + ok("a") + [ev(T.STEP_STARTED, "b", 1),
     ev(T.STEP_FAILED, "b", 1, final=True)], frozenset({"c"}), Wait()),
    ("final failure turns to compensating", START + ok("a") + ok("c") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_FAILED, "b", 1, final=True)], frozenset(),
     TurnToCompensating("b", None)),
    ("compensation starts with the leaves", START + ok("a") + ok("c") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_FAILED, "b", 1, final=True),
     ev(T.RUN_COMPENSATING, "b")], frozenset(), CompensateSteps(("c",))),
    ("timed-out step is compensated too", START + ok("a") + ok("c") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_TIMED_OUT, "b", 1, final=True),
     ev(T.RUN_COMPENSATING, "b")], frozenset(), CompensateSteps(("b", "c"))),
    ("unknown outcome after crash while compensating is compensated", START + ok("a") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_STARTED, "c", 1), ev(T.STEP_FAILED, "c", 1, final=True),
     ev(T.RUN_COMPENSATING, "c")], frozenset(), CompensateSteps(("b",))),
    ("root waits for its dependents' compensation", START + ok("a") + ok("c") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_FAILED, "b", 1, final=True), ev(T.RUN_COMPENSATING, "b"),
     ev(T.COMPENSATION_STARTED, "c", 1)], frozenset({"c"}), Wait()),
    ("root compensated after", START + ok("a") + ok("c") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_FAILED, "b", 1, final=True), ev(T.RUN_COMPENSATING, "b"),
     ev(T.COMPENSATION_STARTED, "c", 1), ev(T.COMPENSATION_SUCCEEDED, "c", 1)], frozenset(),
     CompensateSteps(("a",))),
    ("all undone: compensated", START + ok("a") + [ev(T.STEP_STARTED, "b", 1),
     ev(T.STEP_FAILED, "b", 1, final=True), ev(T.STEP_STARTED, "c", 1),
     ev(T.STEP_FAILED, "c", 1, final=True), ev(T.RUN_COMPENSATING, "b"),
     ev(T.COMPENSATION_STARTED, "a", 1), ev(T.COMPENSATION_SUCCEEDED, "a", 1)], frozenset(),
     Finish(RunStatus.COMPENSATED)),
    ("compensation failed for good: run failed", START + ok("a") + [ev(T.STEP_STARTED, "b", 1),
     ev(T.STEP_FAILED, "b", 1, final=True), ev(T.STEP_STARTED, "c", 1),
     ev(T.STEP_FAILED, "c", 1, final=True), ev(T.RUN_COMPENSATING, "b"),
     ev(T.COMPENSATION_STARTED, "a", 1), ev(T.COMPENSATION_FAILED, "a", 1, final=True)], frozenset(),
     Finish(RunStatus.FAILED, "a", "compensation_failed")),
    ("after the pivot only forward", START + ok("a") + ok("b") + ok("c") + ok("d"), frozenset(),
     StartSteps(("e",))),
    ("retriable failed for good: run failed, nothing undone", START + ok("a") + ok("b") + ok("c")
     + ok("d") + [ev(T.STEP_STARTED, "e", 1), ev(T.STEP_FAILED, "e", 1, final=True)], frozenset(),
     Finish(RunStatus.FAILED, "e", "forward_step_failed")),
    ("everything succeeded", START + ok("a") + ok("b") + ok("c") + ok("d") + ok("e"), frozenset(),
     Finish(RunStatus.COMPLETED)),
    ("manual retry of a failed compensation resumes it", START + ok("a") + [
     ev(T.STEP_STARTED, "b", 1), ev(T.STEP_FAILED, "b", 1, final=True), ev(T.STEP_STARTED, "c", 1),
     ev(T.STEP_FAILED, "c", 1, final=True), ev(T.RUN_COMPENSATING, "b"),
     ev(T.COMPENSATION_STARTED, "a", 1), ev(T.COMPENSATION_FAILED, "a", 1, final=True),
     ev(T.RUN_FAILED, "a"), ev(T.MANUAL_ACTION, action="retry")], frozenset(),
     CompensateSteps(("a",))),
]


@pytest.mark.parametrize(("events", "in_flight", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decision(events: list[Event], in_flight: frozenset[str], expected: object) -> None:
    numbered = [Event(e.type, i + 1, None, e.step, e.attempt, None, None, None, e.data)
                for i, e in enumerate(events)]
    state = fold(DIAMOND, numbered)
    decision = Planner(DIAMOND).decide(state, in_flight)
    if isinstance(expected, Finish):
        assert isinstance(decision, Finish)
        assert (decision.status, decision.step, decision.reason) == (
            expected.status, expected.step, expected.reason)
    else:
        assert decision == expected
