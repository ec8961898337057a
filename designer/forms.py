"""The step form's and the saga defaults form's values, and the draft edits their widgets
make (pure: no Streamlit).

    values = step_form(draft, "charge_payment")        # what each widget shows
    draft = apply_field(draft, "charge_payment", "timeout", "5s")
    draft = apply_default(draft, "retry.max_attempts", 5)

Step field names are the widget names on the Design page: ``name``, ``action``,
``compensation``, ``kind``, ``read_only``, ``after``, ``description``, ``timeout``,
``retry.<field>`` and ``compensation_retry.<field>`` (with ``retry.own`` /
``compensation_retry.own`` switching the step's own policy on and off) and
``simulate.<field>``. Defaults fields: ``timeout``, ``continue_on_error`` and
``<policy>.<field>`` for ``retry``, ``compensation_retry`` and ``retriable_retry``. Values
the user types go into the draft as typed; a bad one becomes an issue at its path
(``/steps/2/timeout``, ``/defaults/retry/max_interval``), never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from designer.draft import Draft, EditError, rename_step, set_after, update_defaults, update_step
from runtime.definition import Defaults, SimulationSpec, StepKind
from runtime.durations import format_duration

NO_COMPENSATION = "(none)"
KINDS = tuple(kind.value for kind in StepKind)
RETRY_FIELDS = ("max_attempts", "initial_interval", "backoff", "max_interval", "jitter")
STEP_POLICIES = ("retry", "compensation_retry")
DEFAULT_POLICIES = ("retry", "compensation_retry", "retriable_retry")
SIMULATE_FIELDS = ("failure_rate", "flaky_rate", "latency_p50", "latency_p95",
                   "compensation_failure_rate")
_DEFAULTS: dict[str, Any] = Defaults().model_dump(mode="json")  # what an absent field means
_SIMULATE_DEFAULTS: dict[str, Any] = SimulationSpec().model_dump(mode="json")


@dataclass(frozen=True)
class StepForm:
    """What the form shows for one step."""

    name: str
    action: str
    compensation: str
    kind: str
    read_only: bool
    after: tuple[str, ...]
    description: str
    timeout: str
    own: Mapping[str, bool]
    """Whether the step has its own ``retry`` / ``compensation_retry`` policy."""
    policies: Mapping[str, Mapping[str, Any]]
    """Each policy's fields: the step's own, else what it inherits from the saga."""
    simulate: Mapping[str, Any]
    candidates: tuple[str, ...]
    """Steps this one may wait for (every other step)."""


@dataclass(frozen=True)
class DefaultsForm:
    """What the saga defaults form shows (the model's default where the document is silent)."""

    timeout: str
    policies: Mapping[str, Mapping[str, Any]]
    """``retry``, ``compensation_retry``, ``retriable_retry``: every field's value."""
    continue_on_error: bool


def step_form(draft: Draft, name: str) -> StepForm:
    step = draft.step(name)
    simulate = step.get("simulate") if isinstance(step.get("simulate"), Mapping) else {}
    assert isinstance(simulate, Mapping)
    own = {policy: isinstance(step.get(policy), Mapping) for policy in STEP_POLICIES}
    return StepForm(
        name=name,
        action=_text(step.get("action")),
        compensation=_text(step.get("compensation")),
        kind=_text(step.get("kind")) or StepKind.COMPENSATABLE.value,
        read_only=bool(step.get("read_only", False)),
        after=tuple(draft.after(name)),
        description=_text(step.get("description")),
        timeout=_duration_text(step.get("timeout")),
        own=own,
        policies={policy: {**_inherited(draft, step, policy),
                           **(dict(step[policy]) if own[policy] else {})}
                  for policy in STEP_POLICIES},
        simulate={**_SIMULATE_DEFAULTS, **dict(simulate)},
        candidates=tuple(n for n in draft.step_names() if n != name),
    )


def defaults_form(draft: Draft) -> DefaultsForm:
    defaults = _defaults_of(draft)
    compensation = defaults.get("compensation")
    return DefaultsForm(
        timeout=_duration_text(defaults.get("timeout", _DEFAULTS["timeout"])),
        policies={policy: _default_policy(defaults, policy) for policy in DEFAULT_POLICIES},
        continue_on_error=bool(isinstance(compensation, Mapping)
                               and compensation.get("continue_on_error")),
    )


def action_choices(registered: Iterable[str], current: str = "") -> list[str]:
    """Registered names, plus the current one when it is not registered (it stays
    selectable; validation flags it as unknown)."""
    names = sorted(set(registered))
    if current and current not in names:
        names.append(current)
    return names


def apply_field(draft: Draft, name: str, field: str, value: Any) -> Draft:
    """The draft after the form's ``field`` of step ``name`` became ``value``."""
    if field == "name":
        return rename_step(draft, name, str(value or ""))
    if field == "after":
        return set_after(draft, name, list(value or []))
    if field in ("action", "description", "timeout"):
        text = str(value).strip() if value is not None else ""
        return update_step(draft, name, {field: text or None})
    if field == "compensation":
        text = str(value).strip() if value is not None else ""
        compensation = None if text in ("", NO_COMPENSATION) else text
        return update_step(draft, name, {"compensation": compensation})
    if field == "kind":
        kind = None if value == StepKind.COMPENSATABLE.value else value
        return update_step(draft, name, {"kind": kind})
    if field == "read_only":
        return update_step(draft, name, {"read_only": True if value else None})
    policy, _, key = field.partition(".")
    if policy in STEP_POLICIES:
        step = draft.step(name)
        inherited = _inherited(draft, step, policy)
        if key == "own":  # the step's own policy starts as the one it inherits
            return update_step(draft, name, {policy: inherited if value else None})
        own = step.get(policy)
        base = {**inherited, **(dict(own) if isinstance(own, Mapping) else {})}
        return update_step(draft, name, {policy: _with_field(base, key, value)})
    if field.startswith("simulate."):
        return _apply_simulate(draft, name, field.removeprefix("simulate."), value)
    raise EditError(f"the form has no field {field!r}")


def apply_default(draft: Draft, field: str, value: Any) -> Draft:
    """The draft after the defaults form's ``field`` became ``value`` (a field back at the
    model's default leaves the document, so saved files stay short)."""
    if field == "timeout":
        text = str(value).strip() if value is not None else ""
        return update_defaults(draft, {"timeout": text or None})
    if field == "continue_on_error":
        return update_defaults(draft, {"compensation": {"continue_on_error": True} if value else None})
    policy, _, key = field.partition(".")
    if policy not in DEFAULT_POLICIES:
        raise EditError(f"the saga defaults have no field {field!r}")
    changed = _with_field(_default_policy(_defaults_of(draft), policy), key, value)
    kept = {k: v for k, v in changed.items() if v != _DEFAULTS[policy][k]}
    return update_defaults(draft, {policy: kept or None})


def _defaults_of(draft: Draft) -> Mapping[str, Any]:
    defaults = draft.document.get("defaults")
    return defaults if isinstance(defaults, Mapping) else {}


def _default_policy(defaults: Mapping[str, Any], policy: str) -> dict[str, Any]:
    """A saga-level policy with every field: the document's, else the model's default."""
    given = defaults.get(policy)
    return {**_DEFAULTS[policy], **(dict(given) if isinstance(given, Mapping) else {})}


def _inherited(draft: Draft, step: Mapping[str, Any], policy: str) -> dict[str, Any]:
    """The saga policy a step without its own ``policy`` follows (retriable steps retry by
    ``retriable_retry``)."""
    if policy == "retry" and step.get("kind") == StepKind.RETRIABLE.value:
        policy = "retriable_retry"
    return _default_policy(_defaults_of(draft), policy)


def _with_field(policy: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if key not in RETRY_FIELDS:
        raise EditError(f"a retry policy has no field {key!r}")
    return {**policy, key: value.strip() if isinstance(value, str) else value}


def _apply_simulate(draft: Draft, name: str, key: str, value: Any) -> Draft:
    if key not in SIMULATE_FIELDS:
        raise EditError(f"the simulation has no field {key!r}")
    current = draft.step(name).get("simulate")
    simulate = dict(current) if isinstance(current, Mapping) else {}
    if isinstance(value, str):
        value = value.strip() or None
    if value is None or value == _SIMULATE_DEFAULTS.get(key):
        simulate.pop(key, None)
    else:
        simulate[key] = value
    return update_step(draft, name, {"simulate": simulate or None})


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _duration_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        from datetime import timedelta

        try:
            return format_duration(timedelta(seconds=value))
        except (OverflowError, ValueError):
            return str(value)
    return str(value)
