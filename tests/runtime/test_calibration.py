"""Calibration from the event log (issue 7): fitted failure rates and latency percentiles,
then a re-simulation of the calibrated design with a changed retry policy."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert

from runtime.batch import BatchOptions, run_batch, simulated_registry
from runtime.calibration import LogFilter, batch_injection, calibrate, final_error_types, observe
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.simulation import simulate, wilson_interval, with_retry
from runtime.store.sql import EventStore
from runtime.store.tables import event_table, run_table

SAMPLES = Path(__file__).resolve().parents[2] / "sample_sagas"
T0 = datetime(2026, 3, 1, tzinfo=UTC)

SHOP = SagaDefinition.model_validate({
    "saga": "shop", "defaults": {"timeout": "100ms", "retry": {"max_attempts": 3}},
    "steps": [
        {"name": "reserve", "action": "s.reserve", "compensation": "s.release"},
        {"name": "pay", "action": "s.pay", "kind": "pivot", "after": ["reserve"]},
    ]})


# -- a hand-made log ---------------------------------------------------------------------------
@dataclass
class Attempt:
    """One attempt: ``ok``, ``retry`` (RetryableError), ``final`` (NonRetryableError),
    ``timeout`` -- of the step, or of its compensation with ``compensation=True``."""

    step: str
    result: str
    ms: float
    compensation: bool = False


def write_log(url: str, runs: list[tuple[str, list[Attempt]]], *, saga: str = "shop",
              origin: str = "real") -> None:
    with EventStore(url) as store:
        store.save_definition(SHOP, T0)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for n, (status, attempts) in enumerate(runs):
                run_id = f"{saga}-{origin}-{n}"
                conn.execute(insert(run_table).values(
                    id=run_id, saga=saga, definition_hash=SHOP.content_hash, status=status,
                    mode="orchestration", origin=origin, input={},
                    started_at=T0 + timedelta(seconds=n), duration_ms=100.0 * (n + 1)))
                events = _events(run_id, status, attempts)
                conn.execute(insert(event_table), events)
    finally:
        engine.dispose()


def _events(run_id: str, status: str, attempts: list[Attempt]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"type": "run_started", "step": None}]
    counts: dict[tuple[str, bool], int] = {}
    for a in attempts:
        key = (a.step, a.compensation)
        counts[key] = counts.get(key, 0) + 1
        started, ok, failed = (("compensation_started", "compensation_succeeded",
                                "compensation_failed") if a.compensation
                               else ("step_started", "step_succeeded", "step_failed"))
        rows.append({"type": started, "step": a.step, "attempt": counts[key]})
        if a.result == "ok":
            rows.append({"type": ok, "step": a.step, "duration_ms": a.ms})
        elif a.result == "timeout" and not a.compensation:
            rows.append({"type": "step_timed_out", "step": a.step, "duration_ms": a.ms,
                         "error_type": "TimeoutError"})
        else:
            error = {"retry": "RetryableError", "final": "NonRetryableError",
                     "timeout": "TimeoutError"}[a.result]
            rows.append({"type": failed, "step": a.step, "duration_ms": a.ms,
                         "error_type": error})
        if a.step == "pay" and not a.compensation and a.result == "final":
            rows.append({"type": "run_compensating", "step": "pay"})
    rows.append({"type": f"run_{status}", "step": None})
    return [{"run_id": run_id, "seq": i + 1, "ts": T0, "attempt": None, "duration_ms": None,
             "error_type": None, "error": None, "data": None} | row for i, row in enumerate(rows)]


def ok(step: str, ms: float) -> Attempt:
    return Attempt(step, "ok", ms)


HAND_MADE = [
    # 8 plain runs: reserve 10..80 ms, pay 5 ms
    *[("completed", [ok("reserve", 10.0 * (i + 1)), ok("pay", 5)]) for i in range(8)],
    # a transient failure of reserve, then success
    ("completed", [Attempt("reserve", "retry", 3), ok("reserve", 90), ok("pay", 5)]),
    # a timeout of reserve, then success
    ("completed", [Attempt("reserve", "timeout", 100), ok("reserve", 95), ok("pay", 5)]),
    # pay fails for good twice: reserve compensated (once after a transient failure)
    ("compensated", [ok("reserve", 15), Attempt("pay", "final", 5),
                     Attempt("reserve", "retry", 4, compensation=True),
                     Attempt("reserve", "ok", 4, compensation=True)]),
    ("compensated", [ok("reserve", 25), Attempt("pay", "final", 5),
                     Attempt("reserve", "ok", 4, compensation=True)]),
    # pay fails for good, and so does the compensation: the run needs attention
    ("failed", [ok("reserve", 35), Attempt("pay", "final", 5),
                Attempt("reserve", "timeout", 100, compensation=True),
                Attempt("reserve", "final", 4, compensation=True)]),
    # reserve times out three times: unknown outcome
    ("failed", [Attempt("reserve", "timeout", 100), Attempt("reserve", "timeout", 100),
                Attempt("reserve", "timeout", 100)]),
]


@pytest.fixture
def hand_made(db_url: str) -> Engine:
    write_log(db_url, HAND_MADE)
    write_log(db_url, [("completed", [Attempt("reserve", "final", 1)])] * 3, origin="test")
    write_log(db_url, [("completed", [ok("reserve", 1)])], saga="other")
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def test_fitted_rates_count_what_the_log_shows(hand_made: Engine) -> None:
    fit = calibrate(hand_made, SHOP, LogFilter(origins=("real",)))
    reserve, pay = fit.step("reserve"), fit.step("pay")
    # reserve: 13 runs got past the timeout; none failed for good
    assert (reserve.exposed_runs, reserve.failed_runs, reserve.fail_rate) == (13, 0, 0.0)
    # 13 successes + 1 transient failure among the attempts past the timeout
    assert (reserve.checked_attempts, reserve.transient_failures) == (14, 1)
    assert reserve.flaky_rate == pytest.approx(1 / 14)
    assert (reserve.attempts, reserve.timeouts) == (18, 4)
    # pay: 3 of 13 runs failed for good (NonRetryableError)
    assert (pay.exposed_runs, pay.failed_runs) == (13, 3)
    assert pay.fail_rate == pytest.approx(3 / 13)
    assert pay.fail_rate in pay.fail_interval
    # the compensation of reserve: 3 runs got past its timeout, 1 failed for good
    assert (reserve.compensation_exposed_runs, reserve.compensation_failed_runs) == (3, 1)
    assert reserve.compensation_transient_failures == 1


def test_latency_percentiles_are_nearest_rank_with_timeouts_on_top(hand_made: Engine) -> None:
    reserve = calibrate(hand_made, SHOP, LogFilter(origins=("real",))).step("reserve")
    # 14 timed attempts (3, 10..80, 90, 95, 15, 25, 35) + 4 timeouts = 18 samples
    timed = sorted([3.0, *(10.0 * (i + 1) for i in range(8)), 90.0, 95.0, 15.0, 25.0, 35.0])
    assert reserve.latency_samples == 18
    assert reserve.latency_p50_ms == timed[8]        # rank ceil(0.5 * 18) = 9
    assert reserve.latency_p95_ms == 100.0           # rank 18 is a timeout: censored
    assert reserve.latency_censored
    pay = calibrate(hand_made, SHOP, LogFilter(origins=("real",))).step("pay")
    assert (pay.latency_p50_ms, pay.latency_p95_ms, pay.latency_censored) == (5.0, 5.0, False)


def test_observed_outcomes_and_filters(hand_made: Engine) -> None:
    seen = observe(hand_made, SHOP, LogFilter(origins=("real",)))
    assert (seen.runs, seen.completed, seen.compensated, seen.failed) == (14, 10, 2, 2)
    assert seen.compensating == 3
    reserve = seen.step("reserve")
    assert (reserve.started, reserve.attempts, reserve.compensations,
            reserve.compensation_failures, reserve.compensation_attempts) == (14, 18, 3, 1, 5)
    assert seen.step("pay").triggers == 3
    assert seen.p50_ms == 700.0 and seen.p99_ms == 1400.0
    everything = observe(hand_made, SHOP)
    assert everything.runs == 17                   # + the 3 test runs, never the other saga
    assert calibrate(hand_made, SHOP, LogFilter(origins=("test",))).step("reserve").fail_rate == 1
    assert observe(hand_made, SHOP, LogFilter(batch="none")).runs == 0


def test_the_fitted_injection_and_calibrated_design(hand_made: Engine) -> None:
    fit = calibrate(hand_made, SHOP, LogFilter(origins=("real",)))
    injection = fit.injection(seed=4)
    assert injection.fail == {"pay": pytest.approx(3 / 13)}
    assert injection.flaky == {"reserve": pytest.approx(1 / 14)}
    assert injection.fail_compensation == {"reserve": pytest.approx(1 / 3)}
    assert injection.latency["pay"].p50_ms == 5.0
    calibrated = fit.apply_to(SHOP)
    sim = calibrated.step("pay").simulate
    assert sim is not None and sim.failure_rate == pytest.approx(3 / 13)
    assert calibrated.step("reserve").simulate.latency_p95 == timedelta(milliseconds=100)
    assert calibrated.steps[0].action == SHOP.steps[0].action


def test_final_error_types_include_subclasses() -> None:
    assert {"NonRetryableError", "LimitExceededError"} <= final_error_types()
    assert "RetryableError" not in final_error_types()


# -- from the engine's own log -----------------------------------------------------------------
TRUTH = dict(fail=["charge_payment=0.08"], flaky=["reserve_seat=0.15", "charge_payment=0.4"],
             fail_compensation=["reserve_seat=0.1"])


@pytest.fixture(scope="module")
def flight_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SagaDefinition, Injection]:
    definition = load_definition(SAMPLES / "flight_booking.yaml")
    injection = Injection.from_flags(definition, seed=23, **TRUTH)
    injection = injection.model_copy(update={"latency": {}})
    url = f"sqlite:///{tmp_path_factory.mktemp('calibration') / 'events.db'}"
    store = EventStore(url)
    try:
        asyncio.run(run_batch(definition, simulated_registry(definition), store,
                              BatchOptions(count=2000, concurrency=200, seed=1,
                                           injection=injection, origin="simulated",
                                           batch_id="calib"), clock=ManualClock()))
    finally:
        store.close()
    return url, definition, injection


def test_rates_fitted_to_the_engines_log_recover_the_injected_ones(
        flight_log: tuple[str, SagaDefinition, Injection]) -> None:
    url, definition, injection = flight_log
    engine = create_engine(url)
    fit = calibrate(engine, definition, LogFilter(batch="calib"))
    engine.dispose()
    assert fit.observed.runs == 2000
    # five estimates at once: each within its 99% interval (about 95% for the family)
    checks = [(rate, fit.step(step).failed_runs, fit.step(step).exposed_runs)
              for step, rate in injection.fail.items()]
    checks += [(rate, fit.step(step).transient_failures, fit.step(step).checked_attempts)
               for step, rate in injection.flaky.items()]
    seat = fit.step("reserve_seat")
    checks.append((0.1, seat.compensation_failed_runs, seat.compensation_exposed_runs))
    assert len(checks) == 5
    for rate, count, trials in checks:
        assert rate in wilson_interval(count, trials, level=0.99), (rate, count, trials)
    assert fit.step("issue_ticket").fail_rate == 0.0


def test_what_if_more_attempts_lowers_the_predicted_compensation_rate(
        flight_log: tuple[str, SagaDefinition, Injection]) -> None:
    url, definition, injection = flight_log
    engine = create_engine(url)
    fit = calibrate(engine, definition)
    assert batch_injection(engine, "calib") == injection
    assert batch_injection(engine, "nope") is None
    engine.dispose()
    now = simulate(definition, fit.injection(), runs=100_000, seed=2)
    observed = fit.observed
    assert observed.rate("compensated") in now.compensated.expected_range(observed.runs)
    more = simulate(with_retry(definition, "charge_payment", max_attempts=5), fit.injection(),
                    runs=100_000, seed=2)
    fewer = simulate(with_retry(definition, "charge_payment", max_attempts=1), fit.injection(),
                     runs=100_000, seed=2)
    assert more.compensating.interval.high < now.compensating.interval.low
    assert fewer.compensating.interval.low > now.compensating.interval.high
    # the calibrated design (fitted values in its simulate: fields) predicts the same
    again = simulate(fit.apply_to(definition), runs=100_000, seed=2)
    assert again.compensating == now.compensating
