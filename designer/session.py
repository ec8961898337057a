"""The Design page's state machine, pure: every button, form field and canvas value of the
page is one method returning a new :class:`DesignSession`.

    session = DesignSession.start()
    session = session.add_step()                       # selects the new step
    session = session.edit_field("step_1", "action", "flight.reserve_seat")
    session = session.take_flow_value("flow_3", value)   # what the canvas sent
    session.draft.definition()

The page keeps one session in ``st.session_state`` (UI state: the undo history of drafts,
the selected step and pending messages); it never edits a definition itself. A refused
edit (say a rename to a name in use) becomes a message in ``notices``, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, replace
from typing import Any

from designer import draft as edits
from designer.canvas import canvas_from_draft, next_free_position
from designer.checks import check_draft
from designer.files import DesignStore
from designer.flow import apply_flow_value, flow_stamp
from designer.forms import apply_default, apply_field
from designer.history import History
from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError, SagaError

Notice = tuple[str, str]
"""(level, text): level is ``success``, ``info``, ``warning`` or ``error``."""


@dataclass(frozen=True)
class DesignSession:
    history: History
    selected: str | None = None
    notices: tuple[Notice, ...] = ()
    flow_seen: Any = None
    """(component key, timestamp) of the last canvas value handled."""

    @classmethod
    def start(cls, draft: edits.Draft | None = None) -> DesignSession:
        draft = draft or edits.Draft.new()
        names = draft.step_names()
        return cls(History(draft), names[0] if names else None)

    @property
    def draft(self) -> edits.Draft:
        return self.history.present

    @property
    def canvas_key(self) -> str:
        """The canvas component's key: new whenever Python changed what it must show."""
        return f"flow_{self.history.render}"

    # -- bookkeeping -------------------------------------------------------------------
    def notify(self, level: str, text: str) -> DesignSession:
        return replace(self, notices=(*self.notices, (level, text)))

    def without_notices(self) -> DesignSession:
        return replace(self, notices=())

    def commit(self, draft: edits.Draft, *, select: str | None = None,
               rerender: bool = True) -> DesignSession:
        session = replace(self, history=self.history.apply(draft, rerender=rerender))
        return session.select(select) if select is not None else session._fix_selection()

    def select(self, name: str | None) -> DesignSession:
        """Select a step (the canvas is drawn again to show it)."""
        if name == self.selected:
            return self
        return replace(self, selected=name, history=self.history.redraw())._fix_selection()

    def _fix_selection(self) -> DesignSession:
        names = self.draft.step_names()
        if self.selected in names:
            return self
        return replace(self, selected=names[0] if names else None)

    def _attempt(self, edit: Callable[[], DesignSession]) -> DesignSession:
        try:
            return edit()
        except DefinitionError as err:
            return self.notify("error", "\n\n".join(err.lines()))
        except SagaError as err:  # refused: draw again so widgets show the draft's values
            return replace(self.notify("error", str(err)), history=self.history.redraw())

    # -- toolbar -----------------------------------------------------------------------
    def new(self) -> DesignSession:
        return self.commit(edits.Draft.new())

    def open(self, load: Callable[[], SagaDefinition], label: str) -> DesignSession:
        """Replace the draft by a loaded definition (undo brings the old one back)."""
        def edit() -> DesignSession:
            definition = load()
            first = definition.steps[0].name if definition.steps else None
            opened = self.commit(edits.Draft.of(definition))
            return replace(opened, selected=first).notify("success", f"Opened {label}.")
        return self._attempt(edit)

    def save(self, store: DesignStore, name: str, *, overwrite: bool,
             actions: Container[str] | None = None) -> DesignSession:
        report = check_draft(self.draft, actions)
        if report.definition is None:
            problems = "; ".join(str(i) for i in report.issues[:3])
            return self.notify("error", f"Fix these problems before saving: {problems}")
        definition = report.definition

        def edit() -> DesignSession:
            path = store.save(definition, name, overwrite=overwrite)
            return self.notify("success", f"Saved {path.name} in {path.parent}.")
        return self._attempt(edit)

    def undo(self) -> DesignSession:
        return replace(self, history=self.history.undo())._fix_selection()

    def redo(self) -> DesignSession:
        return replace(self, history=self.history.redo())._fix_selection()

    def add_step(self) -> DesignSession:
        position = next_free_position(canvas_from_draft(self.draft))
        draft, name = edits.add_step(self.draft, position=position)
        return self.commit(draft, select=name)

    def delete_selected(self) -> DesignSession:
        if self.selected is None or not self.draft.has_step(self.selected):
            return self
        return self.commit(edits.delete_step(self.draft, self.selected))

    # -- forms -------------------------------------------------------------------------
    def edit_field(self, step: str, field: str, value: Any) -> DesignSession:
        def edit() -> DesignSession:
            draft = apply_field(self.draft, step, field, value)
            if field == "name":
                return self.commit(draft, select=str(value).strip())
            return self.commit(draft)
        return self._attempt(edit)

    def edit_header(self, field: str, value: Any) -> DesignSession:
        return self._attempt(lambda: self.commit(edits.update_header(self.draft, {field: value})))

    def edit_default(self, field: str, value: Any) -> DesignSession:
        return self._attempt(lambda: self.commit(apply_default(self.draft, field, value)))

    # -- the canvas --------------------------------------------------------------------
    def take_flow_value(self, key: str, value: Any) -> DesignSession:
        """Apply what the canvas component sent under ``key`` (once per value; values of an
        older key are stale and ignored)."""
        stamp = (key, flow_stamp(value))
        if value is None or key != self.canvas_key or stamp == self.flow_seen:
            return self
        session = replace(self, flow_seen=stamp)

        def edit() -> DesignSession:
            change = apply_flow_value(self.draft, canvas_from_draft(self.draft), value)
            result = session.commit(change.draft, rerender=change.structural)
            if change.selected is not None and change.selected != result.selected:
                result = replace(result, selected=change.selected)
            return result
        return session._attempt(edit)
