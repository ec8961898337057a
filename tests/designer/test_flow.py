"""The streamlit-flow component's values turned into draft edits, and the nodes it draws."""

from __future__ import annotations

from typing import Any

import pytest

from designer.canvas import CanvasState, canvas_from_draft
from designer.checks import check_draft
from designer.draft import Draft, add_step
from designer.files import open_sample
from designer.flow import apply_flow_value, escape_markdown, flow_edges, flow_nodes, node_label


def value_of(canvas: CanvasState, **changes: Any) -> dict[str, Any]:
    """What the component would send back for ``canvas``, untouched."""
    value: dict[str, Any] = {
        "nodes": flow_nodes(canvas), "edges": flow_edges(canvas), "selectedId": None,
        "timestamp": 1}
    value.update(changes)
    return value


@pytest.fixture
def flight() -> Draft:
    return Draft.of(open_sample("flight_booking"))


def test_an_untouched_value_changes_nothing(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    change = apply_flow_value(flight, canvas, value_of(canvas))
    assert change.draft == flight and not change.structural and change.selected is None


@pytest.mark.parametrize("value", [None, [], {}, {"nodes": "x"}, {"timestamp": 3}])
def test_malformed_values_change_nothing(flight: Draft, value: Any) -> None:
    change = apply_flow_value(flight, canvas_from_draft(flight), value)
    assert change.draft is flight and not change.structural


def test_a_click_selects_the_step(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    change = apply_flow_value(flight, canvas, value_of(canvas, selectedId="issue_ticket"))
    assert change.selected == "issue_ticket" and change.draft == flight


def test_a_drag_moves_the_step_without_redrawing(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    value = value_of(canvas)
    value["nodes"][2]["position"] = {"x": 500.25, "y": 80}
    change = apply_flow_value(flight, canvas, value)
    assert change.draft.layout["issue_ticket"] == {"x": 500.2, "y": 80.0}
    assert not change.structural
    jitter = value_of(canvas)
    jitter["nodes"][2]["position"] = {"x": 440.3, "y": 0.2}
    assert apply_flow_value(flight, canvas, jitter).draft == flight


def test_a_node_from_the_pane_menu_becomes_a_named_step(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    value = value_of(canvas, selectedId="st-flow-node_Xy")
    value["nodes"].append({"id": "st-flow-node_Xy", "position": {"x": 10, "y": 200},
                           "data": {"content": "Cancel hotel"}})
    value["edges"].append({"id": "st-flow-edge_st-flow-node_Xy-issue_ticket",
                           "source": "st-flow-node_Xy", "target": "issue_ticket"})
    change = apply_flow_value(flight, canvas, value)
    assert change.structural and change.selected == "Cancel_hotel"
    assert change.draft.step("Cancel_hotel") == {"name": "Cancel_hotel"}
    assert change.draft.layout["Cancel_hotel"] == {"x": 10.0, "y": 200.0}
    assert change.draft.after("issue_ticket") == ["charge_payment", "Cancel_hotel"]


def test_a_drawn_arrow_connects_and_a_deleted_one_disconnects(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    value = value_of(canvas)
    value["edges"].append({"id": "st-flow-edge_reserve_seat-issue_ticket",
                           "source": "reserve_seat", "target": "issue_ticket"})
    change = apply_flow_value(flight, canvas, value)
    assert change.structural
    assert change.draft.after("issue_ticket") == ["charge_payment", "reserve_seat"]
    value = value_of(canvas)
    value["edges"] = value["edges"][1:]
    change = apply_flow_value(flight, canvas, value)
    assert change.structural and "after" not in change.draft.step("charge_payment")


def test_self_loops_and_duplicate_arrows_are_ignored(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    value = value_of(canvas)
    value["edges"] += [{"source": "reserve_seat", "target": "reserve_seat"},
                       {"source": "reserve_seat", "target": "charge_payment"}]
    assert apply_flow_value(flight, canvas, value).draft == flight


def test_a_deleted_node_deletes_the_step_and_its_arrows(flight: Draft) -> None:
    canvas = canvas_from_draft(flight)
    value = value_of(canvas)
    value["nodes"] = [n for n in value["nodes"] if n["id"] != "charge_payment"]
    value["edges"] = [e for e in value["edges"] if "charge_payment" not in e["id"]]
    change = apply_flow_value(flight, canvas, value)
    assert change.structural and change.draft.step_names() == [
        "reserve_seat", "issue_ticket", "send_confirmation"]
    assert "after" not in change.draft.step("issue_ticket")


def test_nodes_show_action_compensation_kind_and_issues() -> None:
    draft, _ = add_step(Draft.of(open_sample("flight_booking")), "audit", position=(0, 300))
    report = check_draft(draft)
    nodes = {n["id"]: n for n in flow_nodes(canvas_from_draft(draft), report, "issue_ticket")}
    label = nodes["charge_payment"]["data"]["content"]
    assert "payments\\.charge" in label and "↩ payments\\.refund" in label
    assert "*compensatable*" in label
    assert "*pivot*" in nodes["issue_ticket"]["data"]["content"]
    assert nodes["issue_ticket"]["selected"] and not nodes["charge_payment"]["selected"]
    assert "⚠ 3 issues" in nodes["audit"]["data"]["content"]
    assert nodes["audit"]["style"]["border"].startswith("2px solid")
    assert nodes["charge_payment"]["style"]["border"].startswith("1px")
    assert all(n["connectable"] and n["deletable"] for n in nodes.values())
    assert nodes["charge_payment"]["data"]["step"]["compensation"] == "payments.refund"


def test_edges_have_arrowheads() -> None:
    edges = flow_edges(canvas_from_draft(Draft.of(open_sample("flight_booking"))))
    assert edges[0]["id"] == "reserve_seat->charge_payment"
    assert all(e["markerEnd"]["type"] == "arrowclosed" for e in edges)


def test_labels_escape_markdown() -> None:
    assert escape_markdown("a_b*c") == "a\\_b\\*c"
    assert node_label("x", {"action": "", "read_only": True}).splitlines()[1:3] == [
        "*(no action)*  ", "*read-only*"]
