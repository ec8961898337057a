"""What-if: predict how a design behaves under failure before running it.

    result = simulate(definition, Injection.from_flags(definition, fail=["charge_payment=0.1"]),
                      runs=100_000, seed=7)
    result.compensated.rate, result.compensated.interval       # P(compensated), 95% Wilson
    result.step("reserve_seat").compensations.rate             # expected compensations per run
    result.most_common_trigger, result.latency.p95_ms
    result.step("charge_payment").attempts.per_1000_runs       # the retry load of a service

    better = simulate(with_retry(definition, "charge_payment", max_attempts=5), injection)

A Monte Carlo over the definition's real semantics (the planner's and the engine's: parallel
branches, retries with backoff and jitter, per-attempt timeouts, the pivot, compensation
order, compensation failures), vectorised with numpy: arrays over runs, loops over steps and
attempt numbers. ``docs/simulation.md`` states the model and its limits.

Modules (private; this package re-exports what callers need):

    _model        definition + injection -> SagaModel; with_retry
    _draws        RandomDraws (seeded numpy streams), EngineDraws (the engine's own draws)
    _monte_carlo  run_monte_carlo -> SimulatedRuns (per-run arrays)
    _results      SimulationResult, StepPrediction, Proportion, Mean, LatencySummary
    _stats        Wilson and predictive intervals
"""

from __future__ import annotations

from typing import Literal

from runtime.definition import SagaDefinition
from runtime.injection import Injection
from runtime.simulation._draws import Draws, EngineDraws, RandomDraws
from runtime.simulation._model import SagaModel, SimulationError, StepModel, with_retry
from runtime.simulation._monte_carlo import (
    COMPENSATED,
    COMPLETED,
    FAILED,
    FAILED_KNOWN,
    NOT_RUN,
    SUCCEEDED,
    UNKNOWN,
    SimulatedRuns,
    run_monte_carlo,
)
from runtime.simulation._results import (
    LatencySummary,
    Mean,
    Proportion,
    SimulationResult,
    StepPrediction,
    summarise,
)
from runtime.simulation._stats import (
    Interval,
    expected_mean_range,
    expected_share_range,
    wilson_interval,
)

__all__ = [
    "COMPENSATED", "COMPLETED", "FAILED", "FAILED_KNOWN", "MAX_RUNS", "NOT_RUN", "SUCCEEDED",
    "UNKNOWN", "Draws", "EngineDraws", "Interval", "LatencySummary", "Mean", "Proportion",
    "RandomDraws", "SagaModel", "SimulatedRuns", "SimulationError", "SimulationResult",
    "StepModel", "StepPrediction", "expected_mean_range", "expected_share_range",
    "run_monte_carlo", "simulate", "simulate_runs", "summarise", "wilson_interval",
    "with_retry",
]

MAX_RUNS = 1_000_000
"""Runs per call (memory grows with runs x steps)."""

DrawsKind = Literal["random", "engine"]


def simulate_runs(definition: SagaDefinition, injection: Injection | None = None, *,
                  runs: int = 10_000, seed: int | None = None,
                  draws: DrawsKind = "random") -> SimulatedRuns:
    """The per-run arrays of a simulation (see :func:`simulate` for the arguments)."""
    if not 1 <= runs <= MAX_RUNS:
        raise SimulationError(f"cannot simulate {runs:,} runs",
                              f"ask for 1 to {MAX_RUNS:,} runs")
    injection = Injection.defaults_of(definition) if injection is None else injection
    seed = injection.seed if seed is None else seed
    model = SagaModel.build(definition, injection)
    source: Draws
    if draws == "engine":
        source = EngineDraws(injection.seed, runs, jitter_seed=seed)
    else:
        source = RandomDraws(seed, runs)
    return run_monte_carlo(model, source)


def simulate(definition: SagaDefinition, injection: Injection | None = None, *,
             runs: int = 10_000, seed: int | None = None,
             draws: DrawsKind = "random") -> SimulationResult:
    """Predict outcomes, compensations, attempts and latency of ``runs`` runs.

    ``injection``: what fails and how slowly, per step; ``None`` takes each step's
    ``simulate`` defaults (like ``saga run --simulate`` without flags). ``seed``: defaults to
    the injection's. ``draws="engine"`` reproduces the engine's injected decisions for run
    indexes ``0 .. runs-1`` (slow; for checking the model against ``saga run``).
    Raises :class:`DefinitionError` if the steps do not form an acyclic graph.
    """
    injection = Injection.defaults_of(definition) if injection is None else injection
    used_seed = injection.seed if seed is None else seed
    result = simulate_runs(definition, injection, runs=runs, seed=used_seed, draws=draws)
    return summarise(result, used_seed)
