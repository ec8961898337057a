"""Seeded, deterministic failure injection for actions and compensations.

    injection = Injection.from_flags(definition, seed=7, fail=["charge_payment=0.2"])
    injection.fails_for_good(run_index=12, step="charge_payment")    # same seed, same answer

Every decision is a pure function of (seed, run index, step, attempt), never of scheduling
order, so the same seed gives the same outcomes at any concurrency and after a crash. Steps'
``simulate`` fields give the defaults; flags override them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from statistics import NormalDist
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runtime.definition import SagaDefinition
from runtime.durations import parse_duration
from runtime.errors import SagaError

_STANDARD_NORMAL = NormalDist()
Z95 = _STANDARD_NORMAL.inv_cdf(0.95)


class InjectionFlagError(SagaError):
    def __init__(self, flag: str, value: str, reason: str) -> None:
        self.flag = flag
        self.value = value
        super().__init__(f"--{flag} {value!r}: {reason}")


class LatencySpec(BaseModel):
    """Log-normal latency given by its median and 95th percentile (milliseconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)

    def sample(self, uniform: float) -> float:
        if self.p50_ms <= 0:
            return 0.0
        sigma = max(math.log(max(self.p95_ms, self.p50_ms) / self.p50_ms), 0.0) / Z95
        u = min(max(uniform, 1e-12), 1 - 1e-12)
        return self.p50_ms * math.exp(sigma * _STANDARD_NORMAL.inv_cdf(u))


class Injection(BaseModel):
    """What to inject, per step name. Stored in each run's ``run_started`` event so a
    resumed run makes the same decisions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    fail: dict[str, float] = Field(default_factory=dict)
    flaky: dict[str, float] = Field(default_factory=dict)
    latency: dict[str, LatencySpec] = Field(default_factory=dict)
    fail_compensation: dict[str, float] = Field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.fail or self.flaky or self.latency or self.fail_compensation)

    # -- decisions ---------------------------------------------------------------------
    def steps_touched(self) -> frozenset[str]:
        """The steps something is injected into (their action or their compensation)."""
        return frozenset({*self.fail, *self.flaky, *self.latency, *self.fail_compensation})

    def rules(self) -> InjectionRules:
        """The decisions on plain dicts: what the engine asks for every injected call (a
        model's attribute reads cost more). Make it once per injection, not per call."""
        return InjectionRules(self.seed, dict(self.fail), dict(self.flaky),
                              dict(self.latency), dict(self.fail_compensation))

    def fails_for_good(self, run_index: int, step: str) -> bool:
        return self.rules().fails_for_good(run_index, step)

    def flaky_failure(self, run_index: int, step: str, attempt: int) -> bool:
        return self.rules().flaky_failure(run_index, step, attempt)

    def compensation_fails(self, run_index: int, step: str) -> bool:
        return self.rules().compensation_fails(run_index, step)

    def latency_of(self, run_index: int, step: str, attempt: int) -> timedelta:
        return timedelta(milliseconds=self.rules().latency_ms(run_index, step, attempt))

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_flags(cls, definition: SagaDefinition, *, seed: int = 0,
                   fail: Iterable[str] = (), flaky: Iterable[str] = (),
                   latency: Iterable[str] = (), fail_compensation: Iterable[str] = (),
                   use_simulate_defaults: bool = True) -> Injection:
        """Merge each step's ``simulate`` defaults with ``STEP=VALUE`` flags (flags win)."""
        base = cls.defaults_of(definition) if use_simulate_defaults else cls(seed=seed)
        steps = set(definition.step_map)
        values: dict[str, Any] = {
            "fail": dict(base.fail) | _rates("fail", fail, steps),
            "flaky": dict(base.flaky) | _rates("flaky", flaky, steps),
            "latency": dict(base.latency) | _latencies(latency, steps),
            "fail_compensation": dict(base.fail_compensation) | _rates("fail-compensation", fail_compensation, steps),
        }
        return cls(seed=seed, **values)

    @classmethod
    def defaults_of(cls, definition: SagaDefinition) -> Injection:
        fail, flaky, comp, latency = {}, {}, {}, {}
        for step in definition.steps:
            sim = step.simulate
            if sim is None:
                continue
            if sim.failure_rate:
                fail[step.name] = sim.failure_rate
            if sim.flaky_rate:
                flaky[step.name] = sim.flaky_rate
            if sim.compensation_failure_rate:
                comp[step.name] = sim.compensation_failure_rate
            if sim.latency_p50 is not None:
                p50 = sim.latency_p50.total_seconds() * 1000
                p95 = sim.latency_p95.total_seconds() * 1000 if sim.latency_p95 else p50
                latency[step.name] = LatencySpec(p50_ms=p50, p95_ms=max(p95, p50))
        return cls(fail=fail, flaky=flaky, fail_compensation=comp, latency=latency)


@dataclass(frozen=True, slots=True)
class InjectionRules:
    """:class:`Injection`'s decisions, each a pure function of its arguments and the seed."""

    seed: int
    fail: dict[str, float]
    flaky: dict[str, float]
    latency: dict[str, LatencySpec]
    fail_compensation: dict[str, float]

    def fails_for_good(self, run_index: int, step: str) -> bool:
        p = self.fail.get(step, 0.0)
        return p > 0 and deterministic_uniform(self.seed, run_index, step, "fail") < p

    def flaky_failure(self, run_index: int, step: str, attempt: int) -> bool:
        p = self.flaky.get(step, 0.0)
        return p > 0 and deterministic_uniform(self.seed, run_index, step, f"flaky{attempt}") < p

    def compensation_fails(self, run_index: int, step: str) -> bool:
        p = self.fail_compensation.get(step, 0.0)
        return p > 0 and deterministic_uniform(self.seed, run_index, step, "compfail") < p

    def latency_ms(self, run_index: int, step: str, attempt: int) -> float:
        spec = self.latency.get(step)
        if spec is None:
            return 0.0
        return spec.sample(deterministic_uniform(self.seed, run_index, step, f"lat{attempt}"))


def _split(flag: str, value: str, steps: set[str]) -> tuple[str, str]:
    step, sep, rest = value.partition("=")
    if not sep or not rest:
        raise InjectionFlagError(flag, value, "write STEP=VALUE")
    if step not in steps:
        raise InjectionFlagError(flag, value, f"no step {step!r} (steps: {', '.join(sorted(steps))})")
    return step, rest


def _rates(flag: str, values: Iterable[str], steps: set[str]) -> dict[str, float]:
    out = {}
    for value in values:
        step, rest = _split(flag, value, steps)
        try:
            rate = float(rest)
        except ValueError:
            raise InjectionFlagError(flag, value, "the probability must be a number") from None
        if not 0 <= rate <= 1:
            raise InjectionFlagError(flag, value, "the probability must be between 0 and 1")
        out[step] = rate
    return out


def _latencies(values: Iterable[str], steps: set[str]) -> dict[str, LatencySpec]:
    out = {}
    for value in values:
        step, rest = _split("latency", value, steps)
        p50_text, _, p95_text = rest.partition(":")
        try:
            p50 = _ms(p50_text)
            p95 = _ms(p95_text) if p95_text else p50
        except ValueError:
            raise InjectionFlagError("latency", value, "write STEP=P50MS[:P95MS], e.g. pay=20:80") from None
        if p95 < p50:
            raise InjectionFlagError("latency", value, "p95 must be at least p50")
        out[step] = LatencySpec(p50_ms=p50, p95_ms=p95)
    return out


def _ms(text: str) -> float:
    if text.replace(".", "", 1).isdigit():
        return float(text)
    return parse_duration(text).total_seconds() * 1000


def deterministic_uniform(seed: int, key: int | str, step: str, what: str) -> float:
    """A uniform [0, 1) draw that depends only on its arguments (seeded, order-free): the
    first 8 bytes of the blake2b hash of ``seed|key|step|what``, as 53 bits."""
    hasher = _seeded(str(seed)).copy()  # the hash of "seed|", made once per seed
    hasher.update(f"{key}|{step}|{what}".encode())
    return (int.from_bytes(hasher.digest(), "little") >> 11) * (1.0 / (1 << 53))


@lru_cache(maxsize=64)
def _seeded(seed: str) -> Any:
    return hashlib.blake2b(f"{seed}|".encode(), digest_size=8)
