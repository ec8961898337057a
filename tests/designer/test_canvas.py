"""Canvas <-> definition conversion: exact both ways, samples and random definitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from designer.canvas import (
    COLUMN_GAP,
    ROW_GAP,
    CanvasEdge,
    CanvasNode,
    CanvasState,
    auto_positions,
    canvas_from_definition,
    canvas_from_document,
    definition_from_canvas,
    document_from_canvas,
    next_free_position,
)
from designer.files import list_samples, open_sample
from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError
from runtime.validation import validate
from tests.designer.strategies import definitions

SAMPLES = list_samples()


def test_there_are_samples() -> None:
    assert {"flight_booking", "hotel_booking", "trip_booking"} <= set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_round_trips_exactly(sample: str) -> None:
    definition = open_sample(sample)
    canvas = canvas_from_definition(definition)
    again = definition_from_canvas(canvas)
    assert again == definition
    assert again.layout == definition.layout
    assert again.content_hash == definition.content_hash
    assert canvas_from_definition(again) == canvas


@given(definitions())
@settings(max_examples=150, deadline=None)
def test_random_valid_definitions_round_trip_exactly(definition: SagaDefinition) -> None:
    assert validate(definition) == []
    canvas = canvas_from_definition(definition)
    assert definition_from_canvas(canvas) == definition
    assert [n.id for n in canvas.nodes] == [s.name for s in definition.steps]
    assert {(e.source, e.target) for e in canvas.edges} == {
        (dep, s.name) for s in definition.steps for dep in s.after}


def test_flight_booking_canvas_shape() -> None:
    canvas = canvas_from_definition(open_sample("flight_booking"))
    assert canvas.node_ids == ["reserve_seat", "charge_payment", "issue_ticket",
                               "send_confirmation"]
    assert [e.id for e in canvas.edges] == ["reserve_seat->charge_payment",
                                           "charge_payment->issue_ticket",
                                           "issue_ticket->send_confirmation"]
    node = canvas.node("charge_payment")
    assert node is not None and (node.x, node.y) == (220, 0) and node.placed
    assert node.data["compensation"] == "payments.refund"
    assert "name" not in node.data and "after" not in node.data
    assert canvas.header["saga"] == "flight_booking"


def test_steps_without_layout_are_placed_automatically_and_not_written_back() -> None:
    definition = SagaDefinition.model_validate({"saga": "s", "steps": [
        {"name": "a", "action": "x.a", "read_only": True},
        {"name": "b", "action": "x.b", "read_only": True, "after": ["a"]},
        {"name": "c", "action": "x.c", "read_only": True, "after": ["a"]},
    ]})
    canvas = canvas_from_definition(definition)
    assert not any(n.placed for n in canvas.nodes)
    assert [(n.x, n.y) for n in canvas.nodes] == [(0, 0), (COLUMN_GAP, 0), (COLUMN_GAP, ROW_GAP)]
    assert definition_from_canvas(canvas).layout == {}
    assert definition_from_canvas(canvas) == definition


def test_moving_an_unplaced_node_adds_its_layout_entry() -> None:
    canvas = CanvasState({"saga": "s"}, (CanvasNode("a", 10, 20,
                                                    {"action": "x", "read_only": True}),
                                         CanvasNode("b", 0, 0, {"action": "y", "read_only": True},
                                                    placed=False)),
                         (CanvasEdge("a", "b"),))
    definition = definition_from_canvas(canvas)
    assert set(definition.layout) == {"a"}
    assert definition.layout["a"].x == 10 and definition.layout["a"].y == 20
    assert definition.step("b").after == ["a"]


def test_after_order_is_kept_through_edge_order() -> None:
    definition = SagaDefinition.model_validate({"saga": "s", "steps": [
        {"name": "a", "action": "x", "read_only": True},
        {"name": "b", "action": "x", "read_only": True},
        {"name": "c", "action": "x", "read_only": True, "after": ["b", "a"]},
    ]})
    assert definition_from_canvas(canvas_from_definition(definition)).step("c").after == ["b", "a"]


def test_invalid_documents_still_draw() -> None:
    canvas = canvas_from_document({"saga": "s", "steps": [
        {"name": "a", "after": ["ghost", "a"]}, {"name": "b", "action": "", "after": ["a", "a"]},
        "not a step"], "layout": {"a": {"x": "left"}, "ghost": {"x": 1}}})
    assert canvas.node_ids == ["a", "b"]
    assert [e.id for e in canvas.edges] == ["a->b"]
    node = canvas.node("a")
    assert node is not None and (node.x, node.y) == (0.0, 0.0)
    with pytest.raises(DefinitionError) as err:
        definition_from_canvas(canvas)
    assert any("/steps/0/action" in line for line in err.value.lines())


def test_document_from_canvas_has_no_empty_after_or_layout() -> None:
    node = CanvasNode("a", 0, 0, {"action": "x"}, placed=False)
    canvas = CanvasState({"saga": "s", "version": 2}, (node,))
    assert document_from_canvas(canvas) == {"saga": "s", "version": 2,
                                            "steps": [{"name": "a", "action": "x"}]}


def test_auto_positions_survive_cycles() -> None:
    positions = auto_positions(["a", "b"], {"a": ["b"], "b": ["a"]})
    assert set(positions) == {"a", "b"}


def test_auto_positions_go_below_placed_steps() -> None:
    positions = auto_positions(["a"], {"a": []}, avoid=[(0, 50), (100, 300)])
    assert positions["a"] == (0, 300 + ROW_GAP)


def test_next_free_position_is_right_of_the_rightmost_step() -> None:
    assert next_free_position(CanvasState({})) == (0, 0)
    canvas = canvas_from_definition(open_sample("flight_booking"))
    assert next_free_position(canvas) == (660 + COLUMN_GAP, 0)
