"""Write a synthetic event log with the shape of a real one (for the dashboard benchmark).

    python -m bench.synthetic_log --url sqlite:///artifacts/bench/synthetic.db --events 1000000

What it writes, reproducibly from ``--seed``:

- the sample sagas (flight, hotel, trip booking) plus a second version of flight_booking;
- runs arriving over a time window ending now (``--days``): background ``real`` traffic
  without a batch, and batches (``simulated`` or ``test``) of 50-2,000 runs started close
  together, some with a failure injected into one step;
- per run the events the engine would append: attempts with latencies drawn from each
  step's ``simulate`` latencies, transient failures retried after a jittered exponential
  backoff, final failures (non-retryable or attempts exhausted), timeouts, compensation in
  reverse dependency order with its own retries, failed compensations (run ``failed``),
  forward steps after the pivot that fail for good (run ``failed``), and the youngest runs
  still ``running`` or ``compensating`` (their later events are not written yet).

Rows go in through SQLAlchemy Core ``executemany``; nothing here is used by the app.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
from sqlalchemy import Engine, create_engine, event, insert
from sqlmodel import SQLModel

from runtime.definition import SagaDefinition, StepDefinition, StepKind
from runtime.loading import load_definition
from runtime.store.tables import definition_table, event_table, run_table

SAMPLES = Path(__file__).resolve().parents[1] / "sample_sagas"
SAMPLE_NAMES = ("flight_booking", "hotel_booking", "trip_booking")
CHUNK = 20_000


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate."""

    events: int = 1_000_000
    """stop adding runs once this many events are written (the last run completes the count)"""
    seed: int = 7
    end: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    """the newest run starts a little before this (aware, UTC)"""
    span: timedelta = timedelta(days=7)
    """runs start over [end - span, end]"""
    compensation_failure_rate: float = 0.03
    """chance a compensation fails for good (run ends ``failed``)"""
    forward_failure_rate: float = 0.004
    """chance a step after the pivot fails for good (run ends ``failed``)"""
    timeout_share: float = 0.1
    """share of failed attempts that are timeouts"""


@dataclass
class _Saga:
    definition: SagaDefinition
    order: list[StepDefinition]
    weight: float


@dataclass
class _Batch:
    saga: _Saga
    origin: str
    batch: str | None
    injected: dict[str, float]


def sample_definitions() -> list[SagaDefinition]:
    """The sample sagas plus flight_booking v2 (a slower, flakier payment step)."""
    found = [load_definition(SAMPLES / f"{name}.yaml") for name in SAMPLE_NAMES
             if (SAMPLES / f"{name}.yaml").exists()]
    flight = next((d for d in found if d.saga == "flight_booking"), None)
    if flight is not None:
        data = flight.model_dump(mode="json")
        data["version"] = 2
        for step in data["steps"]:
            if step["name"] == "charge_payment":
                step["simulate"] = {"failure_rate": 0.15, "flaky_rate": 0.1,
                                    "latency_p50": "80ms", "latency_p95": "400ms"}
        found.append(SagaDefinition.model_validate(data))
    return found


def _topological(definition: SagaDefinition) -> list[StepDefinition]:
    graph = nx.DiGraph()
    graph.add_nodes_from(step.name for step in definition.steps)
    graph.add_edges_from((dep, step.name) for step in definition.steps for dep in step.after)
    index = {step.name: i for i, step in enumerate(definition.steps)}
    names = nx.lexicographical_topological_sort(graph, key=lambda name: index[name])
    return [definition.step(name) for name in names]


class _Writer:
    """Turns simulated runs into rows; counts events."""

    def __init__(self, rng: random.Random, spec: SyntheticSpec) -> None:
        self.rng = rng
        self.spec = spec
        self.runs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.event_count = 0

    # -- one run -----------------------------------------------------------------------
    def run(self, saga: _Saga, batch: _Batch, started: datetime, rng: random.Random) -> int:
        """Simulate one run; append its rows; return how many events it has."""
        self.rng = rng
        spec = self.spec
        definition = saga.definition
        run_id = f"{rng.getrandbits(128):032x}"
        out: list[tuple[float, int, dict[str, Any]]] = []  # (ms from start, tiebreak, row)
        tick = 0

        def emit(at: float, type_: str, **cols: Any) -> None:
            nonlocal tick
            tick += 1
            out.append((at, tick, {"type": type_, **cols}))

        emit(0.0, "run_started", data={"input": {"customer": rng.randrange(10_000)},
                                       "injection": batch.injected, "batch": batch.batch})
        ends: dict[str, float] = {}
        final_fail: dict[str, float] = {}
        started_steps: list[StepDefinition] = []
        pivot_done = False
        first_failure = math.inf
        for step in saga.order:
            if any(dep not in ends for dep in step.after):
                continue
            start = max((ends[dep] for dep in step.after), default=0.0)
            if start >= first_failure:
                continue
            started_steps.append(step)
            end, ok = self._attempts(step, definition, start, batch, emit, pivot_done)
            if ok:
                ends[step.name] = end
                if step.kind is StepKind.PIVOT:
                    pivot_done = True
            else:
                final_fail[step.name] = end
                first_failure = min(first_failure, end)

        status, terminal_at = "completed", max(ends.values(), default=0.0)
        if final_fail:
            trigger = min(final_fail, key=lambda name: final_fail[name])
            post_pivot = definition.step(trigger).kind is StepKind.RETRIABLE
            if post_pivot:
                at = final_fail[trigger]
                status, terminal_at = "failed", at
                emit(at + 0.2, "run_failed", step=trigger, error_type="ServiceError",
                     error=f"{trigger}: gave up after retries", duration_ms=at + 0.2,
                     data={"reason": "forward_step_failed"})
            else:
                at = max([*final_fail.values(), *(ends[s.name] for s in started_steps
                                                  if s.name in ends)])
                emit(at + 0.1, "run_compensating", step=trigger, error_type="ServiceError",
                     error=f"{trigger} failed", data={"reason": "step_failed"})
                status, terminal_at = self._compensate(
                    definition, [s for s in reversed(started_steps) if s.name in ends],
                    at + 0.2, emit)
                terminal_type = "run_compensated" if status == "compensated" else None
                if terminal_type:
                    emit(terminal_at, terminal_type, duration_ms=terminal_at)
        if status == "completed":
            terminal_at += 0.3
            emit(terminal_at, "run_completed", duration_ms=terminal_at)

        # the youngest runs are still going: drop what has not happened yet
        horizon = (spec.end - started).total_seconds() * 1000
        out.sort(key=lambda item: (item[0], item[1]))
        if terminal_at > horizon:
            out = [item for item in out if item[0] <= horizon and item[2]["type"] not in
                   ("run_completed", "run_compensated", "run_failed")]
            # an attempt's start is committed with its outcome: drop starts still in flight
            done = {(i[2]["type"].split("_")[0], i[2].get("step"), i[2].get("attempt"))
                    for i in out if not i[2]["type"].endswith("_started")}
            out = [i for i in out if not i[2]["type"].endswith("_started")
                   or i[2]["type"] == "run_started"
                   or (i[2]["type"].split("_")[0], i[2].get("step"), i[2].get("attempt")) in done]
            status = ("compensating" if any(i[2]["type"] == "run_compensating" for i in out)
                      else "running")
        ended = started + timedelta(milliseconds=terminal_at) if status in (
            "completed", "compensated", "failed") else None
        self.runs.append({
            "id": run_id, "saga": definition.saga, "definition_hash": definition.content_hash,
            "status": status, "mode": "orchestration", "origin": batch.origin,
            "batch": batch.batch, "input": {}, "started_at": started, "ended_at": ended,
            "duration_ms": round(terminal_at, 3) if ended else None, "owner": None,
            "lease_expires_at": None if ended else started + timedelta(seconds=30)})
        for seq, (at, _tick, row) in enumerate(out, start=1):
            self.events.append({
                "run_id": run_id, "seq": seq, "ts": started + timedelta(milliseconds=at),
                "type": row["type"], "step": row.get("step"), "attempt": row.get("attempt"),
                "duration_ms": row.get("duration_ms"), "error_type": row.get("error_type"),
                "error": row.get("error"), "data": row.get("data")})
        self.event_count += len(out)
        return len(out)

    def _latency(self, step: StepDefinition) -> float:
        sim = step.simulate
        p50 = sim.latency_p50.total_seconds() * 1000 if sim and sim.latency_p50 else 30.0
        p95 = sim.latency_p95.total_seconds() * 1000 if sim and sim.latency_p95 else p50 * 3
        sigma = max(math.log(max(p95, p50 * 1.01) / p50) / 1.645, 0.01)
        return round(self.rng.lognormvariate(math.log(p50), sigma), 3)

    def _attempts(self, step: StepDefinition, definition: SagaDefinition, start: float,
                  batch: _Batch, emit: Any, pivot_done: bool) -> tuple[float, bool]:
        """Attempts of one step from ``start``: (time of the last outcome, succeeded?)."""
        rng, spec = self.rng, self.spec
        sim = step.simulate
        policy = definition.retry_policy(step)
        retriable = step.kind is StepKind.RETRIABLE
        fail_rate = (spec.forward_failure_rate if retriable
                     else (sim.failure_rate if sim else 0.0))
        fail_rate = min(1.0, fail_rate + batch.injected.get(step.name, 0.0))
        flaky = sim.flaky_rate if sim else 0.0
        doomed = rng.random() < fail_rate
        non_retryable = doomed and not retriable and rng.random() < 0.5
        max_attempts = min(policy.max_attempts, 6) if retriable else policy.max_attempts
        at = start
        for attempt in range(1, max_attempts + 1):
            latency = self._latency(step)
            emit(at, "step_started", step=step.name, attempt=attempt)
            at += latency
            fails = doomed or rng.random() < flaky
            if not fails:
                emit(at, "step_succeeded", step=step.name, attempt=attempt, duration_ms=latency,
                     data={"output": {"ref": f"{step.name[:3]}-{rng.randrange(1_000_000)}"}})
                return at, True
            final = non_retryable or attempt == max_attempts
            wait = None
            if not final:
                base = policy.interval(attempt).total_seconds() * 1000
                wait = round(base * (rng.uniform(0.5, 1.0) if policy.jitter else 1.0), 3)
            timed_out = rng.random() < spec.timeout_share and not non_retryable
            emit(at, "step_timed_out" if timed_out else "step_failed", step=step.name,
                 attempt=attempt, duration_ms=latency,
                 error_type="TimeoutError" if timed_out else (
                     "NonRetryableError" if non_retryable else "ServiceError"),
                 error=f"{step.action}: {'timed out' if timed_out else 'service said no'}",
                 data={"final": final, "retry_in_ms": wait})
            if final:
                return at, False
            at += wait or 0.0
        return at, False  # pragma: no cover - the loop always returns

    def _compensate(self, definition: SagaDefinition, steps: list[StepDefinition],
                    at: float, emit: Any) -> tuple[str, float]:
        rng, spec = self.rng, self.spec
        for step in steps:
            if step.compensation is None:
                continue
            policy = definition.compensation_policy(step)
            doomed = rng.random() < spec.compensation_failure_rate
            for attempt in range(1, policy.max_attempts + 1):
                latency = round(self._latency(step) * 0.8, 3)
                emit(at, "compensation_started", step=step.name, attempt=attempt)
                at += latency
                if not doomed and rng.random() > 0.05:
                    emit(at, "compensation_succeeded", step=step.name, attempt=attempt,
                         duration_ms=latency, data={"output": None})
                    break
                final = attempt == policy.max_attempts
                wait = None if final else round(
                    policy.interval(attempt).total_seconds() * 1000 * rng.uniform(0.5, 1.0), 3)
                emit(at, "compensation_failed", step=step.name, attempt=attempt,
                     duration_ms=latency, error_type="ServiceError",
                     error=f"{step.compensation}: could not undo",
                     data={"final": final, "retry_in_ms": wait})
                if final:
                    emit(at + 0.2, "run_failed", step=step.name, error_type="ServiceError",
                         error=f"{step.compensation}: could not undo", duration_ms=at + 0.2,
                         data={"reason": "compensation_failed"})
                    return "failed", at + 0.2
                at += wait or 0.0
            at += 0.1
        return "compensated", at + 0.1


def _batches(rng: random.Random, sagas: list[_Saga]) -> Iterator[tuple[_Batch, int, float]]:
    """Endless (batch, run count, seconds between runs): mostly simulated batches."""
    weights = [s.weight for s in sagas]
    while True:
        saga = rng.choices(sagas, weights)[0]
        kind = rng.random()
        if kind < 0.35:
            yield _Batch(saga, "real", None, {}), rng.randrange(20, 200), rng.uniform(5, 60)
            continue
        origin = "simulated" if kind < 0.9 else "test"
        injected: dict[str, float] = {}
        if rng.random() < 0.3:
            injected[rng.choice(saga.definition.steps).name] = rng.choice([0.1, 0.25, 0.5])
        batch = f"b{rng.getrandbits(48):012x}"
        yield _Batch(saga, origin, batch, injected), rng.randrange(50, 2000), rng.uniform(0.02, 0.5)


def generate(engine: Engine, spec: SyntheticSpec = SyntheticSpec(), *,
             progress: bool = False) -> tuple[int, int]:
    """Create the tables and write the log; returns (runs, events)."""
    SQLModel.metadata.create_all(engine, tables=[definition_table, run_table, event_table])
    rng = random.Random(spec.seed)
    definitions = sample_definitions()
    weights = {"flight_booking": 3.0, "trip_booking": 2.0, "hotel_booking": 1.5}
    sagas = [_Saga(d, _topological(d), weights.get(d.saga, 1.0) / (2 if d.version > 1 else 1))
             for d in definitions]
    with engine.begin() as conn:
        for d in definitions:
            conn.execute(insert(definition_table).prefix_with("OR IGNORE")
                         if engine.dialect.name == "sqlite" else insert(definition_table), [{
                             "hash": d.content_hash, "name": d.saga, "version": d.version,
                             "body": d.model_dump(mode="json"),
                             "created_at": spec.end - spec.span}])

    # plan every run's start time, oldest first; the newest starts 0.1 s before `end`
    estimate = spec.events / 9.0
    planned: list[tuple[datetime, _Saga, _Batch]] = []
    span_s = spec.span.total_seconds()
    for batch, count, gap in _batches(rng, sagas):
        if len(planned) >= estimate * 1.5:
            break
        begin = rng.uniform(0, span_s)
        for i in range(count):
            offset = begin + i * gap * rng.uniform(0.5, 1.5)
            if offset > span_s:
                break
            planned.append((spec.end - spec.span + timedelta(seconds=offset), batch.saga, batch))
    planned.sort(key=lambda item: item[0])
    shift = spec.end - timedelta(milliseconds=100) - planned[-1][0]
    planned = [(started + shift, saga, batch) for started, saga, batch in planned]
    # a batch being written right now: its youngest runs are still in flight
    live = _Batch(sagas[0], "simulated", f"b{rng.getrandbits(48):012x}", {})
    planned += [(spec.end - timedelta(milliseconds=20 * (40 - i)), live.saga, live)
                for i in range(40)]

    # each run has its own RNG, so counting newest-first and writing oldest-first agree
    def run_rng(index: int) -> random.Random:
        return random.Random(spec.seed * 10_000_019 + index)

    counter = _Writer(rng, spec)
    first, total = len(planned), 0
    while first > 0 and total < spec.events:
        first -= 1
        started, saga, batch = planned[first]
        total += counter.run(saga, batch, started, run_rng(first))
        counter.runs.clear()
        counter.events.clear()

    writer = _Writer(rng, spec)
    runs = events = 0
    clock = time.perf_counter()
    with engine.begin() as conn:
        for index in range(first, len(planned)):
            started, saga, batch = planned[index]
            writer.run(saga, batch, started, run_rng(index))
            if len(writer.events) >= CHUNK:
                runs, events = _flush(conn, writer, runs, events)
                if progress:
                    print(f"\r{events:>9,} events  {runs:>7,} runs  "
                          f"{time.perf_counter() - clock:5.1f} s", end="", file=sys.stderr)
        runs, events = _flush(conn, writer, runs, events)
    if progress:
        print(file=sys.stderr)
    return runs, events


def _flush(conn: Any, writer: _Writer, runs: int, events: int) -> tuple[int, int]:
    if writer.runs:
        conn.execute(insert(run_table), writer.runs)
    if writer.events:
        conn.execute(insert(event_table), writer.events)
    runs, events = runs + len(writer.runs), events + len(writer.events)
    writer.runs.clear()
    writer.events.clear()
    return runs, events


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")  # a throwaway benchmark file
            cursor.close()
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="sqlite:///artifacts/bench/synthetic.db")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    spec = SyntheticSpec(events=args.events, seed=args.seed, span=timedelta(days=args.days))
    clock = time.perf_counter()
    runs, events = generate(engine, spec, progress=True)
    print(f"wrote {runs:,} runs and {events:,} events to {args.url} "
          f"in {time.perf_counter() - clock:.1f} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
