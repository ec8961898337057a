"""Predicted vs observed for the Monitor (pure: no Streamlit).

    view = predicted_vs_observed(engine, definition, log_filter)
    view.prediction, view.calibration.observed        # -> dashboard.prediction figures
    variant = what_if(view, step="charge_payment", max_attempts=5)

The prediction uses the batch's own failure injection when the filter names a batch that
ran with injection (so it predicts exactly what that batch should have shown); otherwise the
parameters fitted to the filtered runs (``runtime.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from runtime.calibration import Calibration, LogFilter, batch_injection, calibrate
from runtime.definition import SagaDefinition
from runtime.injection import Injection
from runtime.simulation import SimulationResult, simulate, with_retry


@dataclass(frozen=True)
class PredictionView:
    definition: SagaDefinition
    calibration: Calibration
    injection: Injection
    source: str            # "batch injection" or "fitted to the log"
    prediction: SimulationResult


def predicted_vs_observed(engine: Engine, definition: SagaDefinition, log_filter: LogFilter, *,
                          runs: int = 20_000, seed: int = 0) -> PredictionView:
    fit = calibrate(engine, definition, log_filter)
    injection = batch_injection(engine, log_filter.batch) if log_filter.batch else None
    source = "the batch's own failure injection"
    if injection is None:
        injection, source = fit.injection(seed), "parameters fitted to these runs"
    prediction = simulate(definition, injection, runs=runs, seed=seed)
    return PredictionView(definition, fit, injection, source, prediction)


def what_if(view: PredictionView, step: str, *, max_attempts: int, runs: int = 20_000,
            seed: int = 0) -> SimulationResult:
    """The same parameters with another retry budget for ``step``."""
    variant = with_retry(view.definition, step, max_attempts=max_attempts)
    return simulate(variant, view.injection, runs=runs, seed=seed)
