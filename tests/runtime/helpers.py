"""Builders for small definitions and a scripted, recording action registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.actions import ActionContext, ActionRegistry
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine, RunResult
from runtime.errors import NonRetryableError, RetryableError
from runtime.injection import Injection
from runtime.planner import Event
from runtime.store import open_store


def step(name: str, *after: str, kind: str = "compensatable", compensated: bool = True,
         **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "action": f"svc.{name}", "after": list(after), "kind": kind}
    if compensated and kind == "compensatable":
        data["compensation"] = f"svc.undo_{name}"
    data.update(fields)
    return data


def saga(*steps: dict[str, Any], **defaults: Any) -> SagaDefinition:
    body: dict[str, Any] = {"saga": "test", "steps": list(steps)}
    body["defaults"] = {"retry": {"max_attempts": 3, "initial_interval": "1s", "backoff": 2.0,
                                  "max_interval": "60s", "jitter": False}} | defaults
    return SagaDefinition.model_validate(body)


def registry_of(definition: SagaDefinition, make_action: Callable[[str], Any]) -> ActionRegistry:
    """A registry holding ``make_action(name)`` for every action and compensation named."""
    registry = ActionRegistry()
    for s in definition.steps:
        for name in filter(None, (s.action, s.compensation)):
            if name not in registry:
                registry.register(name, make_action(name), blocking=False)
    return registry


@dataclass
class Call:
    action: str
    step: str
    attempt: int
    key: str
    compensating: bool
    outputs: dict[str, Any]
    input: dict[str, Any]


@dataclass
class Script:
    """How each action behaves: fail N times (retryable), fail for good, or hang."""

    transient: dict[str, int] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)
    hang: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)

    def registry(self, definition: SagaDefinition) -> ActionRegistry:
        return registry_of(definition, self._action)

    def _action(self, name: str) -> Any:
        async def act(ctx: ActionContext) -> Any:
            self.calls.append(Call(name, ctx.step, ctx.attempt, ctx.idempotency_key,
                                   ctx.compensating, dict(ctx.outputs), dict(ctx.input)))
            await asyncio.sleep(0)  # like any real I/O: lets concurrent steps interleave
            if name in self.hang:
                await asyncio.Event().wait()
            if name in self.permanent:
                raise NonRetryableError(f"{name} refused")
            left = self.transient.get(name, 0)
            if left:
                self.transient[name] = left - 1
                raise RetryableError(f"{name} flaked")
            return {"by": name}
        return act

    def executed(self, compensating: bool = False) -> list[str]:
        return [c.step for c in self.calls if c.compensating is compensating]


def run_saga(definition: SagaDefinition, script: Script, url: str, *,
             clock: ManualClock | None = None, injection: Injection | None = None,
             input: dict[str, Any] | None = None) -> tuple[RunResult, list[Event]]:
    store = open_store(url)
    clock = clock or ManualClock()

    async def go() -> RunResult:
        async with Engine(store, script.registry(definition), clock=clock) as engine:
            return await engine.start(definition, input or {}, injection=injection)
    try:
        result = asyncio.run(go())
        return result, store.load_run(result.run_id).events
    finally:
        store.close()


def types_of(events: list[Event]) -> list[str]:
    return [f"{e.type.value}:{e.step}" if e.step else e.type.value for e in events]
