"""Validation of a draft on every change: shape (pydantic) and graph rules (networkx), every
issue mapped to the step it concerns so the canvas can highlight it.

    report = check_draft(draft, registry)     # registry: the action names in use
    report.definition                          # None while the shape is invalid
    report.for_step("charge_payment")          # issues whose path is /steps/<i>/...

While a step has a shape error (say an empty action) the graph rules still run on the rest:
the offending field is set aside (a placeholder action, or the field's default) and issues
that only the placeholder caused are dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from designer.draft import Draft
from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError, Issue
from runtime.loading import definition_from_data
from runtime.validation import validate

_PLACEHOLDER_ACTION = "designer.placeholder"


@dataclass(frozen=True)
class DraftReport:
    """What is wrong with a draft, all at once."""

    definition: SagaDefinition | None
    """The definition, or None while the document's shape is invalid."""
    issues: tuple[Issue, ...] = ()
    """Every issue, shape issues first."""
    step_issues: Mapping[str, tuple[Issue, ...]] = field(default_factory=dict)
    """Issues by the name of the step whose path they name."""
    general: tuple[Issue, ...] = ()
    """Issues of the saga as a whole (``/saga``, ``/steps``, ``/defaults``, ``/layout``)."""

    @property
    def valid(self) -> bool:
        return self.definition is not None and not self.issues

    def for_step(self, name: str) -> tuple[Issue, ...]:
        return self.step_issues.get(name, ())


def check_draft(draft: Draft, actions: Container[str] | None = None) -> DraftReport:
    """Every issue of ``draft``; ``actions`` (a registry) flags unknown action names."""
    try:
        definition = definition_from_data(copy.deepcopy(dict(draft.document)), source="<design>")
    except DefinitionError as err:
        shape = list(err.issues)
        issues = shape + _graph_issues_despite(draft.document, shape, actions)
        return _report(draft, None, issues)
    return _report(draft, definition, validate(definition, actions))


def step_of_path(path: str, names: list[str]) -> str | None:
    """``/steps/2/compensation`` -> the name of step 2 (None for saga-level paths)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "steps" and parts[1].isdigit():
        index = int(parts[1])
        return names[index] if index < len(names) else None
    return None


def _report(draft: Draft, definition: SagaDefinition | None, issues: list[Issue]) -> DraftReport:
    names = draft.step_names()
    by_step: dict[str, list[Issue]] = {}
    general: list[Issue] = []
    unique: list[Issue] = []
    for issue in issues:
        if issue in unique:
            continue
        unique.append(issue)
        step = step_of_path(issue.path, names)
        if step is None:
            general.append(issue)
        else:
            by_step.setdefault(step, []).append(issue)
    return DraftReport(definition, tuple(unique), {k: tuple(v) for k, v in by_step.items()},
                       tuple(general))


def _graph_issues_despite(document: Mapping[str, Any], shape: list[Issue],
                          actions: Container[str] | None) -> list[Issue]:
    """Graph issues of the document with the fields that broke its shape set aside."""
    patched = copy.deepcopy(dict(document))
    set_aside: list[str] = []
    for issue in shape:
        path = _set_aside(patched, issue.path)
        if path is None:
            return []  # a step's name or the document's structure is broken: names are unsure
        set_aside.append(path)
    try:
        definition = definition_from_data(patched)
    except DefinitionError:
        return []
    return [issue for issue in validate(definition, actions)
            if not any(issue.path == p or issue.path.startswith(p + "/") for p in set_aside)]


def _set_aside(doc: dict[str, Any], path: str) -> str | None:
    """Replace or drop the field at ``path``; return the path set aside (None: give up)."""
    parts = path.strip("/").split("/")
    head = parts[0] if parts and parts[0] else ""
    if head == "saga":
        doc["saga"] = "design"
        return "/saga"
    if head in ("version", "description", "defaults"):
        doc.pop(head, None)
        return f"/{head}"
    if head == "layout" and len(parts) >= 2 and isinstance(doc.get("layout"), dict):
        doc["layout"].pop(parts[1], None)
        return f"/layout/{parts[1]}"
    steps = doc.get("steps")
    if head != "steps" or len(parts) < 3 or not parts[1].isdigit() or not isinstance(steps, list):
        return None
    index, name = int(parts[1]), parts[2]
    if index >= len(steps) or not isinstance(steps[index], dict) or name == "name":
        return None
    if name == "action":
        steps[index]["action"] = _PLACEHOLDER_ACTION
    else:
        steps[index].pop(name, None)
    return f"/steps/{index}/{name}"
