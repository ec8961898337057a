"""Hypothesis strategies: random saga definitions that pass ``validate()``."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from runtime.definition import SagaDefinition

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
actions = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6}){0,2}", fullmatch=True)
durations = st.integers(0, 3_600_000).map(lambda ms: f"{ms}ms")
rates = st.floats(0, 1, allow_nan=False)
retries = st.fixed_dictionaries({}, optional={
    "max_attempts": st.integers(1, 20), "initial_interval": durations,
    "backoff": st.floats(1.0, 10.0, allow_nan=False), "max_interval": durations,
    "jitter": st.booleans()})
simulations = st.fixed_dictionaries({}, optional={
    "failure_rate": rates, "flaky_rate": rates, "latency_p50": durations,
    "latency_p95": durations, "compensation_failure_rate": rates})
positions = st.fixed_dictionaries({}, optional={
    "x": st.floats(-1e5, 1e5, allow_nan=False), "y": st.floats(-1e5, 1e5, allow_nan=False)})


@st.composite
def definitions(draw: st.DrawFn, max_steps: int = 8) -> SagaDefinition:
    """A random DAG: compensatable steps, then maybe a pivot every earlier step leads to,
    then retriable steps that each follow the pivot or a later step."""
    count = draw(st.integers(1, max_steps))
    step_names = draw(st.lists(names, min_size=count, max_size=count, unique=True))
    pivot = draw(st.one_of(st.none(), st.integers(0, count - 1)))
    steps: list[dict[str, Any]] = []
    for i, name in enumerate(step_names):
        step: dict[str, Any] = {"name": name, "action": draw(actions)}
        earlier = step_names[:i]
        if pivot is None or i < pivot:
            after = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
            if draw(st.booleans()):
                step["compensation"] = draw(actions)
            else:
                step["read_only"] = True
        elif i == pivot:
            step["kind"] = "pivot"
            depended = {dep for s in steps for dep in s.get("after", [])}
            after = [n for n in earlier if n not in depended]  # every earlier sink: all lead here
        else:
            step["kind"] = "retriable"
            follows = step_names[pivot:i]
            after = [draw(st.sampled_from(follows))]
            extra = draw(st.lists(st.sampled_from(earlier), unique=True))
            after += [n for n in extra if n not in after]
        if after:
            step["after"] = after
        for key, strategy in (("retry", retries), ("compensation_retry", retries),
                              ("timeout", durations), ("simulate", simulations),
                              ("description", st.text(max_size=20))):
            if draw(st.booleans()):
                step[key] = draw(strategy)
        steps.append(step)
    document: dict[str, Any] = {"saga": draw(names), "version": draw(st.integers(1, 9)),
                                "steps": steps}
    if draw(st.booleans()):
        document["description"] = draw(st.text(max_size=40))
    if draw(st.booleans()):
        document["defaults"] = {"retry": draw(retries), "timeout": draw(durations)}
    placed = draw(st.lists(st.sampled_from(step_names), unique=True))
    if placed:
        document["layout"] = {n: draw(positions) for n in placed}
    return SagaDefinition.model_validate(document)
