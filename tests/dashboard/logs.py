"""Small hand-made event logs whose answers are known exactly.

The ``shop`` saga: a -> b -> c (pivot) -> d (retriable); a and b have compensations.
Runs start 10 minutes apart from ``T0`` (12:00:00 UTC, on a bucket boundary):

    r1  completed     a b c d                                   100 ms  simulated  B1
    r2  completed     a, b fails once (retry after 50 ms), c d  200 ms  simulated  B1
    r3  compensated   a, b fails for good -> undo a             300 ms  simulated  B1
    r4  failed        a, b fails for good -> undo a fails twice 400 ms  simulated  B1
    r5  failed        a b c, d fails twice (after the pivot)    500 ms  simulated  B1
    r6  running       a                                            -    real
    r7  compensated   a fails for good (nothing to undo)         50 ms  real       shop v2

plus ``audit`` (one completed run whose step is also called ``a``: step names collide) and
``solo`` (one completed run of a step ``x`` no other saga has).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert
from sqlmodel import SQLModel

from runtime.definition import SagaDefinition
from runtime.store.tables import definition_table, event_table, run_table

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

SHOP = SagaDefinition.model_validate({
    "saga": "shop", "version": 1,
    "steps": [
        {"name": "a", "action": "shop.a", "compensation": "shop.undo_a"},
        {"name": "b", "action": "shop.b", "compensation": "shop.undo_b", "after": ["a"]},
        {"name": "c", "action": "shop.c", "kind": "pivot", "after": ["b"]},
        {"name": "d", "action": "shop.d", "kind": "retriable", "after": ["c"]},
    ],
    "layout": {"a": {"x": 0, "y": 0}, "b": {"x": 200, "y": 0}, "c": {"x": 400, "y": 0},
               "d": {"x": 600, "y": 0}},
})
SHOP_V2 = SHOP.model_copy(update={"version": 2, "description": "second version"})
AUDIT = SagaDefinition.model_validate({"saga": "audit", "steps": [
    {"name": "a", "action": "audit.a", "read_only": True}]})
SOLO = SagaDefinition.model_validate({"saga": "solo", "steps": [
    {"name": "x", "action": "solo.x", "read_only": True}]})


@dataclass
class Script:
    """Events of one run on a moving clock (milliseconds from the run's start)."""

    start: datetime
    at: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    def _emit(self, type_: str, step: str | None = None, **cols: Any) -> None:
        self.events.append({"ts": self.start + timedelta(milliseconds=self.at), "type": type_,
                            "step": step, **cols})

    def mark(self, type_: str, step: str | None = None, **cols: Any) -> Script:
        self._emit(type_, step, **cols)
        return self

    def attempt(self, step: str, attempt: int, ms: float, *, ok: bool = True,
                retry_in: float | None = None, timed_out: bool = False,
                error: str = "service said no") -> Script:
        self._emit("step_started", step, attempt=attempt)
        self.at += ms
        if ok:
            self._emit("step_succeeded", step, attempt=attempt, duration_ms=ms,
                       data={"output": {"step": step}})
        else:
            self._emit("step_timed_out" if timed_out else "step_failed", step, attempt=attempt,
                       duration_ms=ms, error_type="TimeoutError" if timed_out else "ServiceError",
                       error=error, data={"final": retry_in is None, "retry_in_ms": retry_in})
            self.at += retry_in or 0.0
        return self

    def compensate(self, step: str, attempt: int, ms: float, *, ok: bool = True,
                   retry_in: float | None = None) -> Script:
        self._emit("compensation_started", step, attempt=attempt)
        self.at += ms
        if ok:
            self._emit("compensation_succeeded", step, attempt=attempt, duration_ms=ms,
                       data={"output": None})
        else:
            self._emit("compensation_failed", step, attempt=attempt, duration_ms=ms,
                       error_type="ServiceError", error=f"could not undo {step}",
                       data={"final": retry_in is None, "retry_in_ms": retry_in})
            self.at += retry_in or 0.0
        return self


def create_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine, tables=[definition_table, run_table, event_table])


def add_definition(conn: Connection, definition: SagaDefinition) -> str:
    conn.execute(insert(definition_table), [{
        "hash": definition.content_hash, "name": definition.saga, "version": definition.version,
        "body": definition.model_dump(mode="json"), "created_at": T0 - timedelta(days=1)}])
    return definition.content_hash


def add_run(conn: Connection, run_id: str, definition: SagaDefinition, script: Script, *,
            status: str, duration_ms: float | None, origin: str = "simulated",
            batch: str | None = None) -> None:
    ended = script.start + timedelta(milliseconds=duration_ms) if duration_ms is not None else None
    conn.execute(insert(run_table), [{
        "id": run_id, "saga": definition.saga, "definition_hash": definition.content_hash,
        "status": status, "mode": "orchestration", "origin": origin, "batch": batch,
        "input": {}, "started_at": script.start, "ended_at": ended, "duration_ms": duration_ms,
        "owner": None, "lease_expires_at": None}])
    rows = [{"run_id": run_id, "seq": seq, "attempt": None, "duration_ms": None,
             "error_type": None, "error": None, "data": None, **event}
            for seq, event in enumerate(
                [{"ts": script.start, "type": "run_started", "step": None,
                  "data": {"input": {}, "injection": {}, "batch": batch}}, *script.events],
                start=1)]
    conn.execute(insert(event_table), rows)


def start(minutes: float) -> Script:
    return Script(T0 + timedelta(minutes=minutes))


def build_shop_log(engine: Engine) -> None:
    """Write the log described in the module docstring."""
    create_tables(engine)
    with engine.begin() as conn:
        for definition in (SHOP, SHOP_V2, AUDIT, SOLO):
            add_definition(conn, definition)
        b1 = {"origin": "simulated", "batch": "B1"}
        add_run(conn, "r1", SHOP, start(0).attempt("a", 1, 10).attempt("b", 1, 20)
                .attempt("c", 1, 30).attempt("d", 1, 40).mark("run_completed", duration_ms=100),
                status="completed", duration_ms=100, **b1)
        add_run(conn, "r2", SHOP, start(10).attempt("a", 1, 11)
                .attempt("b", 1, 5, ok=False, retry_in=50).attempt("b", 2, 25)
                .attempt("c", 1, 30).attempt("d", 1, 40).mark("run_completed", duration_ms=200),
                status="completed", duration_ms=200, **b1)
        add_run(conn, "r3", SHOP, start(20).attempt("a", 1, 12).attempt("b", 1, 7, ok=False)
                .mark("run_compensating", "b", error_type="ServiceError", error="b failed",
                      data={"reason": "step_failed"})
                .compensate("a", 1, 8).mark("run_compensated", duration_ms=300),
                status="compensated", duration_ms=300, **b1)
        add_run(conn, "r4", SHOP, start(30).attempt("a", 1, 13)
                .attempt("b", 1, 6, ok=False, timed_out=True)
                .mark("run_compensating", "b", error_type="TimeoutError", error="b timed out",
                      data={"reason": "step_failed"})
                .compensate("a", 1, 4, ok=False, retry_in=30).compensate("a", 2, 4, ok=False)
                .mark("run_failed", "a", error_type="ServiceError", error="could not undo a",
                      duration_ms=400, data={"reason": "compensation_failed"}),
                status="failed", duration_ms=400, **b1)
        add_run(conn, "r5", SHOP, start(40).attempt("a", 1, 14).attempt("b", 1, 22)
                .attempt("c", 1, 30).attempt("d", 1, 9, ok=False, retry_in=100)
                .attempt("d", 2, 9, ok=False)
                .mark("run_failed", "d", error_type="ServiceError", error="d gave up",
                      duration_ms=500, data={"reason": "forward_step_failed"}),
                status="failed", duration_ms=500, **b1)
        add_run(conn, "r6", SHOP, start(50).attempt("a", 1, 15), status="running",
                duration_ms=None, origin="real")
        add_run(conn, "r7", SHOP_V2, start(60).attempt("a", 1, 3, ok=False)
                .mark("run_compensating", "a", error_type="ServiceError", error="a failed",
                      data={"reason": "step_failed"})
                .mark("run_compensated", duration_ms=50),
                status="compensated", duration_ms=50, origin="real")
        add_run(conn, "u1", AUDIT, start(70).attempt("a", 1, 99).mark("run_completed"),
                status="completed", duration_ms=120, origin="test")
        add_run(conn, "s1", SOLO, start(80).attempt("x", 1, 5).mark("run_completed"),
                status="completed", duration_ms=6, origin="test")
