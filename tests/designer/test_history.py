"""Undo/redo over drafts."""

from __future__ import annotations

from designer.draft import Draft, add_step
from designer.history import History


def test_undo_and_redo_walk_the_edits() -> None:
    d0 = Draft.new()
    d1, _ = add_step(d0)
    d2, _ = add_step(d1)
    history = History(d0).apply(d1).apply(d2)
    assert history.present == d2 and history.can_undo and not history.can_redo
    history = history.undo()
    assert history.present == d1 and history.can_redo
    history = history.undo()
    assert history.present == d0 and not history.can_undo
    assert history.undo() is history
    history = history.redo().redo()
    assert history.present == d2 and not history.can_redo
    assert history.redo() is history


def test_a_new_edit_clears_redo() -> None:
    d0 = Draft.new()
    d1, _ = add_step(d0)
    d2, _ = add_step(d0, "other")
    history = History(d0).apply(d1).undo().apply(d2)
    assert history.present == d2 and not history.can_redo and history.past == (d0,)


def test_an_unchanged_draft_is_not_an_entry() -> None:
    history = History(Draft.new())
    assert history.apply(Draft.new()) is history


def test_render_counts_redraws_but_not_canvas_moves() -> None:
    d0 = Draft.new()
    d1, _ = add_step(d0)
    d2, _ = add_step(d1)
    history = History(d0).apply(d1)
    assert history.render == 1
    history = history.apply(d2, rerender=False)
    assert history.render == 1 and history.can_undo
    assert history.undo().render == 2 and history.undo().redo().render == 3
    assert history.redraw().render == 2 and history.redraw().present == d2


def test_the_history_is_bounded() -> None:
    history = History(Draft.new(), limit=3)
    draft = Draft.new()
    for _ in range(10):
        draft, _ = add_step(draft)
        history = history.apply(draft)
    assert len(history.past) == 3
