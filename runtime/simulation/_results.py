"""What a simulation predicts, as plain frozen dataclasses (``as_dict()`` for JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.simulation._monte_carlo import (
    COMPENSATED,
    COMPLETED,
    FAILED,
    FAILED_KNOWN,
    SUCCEEDED,
    UNKNOWN,
    SimulatedRuns,
)
from runtime.simulation._stats import (
    Interval,
    expected_mean_range,
    expected_share_range,
    wilson_interval,
    z_value,
)

PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Proportion:
    """``count`` of ``runs`` simulated runs had the property."""

    count: int
    runs: int

    @property
    def rate(self) -> float:
        return self.count / self.runs if self.runs else 0.0

    @property
    def interval(self) -> Interval:
        """95% Wilson interval of the probability."""
        return wilson_interval(self.count, self.runs)

    def expected_range(self, observed_runs: int, level: float = 0.95) -> Interval:
        """Where the observed share of ``observed_runs`` real runs should fall."""
        return expected_share_range(self.count, self.runs, observed_runs, level)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "rate": self.rate, "interval": self.interval.as_list()}


@dataclass(frozen=True)
class Mean:
    """A mean per run, with its standard deviation over runs."""

    mean: float
    sd: float
    runs: int

    @property
    def per_1000_runs(self) -> float:
        return self.mean * 1000

    @property
    def interval(self) -> Interval:
        """95% interval of the mean itself (normal approximation)."""
        if not self.runs:
            return Interval(0.0, float("inf"))
        half = z_value(0.95) * self.sd / float(np.sqrt(self.runs))
        return Interval(max(0.0, self.mean - half), self.mean + half)

    def expected_range(self, observed_runs: int, level: float = 0.95) -> Interval:
        """Where the mean over ``observed_runs`` real runs should fall."""
        return expected_mean_range(self.mean, self.sd, self.runs, observed_runs, level)

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "per_1000_runs": self.per_1000_runs,
                "interval": self.interval.as_list()}


@dataclass(frozen=True)
class LatencySummary:
    """End-to-end run time percentiles (milliseconds, nearest rank) and mean."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
                "mean_ms": self.mean_ms}


@dataclass(frozen=True)
class StepPrediction:
    """What one step does across the simulated runs."""

    step: str
    kind: str
    started: Proportion
    """runs in which the step started"""
    succeeded: Proportion
    failed: Proportion
    """runs in which it failed for good with a known outcome"""
    unknown: Proportion
    """runs in which it timed out for good (outcome unknown; compensated if compensatable)"""
    triggers: Proportion
    """runs whose compensation this step's failure triggered"""
    compensations: Proportion
    """runs in which its compensation ran (the expected compensations per run)"""
    compensation_failures: Proportion
    attempts: Mean
    """attempts per run (its mean x 1000: the load the service sees per 1000 runs)"""
    compensation_attempts: Mean

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "started": self.started.as_dict(),
                "succeeded": self.succeeded.as_dict(), "failed": self.failed.as_dict(),
                "unknown": self.unknown.as_dict(), "triggers": self.triggers.as_dict(),
                "compensations": self.compensations.as_dict(),
                "compensation_failures": self.compensation_failures.as_dict(),
                "attempts": self.attempts.as_dict(),
                "compensation_attempts": self.compensation_attempts.as_dict()}


@dataclass(frozen=True)
class SimulationResult:
    """The prediction for one design and one failure injection."""

    saga: str
    definition_hash: str
    runs: int
    seed: int
    completed: Proportion
    compensated: Proportion
    failed: Proportion
    compensating: Proportion
    """runs that had to compensate (ending compensated, or failed by a compensation)"""
    latency: LatencySummary
    steps: tuple[StepPrediction, ...]

    @property
    def most_common_trigger(self) -> str | None:
        """The step whose failure most often turns a run to compensating."""
        best = max(self.steps, key=lambda s: s.triggers.count, default=None)
        return best.step if best is not None and best.triggers.count else None

    def step(self, name: str) -> StepPrediction:
        for prediction in self.steps:
            if prediction.step == name:
                return prediction
        raise KeyError(name)

    def outcome(self, status: str) -> Proportion:
        """``completed``, ``compensated`` or ``failed``."""
        proportion = {"completed": self.completed, "compensated": self.compensated,
                      "failed": self.failed}.get(status)
        if proportion is None:
            raise KeyError(status)
        return proportion

    def as_dict(self) -> dict[str, Any]:
        return {"saga": self.saga, "definition_hash": self.definition_hash, "runs": self.runs,
                "seed": self.seed, "completed": self.completed.as_dict(),
                "compensated": self.compensated.as_dict(), "failed": self.failed.as_dict(),
                "compensating": self.compensating.as_dict(),
                "most_common_trigger": self.most_common_trigger,
                "latency": self.latency.as_dict(),
                "steps": [step.as_dict() for step in self.steps]}


def summarise(runs: SimulatedRuns, seed: int) -> SimulationResult:
    """Reduce the per-run arrays to the prediction."""
    n = runs.runs

    def share(mask: np.ndarray[Any, Any]) -> Proportion:
        return Proportion(int(np.count_nonzero(mask)), n)

    def mean(values: np.ndarray[Any, Any]) -> Mean:
        return Mean(float(values.mean()), float(values.std()), n)

    steps = []
    for i, step in enumerate(runs.model.steps):
        outcome = runs.outcome[i]
        steps.append(StepPrediction(
            step=step.name, kind=step.kind.value, started=share(runs.started[i]),
            succeeded=share(outcome == SUCCEEDED), failed=share(outcome == FAILED_KNOWN),
            unknown=share(outcome == UNKNOWN),
            triggers=share(runs.compensating & (runs.trigger == i)),
            compensations=share(runs.compensated[i]),
            compensation_failures=share(runs.compensation_outcome[i] >= FAILED_KNOWN),
            attempts=mean(runs.attempts[i]),
            compensation_attempts=mean(runs.compensation_attempts[i])))
    p50, p95, p99 = (float(v) for v in np.percentile(runs.duration_ms, PERCENTILES,
                                                      method="inverted_cdf"))
    return SimulationResult(
        saga=runs.model.saga, definition_hash=runs.model.definition_hash, runs=n, seed=seed,
        completed=share(runs.status == COMPLETED), compensated=share(runs.status == COMPENSATED),
        failed=share(runs.status == FAILED), compensating=share(runs.compensating),
        latency=LatencySummary(p50, p95, p99, float(runs.duration_ms.mean())),
        steps=tuple(steps))
