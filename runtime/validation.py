"""Graph rules of a saga definition, checked with networkx. Every issue is collected:

    issues = validate(definition, registry)        # [] when the saga is sound
    check(definition, registry, source="x.yaml")   # raises DefinitionError listing them all

Rules (each Issue names its JSON path and rule):
duplicate-step, unknown-step (in ``after``/``layout``), self-dependency, cycle,
missing-compensation, retriable-compensated, pivot-compensated, multiple-pivots,
after-pivot-not-retriable, retriable-before-pivot, retriable-without-pivot,
unrelated-to-pivot, unknown-action, too-many-steps, name-too-long, no-steps; past
``loading.MAX_REPORTED_ISSUES`` the rest are counted in one ``too-many-issues``.
"""

from __future__ import annotations

from collections.abc import Container

import networkx as nx

from runtime.definition import SagaDefinition, StepKind
from runtime.errors import DefinitionError, Issue
from runtime.limits import DEFAULT_LIMITS, Limits
from runtime.loading import cap_issues, pointer_part, too_many_steps

_HINTED_UNKNOWN_NAMES = 20
"""'did you mean' hints computed per validation: each costs a fuzzy match against every step
name, so a hostile ``after`` of 100,000 unknown names must not compute 100,000 of them."""


def check(definition: SagaDefinition, actions: Container[str] | None = None, *,
          source: str = "<definition>", limits: Limits = DEFAULT_LIMITS) -> SagaDefinition:
    issues = validate(definition, actions, limits=limits)
    if issues:
        raise DefinitionError(source, issues)
    return definition


def validate(definition: SagaDefinition, actions: Container[str] | None = None, *,
             limits: Limits = DEFAULT_LIMITS) -> list[Issue]:
    """Every problem in the definition; ``actions`` (a registry) enables unknown-action."""
    issues: list[Issue] = []
    issues += _limit_issues(definition, limits)
    issues += _name_issues(definition)
    graph = dependency_graph(definition)
    issues += _cycle_issues(definition, graph)
    issues += _kind_issues(definition, graph)
    if actions is not None:
        issues += _action_issues(definition, actions)
    return cap_issues(sorted(issues, key=_document_order))


def _document_order(issue: Issue) -> tuple[tuple[int, int | str], ...]:
    """Sort by path as it reads in the file: /saga, /steps/0/..., /steps/1/..., /layout."""
    top = {"saga": 0, "version": 1, "description": 2, "defaults": 3, "steps": 4, "layout": 5}
    parts = issue.path.strip("/").split("/")
    key: list[tuple[int, int | str]] = [(top.get(parts[0], 9), 0)]
    for part in parts[1:]:
        key.append((0, int(part)) if part.isascii() and part.isdigit() else (1, part))
    return tuple(key)


def dependency_graph(definition: SagaDefinition) -> nx.DiGraph:
    """Edges ``dependency -> step`` for every known name in ``after``."""
    graph = nx.DiGraph()
    graph.add_nodes_from(step.name for step in definition.steps)
    for step in definition.steps:
        for dep in step.after:
            if dep in definition.step_map and dep != step.name:
                graph.add_edge(dep, step.name)
    return graph


def _limit_issues(definition: SagaDefinition, limits: Limits) -> list[Issue]:
    issues = []
    if not definition.steps:
        issues.append(Issue("/steps", "no-steps", "a saga needs at least one step", "add a step"))
    if len(definition.steps) > limits.max_steps:
        issues.append(too_many_steps(len(definition.steps), limits))
    names = [("/saga", definition.saga)]
    for i, step in enumerate(definition.steps):
        names += [(f"/steps/{i}/name", step.name), (f"/steps/{i}/action", step.action)]
        if step.compensation:
            names.append((f"/steps/{i}/compensation", step.compensation))
    for path, name in names:
        if len(name) > limits.max_name_length:
            issues.append(Issue(path, "name-too-long",
                                f"name is {len(name)} characters, over the limit of "
                                f"{limits.max_name_length} (Limits.max_name_length)", "shorten it"))
    return issues


def _name_issues(definition: SagaDefinition) -> list[Issue]:
    issues = []
    first_index: dict[str, int] = {}
    hints: dict[str, str] = {}
    for i, step in enumerate(definition.steps):
        if step.name in first_index:
            issues.append(Issue(f"/steps/{i}/name", "duplicate-step",
                                f"step {step.name!r} is already defined at /steps/{first_index[step.name]}",
                                "give every step its own name"))
        else:
            first_index[step.name] = i
        seen: set[str] = set()
        for j, dep in enumerate(step.after):
            path = f"/steps/{i}/after/{j}"
            if dep == step.name:
                issues.append(Issue(path, "self-dependency", f"step {step.name!r} waits for itself",
                                    "remove it from its own 'after'"))
            elif dep not in definition.step_map:
                if dep not in hints:
                    hints[dep] = (_did_you_mean(dep, definition.step_map)
                                  if len(hints) < _HINTED_UNKNOWN_NAMES else "check the step names")
                issues.append(Issue(path, "unknown-step", f"no step named {dep!r}", hints[dep]))
            elif dep in seen:
                issues.append(Issue(path, "duplicate-dependency", f"{dep!r} is listed twice",
                                    "list each dependency once"))
            seen.add(dep)
    for name in definition.layout:
        if name not in definition.step_map:
            issues.append(Issue(f"/layout/{pointer_part(name)}", "unknown-step",
                                f"layout names {name!r}, which is not a step", "remove the entry"))
    return issues


def _cycle_issues(definition: SagaDefinition, graph: nx.DiGraph) -> list[Issue]:
    issues = []
    index = {step.name: i for i, step in enumerate(definition.steps)}
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(component))
        loop = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        first = min(component, key=index.__getitem__)
        issues.append(Issue(f"/steps/{index[first]}/after", "cycle",
                            f"steps wait for each other in a loop: {loop}",
                            "remove one of these dependencies"))
    return issues


def _kind_issues(definition: SagaDefinition, graph: nx.DiGraph) -> list[Issue]:
    issues = []
    pivots = [i for i, s in enumerate(definition.steps) if s.kind is StepKind.PIVOT]
    for i in pivots[1:]:
        issues.append(Issue(f"/steps/{i}/kind", "multiple-pivots",
                            f"a second pivot (the first is {definition.steps[pivots[0]].name!r})",
                            "keep one pivot; make the others compensatable or retriable"))
    for i, step in enumerate(definition.steps):
        path = f"/steps/{i}"
        if step.kind is StepKind.COMPENSATABLE and not step.compensation and not step.read_only:
            issues.append(Issue(f"{path}/compensation", "missing-compensation",
                                f"compensatable step {step.name!r} has no compensation",
                                "name the action that undoes it, or set read_only: true"))
        if step.kind is StepKind.RETRIABLE and step.compensation:
            issues.append(Issue(f"{path}/compensation", "retriable-compensated",
                                "retriable steps run after the pivot and are never compensated",
                                "remove the compensation or make the step compensatable"))
        if step.kind is StepKind.PIVOT and step.compensation:
            issues.append(Issue(f"{path}/compensation", "pivot-compensated",
                                "the pivot is the point of no return and is never compensated",
                                "remove the compensation or make the step compensatable"))
    if not pivots:
        for i, step in enumerate(definition.steps):
            if step.kind is StepKind.RETRIABLE:
                issues.append(Issue(f"/steps/{i}/kind", "retriable-without-pivot",
                                    "retriable steps come after a pivot, and this saga has none",
                                    "mark the go/no-go step as kind: pivot"))
        return issues
    if not nx.is_directed_acyclic_graph(graph):
        return issues  # placement rules are meaningless until the cycle is fixed
    pivot = definition.steps[pivots[0]].name
    before = nx.ancestors(graph, pivot)
    after = nx.descendants(graph, pivot)
    for i, step in enumerate(definition.steps):
        if step.name == pivot:
            continue
        if step.name in after and step.kind is not StepKind.RETRIABLE:
            issues.append(Issue(f"/steps/{i}/kind", "after-pivot-not-retriable",
                                f"{step.name!r} runs after the pivot {pivot!r} but is {step.kind.value}",
                                "steps after the pivot must be kind: retriable"))
        elif step.name in before and step.kind is StepKind.RETRIABLE:
            issues.append(Issue(f"/steps/{i}/kind", "retriable-before-pivot",
                                f"{step.name!r} is retriable but runs before the pivot {pivot!r}",
                                "make it compensatable, or move it after the pivot"))
        elif step.name not in before and step.name not in after:
            issues.append(Issue(f"/steps/{i}/after", "unrelated-to-pivot",
                                f"{step.name!r} runs neither before nor after the pivot {pivot!r}",
                                f"add {pivot!r} to its 'after', or make the pivot wait for it"))
    return issues


def _action_issues(definition: SagaDefinition, actions: Container[str]) -> list[Issue]:
    issues = []
    for i, step in enumerate(definition.steps):
        for field in ("action", "compensation"):
            name = getattr(step, field)
            if name and name not in actions:
                issues.append(Issue(f"/steps/{i}/{field}", "unknown-action",
                                    f"action {name!r} is not registered",
                                    "register it, pick a registered name, or run with --simulate"))
    return issues


def _did_you_mean(name: str, known: Container[str] | dict[str, object]) -> str:
    import difflib

    choices = list(known) if isinstance(known, dict) else []
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else "check the step names"

