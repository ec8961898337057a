"""The Predict panel's logic: what it says for a design, and when it cannot say."""

from __future__ import annotations

from pathlib import Path

from designer.predict import predict
from runtime.loading import load_definition, parse_definition

FLIGHT = load_definition(Path(__file__).resolve().parents[2] / "sample_sagas" / "flight_booking.yaml")


def test_prediction_follows_the_simulated_failure_rate() -> None:
    summary = predict(FLIGHT)
    assert summary.result is not None and summary.error is None
    assert abs(summary.result.compensated.rate - 0.10) < 0.02  # charge_payment failure_rate 0.1
    assert "charge_payment" in " ".join(summary.lines())
    body = FLIGHT.model_dump(mode="json")
    body["steps"][1]["simulate"]["failure_rate"] = 0.5
    riskier = predict(type(FLIGHT).model_validate(body))
    assert riskier.result is not None and riskier.result.compensated.rate > 0.4


def test_no_definition_and_no_parameters_are_explained() -> None:
    assert predict(None).lines() == ["fix the issues above to see a prediction"]
    plain = parse_definition("saga: s\nsteps: [{name: a, action: x.a, compensation: x.b}]")
    summary = predict(plain)
    assert summary.result is not None and summary.result.completed.rate == 1.0
    assert "set a simulated failure rate" in (summary.error or "")


def test_design_page_shows_the_prediction_and_updates_on_edit() -> None:
    from tests.designer.test_pages import design, field, start, texts

    at = design(design=start(FLIGHT, selected="charge_payment"))
    assert any(t.startswith("completed 9") for t in texts(at, "caption")), texts(at, "caption")
    field(at, "number_input", "Failure rate").set_value(0.6).run()
    assert not at.exception
    assert any("compensated 6" in t or "compensated 5" in t for t in texts(at, "caption"))
