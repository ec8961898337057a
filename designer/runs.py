"""What the Run page starts: failure injection per step and a batch running in a thread.

    rows = injection_rows(definition)                     # defaults from each step's simulate
    injection = injection_from_rows(definition, rows, seed=7)
    job = BatchJob(definition, registry, db_url(), options).start()
    job.snapshot()                                        # progress, summary or error; any thread

The batch runs in a daemon thread (``runtime.batch.run_batch_sync`` with its own event loop
and store), so the page stays responsive and only polls :meth:`BatchJob.snapshot`.
"""

from __future__ import annotations

import math
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runtime.actions import ActionRegistry
from runtime.definition import SagaDefinition
from runtime.errors import SagaError
from runtime.injection import Injection, LatencySpec

DB_ENV = "SAGA_DB"
DEFAULT_DB_URL = "sqlite:///saga.db"
SERVICES_DB_ENV = "SAGA_SERVICES_DB"
DEFAULT_SERVICES_DB = "sample_services.db"
COLUMNS = ("step", "fail", "flaky", "latency_p50_ms", "latency_p95_ms", "fail_compensation")


class InjectionTableError(SagaError):
    def __init__(self, step: str, column: str, reason: str) -> None:
        self.step = step
        self.column = column
        self.reason = reason
        super().__init__(f"step {step!r}, {column}: {reason}")


def db_url(env: Mapping[str, str] | None = None) -> str:
    """``$SAGA_DB`` (the event log the Monitor page reads), else ``sqlite:///saga.db``."""
    return (os.environ if env is None else env).get(DB_ENV, "").strip() or DEFAULT_DB_URL


def services_db(env: Mapping[str, str] | None = None) -> Path:
    """State file of the in-process sample services (``$SAGA_SERVICES_DB``)."""
    value = (os.environ if env is None else env).get(SERVICES_DB_ENV, "").strip()
    return Path(value or DEFAULT_SERVICES_DB)


# -- failure injection table --------------------------------------------------------------
def injection_rows(definition: SagaDefinition) -> list[dict[str, Any]]:
    """One row per step, pre-filled from the step's ``simulate`` fields."""
    defaults = Injection.defaults_of(definition)
    rows = []
    for step in definition.steps:
        latency = defaults.latency.get(step.name)
        rows.append({
            "step": step.name,
            "fail": defaults.fail.get(step.name, 0.0),
            "flaky": defaults.flaky.get(step.name, 0.0),
            "latency_p50_ms": latency.p50_ms if latency else 0.0,
            "latency_p95_ms": latency.p95_ms if latency else 0.0,
            "fail_compensation": defaults.fail_compensation.get(step.name, 0.0),
        })
    return rows


def injection_from_rows(definition: SagaDefinition, rows: Sequence[Mapping[str, Any]],
                        seed: int) -> Injection:
    """The table as an :class:`Injection`; rates in [0, 1], latencies in ms, p95 >= p50."""
    known = set(definition.step_map)
    fail: dict[str, float] = {}
    flaky: dict[str, float] = {}
    comp: dict[str, float] = {}
    latency: dict[str, LatencySpec] = {}
    for row in rows:
        step = str(row.get("step", ""))
        if step not in known:
            raise InjectionTableError(step, "step", "not a step of this saga")
        for column, target in (("fail", fail), ("flaky", flaky), ("fail_compensation", comp)):
            rate = _number(row.get(column), step, column)
            if not 0 <= rate <= 1:
                raise InjectionTableError(step, column, f"{rate} is not a probability (0 to 1)")
            if rate:
                target[step] = rate
        p50 = _number(row.get("latency_p50_ms"), step, "latency_p50_ms")
        p95 = _number(row.get("latency_p95_ms"), step, "latency_p95_ms")
        if p50 < 0 or p95 < 0:
            raise InjectionTableError(step, "latency", "latencies cannot be negative")
        if p95 and p95 < p50:
            raise InjectionTableError(step, "latency_p95_ms",
                                      f"p95 ({p95} ms) is below p50 ({p50} ms)")
        if p50:
            latency[step] = LatencySpec(p50_ms=p50, p95_ms=max(p95, p50))
    return Injection(seed=seed, fail=fail, flaky=flaky, fail_compensation=comp, latency=latency)


def _number(value: Any, step: str, column: str) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InjectionTableError(step, column, f"{value!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise InjectionTableError(step, column, "must be a finite number")
    return number


# -- the batch thread ---------------------------------------------------------------------
@dataclass(frozen=True)
class JobSnapshot:
    """A consistent view of a job for the page: progress counts, then summary or error."""

    batch_id: str
    total: int
    done: int = 0
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    finished: bool = False
    summary: Any = None
    """``runtime.batch.BatchSummary`` once the batch ended."""
    error: str | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


Runner = Callable[..., Any]


class BatchJob:
    """One batch in a daemon thread. ``runner`` is ``run_batch_sync`` (tests pass a fake);
    ``cleanup`` runs when the batch ends (closing the sample services, say)."""

    def __init__(self, definition: SagaDefinition, registry: ActionRegistry, url: str,
                 options: Any, *, runner: Runner | None = None,
                 cleanup: Callable[[], None] | None = None) -> None:
        if getattr(options, "batch_id", None) is None:
            options = replace(options, batch_id=new_batch_id())
        self.definition = definition
        self.options = options
        self._registry = registry
        self._url = url
        self._runner = runner
        self._cleanup = cleanup
        self._lock = threading.Lock()
        self._snapshot = JobSnapshot(options.batch_id, options.count)
        self._thread = threading.Thread(target=self._run, name=f"batch-{options.batch_id}",
                                        daemon=True)

    @property
    def batch_id(self) -> str:
        return str(self.options.batch_id)

    def start(self) -> BatchJob:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the batch ends (tests and scripts); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return self._snapshot

    def _progress(self, progress: Any) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, done=progress.done, total=progress.total,
                                     completed=progress.completed,
                                     compensated=progress.compensated, failed=progress.failed)

    def _run(self) -> None:
        runner = self._runner
        try:
            if runner is None:
                from runtime.batch import run_batch_sync
                runner = run_batch_sync
            summary = runner(self.definition, self._registry, self._url, self.options,
                             progress=self._progress)
        except SagaError as exc:
            self._finish(error=str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user as one line, not a traceback
            self._finish(error=f"the batch stopped: {type(exc).__name__}: {exc}")
        else:
            self._finish(summary=summary)
        finally:
            if self._cleanup is not None:
                self._cleanup()

    def _finish(self, *, summary: Any = None, error: str | None = None) -> None:
        with self._lock:
            snap = self._snapshot
            if summary is not None:
                snap = replace(snap, done=summary.total, total=summary.total,
                               completed=summary.completed, compensated=summary.compensated,
                               failed=summary.failed)
            self._snapshot = replace(snap, finished=True, summary=summary, error=error)


def new_batch_id() -> str:
    return uuid.uuid4().hex[:12]


def real_registry(definition: SagaDefinition, services_path: Path
                  ) -> tuple[ActionRegistry, Callable[[], None]]:
    """The sample services' registry and a function closing them; raises SagaError when the
    services are not installed or do not provide every action of ``definition``."""
    try:
        from sample_sagas.actions import build_registry
    except ImportError as exc:
        raise SagaError(f"the sample services are not available ({exc}); run simulated") from None
    registry, services = build_registry(services_path)
    missing = sorted({s.action for s in definition.steps if s.action not in registry}
                     | {s.compensation for s in definition.steps
                        if s.compensation and s.compensation not in registry})
    if missing:
        services.close()
        raise SagaError(f"the sample services have no action {', '.join(missing)}; "
                        "run this saga simulated")
    return registry, services.close
