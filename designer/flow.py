"""The streamlit-flow component's side of the canvas, as plain dicts (no Streamlit import).

    nodes = flow_nodes(canvas, report, selected="charge_payment")   # StreamlitFlowNode.from_dict
    edges = flow_edges(canvas)                                      # StreamlitFlowEdge.from_dict
    change = apply_flow_value(draft, canvas, value)                  # what the user did

``value`` is what the component sends back (``{"nodes": [...], "edges": [...],
"selectedId": ..., "timestamp": ...}``). It is compared with the canvas that was drawn, and
the differences become draft edits: nodes added from the pane menu (named after the text
typed, or ``step_N``), nodes deleted, nodes dragged, arrows drawn or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from designer.canvas import CanvasState
from designer.checks import DraftReport
from designer.draft import (
    Draft,
    add_step,
    connect,
    delete_step,
    disconnect,
    move_step,
    suggest_name,
)
from runtime.errors import Issue

MOVE_TOLERANCE = 0.5
"""Pixels a node must move before the move is recorded."""

_MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!<>|~")
_BORDER = "1px solid #8a94a6"
_FILL = {"compensatable": "#f5f8fd", "pivot": "#fff1dc", "retriable": "#eaf7ec"}


@dataclass(frozen=True)
class FlowChange:
    """What one component value changed."""

    draft: Draft
    selected: str | None = None
    """The step the user clicked or created (None: no step selected by this value)."""
    structural: bool = False
    """Steps or arrows were added or removed: the canvas must be drawn again (arrowheads,
    names); moves alone do not need that."""


# -- Python -> component ------------------------------------------------------------------
def flow_nodes(canvas: CanvasState, report: DraftReport | None = None,
               selected: str | None = None) -> list[dict[str, Any]]:
    """Nodes in the component's ``asdict`` form: a label with the step's action,
    compensation and kind; steps with issues outlined red. ``selected`` is drawn selected by
    the component itself (its highlight follows clicks without a redraw)."""
    nodes = []
    for node in canvas.nodes:
        issues = report.for_step(node.id) if report is not None else ()
        kind = str(node.data.get("kind", "compensatable"))
        style: dict[str, Any] = {
            "width": "170px", "fontSize": "12px", "textAlign": "left", "borderRadius": "8px",
            "border": _BORDER, "background": _FILL.get(kind, _FILL["compensatable"]),
            "padding": "6px 10px",
        }
        if issues:
            style.update(border="2px solid #d93025", background="#fdecea")
        nodes.append({
            "id": node.id, "position": {"x": node.x, "y": node.y},
            "data": {"content": node_label(node.id, node.data, issues),
                     "step": dict(node.data)},
            "type": "default", "sourcePosition": "right", "targetPosition": "left",
            "draggable": True, "selectable": True, "connectable": True, "deletable": True,
            "selected": node.id == selected, "style": style,
        })
    return nodes


def flow_edges(canvas: CanvasState) -> list[dict[str, Any]]:
    """Edges with an arrowhead at the waiting step."""
    return [{
        "id": edge.id, "source": edge.source, "target": edge.target, "type": "default",
        "markerEnd": {"type": "arrowclosed", "width": 18, "height": 18, "color": "#5f6b7a"},
        "deletable": True, "focusable": True, "style": {"stroke": "#5f6b7a", "strokeWidth": 1.5},
    } for edge in canvas.edges]


def node_label(name: str, data: Mapping[str, Any], issues: Sequence[Issue] = ()) -> str:
    """Markdown: **name**, the action, ``↩ compensation``, the kind, and a warning count."""
    action = escape_markdown(str(data.get("action") or "")) or "*(no action)*"
    kind = str(data.get("kind") or "compensatable")
    if data.get("read_only") and kind == "compensatable":
        kind = "read-only"
    lines = [f"**{escape_markdown(name)}**", action]
    compensation = data.get("compensation")
    if compensation:
        lines.append(f"↩ {escape_markdown(str(compensation))}")
    lines.append(f"*{kind}*")
    if issues:
        lines.append(f"⚠ {len(issues)} issue{'s' if len(issues) > 1 else ''}")
    return "  \n".join(lines)


def escape_markdown(text: str) -> str:
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIALS else c for c in text)


FRAME_PREFIX = "__frame"
MIN_FRAME = (640.0, 280.0)


def frame_nodes(canvas: CanvasState) -> list[dict[str, Any]]:
    """Two invisible, inert corner nodes that make the drawing at least ``MIN_FRAME`` big,
    so fitting the view to one or two steps does not zoom them to twice their size."""
    xs = [n.x for n in canvas.nodes] or [0.0]
    ys = [n.y for n in canvas.nodes] or [0.0]
    corners = [(min(xs), min(ys)), (max(max(xs), min(xs) + MIN_FRAME[0]),
                                    max(max(ys), min(ys) + MIN_FRAME[1]))]
    return [{
        "id": f"{FRAME_PREFIX}_{i}", "position": {"x": x, "y": y}, "data": {"content": ""},
        "type": "default", "draggable": False, "selectable": False, "connectable": False,
        "deletable": False, "focusable": False,
        "style": {"opacity": 0, "pointerEvents": "none", "width": "1px", "height": "1px",
                  "padding": 0, "border": "none"},
    } for i, (x, y) in enumerate(corners)]


# -- component -> Python ------------------------------------------------------------------
def flow_stamp(value: Any) -> Any:
    """Identifies one value the component sent (its timestamp)."""
    return value.get("timestamp") if isinstance(value, Mapping) else None


def apply_flow_value(draft: Draft, drawn: CanvasState, value: Any) -> FlowChange:
    """Turn the component's value into edits of ``draft``, which ``drawn`` was drawn from."""
    if not isinstance(value, Mapping) or not isinstance(value.get("nodes"), list):
        return FlowChange(draft)
    raw_nodes = [n for n in value["nodes"] if isinstance(n, Mapping) and n.get("id")
                 and not str(n["id"]).startswith(FRAME_PREFIX)]
    edges = value.get("edges")
    raw_edges = [e for e in edges if isinstance(e, Mapping)] if isinstance(edges, list) else []
    drawn_ids = set(drawn.node_ids)
    seen_ids = [str(n["id"]) for n in raw_nodes]
    structural = False
    for node_id in drawn.node_ids:
        if node_id not in seen_ids and draft.has_step(node_id):
            draft = delete_step(draft, node_id)
            structural = True
    names: dict[str, str] = {node_id: node_id for node_id in seen_ids if node_id in drawn_ids}
    for raw in raw_nodes:
        node_id = str(raw["id"])
        x, y = _position(raw)
        if node_id in drawn_ids:
            node = drawn.node(node_id)
            assert node is not None
            if abs(node.x - x) > MOVE_TOLERANCE or abs(node.y - y) > MOVE_TOLERANCE:
                draft = move_step(draft, node_id, x, y)
            continue
        data = raw.get("data")
        text = data.get("content", "") if isinstance(data, Mapping) else ""
        draft, name = add_step(draft, suggest_name(str(text or ""), draft.step_names()),
                               position=(x, y))
        names[node_id] = name
        structural = True
    drawn_edges = {(e.source, e.target) for e in drawn.edges}
    wanted: list[tuple[str, str]] = []
    for raw in raw_edges:
        pair = (names.get(str(raw.get("source"))), names.get(str(raw.get("target"))))
        if pair[0] and pair[1] and pair[0] != pair[1] and pair not in wanted:
            wanted.append((pair[0], pair[1]))
    for source, target in wanted:
        if (source, target) not in drawn_edges:
            draft = connect(draft, source, target)
            structural = True
    for edge in drawn.edges:
        pair = (edge.source, edge.target)
        if pair not in wanted and draft.has_step(edge.source) and draft.has_step(edge.target):
            draft = disconnect(draft, edge.source, edge.target)
            structural = True
    selected_id = value.get("selectedId")
    selected = names.get(str(selected_id)) if selected_id is not None else None
    return FlowChange(draft, selected, structural)


def _position(raw: Mapping[str, Any]) -> tuple[float, float]:
    position = raw.get("position")
    if not isinstance(position, Mapping):
        return (0.0, 0.0)
    values = []
    for key in ("x", "y"):
        v = position.get(key)
        values.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0)
    return (values[0], values[1])
