"""The Design page's state machine, without Streamlit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from designer.canvas import canvas_from_draft
from designer.draft import Draft
from designer.files import DesignStore, open_sample
from designer.flow import flow_edges, flow_nodes
from designer.registry import sample_registry
from designer.session import DesignSession


def flight() -> DesignSession:
    return DesignSession.start(Draft.of(open_sample("flight_booking")))


def test_start_selects_the_first_step() -> None:
    assert flight().selected == "reserve_seat"
    assert DesignSession.start().selected is None


def test_add_then_fill_a_step() -> None:
    session = DesignSession.start().add_step()
    assert session.selected == "step_1" and session.history.can_undo
    session = session.edit_field("step_1", "action", "flight.reserve_seat")
    session = session.edit_field("step_1", "compensation", "flight.release_seat")
    session = session.edit_field("step_1", "name", "reserve_seat")
    assert session.selected == "reserve_seat"
    assert session.draft.definition().step("reserve_seat").compensation == "flight.release_seat"
    assert session.undo().selected == "step_1"


def test_refused_edits_become_messages_and_redraw() -> None:
    session = flight()
    refused = session.edit_field("charge_payment", "name", "reserve_seat")
    assert refused.draft == session.draft
    assert refused.notices == (("error", "a step named 'reserve_seat' already exists; "
                                         "choose another name"),)
    assert refused.history.render > session.history.render
    assert refused.without_notices().notices == ()


def test_delete_selected_moves_the_selection() -> None:
    session = replace(flight(), selected="send_confirmation").delete_selected()
    assert "send_confirmation" not in session.draft.step_names()
    assert session.selected == "reserve_seat"
    assert DesignSession.start().delete_selected() == DesignSession.start()


def test_open_and_new_can_be_undone() -> None:
    session = flight().new()
    assert session.draft == Draft.new() and session.selected is None
    session = session.open(lambda: open_sample("hotel_booking"), "sample hotel_booking")
    assert session.selected == "book_room"
    assert session.notices[-1] == ("success", "Opened sample hotel_booking.")
    assert session.undo().draft == Draft.new()


def test_a_bad_file_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("saga: [")
    session = DesignSession.start().open(lambda: DesignStore(tmp_path).open("bad"), "bad")
    level, text = session.notices[-1]
    assert level == "error" and "bad.yaml: /: line" in text and "yaml-syntax" in text


def test_save(tmp_path: Path) -> None:
    store = DesignStore(tmp_path)
    session = flight().save(store, "trip", overwrite=False, actions=sample_registry())
    assert session.notices[-1][0] == "success"
    again = session.save(store, "trip", overwrite=False)
    assert again.notices[-1][0] == "error" and "already exists" in again.notices[-1][1]
    broken = DesignSession.start().add_step().save(store, "x", overwrite=False)
    assert broken.notices[-1][0] == "error" and "Fix these problems" in broken.notices[-1][1]
    assert not (tmp_path / "x.yaml").exists()


def test_canvas_values_are_taken_once_and_only_from_the_current_key() -> None:
    session = flight()
    canvas = canvas_from_draft(session.draft)
    value = {"nodes": flow_nodes(canvas), "edges": flow_edges(canvas)[:2],
             "selectedId": "issue_ticket", "timestamp": 5}
    stale = session.take_flow_value("flow_old", value)
    assert stale is session
    taken = session.take_flow_value(session.canvas_key, value)
    assert "after" not in taken.draft.step("send_confirmation")
    assert taken.selected == "issue_ticket"
    assert taken.take_flow_value(taken.canvas_key, value).draft == taken.draft
    assert taken.canvas_key != session.canvas_key  # an arrow was removed: drawn again


def test_selecting_redraws_the_canvas() -> None:
    session = flight()
    assert session.select("issue_ticket").canvas_key != session.canvas_key
    assert session.select("reserve_seat") is session
