"""The vectorised Monte Carlo: arrays over runs, loops over steps and attempt numbers only.

It follows the engine and the planner (``runtime/engine.py``, ``runtime/planner.py``):

- A step starts when every step in its ``after`` has succeeded; end-to-end time is the
  critical path through the graph, retries and backoff waits included.
- Attempt ``k``: the injected latency is slept inside the step's timeout, so a latency at
  or over the timeout is a timeout (retryable; the attempt takes exactly the timeout).
  Otherwise a run in which the step fails for good raises a non-retryable error (final), and
  a flaky draw raises a retryable one. A retryable failure waits ``policy.interval(k)``
  (times a uniform [0.5, 1) draw with jitter) and tries again, up to ``max_attempts``.
  Exhausted on a timeout, the outcome is *unknown*; on a transient error, *failed*.
- Once a step has failed for good, no new step starts but steps already in flight finish
  (their retries included). Then the first failed step in definition order decides: a
  retriable step ends the run ``failed``; any other turns it to compensating.
- Compensating: every compensatable step with a compensation whose action succeeded or whose
  outcome is unknown is compensated, a step only after every compensated step that waits
  for it (independent branches in parallel). A compensation attempt sees its step's
  latency of the same attempt number (the engine draws both from one key), times out the
  same way, and fails for good in a run with an injected compensation failure. A failed
  compensation stops new compensations (in-flight ones finish) and ends the run ``failed``,
  unless ``defaults.compensation.continue_on_error``.

Two events at the same instant (zero latency) are ordered by their causal depth: a step
that becomes ready at the very moment another step fails does not start (the engine folds
both outcomes before it decides again), while steps started together by one decision all
run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.definition import StepKind
from runtime.simulation._draws import Draws, FloatArray, Purpose
from runtime.simulation._model import AttemptPolicy, SagaModel, StepModel

BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]
Int32Array = NDArray[np.int32]

COMPLETED, COMPENSATED, FAILED = 0, 1, 2
"""Codes of :attr:`SimulatedRuns.status`."""
NOT_RUN, SUCCEEDED, FAILED_KNOWN, UNKNOWN = 0, 1, 2, 3
"""Codes of :attr:`SimulatedRuns.outcome` and :attr:`SimulatedRuns.compensation_outcome`."""


@dataclass(frozen=True)
class SimulatedRuns:
    """Every simulated run, as arrays: ``status[r]``; per step ``outcome[i, r]``."""

    model: SagaModel
    status: Int8Array
    """COMPLETED, COMPENSATED or FAILED per run"""
    duration_ms: FloatArray
    """end-to-end time of each run (critical path, backoff waits and compensation included)"""
    trigger: NDArray[np.int16]
    """index of the step whose failure turned the run to compensating or failed it; -1"""
    compensating: BoolArray
    """runs that turned to compensating (whatever came next)"""
    started: BoolArray
    outcome: Int8Array
    """NOT_RUN, SUCCEEDED, FAILED_KNOWN or UNKNOWN (timed out for good)"""
    attempts: Int32Array
    start_ms: FloatArray
    end_ms: FloatArray
    """start and end of each step (NaN where it did not run)"""
    compensated: BoolArray
    """the step's compensation started"""
    compensation_outcome: Int8Array
    compensation_attempts: Int32Array

    @property
    def runs(self) -> int:
        return int(self.status.shape[0])


@dataclass
class _Attempts:
    end: FloatArray
    outcome: Int8Array
    attempts: Int32Array


def _attempts(step: StepModel, policy: AttemptPolicy, start: FloatArray, active: BoolArray,
              draws: Draws, *, fail_run: BoolArray | None, flaky: float,
              jitter: Purpose) -> _Attempts:
    """Run one action (or compensation) in every run where ``active``, from ``start``."""
    n = draws.runs
    t = start.copy()
    outcome = np.zeros(n, dtype=np.int8)
    attempts = np.zeros(n, dtype=np.int32)
    active = active.copy()
    none = np.zeros(n, dtype=np.bool_)
    for k in range(1, policy.max_attempts + 1):
        if not active.any():
            break
        attempts[active] = k
        timed_out = none
        if step.latency is not None and step.spec is not None:
            latency = draws.latency_ms(step.name, k, step.latency, step.spec)
            timed_out = active & (latency >= step.timeout_ms)
            np.add(t, np.minimum(latency, step.timeout_ms), out=t, where=active)
        passed = active & ~timed_out
        if fail_run is not None:
            outcome[passed & fail_run] = FAILED_KNOWN
            passed &= ~fail_run
        transient = none
        if flaky > 0:
            transient = passed & (draws.uniform(step.name, Purpose.FLAKY, k) < flaky)
            passed &= ~transient
        outcome[passed] = SUCCEEDED
        retry = timed_out | transient
        if k == policy.max_attempts:
            outcome[timed_out] = UNKNOWN
            outcome[transient] = FAILED_KNOWN
            break
        wait = policy.intervals_ms[k - 1]
        if wait > 0:
            if policy.jitter:
                factor = 0.5 + 0.5 * draws.uniform(step.name, jitter, k)
                np.add(t, wait * factor, out=t, where=retry)
            else:
                t[retry] += wait
        active = retry
    return _Attempts(t, outcome, attempts)


def _before(t: FloatArray, r: Int32Array, limit_t: FloatArray, limit_r: Int32Array) -> BoolArray:
    """``(t, r) < (limit_t, limit_r)`` lexicographically: time first, causal depth on ties."""
    result: BoolArray = (t < limit_t) | ((t == limit_t) & (r < limit_r))
    return result


def _first_failure(failed: BoolArray, end: FloatArray,
                   rounds: Int32Array) -> tuple[FloatArray, Int32Array]:
    """Per run, the (time, depth) at which the first failure was known; (inf, 0) if none."""
    when = np.where(failed, end, np.inf).min(axis=0)
    at = failed & (end == when)
    depth = np.where(at, rounds, np.iinfo(np.int32).max).min(axis=0).astype(np.int32)
    return when, depth


def run_monte_carlo(model: SagaModel, draws: Draws) -> SimulatedRuns:
    """Simulate ``draws.runs`` runs of ``model``."""
    n, count = draws.runs, len(model.steps)
    start = np.zeros((count, n))
    end = np.zeros((count, n))
    outcome = np.zeros((count, n), dtype=np.int8)
    attempts = np.zeros((count, n), dtype=np.int32)
    start_round = np.zeros((count, n), dtype=np.int32)
    end_round = np.zeros((count, n), dtype=np.int32)
    eligible = np.zeros((count, n), dtype=np.bool_)

    # forward, as if no failure stopped anything; the stop rule is applied after
    for i in model.topological:
        step = model.steps[i]
        if step.deps:
            deps = list(step.deps)
            ok = np.logical_and.reduce(outcome[deps] == SUCCEEDED, axis=0)
            ready = end[deps].max(axis=0)
            ready_round = np.where(end[deps] == ready, end_round[deps], 0).max(axis=0)
        else:
            ok = np.ones(n, dtype=np.bool_)
            ready = np.zeros(n)
            ready_round = np.zeros(n, dtype=np.int32)
        fail_run = (draws.uniform(step.name, Purpose.FAIL) < step.fail) if step.fail > 0 else None
        result = _attempts(step, step.retry, ready, ok, draws, fail_run=fail_run,
                           flaky=step.flaky, jitter=Purpose.STEP_JITTER)
        eligible[i], start[i], start_round[i] = ok, ready, ready_round
        end[i], outcome[i], attempts[i] = result.end, result.outcome, result.attempts
        end_round[i] = ready_round + 1

    stop_t, stop_r = _first_failure(outcome >= FAILED_KNOWN, end, end_round)
    started = eligible & _before(start, start_round, stop_t[None, :], stop_r[None, :])
    outcome[~started] = NOT_RUN
    attempts[~started] = 0
    failed = outcome >= FAILED_KNOWN
    any_failed = failed.any(axis=0)
    trigger = np.where(any_failed, failed.argmax(axis=0), -1).astype(np.int16)
    retriable = np.array([s.kind is StepKind.RETRIABLE for s in model.steps] + [False])
    forward_failed = any_failed & retriable[trigger]
    compensating = any_failed & ~forward_failed
    settled = np.where(started, end, 0.0).max(axis=0)   # every started step has finished

    # compensation, in reverse dependency order
    comp_start = np.zeros((count, n))
    comp_end = np.zeros((count, n))
    comp_outcome = np.zeros((count, n), dtype=np.int8)
    comp_attempts = np.zeros((count, n), dtype=np.int32)
    comp_start_round = np.zeros((count, n), dtype=np.int32)
    comp_end_round = np.zeros((count, n), dtype=np.int32)
    candidate = np.zeros((count, n), dtype=np.bool_)
    if compensating.any():
        for i in reversed(model.topological):
            step = model.steps[i]
            if not step.compensable:
                continue
            candidate[i] = compensating & ((outcome[i] == SUCCEEDED) | (outcome[i] == UNKNOWN))
            waits = [m for m in model.descendants[i] if model.steps[m].compensable]
            ready = settled.copy()
            ready_round = np.zeros(n, dtype=np.int32)
            if waits:
                latest = np.where(candidate[waits], comp_end[waits], 0.0).max(axis=0)
                ready = np.maximum(ready, latest)
                at = candidate[waits] & (comp_end[waits] == ready)
                ready_round = np.where(at, comp_end_round[waits], 0).max(axis=0).astype(np.int32)
            fail_run = None
            if step.compensation_fail > 0:
                draw = draws.uniform(step.name, Purpose.COMPENSATION_FAIL)
                fail_run = draw < step.compensation_fail
            result = _attempts(step, step.compensation_retry, ready, candidate[i], draws,
                               fail_run=fail_run, flaky=0.0, jitter=Purpose.COMPENSATION_JITTER)
            comp_start[i], comp_start_round[i] = ready, ready_round
            comp_end[i], comp_outcome[i] = result.end, result.outcome
            comp_attempts[i] = result.attempts
            comp_end_round[i] = ready_round + 1
    if model.continue_on_error:
        compensated = candidate
    else:
        halt_t, halt_r = _first_failure(candidate & (comp_outcome >= FAILED_KNOWN), comp_end,
                                        comp_end_round)
        compensated = candidate & _before(comp_start, comp_start_round, halt_t[None, :],
                                          halt_r[None, :])
    comp_outcome[~compensated] = NOT_RUN
    comp_attempts[~compensated] = 0
    comp_failed = (comp_outcome >= FAILED_KNOWN).any(axis=0)

    status = np.full(n, COMPENSATED, dtype=np.int8)
    status[~any_failed] = COMPLETED
    status[forward_failed | (compensating & comp_failed)] = FAILED
    duration = np.maximum(settled, np.where(compensated, comp_end, 0.0).max(axis=0))
    nan = np.full((count, n), np.nan)
    return SimulatedRuns(
        model=model, status=status, duration_ms=duration, trigger=trigger,
        compensating=compensating, started=started, outcome=outcome, attempts=attempts,
        start_ms=np.where(started, start, nan), end_ms=np.where(started, end, nan),
        compensated=compensated, compensation_outcome=comp_outcome,
        compensation_attempts=comp_attempts)
