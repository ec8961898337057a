"""The Run page's pure part: the injection table and the batch thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from designer.files import open_sample
from designer.registry import simulated_registry
from designer.runs import (
    BatchJob,
    InjectionTableError,
    db_url,
    injection_from_rows,
    injection_rows,
    services_db,
)
from runtime.batch import BatchOptions, BatchProgress, BatchSummary


def test_db_url_and_services_db_come_from_the_environment() -> None:
    assert db_url({}) == "sqlite:///saga.db"
    assert db_url({"SAGA_DB": "postgresql://x/y"}) == "postgresql://x/y"
    assert str(services_db({})) == "sample_services.db"


def test_rows_default_to_the_simulated_fields() -> None:
    rows = injection_rows(open_sample("flight_booking"))
    assert [r["step"] for r in rows] == ["reserve_seat", "charge_payment", "issue_ticket",
                                        "send_confirmation"]
    assert rows[1] == {"step": "charge_payment", "fail": 0.1, "flaky": 0.0, "latency_p50_ms": 50.0,
                       "latency_p95_ms": 200.0, "fail_compensation": 0.0}
    assert rows[3]["flaky"] == 0.05


def test_untouched_rows_give_the_definitions_own_injection() -> None:
    from runtime.injection import Injection

    flight = open_sample("flight_booking")
    injection = injection_from_rows(flight, injection_rows(flight), seed=7)
    assert injection == Injection.from_flags(flight, seed=7)


@pytest.mark.parametrize("change, message", [
    ({"fail": 1.5}, "not a probability"), ({"flaky": "often"}, "not a number"),
    ({"latency_p50_ms": 50, "latency_p95_ms": 10}, "below p50"), ({"step": "ghost"}, "not a step"),
    ({"latency_p50_ms": -1}, "negative"), ({"fail": float("nan")}, "finite"),
])
def test_bad_rows_are_named(change: dict[str, Any], message: str) -> None:
    flight = open_sample("flight_booking")
    rows = injection_rows(flight)
    rows[1].update(change)
    with pytest.raises(InjectionTableError, match=message):
        injection_from_rows(flight, rows, seed=0)


def test_a_job_reports_progress_then_its_summary() -> None:
    release = threading.Event()
    seen: list[Any] = []

    def runner(definition: Any, registry: Any, url: str, options: BatchOptions, *,
               progress: Any) -> BatchSummary:
        seen.append(options.batch_id)
        progress(BatchProgress(done=1, total=options.count, completed=1))
        release.wait(5)
        return BatchSummary(options.batch_id, options.count, 2, 1, 0, 0, 1.0, 3.0, 10.0, 20.0)

    flight = open_sample("flight_booking")
    job = BatchJob(flight, simulated_registry(flight), "sqlite://", BatchOptions(count=3),
                   runner=runner).start()
    for _ in range(200):
        if job.snapshot().done:
            break
        threading.Event().wait(0.01)
    snap = job.snapshot()
    assert (snap.done, snap.total, snap.completed, snap.finished) == (1, 3, 1, False)
    assert snap.batch_id == job.batch_id == seen[0]
    release.set()
    assert job.wait(5)
    snap = job.snapshot()
    assert snap.finished and snap.error is None and snap.fraction == 1.0
    assert (snap.completed, snap.compensated, snap.summary.p95_ms) == (2, 1, 20.0)


@dataclass
class Boom:
    exc: Exception

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc


def test_a_failing_batch_becomes_one_clear_line() -> None:
    from runtime.errors import StoreError

    flight = open_sample("flight_booking")
    closed: list[bool] = []
    for exc, text in ((StoreError("append", "disk full"), "event log append failed: disk full"),
                      (RuntimeError("x"), "the batch stopped: RuntimeError: x")):
        job = BatchJob(flight, simulated_registry(flight), "sqlite://", BatchOptions(count=1),
                       runner=Boom(exc), cleanup=lambda: closed.append(True)).start()
        assert job.wait(5)
        assert job.snapshot().error == text and job.snapshot().finished
    assert closed == [True, True]


def test_a_real_simulated_batch_writes_the_event_log(sqlite_url: str) -> None:
    from runtime.injection import Injection

    flight = open_sample("flight_booking")
    options = BatchOptions(count=20, concurrency=5, seed=7, origin="simulated",
                           injection=Injection.from_flags(flight, seed=7))
    job = BatchJob(flight, simulated_registry(flight), sqlite_url, options).start()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.error is None, snap.error
    assert snap.summary.batch_id == job.batch_id
    assert snap.completed + snap.compensated + snap.failed == 20


def test_real_runs_need_every_action_from_the_sample_services(tmp_path: Any) -> None:
    from designer.runs import real_registry
    from runtime.definition import SagaDefinition
    from runtime.errors import SagaError

    registry, close = real_registry(open_sample("trip_booking"), tmp_path / "services.db")
    try:
        assert "car.rent" in registry
    finally:
        close()
    custom = SagaDefinition.model_validate({"saga": "s", "steps": [
        {"name": "a", "action": "acme.do", "compensation": "acme.undo"}]})
    with pytest.raises(SagaError, match="no action acme.do, acme.undo; run this saga simulated"):
        real_registry(custom, tmp_path / "services.db")
