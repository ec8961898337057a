"""Where the Monte Carlo's randomness comes from.

- :class:`RandomDraws` (the default): numpy streams keyed by (seed, step name, purpose,
  attempt), so a draw depends on what it is for, never on the order of the computation.
  Two designs simulated with the same seed share their draws (common random numbers):
  "what if charge_payment had 5 attempts?" differs from the baseline only where attempts
  4 and 5 change the outcome, so small effects are not buried in noise.
- :class:`EngineDraws`: the engine's own failure-injection draws
  (:func:`runtime.injection.deterministic_uniform` of seed, run index, step, attempt), so the
  simulation of run ``i`` makes the same injected decisions as ``saga run``'s run ``i``.
  Slower (a hash per run and draw); used to check the simulation against the engine run by
  run. Backoff jitter is random in both (the engine keys it by the random run id).

Both give the same value when asked twice for the same thing: the compensation's attempt
``k`` sees the latency of the step's attempt ``k``, as in the engine.
"""

from __future__ import annotations

import zlib
from enum import IntEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from runtime.injection import LatencySpec, deterministic_uniform
from runtime.simulation._model import LatencyModel

FloatArray = NDArray[np.float64]
_Z_LIMIT = 7.034  # the engine clamps its uniform to [1e-12, 1 - 1e-12]: |z| <= 7.034


class Purpose(IntEnum):
    FAIL = 1
    FLAKY = 2
    LATENCY = 3
    COMPENSATION_FAIL = 4
    STEP_JITTER = 5
    COMPENSATION_JITTER = 6


class Draws(Protocol):
    """Per-run random numbers, one array of ``runs`` values per question."""

    runs: int

    def uniform(self, step: str, purpose: Purpose, attempt: int = 0) -> FloatArray:
        """Uniform [0, 1) draws for a failure decision or a jitter factor."""
        ...

    def latency_ms(self, step: str, attempt: int, latency: LatencyModel,
                   spec: LatencySpec) -> FloatArray:
        """The injected latency of attempt ``attempt`` of ``step``."""
        ...


class RandomDraws:
    """Seeded numpy draws (PCG64), one independent stream per (step, purpose, attempt)."""

    def __init__(self, seed: int, runs: int) -> None:
        self.seed = seed
        self.runs = runs

    def _rng(self, step: str, purpose: Purpose, attempt: int) -> np.random.Generator:
        key = (zlib.crc32(step.encode()), int(purpose), attempt)
        return np.random.default_rng(np.random.SeedSequence(self.seed % (1 << 64), spawn_key=key))

    def uniform(self, step: str, purpose: Purpose, attempt: int = 0) -> FloatArray:
        return self._rng(step, purpose, attempt).random(self.runs)

    def latency_ms(self, step: str, attempt: int, latency: LatencyModel,
                   spec: LatencySpec) -> FloatArray:
        z = self._rng(step, Purpose.LATENCY, attempt).standard_normal(self.runs)
        np.clip(z, -_Z_LIMIT, _Z_LIMIT, out=z)
        return latency.p50_ms * np.exp(latency.sigma * z)


class EngineDraws:
    """The engine's injection draws for run indexes ``first, first + 1, ...``; jitter from a
    seeded numpy stream."""

    def __init__(self, seed: int, runs: int, *, first_run_index: int = 0,
                 jitter_seed: int = 0) -> None:
        self.seed = seed
        self.runs = runs
        self.indexes = range(first_run_index, first_run_index + runs)
        self._jitter = RandomDraws(jitter_seed, runs)

    def uniform(self, step: str, purpose: Purpose, attempt: int = 0) -> FloatArray:
        what = {Purpose.FAIL: "fail", Purpose.FLAKY: f"flaky{attempt}",
                Purpose.COMPENSATION_FAIL: "compfail"}.get(purpose)
        if what is None:
            return self._jitter.uniform(step, purpose, attempt)
        return np.fromiter((deterministic_uniform(self.seed, i, step, what) for i in self.indexes),
                           dtype=np.float64, count=self.runs)

    def latency_ms(self, step: str, attempt: int, latency: LatencyModel,
                   spec: LatencySpec) -> FloatArray:
        what = f"lat{attempt}"
        return np.fromiter((spec.sample(deterministic_uniform(self.seed, i, step, what))
                            for i in self.indexes), dtype=np.float64, count=self.runs)
