"""Path groups -> Sankey nodes and links; saga definition -> graph positions.

    flows = sankey_flows(groups, step_order)      # nodes, links (source, target, runs)
    positions = graph_positions(definition)      # {step: (x, y)} from layout or generations

A run's path: ``start`` -> the steps that succeeded (in the saga's topological order) ->
``✗ <step>`` (the step whose failure triggered compensation, or a step after the pivot that
failed for good) -> ``✗ undo <step>`` (a compensation that failed for good) -> its status.
Every run leaves ``start`` exactly once, so the flows out of ``start`` sum to the runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from dashboard.queries import PathGroup
from runtime.definition import SagaDefinition
from runtime.store.tables import RunStatus

START = "start"


@dataclass(frozen=True)
class SankeyFlows:
    nodes: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    """per node: ``start``, ``step``, ``failure``, or a run status"""
    links: list[tuple[int, int, int]] = field(default_factory=list)
    """(source index, target index, runs)"""

    def out_of(self, node: str) -> int:
        index = self.nodes.index(node)
        return sum(runs for source, _, runs in self.links if source == index)


def failure_node(step: str) -> str:
    return f"✗ {step}"


def undo_failure_node(step: str) -> str:
    return f"✗ undo {step}"


def path_of(group: PathGroup, step_order: Sequence[str]) -> list[tuple[str, str]]:
    """The (node, kind) sequence of one path group."""
    rank = {name: i for i, name in enumerate(step_order)}
    steps = sorted(group.steps, key=lambda name: (rank.get(name, len(rank)), name))
    path = [(START, "start"), *((name, "step") for name in steps)]
    if group.trigger:
        path.append((failure_node(group.trigger), "failure"))
        if group.failed_step and group.status == RunStatus.FAILED.value:
            path.append((undo_failure_node(group.failed_step), "failure"))
    elif group.failed_step:
        path.append((failure_node(group.failed_step), "failure"))
    path.append((group.status, group.status))
    return path


def sankey_flows(groups: Sequence[PathGroup], step_order: Sequence[str]) -> SankeyFlows:
    """Nodes in a stable order (start, steps, failures, statuses) and summed links."""
    weights: dict[tuple[str, str], int] = defaultdict(int)
    kinds: dict[str, str] = {}
    for group in groups:
        if group.runs <= 0:
            continue
        path = path_of(group, step_order)
        kinds.update(path)
        for (source, _), (target, _) in zip(path, path[1:], strict=False):
            weights[source, target] += group.runs
    rank = {name: i for i, name in enumerate(step_order)}
    kind_rank = {"start": 0, "step": 1, "failure": 2}
    status_rank = {status.value: i for i, status in enumerate(RunStatus)}
    nodes = sorted(kinds, key=lambda n: (kind_rank.get(kinds[n], 3), rank.get(n, len(rank)),
                                         status_rank.get(n, 0), n))
    index = {name: i for i, name in enumerate(nodes)}
    links = [(index[s], index[t], runs) for (s, t), runs in weights.items()]
    links.sort()
    return SankeyFlows(nodes=nodes, kinds=[kinds[n] for n in nodes], links=links)


def topological_order(definition: SagaDefinition) -> list[str]:
    """Steps in dependency order, ties broken by their order in the document."""
    graph = dependency_graph(definition)
    index = {step.name: i for i, step in enumerate(definition.steps)}
    try:
        return list(nx.lexicographical_topological_sort(graph, key=lambda n: index.get(n, 0)))
    except nx.NetworkXUnfeasible:  # a cycle: validation rejects it, the page still draws
        return [step.name for step in definition.steps]


def dependency_graph(definition: SagaDefinition) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(step.name for step in definition.steps)
    graph.add_edges_from((dep, step.name) for step in definition.steps for dep in step.after
                         if dep in definition.step_map)
    return graph


def graph_positions(definition: SagaDefinition) -> dict[str, tuple[float, float]]:
    """The designer's positions when every step has one (y flipped: screen y grows down),
    else topological generations: x = generation, y centred within the generation."""
    names = [step.name for step in definition.steps]
    if names and all(name in definition.layout for name in names):
        return {name: (definition.layout[name].x, -definition.layout[name].y) for name in names}
    graph = dependency_graph(definition)
    try:
        generations = [sorted(g, key=names.index) for g in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:
        generations = [[name] for name in names]
    positions = {}
    for x, generation in enumerate(generations):
        for i, name in enumerate(generation):
            positions[name] = (float(x), (len(generation) - 1) / 2 - i)
    return positions
