"""The what-if simulation (issue 7): closed forms, the engine's semantics step by step, and
agreement with the engine itself (run by run with the engine's draws; within the predicted
95% intervals with independent draws)."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from runtime.batch import BatchOptions, run_batch, run_batch_sync, simulated_registry
from runtime.calibration import Observed, observe
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError
from runtime.injection import Z95, Injection
from runtime.loading import load_definition
from runtime.simulate_cli import simulate_command
from runtime.simulation import (
    COMPENSATED,
    COMPLETED,
    FAILED,
    SUCCEEDED,
    UNKNOWN,
    SimulationError,
    SimulationResult,
    expected_share_range,
    simulate,
    simulate_runs,
    wilson_interval,
    with_retry,
)
from runtime.store.sql import EventStore
from runtime.store.tables import event_table, run_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_sagas"
STATUS = {COMPLETED: "completed", COMPENSATED: "compensated", FAILED: "failed"}


# -- building definitions -----------------------------------------------------------------
@dataclass
class S:
    """One step of a test saga: kind, injected failures, latency, retry attempts."""

    name: str
    after: tuple[str, ...] = ()
    kind: str = "compensatable"
    fail: float = 0.0
    flaky: float = 0.0
    comp_fail: float = 0.0
    latency: tuple[float, float] | None = None    # p50, p95 in ms
    attempts: int | None = None
    compensated: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def build(*steps: S, attempts: int = 3, comp_attempts: int = 5, interval_ms: float = 100,
          jitter: bool = False, timeout_ms: float = 10_000, **defaults: Any) -> SagaDefinition:
    body: list[dict[str, Any]] = []
    for s in steps:
        data: dict[str, Any] = {"name": s.name, "action": f"svc.{s.name}", "kind": s.kind,
                                "after": list(s.after)}
        if s.kind == "compensatable":
            if s.compensated:
                data["compensation"] = f"svc.undo_{s.name}"
            else:
                data["read_only"] = True
        if s.attempts is not None:
            data["retry"] = {"max_attempts": s.attempts, "initial_interval": f"{interval_ms}ms",
                             "backoff": 2.0, "jitter": jitter}
        sim: dict[str, Any] = {"failure_rate": s.fail, "flaky_rate": s.flaky,
                               "compensation_failure_rate": s.comp_fail}
        if s.latency is not None:
            sim |= {"latency_p50": f"{s.latency[0]}ms", "latency_p95": f"{s.latency[1]}ms"}
        data["simulate"] = sim
        body.append(data | s.extra)
    retry = {"max_attempts": attempts, "initial_interval": f"{interval_ms}ms", "backoff": 2.0,
             "max_interval": "60s", "jitter": jitter}
    comp_retry = retry | {"max_attempts": comp_attempts}
    return SagaDefinition.model_validate({
        "saga": "test", "steps": body,
        "defaults": {"retry": retry, "compensation_retry": comp_retry,
                     "retriable_retry": retry, "timeout": f"{timeout_ms}ms"} | defaults})


def chain(*steps: S) -> tuple[S, ...]:
    """Link steps into a line, each after the one before."""
    linked = []
    for i, s in enumerate(steps):
        linked.append(s if i == 0 else S(**{**s.__dict__, "after": (steps[i - 1].name,)}))
    return tuple(linked)


# -- closed forms for linear sagas -----------------------------------------------------------
def timeout_probability(latency: tuple[float, float] | None, timeout_ms: float) -> float:
    """P(one attempt's log-normal latency reaches the timeout)."""
    if latency is None:
        return 0.0
    p50, p95 = latency
    sigma = math.log(p95 / p50) / Z95
    return 1 - NormalDist().cdf((math.log(timeout_ms) - math.log(p50)) / sigma)


def capped_geometric_mean(p: float, cap: int) -> float:
    """E[min(G, cap)] for G ~ Geometric(p) on 1, 2, ..."""
    return (1 - (1 - p) ** cap) / p if p > 0 else float(cap)


@dataclass
class ClosedForm:
    completed: float = 0.0
    compensated: float = 0.0
    failed: float = 0.0
    attempts: list[float] = field(default_factory=list)
    compensations: list[float] = field(default_factory=list)
    triggers: list[float] = field(default_factory=list)
    mean_duration_ms: float = 0.0


def closed_form(steps: tuple[S, ...], *, attempts: int = 3, comp_attempts: int = 5,
                interval_ms: float = 100, jitter: bool = False,
                timeout_ms: float = 10_000) -> ClosedForm:
    """Exact probabilities and means of a linear saga (each step after the one before)."""
    n = len(steps)
    result = ClosedForm(attempts=[0.0] * n, compensations=[0.0] * n, triggers=[0.0] * n)
    reach = 1.0
    survive_of: list[tuple[float, float]] = []   # P(compensation succeeds): after success, unknown
    for i, s in enumerate(steps):
        m = s.attempts or attempts
        a = timeout_probability(s.latency, timeout_ms)
        passes = (1 - a) * (1 - s.flaky)
        succeed = (1 - s.fail) * (1 - (1 - passes) ** m)
        # unknown: the last attempt timed out (a run that fails for good only if all did)
        unknown = s.fail * a ** m + (1 - s.fail) * (1 - passes) ** (m - 1) * a
        known_fail = 1 - succeed - unknown
        result.attempts[i] = reach * (s.fail * capped_geometric_mean(1 - a, m)
                                      + (1 - s.fail) * capped_geometric_mean(passes, m))
        waits = sum(((1 - a) * s.flaky + a) ** k * interval_ms * 2 ** (k - 1)
                    for k in range(1, m))
        result.mean_duration_ms += reach * (1 - s.fail) * waits * (0.75 if jitter else 1.0)
        # a compensation attempt sees the latency of the step's attempt with its number: after
        # a success it gets through where the step did; after all m attempts timed out only
        # its attempts m+1.. are fresh draws
        fresh = a ** max(comp_attempts - m, 0)
        all_timed_out = a ** m
        fails_unknown = (all_timed_out * (fresh + (1 - fresh) * s.comp_fail)
                         + (unknown - all_timed_out) * s.comp_fail) / unknown if unknown else 0.0
        survive_of.append((1 - s.comp_fail, 1 - fails_unknown))
        compensable = s.kind == "compensatable" and s.compensated
        for p_case, is_unknown in ((reach * known_fail, False), (reach * unknown, True)):
            if s.kind == "retriable":
                result.failed += p_case
                continue
            result.triggers[i] += p_case
            chain_ = ([(i, survive_of[i][1])] if is_unknown and compensable else [])
            chain_ += [(j, survive_of[j][0]) for j in reversed(range(i))
                       if steps[j].kind == "compensatable" and steps[j].compensated]
            alive = 1.0
            for j, ok in chain_:
                result.compensations[j] += p_case * alive
                alive *= ok
            result.compensated += p_case * alive
            result.failed += p_case * (1 - alive)
        reach *= succeed
    result.completed = reach
    return result


def close(simulated: float, exact: float, runs: int, sd: float | None = None,
          z: float = 4.5) -> bool:
    """Within ``z`` standard errors (a binomial one unless ``sd`` is given)."""
    spread = sd if sd is not None else math.sqrt(max(exact * (1 - exact), 1e-12))
    return abs(simulated - exact) <= z * spread / math.sqrt(runs) + 1e-12


LINEAR_CASES = {
    "fail for good only": chain(S("a", fail=0.1), S("b", fail=0.05), S("c", fail=0.2)),
    "flaky only": chain(S("a", flaky=0.3), S("b", flaky=0.5, attempts=2),
                        S("c", flaky=0.2, attempts=4)),
    "pivot and retriable": chain(S("a", fail=0.02, flaky=0.2), S("b", fail=0.05, flaky=0.1,
                                                                  attempts=2),
                                 S("p", kind="pivot", fail=0.1, flaky=0.3),
                                 S("r", kind="retriable", flaky=0.5, attempts=4)),
    "compensation failures": chain(S("a", comp_fail=0.3), S("b", comp_fail=0.2, flaky=0.4),
                                   S("ro", compensated=False, fail=0.05),
                                   S("c", fail=0.15, comp_fail=0.5), S("d", fail=0.25)),
    "timeouts (unknown outcomes are compensated)": chain(
        S("a", latency=(10, 40)), S("b", latency=(15, 60), flaky=0.1),
        S("c", fail=0.1, latency=(5, 30))),
}
RUNS = 200_000


@pytest.mark.parametrize("name", LINEAR_CASES)
def test_linear_saga_matches_its_closed_form(name: str) -> None:
    steps = LINEAR_CASES[name]
    timeout = 20.0
    definition = build(*steps, timeout_ms=timeout)
    exact = closed_form(steps, timeout_ms=timeout)
    result = simulate(definition, runs=RUNS, seed=11)
    for status in ("completed", "compensated", "failed"):
        assert close(result.outcome(status).rate, getattr(exact, status), RUNS), status
    for i, step in enumerate(result.steps):
        assert close(step.attempts.mean, exact.attempts[i], RUNS, sd=step.attempts.sd), step.step
        assert close(step.compensations.rate, exact.compensations[i], RUNS), step.step
        assert close(step.triggers.rate, exact.triggers[i], RUNS), step.step


def test_p_complete_is_the_product_of_each_steps_chance_to_succeed() -> None:
    steps = chain(S("a", fail=0.03, flaky=0.4), S("b", flaky=0.6, attempts=5),
                  S("c", fail=0.1, flaky=0.1, attempts=2))
    exact = math.prod((1 - s.fail) * (1 - s.flaky ** (s.attempts or 3)) for s in steps)
    result = simulate(build(*steps), runs=RUNS, seed=3)
    assert close(result.completed.rate, exact, RUNS)
    assert exact in result.completed.interval


@pytest.mark.parametrize("jitter", [False, True])
def test_mean_latency_is_the_expected_backoff_wait(jitter: bool) -> None:
    steps = chain(S("a", flaky=0.3), S("b", flaky=0.5, attempts=4), S("c", fail=0.2, flaky=0.2))
    exact = closed_form(steps, jitter=jitter)
    result = simulate_runs(build(*steps, jitter=jitter), runs=RUNS, seed=5)
    sd = float(result.duration_ms.std())
    assert close(float(result.duration_ms.mean()), exact.mean_duration_ms, RUNS, sd=sd)


def test_latency_percentiles_of_one_step_are_its_log_normal() -> None:
    result = simulate(build(S("a", latency=(40, 160))), runs=RUNS, seed=1)
    assert result.latency.p50_ms == pytest.approx(40, rel=0.02)
    assert result.latency.p95_ms == pytest.approx(160, rel=0.03)


def test_parallel_branches_take_the_critical_path() -> None:
    """Two branches then a join: the run takes the slower branch, P(max <= x) = F_a(x) F_b(x)."""
    definition = build(S("a", latency=(30, 90)), S("b", latency=(50, 80)),
                       S("j", after=("a", "b"), kind="pivot"))
    runs = simulate_runs(definition, runs=RUNS, seed=2)

    def cdf(x: float, p50: float, p95: float) -> float:
        return NormalDist().cdf(math.log(x / p50) / (math.log(p95 / p50) / Z95))

    median = float(np.median(runs.duration_ms))
    assert cdf(median, 30, 90) * cdf(median, 50, 80) == pytest.approx(0.5, abs=0.005)
    ends = np.nanmax(runs.end_ms[:2], axis=0)
    assert np.array_equal(runs.start_ms[2], ends)


# -- the engine's semantics, case by case (fixed latencies: p50 == p95) ----------------------
def one_run(*steps: S, **options: Any) -> tuple[str, dict[str, bool], float]:
    runs = simulate_runs(build(*steps, **options), runs=1, seed=0)
    names = [s.name for s in steps]
    return (STATUS[int(runs.status[0])],
            {n: bool(runs.compensated[i, 0]) for i, n in enumerate(names)},
            float(runs.duration_ms[0]))


def test_steps_in_flight_finish_and_are_compensated() -> None:
    """b and c (after b) finish before a fails at 100 ms: both are undone, c before b."""
    status, compensated, duration = one_run(
        S("a", fail=1.0, latency=(100, 100)), S("b", latency=(20, 20)),
        S("c", after=("b",), latency=(20, 20)), S("p", after=("a", "c"), kind="pivot"))
    assert status == "compensated"
    assert compensated == {"a": False, "b": True, "c": True, "p": False}
    assert duration == pytest.approx(100 + 20 + 20)


def test_nothing_new_starts_after_a_failure() -> None:
    """a fails at 10 ms while b (20 ms) is in flight: b finishes and is undone; c never starts."""
    runs = simulate_runs(build(S("a", fail=1.0, latency=(10, 10)), S("b", latency=(20, 20)),
                               S("c", after=("b",)), S("p", after=("a", "c"), kind="pivot")),
                         runs=1)
    assert runs.started[:, 0].tolist() == [True, True, False, False]
    assert runs.compensated[:, 0].tolist() == [False, True, False, False]
    assert float(runs.duration_ms[0]) == pytest.approx(20 + 20)


def test_zero_latency_ties_start_siblings_but_not_dependents() -> None:
    """Steps one decision starts all run; a step made ready at the instant of a failure
    does not (the engine folds both outcomes before it decides again)."""
    runs = simulate_runs(build(S("a", fail=1.0), S("b"), S("c", after=("b",)),
                               S("p", after=("a", "c"), kind="pivot")), runs=1)
    assert runs.started[:, 0].tolist() == [True, True, False, False]
    assert runs.compensated[:, 0].tolist() == [False, True, False, False]


def test_independent_branches_compensate_in_parallel() -> None:
    status, compensated, duration = one_run(
        S("a", latency=(20, 20)), S("b", latency=(30, 30)),
        S("c", fail=1.0, after=("a", "b"), latency=(5, 5)))
    assert (status, compensated["a"], compensated["b"]) == ("compensated", True, True)
    assert duration == pytest.approx(30 + 5 + 30)


@pytest.mark.parametrize("continue_on_error, undone", [(False, False), (True, True)])
def test_a_failed_compensation_stops_the_rest_unless_told_to_continue(
        continue_on_error: bool, undone: bool) -> None:
    status, compensated, _ = one_run(
        *chain(S("a"), S("b", comp_fail=1.0), S("c", fail=1.0)),
        compensation={"continue_on_error": continue_on_error})
    assert status == "failed"
    assert compensated == {"a": undone, "b": True, "c": False}


def test_a_retriable_step_that_gives_up_fails_the_run_without_compensation() -> None:
    status, compensated, _ = one_run(*chain(S("a"), S("p", kind="pivot"),
                                            S("r", kind="retriable", flaky=1.0, attempts=4)))
    assert status == "failed" and not any(compensated.values())


def test_a_failed_pivot_compensates_the_steps_before_it() -> None:
    status, compensated, _ = one_run(*chain(S("a"), S("ro", compensated=False),
                                            S("p", kind="pivot", fail=1.0)))
    assert status == "compensated"
    assert compensated == {"a": True, "ro": False, "p": False}


def test_a_step_that_times_out_for_good_is_unknown_and_compensated() -> None:
    """Every attempt times out; the compensation's attempts 1-3 see the same latencies (the
    engine keys both by attempt number), so they time out too; attempts 4-5 do as well. The
    failed compensation ends the run failed before a's compensation starts."""
    runs = simulate_runs(build(*chain(S("a"), S("b", latency=(50, 50))), timeout_ms=20),
                         runs=1)
    assert runs.outcome[:, 0].tolist() == [SUCCEEDED, UNKNOWN]
    assert runs.compensated[:, 0].tolist() == [False, True]
    assert runs.compensation_attempts[:, 0].tolist() == [0, 5]
    assert STATUS[int(runs.status[0])] == "failed"
    assert runs.attempts[1, 0] == 3
    # 3 timed-out attempts (20 ms each), waits 100 + 200, then 5 compensation attempts
    # (20 ms each) with waits 100 + 200 + 400 + 800
    assert float(runs.duration_ms[0]) == pytest.approx(3 * 20 + 300 + 5 * 20 + 1500)


def test_compensation_of_an_unknown_step_fails_as_often_as_its_fresh_attempts_time_out() -> None:
    """a^M for the step, then only the compensation's attempts M+1.. are fresh draws."""
    a = timeout_probability((10, 40), 20)
    result = simulate(build(*chain(S("a", latency=(10, 40)), S("b")), timeout_ms=20),
                      runs=RUNS, seed=9)
    assert close(result.step("a").unknown.rate, a ** 3, RUNS)
    assert close(result.failed.rate, a ** 5, RUNS)


def test_more_attempts_only_add_completed_runs() -> None:
    """Common random numbers: the same seed gives the same draws for attempts 1-3."""
    definition = build(*chain(S("a", flaky=0.3), S("b", flaky=0.4, fail=0.05), S("c")))
    before = simulate_runs(definition, runs=20_000, seed=4)
    after = simulate_runs(with_retry(definition, "b", max_attempts=5), runs=20_000, seed=4)
    was = before.status == COMPLETED
    assert np.all(after.status[was] == COMPLETED)
    assert (after.status == COMPLETED).sum() > was.sum()


def test_with_retry_changes_one_policy_only() -> None:
    definition = load_definition(SAMPLES / "flight_booking.yaml")
    changed = with_retry(definition, "charge_payment", max_attempts=5)
    step = changed.step("charge_payment")
    assert step.retry is not None and step.retry.max_attempts == 5
    assert step.retry.initial_interval == definition.defaults.retry.initial_interval
    assert changed.step("reserve_seat") == definition.step("reserve_seat")
    comp = with_retry(definition, "reserve_seat", compensation=True, max_attempts=9)
    assert comp.compensation_policy(comp.step("reserve_seat")).max_attempts == 9
    with pytest.raises(SimulationError, match="no step 'nope'"):
        with_retry(definition, "nope", max_attempts=2)
    with pytest.raises(SimulationError, match="not a retry policy field"):
        with_retry(definition, "reserve_seat", attempts=2)


def test_a_graph_that_cannot_be_walked_is_a_definition_error() -> None:
    definition = build(S("a", after=("b",)), S("b", after=("a",)))
    with pytest.raises(DefinitionError, match="cycle"):
        simulate(definition, runs=10)
    with pytest.raises(SimulationError, match="1 to 1,000,000 runs"):
        simulate(build(S("a")), runs=0)


def test_the_same_seed_gives_the_same_prediction() -> None:
    definition = load_definition(SAMPLES / "trip_booking.yaml")
    assert simulate(definition, runs=5000, seed=8) == simulate(definition, runs=5000, seed=8)
    assert simulate(definition, runs=5000, seed=8) != simulate(definition, runs=5000, seed=9)


@st.composite
def random_sagas(draw: st.DrawFn) -> SagaDefinition:
    count = draw(st.integers(1, 5))
    steps = []
    for i in range(count):
        after = tuple(f"s{j}" for j in range(i) if draw(st.booleans()))
        rate = st.sampled_from([0.0, 0.1, 0.5, 1.0])
        latency = draw(st.sampled_from([None, (5.0, 5.0), (5.0, 30.0)]))
        steps.append(S(f"s{i}", after=after, fail=draw(rate), flaky=draw(rate),
                       comp_fail=draw(rate), latency=latency,
                       compensated=draw(st.booleans()), attempts=draw(st.integers(1, 4))))
    return build(*steps, timeout_ms=20, compensation={"continue_on_error": draw(st.booleans())})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_sagas(), st.integers(0, 2**32))
def test_invariants_of_every_simulated_run(definition: SagaDefinition, seed: int) -> None:
    runs = simulate_runs(definition, runs=300, seed=seed)
    index = {s.name: i for i, s in enumerate(definition.steps)}
    for i, step in enumerate(definition.steps):
        deps = [index[d] for d in step.after]
        if deps:   # a step starts only after all its dependencies succeeded
            ok = np.logical_and.reduce(runs.outcome[deps] == SUCCEEDED, axis=0)
            assert not np.any(runs.started[i] & ~ok)
            latest = np.nan_to_num(runs.end_ms[deps], nan=-np.inf).max(axis=0)
            assert np.all(runs.start_ms[i][runs.started[i]] >= latest[runs.started[i]])
        undone = runs.compensated[i]
        assert not np.any(undone & ~runs.compensating)
        assert not np.any(undone & ~np.isin(runs.outcome[i], [SUCCEEDED, UNKNOWN]))
        if not step.compensation:
            assert not undone.any()
        assert np.all(runs.attempts[i][runs.started[i]] >= 1)
    completed = runs.status == COMPLETED
    assert np.all(runs.outcome[:, completed] == SUCCEEDED)
    assert np.all((runs.status == COMPENSATED) <= runs.compensating)
    assert np.all(runs.duration_ms >= np.nan_to_num(np.nanmax(runs.end_ms, axis=0, initial=0)))


# -- agreement with the engine ---------------------------------------------------------------
@dataclass
class EngineBatch:
    definition: SagaDefinition
    injection: Injection
    statuses: dict[int, str]      # run index -> status
    durations: dict[int, float]
    observed: Observed


def run_engine(definition: SagaDefinition, injection: Injection, url: str, count: int, *,
               manual_clock: bool = True, concurrency: int = 200) -> EngineBatch:
    options = BatchOptions(count=count, concurrency=concurrency, seed=3, injection=injection,
                           origin="simulated")
    registry = simulated_registry(definition)
    if manual_clock:   # backoff waits do not really wait
        store = EventStore(url)
        try:
            asyncio.run(run_batch(definition, registry, store, options, clock=ManualClock()))
        finally:
            store.close()
    else:
        run_batch_sync(definition, registry, url, options)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            index = {row.run_id: row.data["run_index"] for row in conn.execute(
                select(event_table.c.run_id, event_table.c.data)
                .where(event_table.c.type == "run_started"))}
            rows = conn.execute(select(run_table.c.id, run_table.c.status,
                                       run_table.c.duration_ms)).all()
        observed = observe(engine, definition)
    finally:
        engine.dispose()
    return EngineBatch(definition, injection, {index[r.id]: r.status for r in rows},
                       {index[r.id]: r.duration_ms for r in rows}, observed)


AGREEMENT_RUNS = 3000
AGREEMENT = {
    "flight_booking": dict(fail=["charge_payment=0.1"], flaky=["reserve_seat=0.2",
                                                                "charge_payment=0.3"],
                           fail_compensation=["reserve_seat=0.1"]),
    "trip_booking": dict(flaky=["book_hotel=0.3"], fail_compensation=["book_flight=0.2",
                                                                       "book_car=0.1"]),
}


@pytest.fixture(scope="module", params=sorted(AGREEMENT))
def engine_batch(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> EngineBatch:
    """The engine's runs of a sample saga (no latency: rates only)."""
    name = request.param
    definition = load_definition(SAMPLES / f"{name}.yaml")
    injection = Injection.from_flags(definition, seed=17, **AGREEMENT[name])
    injection = injection.model_copy(update={"latency": {}})
    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'events.db'}"
    return run_engine(definition, injection, url, AGREEMENT_RUNS)


def test_the_engines_draws_give_the_engines_outcomes_run_by_run(engine_batch: EngineBatch) -> None:
    runs = simulate_runs(engine_batch.definition, engine_batch.injection, runs=AGREEMENT_RUNS,
                         draws="engine")
    simulated = {i: STATUS[int(code)] for i, code in enumerate(runs.status)}
    assert simulated == engine_batch.statuses
    observed = engine_batch.observed
    for i, step in enumerate(engine_batch.definition.steps):
        seen = observed.step(step.name)
        assert int(runs.compensated[i].sum()) == seen.compensations, step.name
        assert int(runs.attempts[i].sum()) == seen.attempts, step.name
        assert int(runs.compensation_attempts[i].sum()) == seen.compensation_attempts, step.name


def test_observed_rates_fall_in_the_predicted_intervals(engine_batch: EngineBatch) -> None:
    prediction = simulate(engine_batch.definition, engine_batch.injection, runs=200_000, seed=1)
    observed = engine_batch.observed
    assert observed.runs == AGREEMENT_RUNS
    for status in ("completed", "compensated", "failed"):
        interval = prediction.outcome(status).expected_range(observed.runs)
        assert observed.rate(status) in interval, (status, observed.rate(status), interval)
    for step in prediction.steps:
        seen = observed.step(step.step)
        interval = step.compensations.expected_range(observed.runs)
        assert seen.compensations / observed.runs in interval, (step.step, interval)


TIMEOUT_SAGA = build(
    S("a", latency=(30, 120)),
    S("b", after=("a",), flaky=0.2, latency=(15, 40)),
    S("c", after=("b",), kind="pivot", fail=0.1, latency=(10, 20)),
    S("d", after=("c",), kind="retriable", flaky=0.3, attempts=2),
    interval_ms=10, timeout_ms=60)
TIMEOUT_RUNS = 200


def engine_timeouts(url: str) -> set[tuple[int, str, int]]:
    """(run index, step, attempt) of every attempt the engine recorded as timed out."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            index = {row.run_id: row.data["run_index"] for row in conn.execute(
                select(event_table.c.run_id, event_table.c.data)
                .where(event_table.c.type == "run_started"))}
            rows = conn.execute(select(event_table.c.run_id, event_table.c.step,
                                       event_table.c.attempt)
                                .where(event_table.c.type == "step_timed_out")).all()
    finally:
        engine.dispose()
    return {(index[r.run_id], r.step, r.attempt) for r in rows}


def test_timeouts_and_latency_agree_with_the_engine_on_a_real_clock(tmp_path: Path) -> None:
    """Real sleeps: every attempt whose injected latency reaches the 60 ms timeout times out
    in the engine, and the outcomes are the simulation's; the only differences are runs with
    an attempt under the timeout that event-loop lag pushed over (the engine can be late,
    never early; how often depends on the machine's load). Each run takes the simulated
    time plus the engine's own overhead (commits)."""
    injection = Injection.from_flags(TIMEOUT_SAGA, seed=11)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    batch = run_engine(TIMEOUT_SAGA, injection, url, TIMEOUT_RUNS, manual_clock=False,
                       concurrency=20)
    runs = simulate_runs(TIMEOUT_SAGA, injection, runs=TIMEOUT_RUNS, draws="engine")
    timed_out = engine_timeouts(url)
    lagged = {run for run, step, attempt in timed_out
              if injection.latency_of(run, step, attempt).total_seconds() * 1000 < 60}
    assert (runs.outcome == UNKNOWN).any() and timed_out
    simulated = {i: STATUS[int(c)] for i, c in enumerate(runs.status)}
    differ = [i for i in range(TIMEOUT_RUNS) if simulated[i] != batch.statuses[i]]
    assert set(differ) <= lagged, (differ, lagged)
    assert len(lagged) <= TIMEOUT_RUNS // 4   # a few on a quiet machine; more under load
    for i, step in enumerate("abc"):   # no timeout the model predicts is missing
        for run in range(TIMEOUT_RUNS):
            if run in lagged:
                continue
            for attempt in range(1, int(runs.attempts[i, run]) + 1):
                latency = injection.latency_of(run, step, attempt).total_seconds() * 1000
                assert (latency >= 60) == ((run, step, attempt) in timed_out)
    same = [i for i in range(TIMEOUT_RUNS) if i not in lagged]
    engine = np.array([batch.durations[i] for i in same])
    model = runs.duration_ms[same]
    assert (engine - model).min() > -1.0   # the engine is never faster than the model ...
    order = np.argsort(model)                # ... and the runs it predicts slow are slow
    fast, slow = order[: len(order) // 3], order[-len(order) // 3:]
    gap = np.median(model[slow]) - np.median(model[fast])
    assert gap > 50
    assert np.median(engine[slow]) - np.median(engine[fast]) > gap / 2


# -- intervals ---------------------------------------------------------------------------------
def test_wilson_interval_known_values() -> None:
    interval = wilson_interval(10, 100)
    assert (interval.low, interval.high) == pytest.approx((0.0552, 0.1744), abs=1e-4)
    assert wilson_interval(0, 1000).low == 0.0


def test_expected_share_range_covers_binomial_noise() -> None:
    """From a very large simulation it is the binomial 95% range of the observed share."""
    interval = expected_share_range(10_000_000, 100_000_000, 1000)
    assert (interval.low, interval.high) == (0.082, 0.119)
    wider = expected_share_range(100, 1000, 1000)
    assert wider.low < interval.low and wider.high > interval.high


# -- the command ------------------------------------------------------------------------------
def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("simulate")(simulate_command)
    app.command("noop")(lambda: None)   # two commands: `simulate` stays a subcommand
    return app


def test_simulate_command_prints_the_prediction() -> None:
    result = CliRunner().invoke(cli(), ["simulate", str(SAMPLES / "flight_booking.yaml"),
                                        "--runs", "20000", "--seed", "4"])
    assert result.exit_code == 0, result.stderr
    for text in ("completed", "compensated", "95% interval", "retry load",
                 "most often triggers compensation: charge_payment", "p95"):
        assert text in result.stdout


def test_simulate_command_json_uses_the_flags_over_the_defaults() -> None:
    result = CliRunner().invoke(cli(), ["simulate", str(SAMPLES / "flight_booking.yaml"), "-n",
                                        "5000", "--fail", "charge_payment=0", "--fail",
                                        "issue_ticket=0.5", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["runs"] == 5000 and data["injection"]["fail"] == {"charge_payment": 0.0,
                                                                   "issue_ticket": 0.5}
    assert data["most_common_trigger"] == "issue_ticket"
    assert 0.45 < data["compensated"]["rate"] < 0.55


@pytest.mark.parametrize("args, message", [
    (["--fail", "nope=0.1"], "saga: --fail 'nope=0.1': no step 'nope'"),
    (["--flaky", "reserve_seat=2"], "between 0 and 1"),
])
def test_simulate_command_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli(), ["simulate", str(SAMPLES / "flight_booking.yaml"), *args])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_simulate_command_reports_an_invalid_definition(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("saga: x\nsteps:\n  - {name: a, action: s.a, after: [zz]}\n")
    result = CliRunner().invoke(cli(), ["simulate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: /steps/0/after/0: no step named 'zz'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_simulation_result_is_json() -> None:
    result: SimulationResult = simulate(load_definition(SAMPLES / "trip_booking.yaml"), runs=1000)
    data = json.loads(json.dumps(result.as_dict()))
    assert [s["step"] for s in data["steps"]][0] == "book_flight"
    assert set(data["latency"]) == {"p50_ms", "p95_ms", "p99_ms", "mean_ms"}
