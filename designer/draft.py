"""A design in progress: plain document data that may be temporarily invalid, and the pure
edits the Design page applies to it.

    draft = Draft.new("trip")
    draft, name = add_step(draft, position=(0, 0))            # "step_1", no action yet
    draft = update_step(draft, name, {"action": "flight.reserve_seat"})
    draft = rename_step(draft, name, "reserve_seat")           # `after` and layout follow
    definition = draft.definition()                            # DefinitionError while invalid

A draft holds the document form of a :class:`~runtime.definition.SagaDefinition` (what
``to_document()`` returns and files hold), so a step without an action, or with a duration
typed as ``"3 parsecs"``, is representable; ``designer.checks`` turns it into issues.
Every edit returns a new draft and never mutates its input. Edits that would make the
document ambiguous (two steps with one name, a step waiting for itself) raise
:class:`EditError` instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.definition import SagaDefinition
from runtime.errors import SagaError
from runtime.loading import definition_from_data

Document = dict[str, Any]
STEP_EDIT_FIELDS = frozenset({
    "action", "compensation", "kind", "read_only", "retry", "compensation_retry", "timeout",
    "simulate", "description",
})
HEADER_FIELDS = frozenset({"saga", "version", "description"})
DEFAULTS_FIELDS = frozenset({"retry", "compensation_retry", "retriable_retry", "timeout", "compensation"})
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-]+")


class EditError(SagaError):
    """An edit that cannot be applied; the message says why and what to do instead."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Draft:
    """An immutable design document (plain JSON-like data; never mutated in place)."""

    document: Mapping[str, Any]

    @classmethod
    def new(cls, saga: str = "new_saga") -> Draft:
        return cls({"saga": saga, "version": 1, "steps": []})

    @classmethod
    def of(cls, definition: SagaDefinition) -> Draft:
        return cls(definition.to_document())

    # -- reading ---------------------------------------------------------------------
    @property
    def steps(self) -> list[Mapping[str, Any]]:
        steps = self.document.get("steps")
        return [s for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []

    @property
    def layout(self) -> Mapping[str, Any]:
        layout = self.document.get("layout")
        return layout if isinstance(layout, Mapping) else {}

    def step_names(self) -> list[str]:
        return [str(s.get("name", "")) for s in self.steps]

    def has_step(self, name: str) -> bool:
        return name in self.step_names()

    def step(self, name: str) -> Mapping[str, Any]:
        for step in self.steps:
            if step.get("name") == name:
                return step
        raise EditError(f"there is no step named {name!r}")

    def after(self, name: str) -> list[str]:
        after = self.step(name).get("after")
        return [str(dep) for dep in after] if isinstance(after, list) else []

    def definition(self, source: str = "<design>") -> SagaDefinition:
        """The definition this draft describes; raises ``DefinitionError`` on shape errors
        (graph rules are not checked here: see ``designer.checks``)."""
        return definition_from_data(copy.deepcopy(dict(self.document)), source=source)

    def _copy(self) -> Document:
        doc = copy.deepcopy(dict(self.document))
        steps = doc.get("steps")
        steps = steps if isinstance(steps, list) else []
        doc["steps"] = [dict(s) for s in steps if isinstance(s, Mapping)]
        return doc


# -- names -------------------------------------------------------------------------------
def suggest_name(text: str, taken: Sequence[str], default: str = "step") -> str:
    """A free step name made from ``text`` (``"Reserve seat"`` -> ``Reserve_seat``)."""
    base = _INVALID_NAME_CHARS.sub("_", text.strip()).strip("_-")[:60]
    if not base:
        return unique_name(taken, default)
    if not (base[0].isalpha() or base[0] == "_"):
        base = f"{default}_{base}"
    return base if base not in taken else unique_name(taken, base)


def unique_name(taken: Sequence[str], base: str = "step") -> str:
    """``base_1``, ``base_2``, ... : the first that no step uses."""
    used = set(taken)
    n = 1
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"


# -- edits -------------------------------------------------------------------------------
def add_step(draft: Draft, name: str | None = None, *, action: str | None = None,
             position: tuple[float, float] | None = None) -> tuple[Draft, str]:
    """Append a step (default name ``step_N``); returns the new draft and the step's name."""
    taken = draft.step_names()
    if name is None:
        name = unique_name(taken)
    _check_new_name(name, taken)
    doc = draft._copy()
    doc["steps"].append({"name": name} if action is None else {"name": name, "action": action})
    if position is not None:
        doc["layout"] = {**_layout(doc), name: _point(*position)}
    return Draft(doc), name


def rename_step(draft: Draft, old: str, new: str) -> Draft:
    """Rename a step; every ``after`` naming it and its layout entry follow."""
    draft.step(old)
    new = new.strip()
    if new == old:
        return draft
    _check_new_name(new, draft.step_names())
    doc = draft._copy()
    for step in doc["steps"]:
        if step.get("name") == old:
            step["name"] = new
        if isinstance(step.get("after"), list):
            step["after"] = [new if dep == old else dep for dep in step["after"]]
    if "layout" in doc and isinstance(doc["layout"], Mapping):
        doc["layout"] = {new if key == old else key: value for key, value in doc["layout"].items()}
    return Draft(doc)


def delete_step(draft: Draft, name: str) -> Draft:
    """Remove a step, every arrow to or from it, and its layout entry."""
    draft.step(name)
    doc = draft._copy()
    doc["steps"] = [s for s in doc["steps"] if s.get("name") != name]
    for step in doc["steps"]:
        if isinstance(step.get("after"), list) and name in step["after"]:
            _set_after(step, [dep for dep in step["after"] if dep != name])
    if isinstance(doc.get("layout"), Mapping) and name in doc["layout"]:
        doc["layout"] = {k: v for k, v in doc["layout"].items() if k != name}
        if not doc["layout"]:
            del doc["layout"]
    return Draft(doc)


def connect(draft: Draft, source: str, target: str) -> Draft:
    """Make ``target`` wait for ``source`` (an arrow source -> target); no-op if it does."""
    draft.step(source)
    if source == target:
        raise EditError(f"step {source!r} cannot wait for itself; draw the arrow to another step")
    if source in draft.after(target):
        return draft
    return set_after(draft, target, [*draft.after(target), source])


def disconnect(draft: Draft, source: str, target: str) -> Draft:
    """Remove the arrow source -> target; no-op if there is none."""
    if source not in draft.after(target):
        return draft
    return set_after(draft, target, [dep for dep in draft.after(target) if dep != source])


def set_after(draft: Draft, name: str, after: Sequence[str]) -> Draft:
    """Replace the steps ``name`` waits for (in this order)."""
    draft.step(name)
    names = draft.step_names()
    for dep in after:
        if dep == name:
            raise EditError(f"step {name!r} cannot wait for itself")
        if dep not in names:
            raise EditError(f"there is no step named {dep!r} to wait for")
    if list(after) == draft.after(name):
        return draft
    doc = draft._copy()
    for step in doc["steps"]:
        if step.get("name") == name:
            _set_after(step, list(dict.fromkeys(after)))
    return Draft(doc)


def update_step(draft: Draft, name: str, changes: Mapping[str, Any]) -> Draft:
    """Set step fields (``None`` removes a field, so its default applies). Use
    :func:`rename_step` and :func:`set_after` for ``name`` and ``after``."""
    unknown = set(changes) - STEP_EDIT_FIELDS
    if unknown:
        raise EditError(f"cannot edit {', '.join(sorted(unknown))} this way "
                        "(rename_step changes names, set_after/connect change arrows)")
    draft.step(name)
    doc = draft._copy()
    for step in doc["steps"]:
        if step.get("name") == name:
            for key, value in changes.items():
                if value is None:
                    step.pop(key, None)
                else:
                    step[key] = copy.deepcopy(value)
    return Draft(doc) if doc != dict(draft.document) else draft


def move_step(draft: Draft, name: str, x: float, y: float) -> Draft:
    """Record a step's position on the canvas (``layout``)."""
    draft.step(name)
    point = _point(x, y)
    if draft.layout.get(name) == point:
        return draft
    doc = draft._copy()
    doc["layout"] = {**_layout(doc), name: point}
    return Draft(doc)


def update_header(draft: Draft, changes: Mapping[str, Any]) -> Draft:
    """Set the saga's name, version or description (``None`` or ``""`` removes a description)."""
    unknown = set(changes) - HEADER_FIELDS
    if unknown:
        raise EditError(f"cannot edit {', '.join(sorted(unknown))} from the header")
    doc = draft._copy()
    for key, value in changes.items():
        if value is None or (key == "description" and value == ""):
            doc.pop(key, None)
        else:
            doc[key] = value
    return Draft(doc) if doc != dict(draft.document) else draft


def update_defaults(draft: Draft, changes: Mapping[str, Any]) -> Draft:
    """Set fields of the saga's ``defaults`` (``None`` removes one, so the model's default
    applies; ``defaults`` itself goes when it is left empty)."""
    unknown = set(changes) - DEFAULTS_FIELDS
    if unknown:
        raise EditError(f"the saga defaults have no {', '.join(sorted(unknown))}")
    doc = draft._copy()
    defaults = dict(doc["defaults"]) if isinstance(doc.get("defaults"), Mapping) else {}
    for key, value in changes.items():
        if value is None:
            defaults.pop(key, None)
        else:
            defaults[key] = copy.deepcopy(value)
    if defaults:
        doc["defaults"] = defaults
    else:
        doc.pop("defaults", None)
    return Draft(doc) if doc != dict(draft.document) else draft


def _check_new_name(name: str, taken: Sequence[str]) -> None:
    if not name:
        raise EditError("a step needs a name")
    if name in taken:
        raise EditError(f"a step named {name!r} already exists; choose another name")


def _set_after(step: dict[str, Any], after: list[str]) -> None:
    if after:
        step["after"] = after
    else:
        step.pop("after", None)


def _layout(doc: Mapping[str, Any]) -> dict[str, Any]:
    layout = doc.get("layout")
    return dict(layout) if isinstance(layout, Mapping) else {}


def _point(x: float, y: float) -> dict[str, float]:
    return {"x": round(float(x), 1), "y": round(float(y), 1)}
