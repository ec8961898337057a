"""Edits of a draft: pure, never mutate their input, keep `after` and layout consistent."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from designer.draft import (
    Draft,
    EditError,
    add_step,
    connect,
    delete_step,
    disconnect,
    move_step,
    rename_step,
    set_after,
    suggest_name,
    unique_name,
    update_header,
    update_step,
)
from designer.files import open_sample
from runtime.definition import SagaDefinition
from tests.designer.strategies import definitions


@pytest.fixture
def flight() -> Draft:
    return Draft.of(open_sample("flight_booking"))


def test_a_draft_of_a_definition_gives_it_back(flight: Draft) -> None:
    assert flight.definition() == open_sample("flight_booking")


def test_add_step_uses_a_unique_default_name() -> None:
    draft, first = add_step(Draft.new())
    draft, second = add_step(draft, position=(10, 20))
    assert (first, second) == ("step_1", "step_2")
    assert draft.step("step_1") == {"name": "step_1"}
    assert draft.layout == {"step_2": {"x": 10.0, "y": 20.0}}
    with pytest.raises(EditError, match="already exists"):
        add_step(draft, "step_1")


def test_rename_updates_after_and_layout(flight: Draft) -> None:
    renamed = rename_step(flight, "charge_payment", "take_payment")
    assert renamed.after("issue_ticket") == ["take_payment"]
    assert "take_payment" in renamed.layout and "charge_payment" not in renamed.layout
    assert list(renamed.layout) == ["reserve_seat", "take_payment", "issue_ticket",
                                    "send_confirmation"]
    definition = renamed.definition()
    assert definition.step("take_payment").action == "payments.charge"
    assert rename_step(flight, "charge_payment", "charge_payment") is flight


@pytest.mark.parametrize("new, message", [("reserve_seat", "already exists"),
                                          ("  ", "needs a name")])
def test_rename_refuses_duplicates_and_blanks(flight: Draft, new: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        rename_step(flight, "charge_payment", new)


def test_delete_removes_the_step_its_arrows_and_layout(flight: Draft) -> None:
    draft = delete_step(flight, "charge_payment")
    assert draft.step_names() == ["reserve_seat", "issue_ticket", "send_confirmation"]
    assert "after" not in draft.step("issue_ticket")
    assert "charge_payment" not in draft.layout


def test_connect_and_disconnect(flight: Draft) -> None:
    draft = connect(flight, "reserve_seat", "issue_ticket")
    assert draft.after("issue_ticket") == ["charge_payment", "reserve_seat"]
    assert connect(draft, "reserve_seat", "issue_ticket") is draft
    assert disconnect(draft, "reserve_seat", "issue_ticket") == flight
    assert disconnect(flight, "reserve_seat", "issue_ticket") is flight
    with pytest.raises(EditError, match="itself"):
        connect(flight, "reserve_seat", "reserve_seat")
    with pytest.raises(EditError, match="no step named 'ghost'"):
        connect(flight, "ghost", "reserve_seat")


def test_set_after_replaces_the_dependencies(flight: Draft) -> None:
    draft = set_after(flight, "issue_ticket", ["reserve_seat", "charge_payment"])
    assert draft.after("issue_ticket") == ["reserve_seat", "charge_payment"]
    assert "after" not in set_after(draft, "issue_ticket", []).step("issue_ticket")
    with pytest.raises(EditError):
        set_after(flight, "issue_ticket", ["issue_ticket"])


def test_update_step_sets_and_removes_fields(flight: Draft) -> None:
    draft = update_step(flight, "charge_payment", {"compensation": None, "timeout": "5s"})
    assert "compensation" not in draft.step("charge_payment")
    assert draft.definition().step("charge_payment").timeout.total_seconds() == 5
    assert update_step(flight, "charge_payment", {"action": "payments.charge"}) is flight
    with pytest.raises(EditError, match="rename_step"):
        update_step(flight, "charge_payment", {"name": "x"})


def test_move_step_records_the_layout(flight: Draft) -> None:
    draft = move_step(flight, "issue_ticket", 123.456, -7)
    assert draft.layout["issue_ticket"] == {"x": 123.5, "y": -7.0}
    assert move_step(draft, "issue_ticket", 123.45, -7) is draft


def test_update_header(flight: Draft) -> None:
    draft = update_header(flight, {"saga": "flights", "version": 2, "description": ""})
    assert draft.document["saga"] == "flights" and "description" not in draft.document
    with pytest.raises(EditError):
        update_header(flight, {"steps": []})


def test_unknown_steps_are_refused(flight: Draft) -> None:
    for edit in (lambda: delete_step(flight, "ghost"), lambda: move_step(flight, "ghost", 0, 0),
                 lambda: rename_step(flight, "ghost", "x"),
                 lambda: update_step(flight, "ghost", {})):
        with pytest.raises(EditError, match="no step named 'ghost'"):
            edit()


def test_suggest_name() -> None:
    assert suggest_name("Reserve seat", []) == "Reserve_seat"
    assert suggest_name("  ", ["step_1"]) == "step_2"
    assert suggest_name("1st", []) == "step_1st"
    assert suggest_name("pay", ["pay"]) == "pay_1"
    assert suggest_name("../etc/passwd", []) == "etc_passwd"
    assert unique_name(["step_1", "step_3"]) == "step_2"


@given(definitions(), st.data())
@settings(max_examples=60, deadline=None)
def test_edits_never_mutate_their_input(definition: SagaDefinition, data: st.DataObject) -> None:
    draft = Draft.of(definition)
    before = copy.deepcopy(dict(draft.document))
    name = data.draw(st.sampled_from(draft.step_names()))
    rename_step(draft, name, name + "_x")
    delete_step(draft, name)
    move_step(draft, name, 1, 2)
    update_step(draft, name, {"timeout": "1s", "simulate": {"failure_rate": 0.5}})
    add_step(draft, position=(0, 0))
    set_after(draft, name, [])
    assert dict(draft.document) == before
    # a rename there and back is the identity
    there = rename_step(draft, name, name + "_x")
    assert rename_step(there, name + "_x", name).definition() == definition
