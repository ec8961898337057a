"""Validation of drafts on every change: every issue, mapped to its step; never a crash."""

from __future__ import annotations

from designer.checks import check_draft, step_of_path
from designer.draft import Draft, add_step, connect, update_step
from designer.files import open_sample
from designer.registry import registry_of, sample_registry


def rules(report: object) -> set[tuple[str, str]]:
    return {(i.path, i.rule) for i in report.issues}  # type: ignore[attr-defined]


def test_samples_are_valid_against_the_sample_registry() -> None:
    report = check_draft(Draft.of(open_sample("trip_booking")), sample_registry())
    assert report.valid and report.definition is not None and report.issues == ()


def test_a_new_step_is_flagged_without_crashing() -> None:
    draft, name = add_step(Draft.new())
    report = check_draft(draft, sample_registry())
    assert report.definition is None and not report.valid
    assert rules(report) == {("/steps/0/action", "missing"),
                             ("/steps/0/compensation", "missing-compensation")}
    assert [i.rule for i in report.for_step(name)] == ["missing", "missing-compensation"]
    assert report.general == ()


def test_an_empty_draft_needs_steps() -> None:
    report = check_draft(Draft.new())
    assert [(i.path, i.rule) for i in report.general] == [("/steps", "no-steps")]


def test_unknown_actions_are_flagged_against_the_registry_in_use() -> None:
    draft = Draft.of(open_sample("flight_booking"))
    draft = update_step(draft, "charge_payment", {"compensation": "payments.refnud"})
    report = check_draft(draft, sample_registry())
    assert rules(report) == {("/steps/1/compensation", "unknown-action")}
    assert check_draft(draft).valid  # no registry: names are not checked


def test_shape_errors_and_graph_errors_are_reported_together() -> None:
    draft = Draft.of(open_sample("flight_booking"))
    draft = update_step(draft, "reserve_seat", {"timeout": "3 parsecs"})
    draft = update_step(draft, "issue_ticket", {"action": "bad action!"})
    draft = connect(draft, "send_confirmation", "reserve_seat")  # a cycle
    report = check_draft(draft, registry_of(["flight.reserve_seat"]))
    found = rules(report)
    assert ("/steps/0/timeout", "value-error") in found
    assert ("/steps/2/action", "string-pattern-mismatch") in found
    assert any(rule == "cycle" for _, rule in found)
    # the placeholder standing in for the broken action is never reported as unknown
    assert ("/steps/2/action", "unknown-action") not in found
    assert ("/steps/1/action", "unknown-action") in found
    assert {"reserve_seat", "charge_payment", "issue_ticket"} <= set(report.step_issues)


def test_a_broken_name_stops_only_the_graph_rules() -> None:
    draft = Draft({"saga": "s", "steps": [{"name": "bad name", "action": "x"}]})
    report = check_draft(draft)
    assert rules(report) == {("/steps/0/name", "string-pattern-mismatch")}
    assert report.for_step("bad name")


def test_a_broken_saga_name_does_not_hide_step_issues() -> None:
    draft, _ = add_step(Draft.new(""), action="a.b")
    found = rules(check_draft(draft))
    assert ("/saga", "string-too-short") in found
    assert ("/steps/0/compensation", "missing-compensation") in found


def test_step_of_path() -> None:
    names = ["a", "b"]
    assert step_of_path("/steps/1/after/0", names) == "b"
    assert step_of_path("/steps/7/name", names) is None
    assert step_of_path("/steps", names) is None
    assert step_of_path("/layout/a", names) is None
