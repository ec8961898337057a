"""The saga definition: plain data, validated by pydantic, round-tripping to YAML and JSON.

    definition = SagaDefinition.model_validate(data)       # or loading.load_definition(path)
    text = dump_yaml(definition)                          # canonical YAML; loads back equal
    definition.content_hash                              # identifies this version

Structural rules that need the whole graph (cycles, pivot placement, unknown names) live in
``runtime.validation``; this module only checks the shape of each field.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.durations import Duration

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
ACTION_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$"


class StepKind(StrEnum):
    """Richardson's step kinds."""

    COMPENSATABLE = "compensatable"
    """Default. Undone by its compensation if the saga fails before the pivot."""
    PIVOT = "pivot"
    """The go/no-go step; at most one. Once it succeeds the saga only goes forward."""
    RETRIABLE = "retriable"
    """After the pivot; retried until it succeeds; never compensated."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=1_000_000)


class RetryPolicy(_Model):
    """How a failed attempt is retried: ``initial_interval * backoff**(n-1)``, capped."""

    max_attempts: int = Field(3, ge=1, le=10_000, description="attempts in all, the first included")
    initial_interval: Duration = Field(timedelta(seconds=1), description="wait before the 2nd attempt")
    backoff: float = Field(2.0, ge=1.0, le=100.0, description="factor applied to each next wait")
    max_interval: Duration = Field(timedelta(seconds=60), description="cap on any one wait")
    jitter: bool = Field(True, description="wait a random 50-100% of the computed interval")

    def interval(self, failed_attempts: int) -> timedelta:
        """Wait after the ``failed_attempts``-th failure (1-based), before jitter."""
        seconds = self.initial_interval.total_seconds() * self.backoff ** (failed_attempts - 1)
        return min(timedelta(seconds=min(seconds, 1e9)), self.max_interval)


class SimulationSpec(_Model):
    """What a simulated run injects for this step (defaults of ``saga run``'s failure flags)."""

    failure_rate: float = Field(0.0, ge=0, le=1, description="fraction of runs where the step fails for good")
    flaky_rate: float = Field(0.0, ge=0, le=1, description="chance each attempt fails transiently")
    latency_p50: Duration | None = Field(None, description="median latency of one attempt")
    latency_p95: Duration | None = Field(None, description="95th percentile latency")
    compensation_failure_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of runs where the compensation fails for good")


class StepDefinition(_Model):
    """One step: an action, what undoes it, and when it may start."""

    name: str = Field(pattern=NAME_PATTERN, min_length=1)
    action: str = Field(pattern=ACTION_PATTERN, description="registered action name")
    compensation: str | None = Field(None, pattern=ACTION_PATTERN,
                                     description="registered action that undoes this step")
    kind: StepKind = StepKind.COMPENSATABLE
    read_only: bool = Field(False, description="changes nothing, so needs no compensation")
    after: list[str] = Field(default_factory=list, description="steps that must succeed first")
    retry: RetryPolicy | None = Field(None, description="overrides defaults.retry")
    compensation_retry: RetryPolicy | None = Field(None, description="overrides defaults.compensation_retry")
    timeout: Duration | None = Field(None, description="per attempt; overrides defaults.timeout")
    simulate: SimulationSpec | None = None
    description: str | None = None


class CompensationOptions(_Model):
    continue_on_error: bool = Field(False, description="run the remaining compensations when one fails for good")


class Defaults(_Model):
    retry: RetryPolicy = RetryPolicy()
    compensation_retry: RetryPolicy = RetryPolicy(max_attempts=5)
    retriable_retry: RetryPolicy = Field(
        RetryPolicy(max_attempts=25),
        description="policy of retriable steps (after the pivot) that set no retry of their own",
    )
    timeout: Duration = timedelta(seconds=30)
    compensation: CompensationOptions = CompensationOptions()


class Position(_Model):
    x: float = Field(0.0, allow_inf_nan=False)
    y: float = Field(0.0, allow_inf_nan=False)


class SagaDefinition(_Model):
    """A saga: its steps, their dependencies, policies and (designer-only) layout."""

    saga: str = Field(pattern=NAME_PATTERN, min_length=1, description="the saga's name")
    version: int = Field(1, ge=1)
    description: str | None = None
    defaults: Defaults = Defaults()
    steps: list[StepDefinition] = Field(default_factory=list)
    layout: dict[str, Position] = Field(default_factory=dict, description="designer positions; ignored by the runtime")

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    @model_validator(mode="before")
    @classmethod
    def _no_none_document(cls, data: Any) -> Any:
        if data is None:
            raise ValueError("the document is empty; a definition needs at least 'saga' and 'steps'")
        return data

    # -- lookups ---------------------------------------------------------------------
    @cached_property
    def step_map(self) -> dict[str, StepDefinition]:
        return {step.name: step for step in self.steps}

    def step(self, name: str) -> StepDefinition:
        return self.step_map[name]

    def retry_policy(self, step: StepDefinition) -> RetryPolicy:
        if step.retry is not None:
            return step.retry
        return self.defaults.retriable_retry if step.kind is StepKind.RETRIABLE else self.defaults.retry

    def compensation_policy(self, step: StepDefinition) -> RetryPolicy:
        return step.compensation_retry or self.defaults.compensation_retry

    def timeout_of(self, step: StepDefinition) -> timedelta:
        return step.timeout if step.timeout is not None else self.defaults.timeout

    @cached_property
    def pivot(self) -> str | None:
        return next((s.name for s in self.steps if s.kind is StepKind.PIVOT), None)

    # -- identity ----------------------------------------------------------------------
    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of everything but ``layout``: moving a box on the
        canvas is not a new version; changing a step, policy or description is."""
        body = self.model_dump(mode="json", exclude={"layout"})
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_document(self) -> dict[str, Any]:
        """Plain data without default values, in field order: what files hold."""
        return self.model_dump(mode="json", exclude_defaults=True)


def dump_json(definition: SagaDefinition) -> str:
    return json.dumps(definition.to_document(), indent=2, ensure_ascii=False) + "\n"


def dump_yaml(definition: SagaDefinition) -> str:
    return yaml.safe_dump(definition.to_document(), sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=100)


def json_schema() -> dict[str, Any]:
    schema = SagaDefinition.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Saga Studio saga definition"
    return schema
