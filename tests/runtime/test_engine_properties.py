"""Property tests over random DAGs and failure points (DESIGN.md execution semantics):
the compensated set is exactly the succeeded-or-unknown compensatable steps, compensation
order respects reverse dependencies, nothing is compensated twice, every run ends terminal."""

from __future__ import annotations

from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.definition import SagaDefinition
from runtime.store.tables import RunStatus
from runtime.validation import validate

from .helpers import Script, run_saga, saga, step


@st.composite
def sagas_with_failures(draw: st.DrawFn) -> tuple[SagaDefinition, Script]:
    before = draw(st.integers(1, 6))
    names = [f"s{i}" for i in range(before)]
    steps: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else []
        read_only = draw(st.booleans()) if i else False
        steps.append(step(name, *deps, compensated=not read_only, read_only=read_only,
                          timeout="30ms"))
    if draw(st.booleans()):
        graph = nx.DiGraph([(d, s["name"]) for s in steps for d in s["after"]])
        graph.add_nodes_from(names)
        sinks = [n for n in names if graph.out_degree(n) == 0]
        steps.append(step("pivot", *sinks, kind="pivot", timeout="30ms"))
        tail = ["pivot"]
        for j in range(draw(st.integers(0, 2))):
            name = f"r{j}"
            steps.append(step(name, draw(st.sampled_from(tail)), kind="retriable",
                              timeout="30ms", retry={"max_attempts": 4, "initial_interval": "1s"}))
            tail.append(name)
    all_names = [s["name"] for s in steps]
    actions = [f"svc.{n}" for n in all_names]
    undo = [f"svc.undo_{n}" for n in names]
    script = Script(
        permanent=set(draw(st.lists(st.sampled_from(actions + undo), unique=True, max_size=2))),
        transient={a: draw(st.integers(1, 4)) for a in
                   draw(st.lists(st.sampled_from(actions + undo), unique=True, max_size=3))},
        hang=set(draw(st.lists(st.sampled_from(actions), unique=True, max_size=1))),
    )
    definition = saga(*steps, compensation_retry={"max_attempts": 3, "initial_interval": "1s",
                                                  "jitter": False})
    assert validate(definition) == []
    return definition, script


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sagas_with_failures())
def test_compensation_invariants(case: tuple[SagaDefinition, Script]) -> None:
    definition, script = case
    result, events = run_saga(definition, script, "sqlite://")
    assert result.status in (RunStatus.COMPLETED, RunStatus.COMPENSATED, RunStatus.FAILED)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))

    started = {e.step for e in events if e.type.value == "step_started"}
    succeeded = {e.step for e in events if e.type.value == "step_succeeded"}
    unknown = {e.step for e in events if e.type.value == "step_timed_out" and e.data["final"]}
    compensable = {s.name for s in definition.steps if s.compensation and s.kind == "compensatable"}
    comp_started = [e.step for e in events if e.type.value == "compensation_started"]
    comp_done = [e.step for e in events if e.type.value == "compensation_succeeded"]
    comp_final_fail = {e.step for e in events
                       if e.type.value == "compensation_failed" and e.data["final"]}
    assert len(comp_done) == len(set(comp_done)), "a step was compensated twice"
    assert started >= succeeded

    if result.status is RunStatus.COMPLETED:
        assert succeeded == {s.name for s in definition.steps} and not comp_started
    if result.status is RunStatus.COMPENSATED:
        assert set(comp_done) == (succeeded | unknown) & compensable
    if result.status is RunStatus.FAILED and comp_started:
        assert comp_final_fail, "a compensating run fails only when a compensation failed for good"
        assert set(comp_done) | comp_final_fail <= (succeeded | unknown) & compensable

    # reverse dependency order: x is compensated only after every compensated descendant
    graph = nx.DiGraph([(d, s.name) for s in definition.steps for d in s.after])
    position = {e.step: e.seq for e in events if e.type.value == "compensation_started"}
    finished = {e.step: e.seq for e in events if e.type.value == "compensation_succeeded"}
    for x in position:
        for y in nx.descendants(graph, x) if x in graph else ():
            if y in position:
                assert y in finished and finished[y] < position[x]
