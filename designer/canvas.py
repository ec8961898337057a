"""Canvas state <-> saga definition, both ways, exactly.

A canvas is what the Design page draws: one node per step (its id is the step's name, its
data the step's other fields), one edge ``source -> target`` per name in the target's
``after``, node positions from the definition's ``layout``. Saga-level fields travel in
``header``. Steps without a layout entry get an automatic position and ``placed=False``,
so converting back does not invent layout entries:

    canvas = canvas_from_definition(definition)
    assert definition_from_canvas(canvas) == definition       # layout included

Plain frozen dataclasses: no Streamlit here (``designer.flow`` speaks the component's dicts).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from designer.draft import Draft
from runtime.definition import SagaDefinition
from runtime.loading import definition_from_data

COLUMN_GAP = 240.0
"""Horizontal distance between automatically placed columns (dependency depth)."""
ROW_GAP = 130.0
"""Vertical distance between automatically placed rows."""


@dataclass(frozen=True)
class CanvasNode:
    """A step on the canvas. ``data`` holds the step's fields except ``name`` and ``after``
    (in document form: durations as text, defaults left out)."""

    id: str
    x: float
    y: float
    data: Mapping[str, Any]
    placed: bool = True
    """False when the position was computed, not read from the definition's layout."""


@dataclass(frozen=True)
class CanvasEdge:
    """An arrow: ``target`` waits for ``source``."""

    source: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass(frozen=True)
class CanvasState:
    header: Mapping[str, Any]
    """Saga-level fields: saga, version, description, defaults."""
    nodes: tuple[CanvasNode, ...] = ()
    edges: tuple[CanvasEdge, ...] = ()

    def node(self, node_id: str) -> CanvasNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]


# -- definition/document -> canvas ----------------------------------------------------------
def canvas_from_definition(definition: SagaDefinition) -> CanvasState:
    return canvas_from_document(definition.to_document())


def canvas_from_draft(draft: Draft) -> CanvasState:
    return canvas_from_document(draft.document)


def canvas_from_document(document: Mapping[str, Any]) -> CanvasState:
    """Nodes in step order, edges in (target order, ``after`` order). Arrows to names that
    are not steps (an invalid draft) cannot be drawn and are left out."""
    steps = [s for s in document.get("steps") or [] if isinstance(s, Mapping)]
    names = [str(s.get("name", "")) for s in steps]
    after = {name: _after(step) for name, step in zip(names, steps, strict=True)}
    layout = document.get("layout") if isinstance(document.get("layout"), Mapping) else {}
    assert isinstance(layout, Mapping)
    auto = auto_positions(names, after, avoid=[_xy(layout[n]) for n in names if n in layout])
    nodes = []
    for name, step in zip(names, steps, strict=True):
        data = {k: copy.deepcopy(v) for k, v in step.items() if k not in ("name", "after")}
        if name in layout:
            x, y = _xy(layout[name])
            nodes.append(CanvasNode(name, x, y, data, placed=True))
        else:
            x, y = auto[name]
            nodes.append(CanvasNode(name, x, y, data, placed=False))
    known = set(names)
    edges: list[CanvasEdge] = []
    for name in names:
        for dep in after[name]:
            edge = CanvasEdge(dep, name)
            if dep in known and dep != name and edge not in edges:
                edges.append(edge)
    header = {k: copy.deepcopy(v) for k, v in document.items() if k not in ("steps", "layout")}
    return CanvasState(header, tuple(nodes), tuple(edges))


# -- canvas -> document/definition --------------------------------------------------------
def document_from_canvas(canvas: CanvasState) -> dict[str, Any]:
    """The document the canvas shows: steps in node order, ``after`` in edge order, layout
    for placed nodes."""
    steps = []
    for node in canvas.nodes:
        step: dict[str, Any] = {"name": node.id, **copy.deepcopy(dict(node.data))}
        deps = [e.source for e in canvas.edges if e.target == node.id]
        if deps:
            step["after"] = deps
        steps.append(step)
    document: dict[str, Any] = {**copy.deepcopy(dict(canvas.header)), "steps": steps}
    layout = {n.id: {"x": n.x, "y": n.y} for n in canvas.nodes if n.placed}
    if layout:
        document["layout"] = layout
    return document


def definition_from_canvas(canvas: CanvasState, source: str = "<canvas>") -> SagaDefinition:
    """Raises ``DefinitionError`` (every shape issue) when the canvas is not a valid shape."""
    return definition_from_data(document_from_canvas(canvas), source=source)


def draft_from_canvas(canvas: CanvasState) -> Draft:
    return Draft(document_from_canvas(canvas))


# -- positions ----------------------------------------------------------------------------
def auto_positions(names: Sequence[str], after: Mapping[str, Sequence[str]], *,
                   avoid: Sequence[tuple[float, float]] = ()) -> dict[str, tuple[float, float]]:
    """Columns by dependency depth (longest chain of ``after``), rows by step order; below
    every position in ``avoid`` (the steps the user placed). Cycles do not loop forever."""
    depth: dict[str, int] = {}

    def depth_of(name: str, visiting: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        deps = [d for d in after.get(name, ()) if d in after and d not in visiting]
        value = 1 + max((depth_of(d, visiting | {name}) for d in deps), default=-1)
        depth[name] = value
        return value

    for name in names:
        depth_of(name, frozenset())
    top = max((y for _, y in avoid), default=None)
    first_row = 0.0 if top is None else top + ROW_GAP
    rows: dict[int, int] = {}
    positions = {}
    for name in names:
        column = depth[name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        positions[name] = (column * COLUMN_GAP, first_row + row * ROW_GAP)
    return positions


def next_free_position(canvas: CanvasState) -> tuple[float, float]:
    """Where a new step goes: right of the rightmost step, level with the first."""
    if not canvas.nodes:
        return (0.0, 0.0)
    rightmost = max(canvas.nodes, key=lambda n: (n.x, -n.y))
    return (rightmost.x + COLUMN_GAP, rightmost.y)


def _after(step: Mapping[str, Any]) -> list[str]:
    after = step.get("after")
    return [str(dep) for dep in after] if isinstance(after, list) else []


def _xy(entry: Any) -> tuple[float, float]:
    if not isinstance(entry, Mapping):
        return (0.0, 0.0)
    return (_number(entry.get("x")), _number(entry.get("y")))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
