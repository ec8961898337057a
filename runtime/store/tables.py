"""The event log's tables (SQLModel). The only module that declares them.

    definition(hash PK, name, version, body JSON, created_at)
    run(id PK, saga, definition_hash, status, mode, origin, batch, input JSON, started_at,
        ended_at, duration_ms, owner, lease_expires_at)
    event(id PK, run_id, seq, ts, type, step, attempt, duration_ms, error_type, error, data JSON)
        UNIQUE(run_id, seq)

Times are timezone-aware UTC datetimes (SQLModel's UTCDateTime: timestamptz on PostgreSQL,
UTC text on SQLite). Events are only ever inserted. ``run`` rows are updated
(status, end, lease) by the runner that holds the lease. Indexes serve the dashboard's
queries; docs/event-log.md explains each.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.COMPENSATED, RunStatus.FAILED})


class EventType(StrEnum):
    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    STEP_TIMED_OUT = "step_timed_out"
    COMPENSATION_STARTED = "compensation_started"
    COMPENSATION_SUCCEEDED = "compensation_succeeded"
    COMPENSATION_FAILED = "compensation_failed"
    RUN_COMPLETED = "run_completed"
    RUN_COMPENSATING = "run_compensating"
    RUN_COMPENSATED = "run_compensated"
    RUN_FAILED = "run_failed"
    MANUAL_ACTION = "manual_action"


class Origin(StrEnum):
    REAL = "real"
    SIMULATED = "simulated"
    TEST = "test"


class Mode(StrEnum):
    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"


class DefinitionRow(SQLModel, table=True):
    __tablename__ = "definition"

    hash: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True, max_length=255)
    version: int
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime


class RunRow(SQLModel, table=True):
    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_saga_started", "saga", "started_at"),
        Index("ix_run_status_started", "status", "started_at"),
        Index("ix_run_started", "started_at"),
        Index("ix_run_batch", "batch"),
        Index("ix_run_lease", "status", "lease_expires_at"),
        Index("ix_run_duration", "duration_ms"),
    )

    id: str = Field(primary_key=True, max_length=64)
    saga: str = Field(max_length=255)
    definition_hash: str = Field(max_length=64, foreign_key="definition.hash")
    status: str = Field(max_length=16)
    mode: str = Field(default=Mode.ORCHESTRATION.value, max_length=16)
    origin: str = Field(default=Origin.REAL.value, max_length=16)
    batch: str | None = Field(default=None, max_length=64)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: float | None = None
    owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_event_run_seq"),
        Index("ix_event_type_step_duration", "type", "step", "duration_ms", "attempt", "run_id"),
        # no index on ts: nothing reads events by time (runs are found by their start), and
        # each index is paid for by every append (two on ts cost a group commit ~15%)
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=64, foreign_key="run.id")
    seq: int
    ts: datetime
    type: str = Field(max_length=32)
    step: str | None = Field(default=None, max_length=255)
    attempt: int | None = None
    duration_ms: float | None = None
    error_type: str | None = Field(default=None, max_length=255)
    error: str | None = None
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))


definition_table = DefinitionRow.__table__  # type: ignore[attr-defined]
run_table = RunRow.__table__  # type: ignore[attr-defined]
event_table = EventRow.__table__  # type: ignore[attr-defined]
