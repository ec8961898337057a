"""Continue what a stopped runner left: ``saga resume`` and ``saga retry``.

A runner holds a lease on each run it drives and renews it while it works. A run whose
lease has expired belongs to nobody: :func:`resume_unfinished` claims such runs, folds
their events and drives them on. A step that has ``step_started`` but no outcome is
re-run with the same idempotency key (or compensated, if the run was compensating).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta

from runtime.actions import ActionRegistry
from runtime.clock import Clock, SystemClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine, RunResult, runner_id
from runtime.errors import SagaError, StoreError
from runtime.store import Store
from runtime.store.tables import EventType, RunStatus

RegistryFor = Callable[[SagaDefinition, str], ActionRegistry]


class NotRetryableRunError(SagaError):
    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} is {status}; only failed runs can be retried "
                         "(unfinished ones continue with `saga resume`)")


@dataclass
class ResumeReport:
    claimed: int = 0
    results: list[RunResult] = field(default_factory=list)

    def count(self, status: RunStatus) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def unfinished(self) -> int:
        return sum(1 for r in self.results if r.status is None)

    def describe(self) -> str:
        if not self.claimed:
            return "nothing to resume: no unfinished run without a live runner"
        return (f"resumed {self.claimed} runs: {self.count(RunStatus.COMPLETED)} completed, "
                f"{self.count(RunStatus.COMPENSATED)} compensated, "
                f"{self.count(RunStatus.FAILED)} failed, {self.unfinished} unfinished")


async def resume_unfinished(store: Store, registry_for: RegistryFor, *,
                            lease_seconds: float = 30.0, concurrency: int = 50,
                            clock: Clock | None = None, owner: str | None = None,
                            definition_hashes: Iterable[str] | None = None,
                            run_ids: Iterable[str] | None = None,
                            close_registries: bool = True) -> ResumeReport:
    """Claim unfinished runs nobody holds, a few at a time (so several runners share the
    work), and drive each to a terminal status; stop when none is left to claim."""
    clock = clock or SystemClock()
    owner = owner or runner_id()
    report = ResumeReport()
    hashes = list(definition_hashes) if definition_hashes is not None else None
    only = list(run_ids) if run_ids is not None else None
    seen: set[str] = set()
    engines: dict[tuple[str, str], tuple[Engine, SagaDefinition]] = {}
    gate = asyncio.Semaphore(concurrency)
    async with AsyncExitStack() as stack:

        async def engine_for(run_id: str) -> tuple[Engine, SagaDefinition]:
            record = await asyncio.to_thread(store.load_run, run_id, with_events=False)
            key = (record.definition_hash, record.origin)
            if key not in engines:
                definition = await asyncio.to_thread(store.load_definition, record.definition_hash)
                registry = registry_for(definition, record.origin)
                if close_registries:
                    stack.push_async_callback(registry.aclose)
                engine = await stack.enter_async_context(Engine(
                    store, registry, owner=owner, clock=clock, lease_seconds=lease_seconds))
                engines[key] = (engine, definition)
            return engines[key]

        async def one(run_id: str) -> None:
            async with gate:
                try:
                    engine, definition = await engine_for(run_id)
                    result = await engine.resume(run_id, definition)
                except StoreError as exc:
                    result = RunResult(run_id, None, abandoned=str(exc))
            report.results.append(result)

        in_flight: set[asyncio.Task[None]] = set()
        while True:
            room = max(concurrency * 2 - len(in_flight), 0)
            claimed: list[str] = []
            if room:
                now = clock.now()
                claimed = await asyncio.to_thread(
                    store.claim, owner, now, now + timedelta(seconds=lease_seconds),
                    limit=room, definition_hashes=hashes, run_ids=only, include_own=False)
                claimed = [run_id for run_id in claimed if run_id not in seen]
            seen.update(claimed)
            report.claimed += len(claimed)
            in_flight.update(asyncio.create_task(one(run_id)) for run_id in claimed)
            if not in_flight:
                return report
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
    return report


async def redrive(store: Store, run_id: str, registry_for: RegistryFor, *, by: str,
                  note: str = "", lease_seconds: float = 30.0,
                  clock: Clock | None = None) -> RunResult:
    """``saga retry``: record a manual retry of a failed run and continue it from the step or
    compensation that failed; steps that succeeded are not executed again."""
    clock = clock or SystemClock()
    record = await asyncio.to_thread(store.load_run, run_id)
    if record.status != RunStatus.FAILED.value:
        raise NotRetryableRunError(run_id, record.status)
    compensating = any(e.type is EventType.RUN_COMPENSATING for e in record.events)
    status = RunStatus.COMPENSATING if compensating else RunStatus.RUNNING
    await asyncio.to_thread(store.append_manual_action, run_id, clock.now(), "retry", by=by,
                            note=note, status=status.value)
    report = await resume_unfinished(store, registry_for, lease_seconds=lease_seconds,
                                     clock=clock, run_ids=[run_id])
    for result in report.results:
        if result.run_id == run_id:
            return result
    return RunResult(run_id, None, abandoned="another runner took the run")
