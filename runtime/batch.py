"""Run many sagas at once: the engine behind ``saga run`` and the Run page.

    options = BatchOptions(count=1000, concurrency=100, seed=7, injection=injection)
    summary = run_batch_sync(definition, registry, "sqlite:///saga.db", options, progress=print)

``concurrency`` workers each take the next run index until ``count`` runs have ended.
Runs the engine had to abandon (a failed write, a lost lease) are resumed from the log
before the batch returns, so every run this batch owns ends terminal unless the store itself
stays down.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from runtime.actions import ActionRegistry
from runtime.clock import Clock
from runtime.definition import SagaDefinition
from runtime.engine import Engine, RunResult, RunSpec, time_ordered_id
from runtime.errors import RunNotFoundError, StoreError
from runtime.injection import Injection
from runtime.limits import DEFAULT_LIMITS, Limits
from runtime.store import Store
from runtime.store.sql import EventStore
from runtime.store.tables import Origin, RunStatus


@dataclass
class BatchOptions:
    count: int = 1
    concurrency: int = 10
    seed: int = 0
    injection: Injection | None = None
    origin: str = Origin.REAL.value
    input: Mapping[str, Any] = field(default_factory=dict)
    batch_id: str | None = None
    lease_seconds: float = 30.0
    limits: Limits = DEFAULT_LIMITS


@dataclass
class BatchProgress:
    done: int
    total: int
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    unfinished: int = 0


@dataclass
class BatchSummary:
    batch_id: str
    total: int
    completed: int
    compensated: int
    failed: int
    unfinished: int
    elapsed_seconds: float
    sagas_per_second: float
    p50_ms: float
    p95_ms: float
    commits: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


T = TypeVar("T")
# read once per run: an enum-class attribute read goes through the enum's __getattr__ hook
_COMPLETED, _COMPENSATED, _FAILED = RunStatus.COMPLETED, RunStatus.COMPENSATED, RunStatus.FAILED
ProgressCallback = Callable[[BatchProgress], None]


async def run_batch(definition: SagaDefinition, registry: ActionRegistry, store: Store,
                    options: BatchOptions, *, progress: ProgressCallback | None = None,
                    clock: Clock | None = None, owner: str | None = None) -> BatchSummary:
    """Run ``options.count`` sagas. Given the id of an existing batch, continue it instead:
    resume its unfinished runs (once their runner's lease has expired) and start only the
    runs it is missing, so re-running the same command after a crash finishes the job."""
    batch_id = options.batch_id or uuid.uuid4().hex[:12]
    counts = await _read(store.status_counts, batch=batch_id) if options.batch_id else {}
    existing = sum(counts.values())
    # the indexes already in the log: after a crash they need not be 0..existing-1 (runs
    # start in index order but reach the log in group commits), so the missing ones are
    # started, and no index twice: the same seed then gives the same outcomes as without it
    logged = set(await _read(store.run_indexes, batch_id)) if existing else set()
    tally = BatchProgress(sum(counts.get(s.value, 0) for s in RunStatus if s.terminal),
                          max(options.count, existing),
                          counts.get("completed", 0), counts.get("compensated", 0),
                          counts.get("failed", 0))
    durations: list[float] = []
    abandoned: list[tuple[str, int]] = []  # (run id, run index) the engine had to let go of
    missing = [index for index in range(options.count) if index not in logged]
    next_index = iter(missing)
    origin = Origin(options.origin)

    def record(result: RunResult) -> None:
        tally.done += 1
        status = result.status
        if status is _COMPLETED:
            tally.completed += 1
        elif status is _COMPENSATED:
            tally.compensated += 1
        elif status is _FAILED:
            tally.failed += 1
        durations.append(result.duration_ms)
        if progress is not None:
            progress(tally)

    began = time.perf_counter()
    async with Engine(store, registry, owner=owner, clock=clock, limits=options.limits,
                      lease_seconds=options.lease_seconds, seed=options.seed) as engine:
        gate = asyncio.Semaphore(max(1, options.concurrency))

        async def start(index: int, run_id: str | None = None) -> None:
            result = await engine.start(definition, options.input, run_index=index,
                                        injection=options.injection, origin=origin,
                                        batch=batch_id, run_id=run_id)
            if result.abandoned:
                abandoned.append((result.run_id, index))
            else:
                record(result)

        async def drive(run_id: str) -> None:
            async with gate:
                result = await _redrive(engine, store, run_id, definition, claim=False)
            if result is not None and result.abandoned:
                abandoned.append((run_id, -1))
            elif result is not None:
                record(result)

        async def claim_and_resume() -> int:
            try:
                claimed = await asyncio.to_thread(
                    store.claim, engine.owner, engine.clock.now(), engine.committer.lease_until(),
                    batch=batch_id, limit=100_000)
            except StoreError:
                return 0
            await asyncio.gather(*(drive(run_id) for run_id in claimed))
            return len(claimed)

        if options.batch_id:
            await claim_and_resume()

        async def worker() -> None:  # its runs in turn: each run's start shares the previous one's last commit
            specs = (RunSpec(index, options.input) for index in next_index)
            async for spec, result in engine.run_in_turn(definition, specs, injection=options.injection,
                                                         origin=origin, batch=batch_id):
                if result.abandoned:
                    abandoned.append((result.run_id, spec.run_index))
                else:
                    record(result)

        workers = max(1, min(options.concurrency, len(missing)))
        await asyncio.gather(*(worker() for _ in range(workers)))
        for round_ in range(30):  # re-drive what a store fault made the engine let go of
            if not abandoned:
                break
            await asyncio.sleep(min(0.01 * 2 ** round_, 1.0))
            retry, abandoned[:] = list(abandoned), []
            for run_id, index in retry:
                result = await _redrive(engine, store, run_id, definition)
                if result is None and index >= 0:
                    await start(index, run_id)  # it never reached the log: start it again
                elif result is not None and result.abandoned:
                    abandoned.append((run_id, index))
                elif result is not None:
                    record(result)
        if options.batch_id:
            await _finish_orphans(engine, store, batch_id, claim_and_resume, options.lease_seconds)
        commits, events = engine.committer.commits, engine.committer.rows
    counts = await _read(store.status_counts, batch=batch_id)
    elapsed = time.perf_counter() - began
    unfinished = sum(v for k, v in counts.items() if not RunStatus(k).terminal)
    unfinished += max(0, options.count - sum(counts.values()))
    p50, p95 = _percentiles(durations, 50, 95)
    return BatchSummary(batch_id, tally.total, counts.get("completed", 0),
                        counts.get("compensated", 0), counts.get("failed", 0), unfinished,
                        elapsed, len(durations) / elapsed if elapsed else 0.0, p50, p95,
                        commits, events)


async def _read(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A store read, retried through transient faults (the store already retries locks)."""
    for attempt in range(8):
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except StoreError:
            if attempt == 7:
                raise
            await asyncio.sleep(0.02 * 2 ** attempt)
    raise AssertionError("unreachable")


async def _finish_orphans(engine: Engine, store: Store, batch_id: str,
                          claim_and_resume: Callable[[], Awaitable[int]],
                          lease_seconds: float) -> None:
    """Runs of this batch still held by a runner that died: wait for their leases to run out
    (at most two lease periods), then take them over."""
    deadline = time.monotonic() + 2 * lease_seconds + 1
    while time.monotonic() < deadline:
        expiry = await _read(store.next_lease_expiry, batch=batch_id)
        if expiry is None:
            counts = await _read(store.status_counts, batch=batch_id)
            if not any(not RunStatus(k).terminal for k in counts):
                return
        wait = 0.0 if expiry is None else (expiry - engine.clock.now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(min(wait + 0.05, max(deadline - time.monotonic(), 0)))
        if not await claim_and_resume() and wait <= 0:
            await asyncio.sleep(0.1)


async def _redrive(engine: Engine, store: Store, run_id: str,
                  definition: SagaDefinition, *, claim: bool = True) -> RunResult | None:
    """Continue a run from the log; None if the run never reached the log."""
    try:
        claimed = [run_id] if not claim else await asyncio.to_thread(
            store.claim, engine.owner, engine.clock.now(), engine.committer.lease_until(),
            run_ids=[run_id])
        if not claimed:
            record = await asyncio.to_thread(store.load_run, run_id, with_events=False)
            status = RunStatus(record.status)
            if status.terminal:
                return RunResult(run_id, status, record.duration_ms or 0.0)
            return RunResult(run_id, None, abandoned=f"run {run_id} is held by {record.owner}")
        return await engine.resume(run_id, definition)
    except RunNotFoundError:
        return None
    except StoreError as exc:
        return RunResult(run_id, None, abandoned=str(exc))


def run_batch_sync(definition: SagaDefinition, registry: ActionRegistry, db_url: str,
                   options: BatchOptions, *, progress: ProgressCallback | None = None) -> BatchSummary:
    """Blocking wrapper (own event loop, own store) for threads and scripts."""
    store = EventStore(db_url)
    try:
        return asyncio.run(run_batch(definition, registry, store, options, progress=progress))
    finally:
        store.close()


def simulated_registry(definition: SagaDefinition) -> ActionRegistry:
    """Every action and compensation of the definition as a no-op; injection does the rest."""
    registry = ActionRegistry()
    for step in definition.steps:
        registry.register_simulated(step.action)
        if step.compensation:
            registry.register_simulated(step.compensation)
    return registry


def _percentiles(values: list[float], *qs: float) -> list[float]:
    """The ``qs`` percentiles of ``values`` (nearest rank), sorting them once."""
    if not values:
        return [0.0 for _ in qs]
    ordered = sorted(values)
    last = len(ordered) - 1
    return [ordered[max(0, min(last, round(q / 100 * last)))] for q in qs]


def enqueue(definition: SagaDefinition, store: Store, options: BatchOptions, *,
            clock: Clock | None = None) -> tuple[str, int]:
    """Write ``options.count`` runs (``run_started`` only, no owner) for workers to take with
    ``saga resume``: the way several runners share one batch. Given the id of a batch already
    in the log, only the run indexes it is missing are written. Returns the batch id and the
    number of runs written."""
    from runtime.clock import SystemClock
    from runtime.store.sql import WriteBatch, event_row

    clock = clock or SystemClock()
    batch_id = options.batch_id or uuid.uuid4().hex[:12]
    now = clock.now()
    store.save_definition(definition, now)
    injection = options.injection.model_dump(mode="json") if options.injection else None
    ids = random.Random(os.urandom(16))
    logged = set(store.run_indexes(batch_id)) if options.batch_id else set()  # enqueued before
    missing = [index for index in range(options.count) if index not in logged]
    for start in range(0, len(missing), 1000):
        write = WriteBatch(owner="", lease_until=now)
        for index in missing[start:start + 1000]:
            run_id = time_ordered_id(ids)
            write.new_runs.append({
                "id": run_id, "saga": definition.saga, "definition_hash": definition.content_hash,
                "status": RunStatus.RUNNING.value, "mode": "orchestration", "origin": options.origin,
                "batch": batch_id, "input": dict(options.input), "started_at": now,
                "ended_at": None, "duration_ms": None, "owner": None, "lease_expires_at": now})
            write.events[run_id] = [event_row(
                run_id, 1, now, "run_started",
                data={"input": dict(options.input), "run_index": index, "batch": batch_id,
                      "injection": injection})]
        store.write(write)
    return batch_id, len(missing)
