"""Undo and redo over immutable drafts.

    history = History(Draft.new())
    history = history.apply(edited)            # a new entry; redo is cleared
    history = history.undo().redo()

``render`` counts the changes the canvas must be drawn again for (every edit made from
Python, undo and redo); the Design page keys the canvas component with it, because a
component keeps showing its own state until it is drawn under a new key. Moves made on the
canvas itself are recorded with ``rerender=False``: the canvas already shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from designer.draft import Draft

DEFAULT_LIMIT = 200
"""Undo steps kept."""


@dataclass(frozen=True)
class History:
    present: Draft
    past: tuple[Draft, ...] = ()
    future: tuple[Draft, ...] = ()
    render: int = 0
    limit: int = DEFAULT_LIMIT

    @property
    def can_undo(self) -> bool:
        return bool(self.past)

    @property
    def can_redo(self) -> bool:
        return bool(self.future)

    def apply(self, draft: Draft, *, rerender: bool = True) -> History:
        """Make ``draft`` the present; a draft equal to the present changes nothing."""
        if draft == self.present:
            return self
        past = (*self.past, self.present)[-self.limit:]
        return replace(self, present=draft, past=past, future=(),
                       render=self.render + (1 if rerender else 0))

    def undo(self) -> History:
        if not self.past:
            return self
        return replace(self, present=self.past[-1], past=self.past[:-1],
                       future=(self.present, *self.future), render=self.render + 1)

    def redo(self) -> History:
        if not self.future:
            return self
        return replace(self, present=self.future[0], past=(*self.past, self.present),
                       future=self.future[1:], render=self.render + 1)

    def redraw(self) -> History:
        """Same drafts, drawn again (after the canvas showed something the draft rejected)."""
        return replace(self, render=self.render + 1)
