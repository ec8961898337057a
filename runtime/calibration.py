"""Fit the simulation's parameters to what the event log shows, then ask what-if.

    with engine.connect() as conn:
        fit = calibrate(conn, definition, LogFilter(origins=("real",)))
    fit.step("charge_payment").fail_rate, fit.step("charge_payment").latency_p95_ms
    fit.observed.compensated, fit.observed.step("reserve_seat").compensations
    now = simulate(definition, fit.injection())
    then = simulate(with_retry(definition, "charge_payment", max_attempts=5), fit.injection())

Per step, from the events of the finished runs the filter selects (SQLAlchemy Core,
aggregated in the database; SQLite and PostgreSQL):

- **fail rate** (fails for good, per run): of the runs in which an attempt of the step got
  past its timeout (so the run's failure decision showed), the share with a non-retryable
  failure (``NonRetryableError`` and its subclasses, ``LimitExceededError``).
- **flaky rate** (per attempt): of the attempts that got past the timeout in runs where the
  step did not fail for good, the share that failed with a retryable error.
- **latency p50 / p95**: nearest-rank percentiles of the attempts' durations, timed-out
  attempts counted as longer than any other (right-censored at the timeout). A percentile
  that falls among the timeouts is reported as the timeout and flagged ``censored``.
- **compensation failure rate** (per run): of the runs whose compensation got past its
  timeout, the share with a non-retryable compensation failure.

Each estimate is the maximum-likelihood one of the simulation's own model, with a 95%
Wilson interval; :meth:`Calibration.injection` turns them into an :class:`Injection`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, select
from sqlalchemy.sql.elements import ColumnElement

from runtime.definition import SagaDefinition, SimulationSpec
from runtime.errors import LimitExceededError, NonRetryableError
from runtime.injection import Injection, LatencySpec
from runtime.simulation import Interval, wilson_interval
from runtime.store.sql import Bind, connection
from runtime.store.tables import TERMINAL_STATUSES, EventType, event_table, run_table

RUN = run_table.c
EVENT = event_table.c
TIMEOUT_ERROR = "TimeoutError"


def final_error_types() -> frozenset[str]:
    """Class names the engine records for failures it never retries."""
    names = {LimitExceededError.__name__}
    pending: list[type[BaseException]] = [NonRetryableError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return frozenset(names)


@dataclass(frozen=True)
class LogFilter:
    """Which finished runs to learn from. Empty fields do not filter."""

    saga: str | None = None
    """saga name; ``None``: the definition's"""
    definition_hash: str | None = None
    """one version only"""
    origins: tuple[str, ...] = ()
    """``real``, ``simulated``, ``test``"""
    batch: str | None = None
    since: datetime | None = None
    """runs started at or after (aware UTC)"""
    until: datetime | None = None
    """runs started before (aware UTC)"""

    def conditions(self, saga: str) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [
            RUN.saga == (self.saga or saga),
            RUN.status.in_(sorted(status.value for status in TERMINAL_STATUSES))]
        if self.definition_hash:
            where.append(RUN.definition_hash == self.definition_hash)
        if self.origins:
            where.append(RUN.origin.in_(list(self.origins)))
        if self.batch:
            where.append(RUN.batch == self.batch)
        if self.since is not None:
            where.append(RUN.started_at >= self.since)
        if self.until is not None:
            where.append(RUN.started_at < self.until)
        return where


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObservedStep:
    """What one step did in the observed runs (counts of runs unless named attempts)."""

    step: str
    started: int
    """runs in which it started"""
    attempts: int
    """``step_started`` events: the load the service saw"""
    triggers: int
    """runs whose compensation its failure triggered"""
    compensations: int
    """runs in which its compensation started"""
    compensation_failures: int
    """runs in which its compensation started and never succeeded"""
    compensation_attempts: int


@dataclass(frozen=True)
class Observed:
    """The outcome of the finished runs a filter selects: what a prediction is compared to."""

    runs: int
    completed: int
    compensated: int
    failed: int
    compensating: int
    """runs that turned to compensating"""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    """run duration percentiles (nearest rank)"""
    steps: tuple[ObservedStep, ...]

    def count(self, status: str) -> int:
        """``completed``, ``compensated`` or ``failed``."""
        counts = {"completed": self.completed, "compensated": self.compensated,
                  "failed": self.failed}
        if status not in counts:
            raise KeyError(status)
        return counts[status]

    def rate(self, status: str) -> float:
        return self.count(status) / self.runs if self.runs else 0.0

    def step(self, name: str) -> ObservedStep:
        for step in self.steps:
            if step.step == name:
                return step
        return ObservedStep(name, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class StepCalibration:
    """Fitted failure and latency parameters of one step."""

    step: str
    attempts: int
    timeouts: int
    exposed_runs: int
    """runs in which an attempt got past the timeout"""
    failed_runs: int
    """of those, runs in which the step failed for good"""
    checked_attempts: int
    """attempts past the timeout in runs where the step did not fail for good"""
    transient_failures: int
    """of those, attempts that failed with a retryable error"""
    latency_samples: int
    """attempts with a duration (timeouts included, as censored)"""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_censored: bool
    """a percentile fell among the timeouts: it is the timeout, a lower bound"""
    compensation_exposed_runs: int
    compensation_failed_runs: int
    compensation_transient_failures: int
    """retryable compensation failures (not modelled by the simulation; shown for reference)"""

    @property
    def fail_rate(self) -> float:
        return self.failed_runs / self.exposed_runs if self.exposed_runs else 0.0

    @property
    def fail_interval(self) -> Interval:
        return wilson_interval(self.failed_runs, self.exposed_runs)

    @property
    def flaky_rate(self) -> float:
        return self.transient_failures / self.checked_attempts if self.checked_attempts else 0.0

    @property
    def flaky_interval(self) -> Interval:
        return wilson_interval(self.transient_failures, self.checked_attempts)

    @property
    def compensation_fail_rate(self) -> float:
        exposed = self.compensation_exposed_runs
        return self.compensation_failed_runs / exposed if exposed else 0.0

    @property
    def compensation_fail_interval(self) -> Interval:
        return wilson_interval(self.compensation_failed_runs, self.compensation_exposed_runs)

    def latency_spec(self) -> LatencySpec | None:
        if self.latency_p50_ms is None:
            return None
        p50 = self.latency_p50_ms
        return LatencySpec(p50_ms=p50, p95_ms=max(self.latency_p95_ms or p50, p50))


@dataclass(frozen=True)
class Calibration:
    """Fitted parameters per step, and what the same runs showed."""

    saga: str
    filter: LogFilter
    observed: Observed
    steps: tuple[StepCalibration, ...]

    def step(self, name: str) -> StepCalibration:
        for step in self.steps:
            if step.step == name:
                return step
        raise KeyError(name)

    def injection(self, seed: int = 0) -> Injection:
        """The fitted parameters as failure injection, to re-simulate the design."""
        fail, flaky, latency, compensation = {}, {}, {}, {}
        for step in self.steps:
            if step.fail_rate:
                fail[step.step] = step.fail_rate
            if step.flaky_rate:
                flaky[step.step] = step.flaky_rate
            if step.compensation_fail_rate:
                compensation[step.step] = step.compensation_fail_rate
            spec = step.latency_spec()
            if spec is not None:
                latency[step.step] = spec
        return Injection(seed=seed, fail=fail, flaky=flaky, latency=latency,
                         fail_compensation=compensation)

    def apply_to(self, definition: SagaDefinition) -> SagaDefinition:
        """A copy of ``definition`` whose steps' ``simulate`` fields hold the fitted values
        (so the designer's Predict panel and ``saga simulate`` use them)."""
        fitted = {step.step: step for step in self.steps}
        steps = []
        for step in definition.steps:
            fit = fitted.get(step.name)
            if fit is None or not (fit.exposed_runs or fit.latency_samples):
                steps.append(step.model_dump())
                continue
            spec = fit.latency_spec()
            simulate = SimulationSpec(
                failure_rate=fit.fail_rate, flaky_rate=fit.flaky_rate,
                latency_p50=timedelta(milliseconds=spec.p50_ms) if spec else None,
                latency_p95=timedelta(milliseconds=spec.p95_ms) if spec else None,
                compensation_failure_rate=fit.compensation_fail_rate)
            steps.append(step.model_dump() | {"simulate": simulate.model_dump()})
        return SagaDefinition.model_validate(
            definition.model_dump(exclude={"steps"}) | {"steps": steps})


# -- queries ------------------------------------------------------------------------------
def _runs(definition: SagaDefinition, log_filter: LogFilter) -> Any:
    return select(RUN.id).where(*log_filter.conditions(definition.saga))


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _runs_if(condition: ColumnElement[bool]) -> Any:
    return func.count(distinct(case((condition, EVENT.run_id), else_=None)))


def _step_rows(conn: Connection, definition: SagaDefinition,
               log_filter: LogFilter) -> dict[str, dict[str, int]]:
    final = sorted(final_error_types())
    t = EVENT.type
    failed = t == EventType.STEP_FAILED.value
    comp_failed = t == EventType.COMPENSATION_FAILED.value
    is_final = EVENT.error_type.in_(final)
    not_final = func.coalesce(EVENT.error_type, "").not_in(final)
    not_timeout = func.coalesce(EVENT.error_type, "") != TIMEOUT_ERROR
    columns = {
        "started": _runs_if(t == EventType.STEP_STARTED.value),
        "attempts": _count_if(t == EventType.STEP_STARTED.value),
        "successes": _count_if(t == EventType.STEP_SUCCEEDED.value),
        "failures": _count_if(failed),
        "transient": _count_if(and_(failed, not_final)),
        "timeouts": _count_if(t == EventType.STEP_TIMED_OUT.value),
        "exposed": _runs_if(t.in_([EventType.STEP_SUCCEEDED.value, EventType.STEP_FAILED.value])),
        "failed_runs": _runs_if(and_(failed, is_final)),
        "triggers": _count_if(t == EventType.RUN_COMPENSATING.value),
        "comp_runs": _runs_if(t == EventType.COMPENSATION_STARTED.value),
        "comp_attempts": _count_if(t == EventType.COMPENSATION_STARTED.value),
        "comp_ok_runs": _runs_if(t == EventType.COMPENSATION_SUCCEEDED.value),
        "comp_exposed": _runs_if(
            (t == EventType.COMPENSATION_SUCCEEDED.value) | and_(comp_failed, not_timeout)),
        "comp_failed_runs": _runs_if(and_(comp_failed, is_final)),
        "comp_transient": _count_if(and_(comp_failed, not_final, not_timeout)),
    }
    query = (select(EVENT.step, *(c.label(k) for k, c in columns.items()))
             .where(EVENT.step.is_not(None), EVENT.run_id.in_(_runs(definition, log_filter)))
             .group_by(EVENT.step))
    return {row.step: {k: int(getattr(row, k) or 0) for k in columns}
            for row in conn.execute(query)}


def _nth(conn: Connection, where: list[ColumnElement[bool]], column: Any, k: int) -> float | None:
    value = conn.execute(select(column).where(*where).order_by(column).offset(k).limit(1)).scalar()
    return None if value is None else float(value)


def _rank(q: float, n: int) -> int:
    """0-based nearest rank of the ``q`` quantile among ``n`` values."""
    return max(0, min(n - 1, math.ceil(q * n) - 1))


def _latency(conn: Connection, definition: SagaDefinition, log_filter: LogFilter, step: str,
             row: dict[str, int]) -> tuple[float | None, float | None, bool]:
    timed = row["successes"] + row["failures"]
    total = timed + row["timeouts"]
    if not total:
        return None, None, False
    where = [EVENT.step == step,
             EVENT.type.in_([EventType.STEP_SUCCEEDED.value, EventType.STEP_FAILED.value]),
             EVENT.duration_ms.is_not(None), EVENT.run_id.in_(_runs(definition, log_filter))]
    timeout_ms = definition.timeout_of(definition.step(step)).total_seconds() * 1000
    values, censored = [], False
    for q in (0.50, 0.95):
        k = _rank(q, total)
        value = _nth(conn, where, EVENT.duration_ms, k) if k < timed else None
        if value is None:
            value, censored = timeout_ms, True
        values.append(value)
    return values[0], values[1], censored


def _observed(conn: Connection, definition: SagaDefinition, log_filter: LogFilter,
              rows: dict[str, dict[str, int]]) -> Observed:
    where = log_filter.conditions(definition.saga)
    counts = {status: int(n) for status, n in conn.execute(
        select(RUN.status, func.count()).where(*where).group_by(RUN.status))}
    runs = sum(counts.values())
    timed = [*where, RUN.duration_ms.is_not(None)]
    n = int(conn.execute(select(func.count()).where(*timed)).scalar_one())
    p50, p95, p99 = (_nth(conn, timed, RUN.duration_ms, _rank(q, n)) if n else None
                     for q in (0.50, 0.95, 0.99))
    steps = []
    for step in definition.steps:
        row = rows.get(step.name)
        if row is None:
            steps.append(ObservedStep(step.name, 0, 0, 0, 0, 0, 0))
            continue
        steps.append(ObservedStep(step.name, row["started"], row["attempts"], row["triggers"],
                                  row["comp_runs"], row["comp_runs"] - row["comp_ok_runs"],
                                  row["comp_attempts"]))
    return Observed(runs=runs, completed=counts.get("completed", 0),
                    compensated=counts.get("compensated", 0), failed=counts.get("failed", 0),
                    compensating=sum(s.triggers for s in steps), p50_ms=p50, p95_ms=p95,
                    p99_ms=p99, steps=tuple(steps))


def observe(bind: Bind, definition: SagaDefinition,
            log_filter: LogFilter | None = None) -> Observed:
    """What the finished runs of ``definition``'s saga did (outcomes, per-step counts)."""
    log_filter = log_filter or LogFilter()
    with connection(bind) as conn:
        return _observed(conn, definition, log_filter, _step_rows(conn, definition, log_filter))


def calibrate(bind: Bind, definition: SagaDefinition,
              log_filter: LogFilter | None = None) -> Calibration:
    """Fit each step's failure rates and latency percentiles to the event log."""
    log_filter = log_filter or LogFilter()
    with connection(bind) as conn:
        rows = _step_rows(conn, definition, log_filter)
        observed = _observed(conn, definition, log_filter, rows)
        steps = []
        for step in definition.steps:
            row = rows.get(step.name)
            if row is None:
                steps.append(StepCalibration(step.name, 0, 0, 0, 0, 0, 0, 0, None, None, False,
                                             0, 0, 0))
                continue
            p50, p95, censored = _latency(conn, definition, log_filter, step.name, row)
            steps.append(StepCalibration(
                step=step.name, attempts=row["attempts"], timeouts=row["timeouts"],
                exposed_runs=row["exposed"], failed_runs=row["failed_runs"],
                checked_attempts=row["successes"] + row["transient"],
                transient_failures=row["transient"],
                latency_samples=row["successes"] + row["failures"] + row["timeouts"],
                latency_p50_ms=p50, latency_p95_ms=p95, latency_censored=censored,
                compensation_exposed_runs=row["comp_exposed"],
                compensation_failed_runs=row["comp_failed_runs"],
                compensation_transient_failures=row["comp_transient"]))
    return Calibration(definition.saga, log_filter, observed, tuple(steps))


def batch_injection(bind: Bind, batch: str) -> Injection | None:
    """The failure injection a batch ran with (kept in each run's ``run_started``), so
    the Monitor can predict exactly what that batch should have shown."""
    query = (select(EVENT.data).join(run_table, RUN.id == EVENT.run_id)
             .where(RUN.batch == batch, EVENT.type == EventType.RUN_STARTED.value).limit(1))
    with connection(bind) as conn:
        data = conn.execute(query).scalar()
    if not isinstance(data, dict) or not data.get("injection"):
        return None
    return Injection.model_validate(data["injection"])
