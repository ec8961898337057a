"""Intervals for what a simulation predicts.

- :func:`wilson_interval`: the 95% interval of a probability estimated from ``count`` of
  ``runs`` simulated runs (Wilson score; good at rates near 0 and 1).
- :func:`expected_share_range`: where the *observed* share of ``observed_runs`` real runs
  should fall, given ``count`` of ``runs`` simulated: the central interval of the
  beta-binomial predictive distribution (Jeffreys prior on the simulated rate), so it holds
  both the simulation's uncertainty and the sampling noise of the observed runs.
- :func:`expected_mean_range`: the same for a mean per run (attempts per run), by the
  normal approximation ``mean +- z * sd * sqrt(1/observed_runs + 1/runs)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[low, high]``."""

    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def z_value(level: float) -> float:
    """The two-sided standard-normal quantile for ``level`` (1.96 for 0.95)."""
    _check_level(level)
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(count: int, runs: int, level: float = 0.95) -> Interval:
    """Wilson score interval of a binomial proportion; ``[0, 1]`` when ``runs`` is 0."""
    if runs <= 0:
        return Interval(0.0, 1.0)
    z = z_value(level)
    p = count / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs))
    low = 0.0 if count <= 0 else max(0.0, centre - half)
    high = 1.0 if count >= runs else min(1.0, centre + half)
    return Interval(low, high)


def expected_share_range(count: int, runs: int, observed_runs: int,
                         level: float = 0.95) -> Interval:
    """Central ``level`` interval of the share of ``observed_runs`` future runs with the
    property, predicted from ``count`` of ``runs`` simulated runs (beta-binomial)."""
    _check_level(level)
    if observed_runs <= 0:
        return Interval(0.0, 1.0)
    alpha, beta = count + 0.5, runs - count + 0.5
    m = observed_runs
    k = np.arange(m, dtype=np.float64)
    # pmf(k + 1) / pmf(k) of the beta-binomial(m, alpha, beta), accumulated in log space
    log_ratio = (np.log(m - k) - np.log(k + 1) + np.log(k + alpha) - np.log(m - k - 1 + beta))
    log_pmf = np.concatenate(([0.0], np.cumsum(log_ratio)))
    log_pmf -= log_pmf.max()
    pmf = np.exp(log_pmf)
    cdf = np.cumsum(pmf)
    cdf /= cdf[-1]
    tail = (1 - level) / 2
    low = int(np.searchsorted(cdf, tail, side="left"))
    high = int(np.searchsorted(cdf, 1 - tail, side="left"))
    return Interval(low / m, min(high, m) / m)


def expected_mean_range(mean: float, sd: float, runs: int, observed_runs: int,
                        level: float = 0.95) -> Interval:
    """Where the mean over ``observed_runs`` runs should fall, predicted from a simulated
    ``mean`` and standard deviation ``sd`` over ``runs`` runs (normal approximation)."""
    if observed_runs <= 0 or runs <= 0:
        return Interval(0.0, math.inf)
    half = z_value(level) * sd * math.sqrt(1 / observed_runs + 1 / runs)
    return Interval(max(0.0, mean - half), mean + half)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level {level!r} must be between 0 and 1, e.g. 0.95")
