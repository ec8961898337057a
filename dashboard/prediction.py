"""Predicted vs observed: pure chart builders over a simulation and the event log.

    fit = calibrate(engine, definition, LogFilter(batch=batch))        # runtime.calibration
    injection = batch_injection(engine, batch) or fit.injection()
    prediction = simulate(definition, injection, runs=20_000)
    outcome_figure(prediction, fit.observed)          # completed / compensated / failed
    step_figure(prediction, fit.observed, "compensations")
    comparison_rows(prediction, fit.observed)         # the same as a table, with `inside`
    what_if_figure(prediction, simulate(with_retry(definition, "charge_payment",
                                                   max_attempts=5), fit.injection()))

The predicted bar carries its 95% interval as an error bar: where the observed share of
``observed.runs`` runs should fall (beta-binomial; the simulation's own uncertainty
included). Without observed runs the bar shows the Wilson interval of the probability.
Each function returns a plotly figure; tests assert on ``figure.data``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import plotly.graph_objects as go

from runtime.calibration import Observed, ObservedStep
from runtime.simulation import Interval, Mean, Proportion, SimulationResult, StepPrediction

STATUSES = ("completed", "compensated", "failed")
COLOURS = {"predicted": "#8c9bb5", "observed": "#2f6fdb", "what if": "#e39b2d"}
StepMetric = Literal["compensations", "triggers", "attempts", "started", "compensation_failures"]
STEP_METRICS: dict[str, str] = {
    "compensations": "runs whose compensation of the step ran",
    "triggers": "runs the step's failure turned to compensating",
    "attempts": "attempts per run",
    "started": "runs in which the step started",
    "compensation_failures": "runs whose compensation of the step failed",
}


@dataclass(frozen=True)
class ComparisonRow:
    """One predicted quantity next to what was observed."""

    metric: str
    """``completed``, ``compensated``, ``failed``, or ``<step>.<metric>``"""
    predicted: float
    low: float
    high: float
    """the predicted 95% interval for the observed value"""
    observed: float | None
    runs: int
    """observed runs (0: nothing to compare)"""

    @property
    def inside(self) -> bool | None:
        """Whether the observed value falls in the predicted interval."""
        if self.observed is None or not self.runs:
            return None
        return self.low <= self.observed <= self.high


def _share_interval(share: Proportion, runs: int) -> Interval:
    return share.expected_range(runs) if runs else share.interval


def _mean_interval(mean: Mean, runs: int) -> Interval:
    return mean.expected_range(runs) if runs else mean.interval


def _step_value(prediction: StepPrediction, metric: str, runs: int) -> tuple[float, Interval]:
    if metric == "attempts":
        return prediction.attempts.mean, _mean_interval(prediction.attempts, runs)
    share: Proportion = getattr(prediction, metric)
    return share.rate, _share_interval(share, runs)


_OBSERVED_STEP: dict[str, Callable[[ObservedStep], int]] = {
    "compensations": lambda s: s.compensations,
    "triggers": lambda s: s.triggers,
    "attempts": lambda s: s.attempts,
    "started": lambda s: s.started,
    "compensation_failures": lambda s: s.compensation_failures,
}


def _observed_step(observed: Observed, step: str, metric: str) -> float:
    return _OBSERVED_STEP[metric](observed.step(step)) / observed.runs if observed.runs else 0.0


def comparison_rows(prediction: SimulationResult, observed: Observed,
                    metrics: Sequence[str] = ("compensations", "triggers", "attempts")
                    ) -> list[ComparisonRow]:
    """Overall outcomes, then each step's ``metrics``: predicted, interval, observed."""
    runs = observed.runs
    rows = []
    for status in STATUSES:
        share = prediction.outcome(status)
        interval = _share_interval(share, runs)
        rows.append(ComparisonRow(status, share.rate, interval.low, interval.high,
                                  observed.rate(status) if runs else None, runs))
    for metric in metrics:
        _check_metric(metric)
        for step in prediction.steps:
            value, interval = _step_value(step, metric, runs)
            rows.append(ComparisonRow(f"{step.step}.{metric}", value, interval.low, interval.high,
                                      _observed_step(observed, step.step, metric) if runs else None,
                                      runs))
    return rows


def _predicted_bar(name: str, x: Sequence[str], values: Sequence[float],
                   intervals: Sequence[Interval], colour: str) -> go.Bar:
    pairs = list(zip(values, intervals, strict=True))
    return go.Bar(
        name=name, x=list(x), y=list(values), marker_color=colour,
        error_y={"type": "data", "symmetric": False,
                 "array": [max(i.high - v, 0.0) for v, i in pairs],
                 "arrayminus": [max(v - i.low, 0.0) for v, i in pairs]},
        customdata=[[i.low, i.high] for i in intervals],
        hovertemplate="%{x}: %{y:.2%} (95% interval %{customdata[0]:.2%} - %{customdata[1]:.2%})"
                      "<extra>" + name + "</extra>")


def _observed_bar(x: Sequence[str], values: Sequence[float], counts: Sequence[int]) -> go.Bar:
    return go.Bar(name="observed", x=list(x), y=list(values), marker_color=COLOURS["observed"],
                  customdata=list(counts),
                  hovertemplate="%{x}: %{y:.2%} (%{customdata} runs)<extra>observed</extra>")


def outcome_figure(prediction: SimulationResult, observed: Observed | None = None) -> go.Figure:
    """Completed / compensated / failed: predicted (with its 95% interval) vs observed."""
    runs = observed.runs if observed is not None else 0
    shares = [prediction.outcome(status) for status in STATUSES]
    intervals = [_share_interval(share, runs) for share in shares]
    figure = go.Figure([_predicted_bar("predicted", STATUSES, [s.rate for s in shares],
                                       intervals, COLOURS["predicted"])])
    if observed is not None and runs:
        figure.add_trace(_observed_bar(STATUSES, [observed.rate(s) for s in STATUSES],
                                       [observed.count(s) for s in STATUSES]))
    title = f"{prediction.saga}: predicted ({prediction.runs:,} simulated runs)"
    if observed is not None and runs:
        title += f" vs observed ({runs:,} runs)"
    figure.update_layout(title=title, barmode="group", yaxis_tickformat=".0%",
                         yaxis_title="share of runs", legend_orientation="h")
    return figure


def step_figure(prediction: SimulationResult, observed: Observed | None = None,
                metric: StepMetric = "compensations") -> go.Figure:
    """One bar pair per step for ``metric`` (see :data:`STEP_METRICS`)."""
    _check_metric(metric)
    runs = observed.runs if observed is not None else 0
    names = [step.step for step in prediction.steps]
    pairs = [_step_value(step, metric, runs) for step in prediction.steps]
    figure = go.Figure([_predicted_bar("predicted", names, [v for v, _ in pairs],
                                       [i for _, i in pairs], COLOURS["predicted"])])
    if observed is not None and runs:
        counts = [_OBSERVED_STEP[metric](observed.step(name)) for name in names]
        figure.add_trace(_observed_bar(names, [c / runs for c in counts], counts))
    share = metric != "attempts"
    if not share:
        figure.update_traces(hovertemplate="%{x}: %{y:.3f}<extra>%{fullData.name}</extra>")
    figure.update_layout(title=STEP_METRICS[metric], barmode="group",
                         yaxis_tickformat=".0%" if share else ".2f",
                         yaxis_title="share of runs" if share else "attempts per run",
                         legend_orientation="h")
    return figure


def latency_figure(prediction: SimulationResult, observed: Observed | None = None) -> go.Figure:
    """End-to-end p50 / p95 / p99 (ms): predicted vs observed. The prediction leaves out
    the engine's own overhead (commits), so observed runs are a little slower."""
    labels = ["p50", "p95", "p99"]
    latency = prediction.latency
    figure = go.Figure([go.Bar(name="predicted", x=labels, marker_color=COLOURS["predicted"],
                               y=[latency.p50_ms, latency.p95_ms, latency.p99_ms])])
    if observed is not None and observed.p50_ms is not None:
        figure.add_trace(go.Bar(name="observed", x=labels, marker_color=COLOURS["observed"],
                                y=[observed.p50_ms, observed.p95_ms, observed.p99_ms]))
    figure.update_layout(title="end-to-end latency", barmode="group", yaxis_title="ms",
                         legend_orientation="h")
    return figure


def what_if_figure(baseline: SimulationResult, variant: SimulationResult,
                   labels: tuple[str, str] = ("now", "what if")) -> go.Figure:
    """Two predictions side by side (outcomes and the share that had to compensate), each
    with the Wilson 95% interval of its probability."""
    x = [*STATUSES, "had to compensate"]
    figure = go.Figure()
    for label, result, colour in ((labels[0], baseline, COLOURS["predicted"]),
                                  (labels[1], variant, COLOURS["what if"])):
        shares = [*(result.outcome(s) for s in STATUSES), result.compensating]
        figure.add_trace(_predicted_bar(label, x, [s.rate for s in shares],
                                        [s.interval for s in shares], colour))
    figure.update_layout(title=f"{baseline.saga}: {labels[0]} vs {labels[1]}", barmode="group",
                         yaxis_tickformat=".0%", yaxis_title="share of runs",
                         legend_orientation="h")
    return figure


def _check_metric(metric: str) -> None:
    if metric not in STEP_METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(STEP_METRICS)}")
