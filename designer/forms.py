"""The step form's values, and the draft edits its widgets make (pure: no Streamlit).

    values = step_form(draft, "charge_payment")        # what each widget shows
    draft = apply_field(draft, "charge_payment", "timeout", "5s")

Field names are the widget names on the Design page: ``name``, ``action``,
``compensation``, ``kind``, ``read_only``, ``after``, ``description``, ``timeout``,
``retry.<field>`` (with ``retry.own`` switching the step's own policy on and off) and
``simulate.<field>``. Values the user types go into the draft as typed; a bad one becomes
an issue at its path (``/steps/2/timeout``), never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from designer.draft import Draft, EditError, rename_step, set_after, update_step
from runtime.definition import RetryPolicy, SimulationSpec, StepKind
from runtime.durations import format_duration

NO_COMPENSATION = "(none)"
KINDS = tuple(kind.value for kind in StepKind)
RETRY_FIELDS = ("max_attempts", "initial_interval", "backoff", "max_interval", "jitter")
SIMULATE_FIELDS = ("failure_rate", "flaky_rate", "latency_p50", "latency_p95",
                   "compensation_failure_rate")
_RETRY_DEFAULTS: dict[str, Any] = RetryPolicy().model_dump(mode="json")
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
    retry_own: bool
    retry: Mapping[str, Any]
    simulate: Mapping[str, Any]
    candidates: tuple[str, ...]
    """Steps this one may wait for (every other step)."""


def step_form(draft: Draft, name: str) -> StepForm:
    step = draft.step(name)
    retry = step.get("retry")
    simulate = step.get("simulate") if isinstance(step.get("simulate"), Mapping) else {}
    assert isinstance(simulate, Mapping)
    return StepForm(
        name=name,
        action=_text(step.get("action")),
        compensation=_text(step.get("compensation")),
        kind=_text(step.get("kind")) or StepKind.COMPENSATABLE.value,
        read_only=bool(step.get("read_only", False)),
        after=tuple(draft.after(name)),
        description=_text(step.get("description")),
        timeout=_duration_text(step.get("timeout")),
        retry_own=isinstance(retry, Mapping),
        retry={**_RETRY_DEFAULTS, **(dict(retry) if isinstance(retry, Mapping) else {})},
        simulate={**_SIMULATE_DEFAULTS, **dict(simulate)},
        candidates=tuple(n for n in draft.step_names() if n != name),
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
    if field == "retry.own":
        return update_step(draft, name, {"retry": dict(_RETRY_DEFAULTS) if value else None})
    if field.startswith("retry."):
        return _apply_retry(draft, name, field.removeprefix("retry."), value)
    if field.startswith("simulate."):
        return _apply_simulate(draft, name, field.removeprefix("simulate."), value)
    raise EditError(f"the form has no field {field!r}")


def _apply_retry(draft: Draft, name: str, key: str, value: Any) -> Draft:
    if key not in RETRY_FIELDS:
        raise EditError(f"a retry policy has no field {key!r}")
    current = draft.step(name).get("retry")
    retry = {**_RETRY_DEFAULTS, **(dict(current) if isinstance(current, Mapping) else {})}
    retry[key] = value.strip() if isinstance(value, str) else value
    return update_step(draft, name, {"retry": retry})


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
