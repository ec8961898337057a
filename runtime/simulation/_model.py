"""A definition plus failure injection, compiled into the numbers the Monte Carlo needs.

    model = SagaModel.build(definition, injection)
    model.steps[1].max_attempts, model.steps[1].intervals_ms, model.topological

Only the graph rules the simulation cannot do without are enforced here (known, unique
names; no cycles): a design being edited can be predicted before it is fully valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx

from runtime.definition import RetryPolicy, SagaDefinition, StepKind
from runtime.errors import DefinitionError, SagaError
from runtime.injection import Z95, Injection, LatencySpec
from runtime.validation import dependency_graph, validate

_GRAPH_RULES = frozenset({"no-steps", "duplicate-step", "unknown-step", "self-dependency", "cycle"})


class SimulationError(SagaError):
    """A simulation was asked for something it cannot do (the message says what to change)."""

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}; {fix}")


@dataclass(frozen=True)
class AttemptPolicy:
    """How one action (or compensation) is retried, in the units the simulation uses."""

    max_attempts: int
    """attempts in all, the first included"""
    intervals_ms: tuple[float, ...]
    """wait after the n-th failed attempt (index n - 1), before jitter; ``max_attempts - 1`` long"""
    jitter: bool
    """multiply each wait by a uniform draw in [0.5, 1)"""

    @classmethod
    def of(cls, policy: RetryPolicy) -> AttemptPolicy:
        intervals = tuple(policy.interval(n).total_seconds() * 1000
                          for n in range(1, policy.max_attempts))
        return cls(policy.max_attempts, intervals, policy.jitter)


@dataclass(frozen=True)
class LatencyModel:
    """Log-normal latency of one attempt: ``p50_ms * exp(sigma * Z)``; zero when ``p50_ms``
    is 0 (the same law as :class:`runtime.injection.LatencySpec`)."""

    p50_ms: float
    sigma: float

    @classmethod
    def of(cls, spec: LatencySpec | None) -> LatencyModel | None:
        if spec is None or spec.p50_ms <= 0:
            return None
        sigma = max(math.log(max(spec.p95_ms, spec.p50_ms) / spec.p50_ms), 0.0) / Z95
        return cls(spec.p50_ms, sigma)


@dataclass(frozen=True)
class StepModel:
    """One step's policies and injected failures."""

    name: str
    index: int
    """position in the definition (the planner's tie-break order)"""
    kind: StepKind
    deps: tuple[int, ...]
    """indexes of the steps in ``after``"""
    compensable: bool
    """compensatable with a compensation action: undone when the run compensates"""
    retry: AttemptPolicy
    compensation_retry: AttemptPolicy
    timeout_ms: float
    """per attempt, for the action and its compensation alike"""
    fail: float
    """probability that the step fails for good in a run (every attempt, non-retryable)"""
    flaky: float
    """probability that one attempt fails transiently"""
    latency: LatencyModel | None
    spec: LatencySpec | None
    """the injected latency as given (the engine-draws mode samples through it)"""
    compensation_fail: float
    """probability that the compensation fails for good in a run"""


@dataclass(frozen=True)
class SagaModel:
    """Everything the Monte Carlo reads: steps in definition order and the graph."""

    saga: str
    definition_hash: str
    steps: tuple[StepModel, ...]
    topological: tuple[int, ...]
    """step indexes, every step after its dependencies"""
    descendants: tuple[tuple[int, ...], ...]
    """per step, the indexes of every step that (transitively) waits for it"""
    continue_on_error: bool
    """``defaults.compensation.continue_on_error``"""

    @classmethod
    def build(cls, definition: SagaDefinition, injection: Injection) -> SagaModel:
        """Compile; raise :class:`DefinitionError` if the graph cannot be walked."""
        fatal = [issue for issue in validate(definition)
                 if issue.rule in _GRAPH_RULES and not issue.path.startswith("/layout")]
        if fatal:
            raise DefinitionError(definition.saga, fatal)
        graph = dependency_graph(definition)
        index = {step.name: i for i, step in enumerate(definition.steps)}
        order = tuple(index[name] for name in nx.lexicographical_topological_sort(
            graph, key=index.__getitem__))
        steps = []
        for i, step in enumerate(definition.steps):
            spec = injection.latency.get(step.name)
            steps.append(StepModel(
                name=step.name, index=i, kind=step.kind,
                deps=tuple(index[d] for d in step.after),
                compensable=bool(step.compensation) and step.kind is StepKind.COMPENSATABLE,
                retry=AttemptPolicy.of(definition.retry_policy(step)),
                compensation_retry=AttemptPolicy.of(definition.compensation_policy(step)),
                timeout_ms=definition.timeout_of(step).total_seconds() * 1000,
                fail=injection.fail.get(step.name, 0.0),
                flaky=injection.flaky.get(step.name, 0.0),
                latency=LatencyModel.of(spec), spec=spec,
                compensation_fail=injection.fail_compensation.get(step.name, 0.0)))
        descendants = tuple(tuple(sorted(index[n] for n in nx.descendants(graph, step.name)))
                            for step in definition.steps)
        return cls(definition.saga, definition.content_hash, tuple(steps), order, descendants,
                   definition.defaults.compensation.continue_on_error)


def with_retry(definition: SagaDefinition, step: str, *, compensation: bool = False,
               **changes: Any) -> SagaDefinition:
    """A copy of ``definition`` whose ``step`` has a changed retry policy: the what-if of
    "give charge_payment 5 attempts" is ``with_retry(d, "charge_payment", max_attempts=5)``.

    ``changes`` are :class:`RetryPolicy` fields (``max_attempts``, ``initial_interval``,
    ``backoff``, ``max_interval``, ``jitter``) applied on top of the policy the step uses
    now (its own, or the default). ``compensation=True`` changes the compensation's policy.
    """
    target = definition.step_map.get(step)
    if target is None:
        raise SimulationError(f"no step {step!r} in {definition.saga}",
                              f"pick one of {', '.join(s.name for s in definition.steps)}")
    unknown = sorted(set(changes) - set(RetryPolicy.model_fields))
    if unknown:
        raise SimulationError(f"{unknown[0]!r} is not a retry policy field",
                              f"use {', '.join(RetryPolicy.model_fields)}")
    current = (definition.compensation_policy(target) if compensation
               else definition.retry_policy(target))
    policy = RetryPolicy.model_validate(current.model_dump() | changes)
    field = "compensation_retry" if compensation else "retry"
    steps = [s.model_copy(update={field: policy}) if s.name == step else s
             for s in definition.steps]
    return SagaDefinition.model_validate(
        definition.model_dump(exclude={"steps"}) | {"steps": [s.model_dump() for s in steps]})
