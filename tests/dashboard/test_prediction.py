"""Predicted vs observed charts (issue 7): bars per outcome and per step, the predicted 95%
interval as error bars."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.prediction import (
    comparison_rows,
    latency_figure,
    outcome_figure,
    step_figure,
    what_if_figure,
)
from runtime.calibration import Observed, ObservedStep
from runtime.loading import load_definition
from runtime.simulation import SimulationResult, simulate, with_retry

SAMPLES = Path(__file__).resolve().parents[2] / "sample_sagas"


@pytest.fixture(scope="module")
def prediction() -> SimulationResult:
    return simulate(load_definition(SAMPLES / "flight_booking.yaml"), runs=20_000, seed=3)


OBSERVED = Observed(
    runs=1000, completed=905, compensated=90, failed=5, compensating=95,
    p50_ms=140.0, p95_ms=600.0, p99_ms=1200.0,
    steps=(ObservedStep("reserve_seat", 1000, 1000, 0, 95, 5, 97),
           ObservedStep("charge_payment", 1000, 1000, 95, 0, 0, 0),
           ObservedStep("issue_ticket", 905, 905, 0, 0, 0, 0),
           ObservedStep("send_confirmation", 905, 960, 0, 0, 0, 0)))


def bars(figure: object) -> dict[str, object]:
    return {trace.name: trace for trace in figure.data}  # type: ignore[attr-defined]


def test_outcome_bars_predicted_with_interval_vs_observed(prediction: SimulationResult) -> None:
    traces = bars(outcome_figure(prediction, OBSERVED))
    predicted, observed = traces["predicted"], traces["observed"]
    assert list(predicted.x) == list(observed.x) == ["completed", "compensated", "failed"]
    assert list(observed.y) == [0.905, 0.09, 0.005]
    assert list(observed.customdata) == [905, 90, 5]
    for i, status in enumerate(predicted.x):
        share = prediction.outcome(status)
        interval = share.expected_range(1000)
        assert predicted.y[i] == share.rate
        assert predicted.error_y.array[i] == pytest.approx(interval.high - share.rate)
        assert predicted.error_y.arrayminus[i] == pytest.approx(share.rate - interval.low)
        assert list(predicted.customdata[i]) == [interval.low, interval.high]
    # the interval for 1000 observed runs is wider than the simulation's own
    compensated = prediction.outcome("compensated")
    assert predicted.error_y.array[1] > compensated.interval.high - compensated.rate


def test_without_observed_runs_the_bar_shows_the_wilson_interval(
        prediction: SimulationResult) -> None:
    figure = outcome_figure(prediction)
    assert [trace.name for trace in figure.data] == ["predicted"]
    compensated = prediction.compensated
    assert figure.data[0].error_y.array[1] == pytest.approx(
        compensated.interval.high - compensated.rate)


def test_step_bars_per_metric(prediction: SimulationResult) -> None:
    traces = bars(step_figure(prediction, OBSERVED, "compensations"))
    assert list(traces["predicted"].x) == [s.step for s in prediction.steps]
    assert list(traces["observed"].y) == [0.095, 0.0, 0.0, 0.0]
    seat = prediction.step("reserve_seat").compensations
    assert traces["predicted"].y[0] == seat.rate
    assert traces["predicted"].error_y.arrayminus[0] == pytest.approx(
        seat.rate - seat.expected_range(1000).low)
    attempts = bars(step_figure(prediction, OBSERVED, "attempts"))
    assert list(attempts["observed"].y) == [1.0, 1.0, 0.905, 0.96]
    mean = prediction.step("send_confirmation").attempts
    assert attempts["predicted"].y[3] == mean.mean
    assert attempts["predicted"].error_y.array[3] == pytest.approx(
        mean.expected_range(1000).high - mean.mean)
    with pytest.raises(ValueError, match="unknown metric"):
        step_figure(prediction, OBSERVED, "nope")  # type: ignore[arg-type]


def test_comparison_rows_say_whether_the_observed_value_is_inside(
        prediction: SimulationResult) -> None:
    rows = {row.metric: row for row in comparison_rows(prediction, OBSERVED)}
    assert rows["compensated"].observed == 0.09 and rows["compensated"].runs == 1000
    assert rows["compensated"].inside is (rows["compensated"].low <= 0.09
                                          <= rows["compensated"].high)
    assert rows["failed"].inside is False          # 5 failed runs; none predicted
    assert rows["charge_payment.triggers"].inside is True
    assert "send_confirmation.attempts" in rows
    empty = Observed(0, 0, 0, 0, 0, None, None, None, ())
    assert all(row.inside is None for row in comparison_rows(prediction, empty))


def test_latency_and_what_if(prediction: SimulationResult) -> None:
    latency = bars(latency_figure(prediction, OBSERVED))
    assert list(latency["observed"].y) == [140.0, 600.0, 1200.0]
    assert list(latency["predicted"].y) == [prediction.latency.p50_ms, prediction.latency.p95_ms,
                                            prediction.latency.p99_ms]
    definition = load_definition(SAMPLES / "flight_booking.yaml")
    variant = simulate(with_retry(definition, "send_confirmation", max_attempts=1),
                       runs=20_000, seed=3)
    traces = bars(what_if_figure(prediction, variant, ("now", "1 attempt")))
    assert list(traces["now"].x) == ["completed", "compensated", "failed", "had to compensate"]
    assert traces["1 attempt"].y[2] > traces["now"].y[2]    # failed: the retriable gives up
