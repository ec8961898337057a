"""The engine: the only code that calls actions and writes the event log.

    async with Engine(store, registry) as engine:
        result = await engine.start(definition, {"passenger": "ada"})
        result.status                                    # completed / compensated / failed

For each run it loops: ask the :class:`~runtime.planner.Planner` what to do, do it (start
steps, compensate steps, change status), record what happened as events, fold them back
into the state. Independent steps run as concurrent asyncio tasks. A step's outcome is
committed (group commit, shared with every other run in flight) before the planner is asked
again, so dependents never start on an unrecorded outcome.

A run the engine cannot continue safely (its lease was lost, or a write failed so memory
may be ahead of the log) is *abandoned*: ``RunResult.abandoned`` is set and recovery
(``runtime.recovery``) re-folds it from the log.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import socket
import time
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, Protocol

from runtime.actions import Action, ActionContext, ActionRegistry, quick_function
from runtime.clock import Clock, SystemClock
from runtime.definition import RetryPolicy, SagaDefinition
from runtime.errors import (
    DefinitionMismatchError,
    LeaseLostError,
    LimitExceededError,
    NonRetryableError,
    RetryableError,
    StoreError,
)
from runtime.injection import Injection, InjectionRules, deterministic_uniform
from runtime.limits import DEFAULT_LIMITS, Limits
from runtime.planner import (
    CompensateSteps,
    Finish,
    Planner,
    RunState,
    StartSteps,
    StepPhase,
    TurnToCompensating,
    fold,
    mark_started,
    mark_succeeded,
    new_state,
    record,
)
from runtime.store import Store
from runtime.store.committer import GroupCommitter
from runtime.store.sql import EventRow, RunUpdate, json_text
from runtime.store.tables import TERMINAL_STATUSES, EventType, Mode, Origin, RunStatus


class CrashPoints(Protocol):
    """A test seam: ``check`` may raise (a ``BaseException``, like a process dying) at named
    points of the engine. Points: ``before_action``, ``after_action``, ``after_outcome``
    (buffered, not committed), ``after_commit``; each also as ``compensation_*``."""

    def check(self, point: str, run_id: str, step: str) -> None: ...


def time_ordered_id(rng: random.Random) -> str:
    """A run id: 32 hex digits, the time in ms then 80 random bits (like a UUIDv7). Ids made
    later sort later, so the log's indexes on run id take new runs at their end instead of
    at random pages: a group commit then writes a few pages, not one per run."""
    return ((time.time_ns() // 1_000_000) << 80 | rng.getrandbits(80)).to_bytes(16, "big").hex()


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class RunResult:
    run_id: str
    status: RunStatus | None
    duration_ms: float = 0.0
    trigger_step: str | None = None
    failed_step: str | None = None
    abandoned: str | None = None   # why the engine let go of the run (recovery continues it)


@dataclass(frozen=True, slots=True)
class _StepPlan:
    """What every attempt of one step needs from the definition, looked up once (plain
    attributes: reading a pydantic model's costs more, and this is read for every call)."""

    name: str
    action: str
    compensation: str | None
    retry: RetryPolicy
    compensation_retry: RetryPolicy
    timeout: float            # seconds
    key: str                  # the idempotency key after the run id: ":step"
    # events a run must still be able to write after an attempt (its undo and its end)
    reserve: int
    compensation_reserve: int


@dataclass(frozen=True)
class _Compiled:
    """A definition as the engine runs it, built once per definition hash."""

    saga: str
    content_hash: str
    planner: Planner
    steps: dict[str, _StepPlan]

    @classmethod
    def of(cls, definition: SagaDefinition) -> _Compiled:
        return cls(definition.saga, definition.content_hash, Planner(definition), {
            step.name: _StepPlan(step.name, step.action, step.compensation,
                                 definition.retry_policy(step),
                                 definition.compensation_policy(step),
                                 definition.timeout_of(step).total_seconds(), f":{step.name}",
                                 3 * len(definition.steps) + 4, len(definition.steps) + 2)
            for step in definition.steps})


class _InjectionPlan(NamedTuple):
    """One injection object as the engine uses it (worked out once: a batch shares one)."""

    injection: Injection
    recorded: dict[str, Any]      # as run_started records it
    recorded_text: str            # ... as JSON
    touched: frozenset[str]       # the steps whose calls it may change
    rules: InjectionRules


@dataclass(slots=True)
class _LiveRun:
    run_id: str
    compiled: _Compiled
    state: RunState
    injection: _InjectionPlan | None
    started_at: datetime
    started_mono: float
    injected: frozenset[str]              # steps whose calls the injection may change
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    dirty: bool = False                   # events buffered since the last commit
    rows: list[EventRow] = field(default_factory=list)  # where its new events go: the
    takes: int = -1                       # committer's list, while its ``takes`` is this
    settled: list[tuple[str, str]] = field(default_factory=list)  # (crash point, step) to fire after it
    successor: Callable[[], _LiveRun] | None = None  # the next run in turn, made at the final commit
    following: _LiveRun | None = None                 # ... once made


class RunSpec(NamedTuple):
    """One run to start: its index in its batch (for failure injection), input, and id."""

    run_index: int = 0
    input: Mapping[str, Any] | None = None
    run_id: str | None = None


class Engine:
    """Runs sagas. One engine per event loop; share it between many concurrent runs."""

    def __init__(self, store: Store, registry: ActionRegistry, *, owner: str | None = None,
                 clock: Clock | None = None, limits: Limits = DEFAULT_LIMITS,
                 lease_seconds: float = 30.0, seed: int = 0,
                 crash_points: CrashPoints | None = None) -> None:
        self.store = store
        self.crash_points = crash_points
        self.registry = registry
        self.owner = owner or runner_id()
        self.clock = clock or SystemClock()
        self.limits = limits
        self.seed = seed
        self.lease_seconds = lease_seconds
        self.committer = GroupCommitter(store, self.owner, self.clock, lease_seconds=lease_seconds)
        self._compiled: dict[str, _Compiled] = {}
        self._injections: dict[int, _InjectionPlan] = {}  # by id(injection): a batch shares one
        self._batch_texts: dict[str | None, str] = {}      # batch id -> as JSON
        self._actions: dict[str, Action] = {}  # looked up in the registry once per name
        self._quick: dict[str, Callable[[ActionContext], Any] | None] = {}  # ... and quick_function
        self._saved: dict[str, asyncio.Future[str]] = {}
        self._active: dict[str, _LiveRun] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._ids = random.Random(os.urandom(16))  # run ids need uniqueness, not secrecy

    async def __aenter__(self) -> Engine:
        await self.committer.start()
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="saga-lease-heartbeat")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        crashed = exc_type is not None and not issubclass(exc_type, Exception)
        await self.committer.close(flush=not crashed)

    # -- public ------------------------------------------------------------------------
    def planner(self, definition: SagaDefinition) -> Planner:
        return self._compile(definition).planner

    def _compile(self, definition: SagaDefinition) -> _Compiled:
        digest = definition.content_hash
        compiled = self._compiled.get(digest)
        if compiled is None:
            compiled = self._compiled[digest] = _Compiled.of(definition)
        return compiled

    async def start(self, definition: SagaDefinition, input: Mapping[str, Any] | None = None, *,
                    run_index: int = 0, injection: Injection | None = None,
                    origin: Origin = Origin.REAL, batch: str | None = None,
                    run_id: str | None = None) -> RunResult:
        """Create a run, commit its ``run_started``, then drive it to a terminal status."""
        spec = RunSpec(run_index, input, run_id)
        input_text = self._input_text(spec)
        try:
            await self._save_definition(definition)
        except StoreError as exc:
            return RunResult(spec.run_id or self.new_run_id(), None, abandoned=str(exc))
        live = self._create(self._compile(definition), spec, input_text, injection, origin, batch)
        return await self._drive(live)  # run_started is committed before the first action

    async def run_in_turn(self, definition: SagaDefinition, specs: Iterable[RunSpec], *,
                          injection: Injection | None = None, origin: Origin = Origin.REAL,
                          batch: str | None = None) -> AsyncIterator[tuple[RunSpec, RunResult]]:
        """Run ``specs`` one after another (one worker's share of a batch), yielding each
        result. Each run's ``run_started`` is buffered just before the previous run's final
        commit, so that commit makes it durable too: a run in turn costs one commit fewer
        than :meth:`start` (4 for a completed flight booking instead of 5)."""
        pending = iter(specs)
        spec = next(pending, None)
        if spec is None:
            return
        try:
            await self._save_definition(definition)
        except StoreError as exc:
            for failed in (spec, *pending):
                yield failed, RunResult(failed.run_id or self.new_run_id(), None, abandoned=str(exc))
            return
        compiled = self._compile(definition)
        current, live = spec, self._create(compiled, spec, self._input_text(spec), injection,
                                           origin, batch)
        while True:
            upcoming = next(pending, None)
            if upcoming is not None:
                upcoming_text = self._input_text(upcoming)
                live.successor = partial(self._create, compiled, upcoming, upcoming_text,
                                         injection, origin, batch)
            result = await self._drive(live)
            yield current, result
            if upcoming is None:
                return
            # made at the final commit; else (the run ended without one) made now
            following, live.following = live.following, None  # no chain of finished runs
            current, live = upcoming, following or self._create(
                compiled, upcoming, upcoming_text, injection, origin, batch)

    def _input_text(self, spec: RunSpec) -> str:
        """A run's input as JSON, checked (raises before anything about the run is written)."""
        return self._payload_text(dict(spec.input), "the run input") if spec.input else "{}"

    def _create(self, compiled: _Compiled, spec: RunSpec, input_text: str,
                injection: Injection | None, origin: Origin, batch: str | None) -> _LiveRun:
        """Buffer a new run's row and ``run_started`` (committed by the next flush);
        ``input_text`` is :meth:`_input_text`'s."""
        data = dict(spec.input) if spec.input else {}
        run_id = spec.run_id or self.new_run_id()
        now = self.clock.now()
        plan = self._injection(injection) if injection is not None else None
        live = _LiveRun(run_id, compiled, new_state(compiled.planner), plan, now,
                        self.clock.monotonic(), plan.touched if plan is not None else _NONE)
        self.committer.buffer_new_run({
            "id": run_id, "saga": compiled.saga, "definition_hash": compiled.content_hash,
            "status": _RUNNING, "mode": _ORCHESTRATION,
            "origin": _ORIGIN_TEXT[origin], "batch": batch, "input": data, "started_at": now,
            "ended_at": None, "duration_ms": None, "owner": self.owner,
            "lease_expires_at": self.committer.lease_until()})
        # run_started's data as JSON text from parts made once (the injection's, per batch)
        text = (f'{{"input":{input_text},"run_index":{int(spec.run_index)},'
                f'"batch":{self._batch_text(batch)},"injection":{plan.recorded_text if plan else "null"}}}')
        self._append(live, _RUN_STARTED, data={
            "input": data, "run_index": spec.run_index, "batch": batch,
            "injection": plan.recorded if plan is not None else None}, text=text)
        return live

    def _batch_text(self, batch: str | None) -> str:
        text = self._batch_texts.get(batch)
        if text is None:
            text = self._batch_texts[batch] = json_text(batch)
        return text

    def _action(self, name: str) -> Action:
        action = self.registry.get(name)  # raises if unknown: a step failure
        self._quick[name] = quick_function(action)
        self._actions[name] = action
        return action

    def _injection(self, injection: Injection) -> _InjectionPlan:
        """What the engine needs of ``injection``, worked out once per injection object."""
        cached = self._injections.get(id(injection))
        if cached is None or cached.injection is not injection:
            recorded = injection.model_dump(mode="json")
            cached = self._injections[id(injection)] = _InjectionPlan(
                injection, recorded, json_text(recorded), injection.steps_touched(), injection.rules())
        return cached

    def new_run_id(self) -> str:
        return time_ordered_id(self._ids)

    async def resume(self, run_id: str, definition: SagaDefinition | None = None) -> RunResult:
        """Continue a run this engine's owner has claimed, from its folded events."""
        record = await asyncio.to_thread(self.store.load_run, run_id)
        pinned = definition
        if pinned is None or pinned.content_hash != record.definition_hash:
            stored = await asyncio.to_thread(self.store.load_definition, record.definition_hash)
            if definition is not None:
                at = fold(stored, record.events)
                step = next((n for n, st in at.steps.items()
                             if st.phase is not StepPhase.SUCCEEDED), "")
                raise DefinitionMismatchError(run_id, record.definition_hash,
                                              definition.content_hash, step)
            pinned = stored
        state = fold(pinned, record.events)
        injection = Injection.model_validate(state.injection) if state.injection else None
        started_mono = self.clock.monotonic() - (self.clock.now() - record.started_at).total_seconds()
        plan = self._injection(injection) if injection is not None else None
        live = _LiveRun(run_id, self._compile(pinned), state, plan, record.started_at,
                        started_mono, plan.touched if plan is not None else _NONE)
        return await self._drive(live)

    # -- the loop ----------------------------------------------------------------------
    async def _drive(self, live: _LiveRun) -> RunResult:
        self._active[live.run_id] = live
        decide = live.compiled.planner.decide
        try:
            while True:
                decision = decide(live.state, frozenset(live.tasks) if live.tasks else _NONE)
                what = type(decision)
                if what is StartSteps or what is CompensateSteps:
                    kind = _FORWARD if what is StartSteps else _COMPENSATION
                    if live.dirty:  # outcomes are committed before their dependents start
                        waiting = self._make_durable(live)
                        if waiting is not None:
                            await waiting
                    steps = decision.steps  # type: ignore[union-attr]
                    if len(steps) == 1 and not live.tasks:  # nothing to overlap with
                        outcome = self._attempt(live, steps[0], kind)
                        if outcome is not None:
                            await self._attempts_from(live, steps[0], kind, outcome)
                        continue
                    for name in steps:
                        live.tasks[name] = asyncio.create_task(self._attempts(live, name, kind))
                elif isinstance(decision, TurnToCompensating):
                    self._append(live, _RUN_COMPENSATING_EVENT, decision.trigger,
                                 error=decision.error, data=_STEP_FAILED_REASON,
                                 text=_STEP_FAILED_REASON_TEXT)
                    waiting = self._make_durable(live, RunUpdate(_COMPENSATING))
                    if waiting is not None:
                        await waiting
                elif isinstance(decision, Finish):
                    return await self._finish(live, decision)
                else:
                    await self._wait_for_tasks(live)
        except (StoreError, LeaseLostError) as exc:
            await self._cancel_tasks(live)
            return RunResult(live.run_id, None, abandoned=str(exc))
        finally:
            self._active.pop(live.run_id, None)
            self.committer.forget(live.run_id)

    def _make_durable(self, live: _LiveRun, update: RunUpdate | None = None) -> Awaitable[None] | None:
        """Commit what this run has buffered (group commit with every other run): done at
        once for an inline store (None), else what to await."""
        if not live.dirty and update is None:
            return None
        live.dirty = False
        settled: Sequence[tuple[str, str]] = live.settled
        if settled:  # crash points to fire once this commit is done (tests only)
            live.settled = []
        if not self.committer.inline:
            flushed = self.committer.flush(live.run_id, update)
            return self._after_commit(flushed, live, settled) if settled else flushed
        self.committer.commit_now(live.run_id, update)
        for point, step in settled:
            self._crash(point, live, step)
        return None

    async def _after_commit(self, flushed: Awaitable[None], live: _LiveRun,
                            settled: Sequence[tuple[str, str]]) -> None:
        await flushed
        for point, step in settled:
            self._crash(point, live, step)

    async def _wait_for_tasks(self, live: _LiveRun) -> None:
        done, _ = await asyncio.wait(live.tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        for name in [n for n, t in live.tasks.items() if t in done]:
            task = live.tasks.pop(name)
            task.result()  # re-raises StoreError / LeaseLostError from the step

    async def _cancel_tasks(self, live: _LiveRun) -> None:
        for task in live.tasks.values():
            task.cancel()
        await asyncio.gather(*live.tasks.values(), return_exceptions=True)
        live.tasks.clear()

    async def _finish(self, live: _LiveRun, decision: Finish) -> RunResult:
        state = live.state
        duration = max((self.clock.monotonic() - live.started_mono) * 1000, 0.0)
        event_type = _END_EVENT[decision.status]
        if state.status not in TERMINAL_STATUSES:
            self._append(live, event_type, decision.step, None, duration, None, decision.error,
                         {"reason": decision.reason} if decision.reason else None)
            if live.successor is not None:  # the next run in turn rides on this commit
                live.following, live.successor = live.successor(), None
            waiting = self._make_durable(live, RunUpdate(
                _STATUS_TEXT[decision.status], ended_at=self.clock.now(), duration_ms=duration))
            if waiting is not None:
                await waiting
            if live.following is not None:
                live.following.dirty = False  # its run_started was in the commit just made
        return RunResult(live.run_id, decision.status, duration, state.trigger_step,
                         state.failed_step)

    # -- steps -------------------------------------------------------------------------
    # A step's attempts are split so that the usual attempt never waits: ``_attempt`` runs
    # one attempt as far as it goes without waiting (a quick action, or a call up to its first
    # wait) and records its outcome; only a call that waits, or a retry's backoff, goes
    # through the coroutine ``_attempts_from``. ``_drive`` calls ``_attempt`` directly.
    async def _attempts(self, live: _LiveRun, name: str, kind: _AttemptKind) -> None:
        """Attempt a step's action (or its compensation) until it succeeds or fails for good,
        recording every attempt; the outcome is committed by the run's next decision."""
        outcome = self._attempt(live, name, kind)
        if outcome is not None:
            await self._attempts_from(live, name, kind, outcome)

    async def _attempts_from(self, live: _LiveRun, name: str, kind: _AttemptKind,
                             outcome: float | _Waiting | None) -> None:
        """Go on from an attempt that is waiting for its call, or that failed and is to be
        retried after ``outcome`` seconds."""
        while outcome is not None:
            if isinstance(outcome, _Waiting):
                outcome = await self._await_call(live, name, kind, outcome)
            else:
                await self.clock.sleep(outcome)
                outcome = self._attempt(live, name, kind)

    def _attempt(self, live: _LiveRun, name: str, kind: _AttemptKind) -> float | _Waiting | None:
        """One attempt, recorded: None once the step is settled (it succeeded, or failed for
        good); seconds to wait before the next attempt; or the call, if it waits for
        something (``_await_call`` goes on with it)."""
        plan = live.compiled.steps[name]
        state = live.state.steps[name]
        if kind is _COMPENSATION:
            attempt = state.compensation_attempts + 1
            self._append(live, kind.started, name, attempt)
            action_name, reserve = plan.compensation, plan.compensation_reserve
            key = live.run_id + plan.key + ":compensate"
        else:  # = _append, with the fold's transition called directly
            attempt = state.attempts + 1
            self._buffer(live, _STEP_STARTED, name, attempt, None, None, None, None)
            mark_started(live.state, state, name, attempt)
            action_name, reserve, key = plan.action, plan.reserve, live.run_id + plan.key
        assert action_name is not None  # only steps with a compensation are undone
        began = self.clock.monotonic()
        try:
            if live.state.last_seq + reserve > self.limits.max_events_per_run:
                # fail for good: no room left to undo and end the run
                raise LimitExceededError("events in this run", live.state.last_seq + reserve,
                                         self.limits.max_events_per_run, live.run_id)
            if self.crash_points is not None:
                self._crash(f"{kind.points}before_action", live, name)
            context = _new_context(ActionContext, (  # = ActionContext(...), a call less
                live.run_id, name, attempt, live.state.input, dict(live.state.succeeded), key,
                kind is _COMPENSATION, live.compiled.saga))
            action = self._actions.get(action_name) or self._action(action_name)
            quick = self._quick[action_name]
            if name in live.injected:
                compensating = kind is _COMPENSATION
                delay = self._injected_failure(live, name, attempt, compensating)
                if delay:  # the call goes through a coroutine that waits first
                    if quick is not None:
                        action = partial(_call_quick, quick)
                        quick = None
                    action = partial(self._after, delay, live, name, attempt, compensating, action)
            if quick is not None:  # never waits: called as it is, no coroutine
                output = quick(context)
                if output is not None and inspect.isawaitable(output):
                    quick, action = None, partial(_awaited, output)
            if quick is None:
                call = action(context)
                try:  # run it up to its first wait, if any
                    pending = call.send(None)
                except StopIteration as finished:
                    output = finished.value
                else:  # it waits for something: from here on, the step's timeout applies
                    return _Waiting(call, pending, attempt, began, action_name)
        except (StoreError, LeaseLostError):
            raise
        except Exception as exc:  # noqa: BLE001 - a failure is data; final ones end the run
            return self._failed(live, name, kind, attempt, began, exc)
        return self._returned(live, name, kind, attempt, began, action_name, output)

    async def _await_call(self, live: _LiveRun, name: str, kind: _AttemptKind,
                          waiting: _Waiting) -> float | None:
        """The rest of an attempt whose call waits: under the step's timeout (a call that
        never waits arms no timer: most of a timeout's cost saved)."""
        try:
            async with asyncio.timeout(live.compiled.steps[name].timeout):
                output = await _resume(waiting.call, waiting.pending)
        except (StoreError, LeaseLostError):
            raise
        except Exception as exc:  # noqa: BLE001
            return self._failed(live, name, kind, waiting.attempt, waiting.began, exc)
        return self._returned(live, name, kind, waiting.attempt, waiting.began,
                              waiting.action, output)

    def _returned(self, live: _LiveRun, name: str, kind: _AttemptKind, attempt: int,
                  began: float, action_name: str, output: Any) -> float | None:
        """Record a call that returned: its success, unless its output is refused."""
        try:
            text = None if output is None else self._payload_text(output, f"the output of {action_name}")
            if self.crash_points is not None:
                self._crash(f"{kind.points}after_action", live, name)
        except (StoreError, LeaseLostError):
            raise
        except Exception as exc:  # noqa: BLE001
            return self._failed(live, name, kind, attempt, began, exc)
        elapsed = (self.clock.monotonic() - began) * 1000
        data = None if text is None else f'{{"output":{text}}}'
        if kind is _COMPENSATION:
            self._append(live, kind.succeeded, name, attempt, elapsed, None, None,
                         None if output is None else {"output": output}, data)
        else:  # = _append, with the fold's transition called directly
            self._buffer(live, _STEP_SUCCEEDED, name, attempt, elapsed, None, None, data)
            mark_succeeded(live.state, live.state.steps[name], name, output)
        if self.crash_points is not None:
            self._crash(f"{kind.points}after_outcome", live, name)
            live.settled.append((f"{kind.points}after_commit", name))
        return None

    def _failed(self, live: _LiveRun, name: str, kind: _AttemptKind, attempt: int,
                began: float, error: BaseException) -> float | None:
        """Record a failed attempt; return the wait before the next one (None: final)."""
        elapsed = (self.clock.monotonic() - began) * 1000
        plan, state = live.compiled.steps[name], live.state.steps[name]
        policy, budget_start = ((plan.compensation_retry, state.compensation_budget_start)
                                if kind is _COMPENSATION else (plan.retry, state.budget_start))
        wait = self._next_wait(live, name, policy, attempt - budget_start, error, kind.jitter)
        failed = kind.timed_out if isinstance(error, TimeoutError) else kind.failed
        self._append(live, failed, name, attempt, elapsed, *_failure(elapsed, error, wait))
        return wait

    def _injected_failure(self, live: _LiveRun, name: str, attempt: int, compensating: bool,
                          *, delayed: bool = False) -> float:
        """Raise the failure the run's injection gives this call, if any; or, if the
        injection adds latency to it (and it is not ``delayed`` already), return the latency
        in seconds: the call then fails or goes on after it (``_after``)."""
        assert live.injection is not None
        rules, index = live.injection.rules, live.state.run_index
        if not delayed:
            latency = rules.latency_ms(index, name, attempt) / 1000
            if latency:
                return latency
        if compensating:
            if rules.compensation_fails(index, name):
                raise NonRetryableError(f"injected failure of {name}'s compensation")
        else:
            if rules.fails_for_good(index, name):
                raise NonRetryableError(f"injected failure of {name} (like a declined card)")
            if rules.flaky_failure(index, name, attempt):
                raise RetryableError(f"injected transient failure of {name}")
        return 0.0

    async def _after(self, delay: float, live: _LiveRun, name: str, attempt: int,
                     compensating: bool, action: Action, context: ActionContext) -> Any:
        """A call with injected latency: the wait, then its injected failure if any, then it."""
        await self.clock.sleep(delay)
        self._injected_failure(live, name, attempt, compensating, delayed=True)
        return await action(context)

    def _next_wait(self, live: _LiveRun, name: str, policy: RetryPolicy, used: int,
                   error: BaseException, what: str) -> float | None:
        """Seconds before the next attempt, or None if this failure is final."""
        if isinstance(error, NonRetryableError | LimitExceededError) or used >= policy.max_attempts:
            return None
        interval = policy.interval(used).total_seconds()
        if policy.jitter:
            u = deterministic_uniform(self.seed, live.run_id, name, f"{what}-jitter{used}")
            interval *= 0.5 + 0.5 * u
        return interval

    def _crash(self, point: str, live: _LiveRun, step: str) -> None:
        if self.crash_points is not None:
            self.crash_points.check(point, live.run_id, step)

    # -- events ------------------------------------------------------------------------
    def _append(self, live: _LiveRun, kind: EventType, step: str | None = None,
                attempt: int | None = None, duration_ms: float | None = None,
                error_type: str | None = None, error: str | None = None,
                data: dict[str, Any] | None = None, text: str | None = None) -> None:
        """Write an event: number and stamp it, buffer its row for the next commit (``data``
        as JSON text: ``text`` if the caller has it), fold it into the run's state
        (``record``: the same fold recovery uses)."""
        if text is None and data is not None:
            text = json_text(data)
        seq = self._buffer(live, kind, step, attempt, duration_ms, error_type, error, text)
        record(live.state, kind, seq, step, attempt, error, data)

    def _buffer(self, live: _LiveRun, kind: EventType, step: str | None, attempt: int | None,
                duration_ms: float | None, error_type: str | None, error: str | None,
                data: str | None) -> int:
        """:meth:`_append` without the fold (the caller folds it), ``data`` as JSON text:
        returns the event's seq."""
        state = live.state
        seq = state.last_seq = state.last_seq + 1
        committer = self.committer
        if live.takes != committer.takes:  # a commit took the list: ask for the new one
            live.rows, live.takes = committer.rows_of(live.run_id), committer.takes
        live.rows.append((  # an EventRow
            live.run_id, seq, self.clock.time(), _TYPE_TEXT[kind], step, attempt, duration_ms,
            error_type, error, data))
        live.dirty = True
        return seq

    def _payload_text(self, value: Any, what: str) -> str:
        """``value`` as JSON text, for its event: raises NonRetryableError if it is not JSON,
        LimitExceededError if it is larger than the limit allows."""
        try:
            text = json_text(value)
        except (TypeError, ValueError) as exc:
            raise NonRetryableError(f"{what} is not JSON: {exc}") from None
        size = len(text) if text.isascii() else len(text.encode())
        if size > self.limits.max_payload_bytes:
            raise LimitExceededError(f"{what} size in bytes", size, self.limits.max_payload_bytes)
        return text

    async def _save_definition(self, definition: SagaDefinition) -> None:
        """Store the definition once per engine, however many runs start at the same time."""
        digest = definition.content_hash
        saving = self._saved.get(digest)
        if saving is None or (saving.done() and saving.exception() is not None):
            saving = self._saved[digest] = asyncio.ensure_future(asyncio.to_thread(
                self.store.save_definition, definition, self.clock.now()))
        await asyncio.shield(saving)

    async def _renew_leases(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = list(self._active)
            if not ids:
                continue
            until = self.committer.lease_until()
            try:
                lost = await asyncio.to_thread(self.store.renew, self.owner, ids, until)
            except StoreError:
                continue  # the next heartbeat or commit tries again
            for run_id in lost:
                live = self._active.get(run_id)
                if live is not None:
                    for task in live.tasks.values():
                        task.cancel()


@dataclass(frozen=True)
class _AttemptKind:
    """The events, crash-point prefix and jitter key of forward steps or compensations."""

    started: EventType
    succeeded: EventType
    failed: EventType
    timed_out: EventType
    points: str
    jitter: str


_FORWARD = _AttemptKind(EventType.STEP_STARTED, EventType.STEP_SUCCEEDED, EventType.STEP_FAILED,
                        EventType.STEP_TIMED_OUT, "", "step")
_COMPENSATION = _AttemptKind(EventType.COMPENSATION_STARTED, EventType.COMPENSATION_SUCCEEDED,
                             EventType.COMPENSATION_FAILED, EventType.COMPENSATION_FAILED,
                             "compensation_", "compensation")


_NONE: frozenset[str] = frozenset()
# enum member -> its text, looked up instead of reading ``.value`` (a property) per event
_TYPE_TEXT = {member: member.value for member in EventType}
_STATUS_TEXT = {member: member.value for member in RunStatus}
_ORIGIN_TEXT = {member: member.value for member in Origin}
_RUNNING, _COMPENSATING = RunStatus.RUNNING.value, RunStatus.COMPENSATING.value
# globals: an enum-class attribute read costs ~75 ns
_RUN_STARTED, _STEP_STARTED, _STEP_SUCCEEDED = (EventType.RUN_STARTED, EventType.STEP_STARTED,
                                                EventType.STEP_SUCCEEDED)
_RUN_COMPENSATING_EVENT = EventType.RUN_COMPENSATING
_STEP_FAILED_REASON, _STEP_FAILED_REASON_TEXT = {"reason": "step_failed"}, '{"reason":"step_failed"}'
_new_context = tuple.__new__  # a named tuple made from a tuple, without its Python __new__
_ORCHESTRATION = Mode.ORCHESTRATION.value
_END_EVENT = {RunStatus.COMPLETED: EventType.RUN_COMPLETED, RunStatus.COMPENSATED: EventType.RUN_COMPENSATED,
              RunStatus.FAILED: EventType.RUN_FAILED}


class _Waiting(NamedTuple):
    """An attempt whose call waits for something: the call, what it yielded to the loop."""

    call: Coroutine[Any, Any, Any]
    pending: Any
    attempt: int
    began: float          # monotonic
    action: str


async def _call_quick(function: Callable[[ActionContext], Any], context: ActionContext) -> Any:
    output = function(context)
    return await output if inspect.isawaitable(output) else output


async def _awaited(awaitable: Any, _context: ActionContext) -> Any:
    return await awaitable


@types.coroutine
def _resume(call: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """Go on with a coroutine that has already run up to its first wait (``pending``, what it
    yielded to the event loop), forwarding results, exceptions and cancellation to it."""
    try:
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancellation (a timeout) included: the call decides
                pending = call.throw(exc)
            else:
                pending = call.send(sent)
    except StopIteration as finished:
        return finished.value
    finally:
        call.close()  # no-op once it has finished; stops it if we are closed early


def _failure(elapsed: float, error: BaseException,
             wait: float | None) -> tuple[str, str, dict[str, Any]]:
    """A failed attempt's error type, message and data, as its event records them."""
    message = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        message = f"no outcome within the step's timeout ({elapsed / 1000:.3g}s); it may have taken effect"
    return (type(error).__name__, message[:2000],
            {"final": wait is None, "retry_in_ms": None if wait is None else wait * 1000})
