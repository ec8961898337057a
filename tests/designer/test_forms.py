"""The step form: what it shows and the edits its fields make."""

from __future__ import annotations

from datetime import timedelta

import pytest

from designer.checks import check_draft
from designer.draft import Draft, EditError
from designer.files import open_sample
from designer.forms import (
    NO_COMPENSATION,
    action_choices,
    apply_default,
    apply_field,
    defaults_form,
    step_form,
)


@pytest.fixture
def flight() -> Draft:
    return Draft.of(open_sample("flight_booking"))


def test_the_form_shows_the_step(flight: Draft) -> None:
    form = step_form(flight, "charge_payment")
    assert (form.action, form.compensation, form.kind) == (
        "payments.charge", "payments.refund", "compensatable")
    assert form.after == ("reserve_seat",) and "charge_payment" not in form.candidates
    assert form.own == {"retry": False, "compensation_retry": False}
    # what it inherits: the saga's retry (100ms in flight_booking.yaml), the model's default
    # compensation retry (5 attempts)
    assert form.policies["retry"]["initial_interval"] == "100ms"
    assert form.policies["compensation_retry"]["max_attempts"] == 5
    assert form.simulate["failure_rate"] == 0.1 and form.simulate["latency_p50"] == "50ms"


@pytest.mark.parametrize("field, value, check", [
    ("action", "payments.auth", lambda d: d.step("charge_payment").action == "payments.auth"),
    ("compensation", NO_COMPENSATION, lambda d: d.step("charge_payment").compensation is None),
    ("kind", "pivot", lambda d: d.step("charge_payment").kind.value == "pivot"),
    ("read_only", True, lambda d: d.step("charge_payment").read_only),
    ("timeout", "5s", lambda d: d.step("charge_payment").timeout == timedelta(seconds=5)),
    ("retry.own", True, lambda d: d.step("charge_payment").retry is not None),
    ("retry.max_attempts", 7, lambda d: d.step("charge_payment").retry.max_attempts == 7),
    ("retry.initial_interval", "250ms",
     lambda d: d.step("charge_payment").retry.initial_interval == timedelta(milliseconds=250)),
    ("compensation_retry.own", True,
     lambda d: d.step("charge_payment").compensation_retry.max_attempts == 5),
    ("compensation_retry.max_attempts", 9,
     lambda d: d.step("charge_payment").compensation_retry.max_attempts == 9),
    ("simulate.failure_rate", 0.0, lambda d: d.step("charge_payment").simulate.failure_rate == 0),
    ("simulate.latency_p95", "1s",
     lambda d: d.step("charge_payment").simulate.latency_p95 == timedelta(seconds=1)),
    ("description", "Take it", lambda d: d.step("charge_payment").description == "Take it"),
    ("after", [], lambda d: d.step("charge_payment").after == []),
    ("name", "take_payment", lambda d: d.step("issue_ticket").after == ["take_payment"]),
])
def test_each_field_changes_the_definition(flight: Draft, field: str, value: object,
                                           check: object) -> None:
    draft = apply_field(flight, "charge_payment", field, value)
    assert check(draft.definition())  # type: ignore[operator]


def test_clearing_a_field_restores_its_default(flight: Draft) -> None:
    draft = apply_field(flight, "charge_payment", "timeout", "5s")
    assert apply_field(draft, "charge_payment", "timeout", "  ") == flight


def test_bad_values_become_issues_not_exceptions(flight: Draft) -> None:
    draft = apply_field(flight, "charge_payment", "timeout", "soon")
    draft = apply_field(draft, "charge_payment", "retry.max_interval", "later")
    found = {(i.path, i.rule) for i in check_draft(draft).issues}
    assert ("/steps/1/timeout", "value-error") in found
    assert ("/steps/1/retry/max_interval", "value-error") in found


def test_clearing_every_simulated_field_removes_simulate(flight: Draft) -> None:
    draft = flight
    for field in ("failure_rate", "latency_p50", "latency_p95"):
        draft = apply_field(draft, "charge_payment", f"simulate.{field}", None)
    assert "simulate" not in draft.step("charge_payment")


def test_unknown_fields_are_refused(flight: Draft) -> None:
    for field in ("colour", "retry.colour", "compensation_retry.colour", "simulate.colour"):
        with pytest.raises(EditError):
            apply_field(flight, "charge_payment", field, 1)
    for field in ("colour", "retry.colour", "compensation.continue_on_error"):
        with pytest.raises(EditError):
            apply_default(flight, field, 1)


def test_an_own_policy_starts_as_the_one_inherited(flight: Draft) -> None:
    draft = apply_field(flight, "charge_payment", "retry.own", True)
    assert draft.definition().step("charge_payment").retry == flight.definition().defaults.retry
    retriable = apply_field(flight, "send_confirmation", "retry.own", True)
    assert (retriable.definition().step("send_confirmation").retry
            == flight.definition().defaults.retriable_retry)


def test_the_defaults_form_shows_the_saga_defaults(flight: Draft) -> None:
    form = defaults_form(flight)
    assert form.timeout == "10s" and not form.continue_on_error
    assert form.policies["retry"]["initial_interval"] == "100ms"
    assert form.policies["retry"]["max_attempts"] == 3  # not in the file: the model's default
    assert form.policies["retriable_retry"]["max_attempts"] == 25


@pytest.mark.parametrize("field, value, check", [
    ("timeout", "2s", lambda d: d.defaults.timeout == timedelta(seconds=2)),
    ("continue_on_error", True, lambda d: d.defaults.compensation.continue_on_error),
    ("retry.max_attempts", 6, lambda d: d.defaults.retry.max_attempts == 6),
    ("retry.jitter", False, lambda d: d.defaults.retry.jitter is False),
    ("compensation_retry.max_interval", "5s",
     lambda d: d.defaults.compensation_retry.max_interval == timedelta(seconds=5)),
    ("retriable_retry.backoff", 3.0, lambda d: d.defaults.retriable_retry.backoff == 3.0),
])
def test_each_default_changes_the_definition(flight: Draft, field: str, value: object,
                                             check: object) -> None:
    draft = apply_default(flight, field, value)
    assert check(draft.definition())  # type: ignore[operator]
    # the steps follow it where they set nothing of their own
    assert draft.definition().defaults != flight.definition().defaults


def test_a_default_set_back_leaves_the_document(flight: Draft) -> None:
    draft = apply_default(Draft.new("s"), "retry.max_attempts", 6)
    assert draft.document["defaults"] == {"retry": {"max_attempts": 6}}
    assert "defaults" not in apply_default(draft, "retry.max_attempts", 3).document
    assert apply_default(apply_default(flight, "timeout", "1s"), "timeout", "10s") == flight
    assert "defaults" not in apply_default(
        apply_default(Draft.new("s"), "continue_on_error", True), "continue_on_error", False).document


def test_a_bad_default_becomes_an_issue_at_its_path(flight: Draft) -> None:
    draft = apply_default(apply_default(flight, "retry.max_interval", "later"), "timeout", "soon")
    found = {(i.path, i.rule) for i in check_draft(draft).issues}
    assert {("/defaults/retry/max_interval", "value-error"), ("/defaults/timeout", "value-error")} <= found


def test_action_choices_keep_an_unregistered_current_name() -> None:
    assert action_choices(["b", "a"], "zzz.custom") == ["a", "b", "zzz.custom"]
    assert action_choices(["b", "a"], "a") == ["a", "b"]
