"""Event stores: :class:`~runtime.store.sql.EventStore` (SQLite file or PostgreSQL, by URL)
and :class:`~runtime.store.memory.MemoryEventStore` (this process only; ``memory:``). The
engine, batches and recovery take either: what they need of a store is :class:`Store`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runtime.definition import SagaDefinition
    from runtime.store.memory import MemoryEventStore
    from runtime.store.sql import EventRow, EventStore, RunRecord, WriteBatch

MEMORY_URL = "memory:"


class Store(Protocol):
    def save_definition(self, definition: SagaDefinition, now: datetime | None = None) -> str: ...
    def load_definition(self, digest: str) -> SagaDefinition: ...
    def write(self, batch: WriteBatch) -> set[str]: ...
    def claim(self, owner: str, now: datetime, lease_until: datetime, *,
              limit: int = 1000, run_ids: Iterable[str] | None = None,
              definition_hashes: Iterable[str] | None = None,
              batch: str | None = None, include_own: bool = True) -> list[str]: ...
    def renew(self, owner: str, run_ids: Iterable[str], lease_until: datetime) -> set[str]: ...
    def append_manual_action(self, run_id: str, now: datetime, action: str, *, by: str,
                             note: str = "", step: str | None = None,
                             status: str | None = None) -> int: ...
    def load_run(self, run_id: str, *, with_events: bool = True) -> RunRecord: ...
    def next_lease_expiry(self, *, batch: str | None = None) -> datetime | None: ...
    def status_counts(self, *, batch: str | None = None) -> dict[str, int]: ...
    def run_indexes(self, batch: str) -> list[int]: ...
    def close(self) -> None: ...


class InlineStore(Store, Protocol):
    """A store the group committer writes on the spot, on the caller's thread
    (``inline_writes``: the in-memory store), with a one-pass append for one run's events."""

    inline_writes: bool

    def append_events(self, owner: str, run_id: str, rows: list[EventRow]) -> bool: ...


def open_store(url: str) -> EventStore | MemoryEventStore:
    """The store for ``url``: ``memory:`` for an in-process log, else a SQLAlchemy URL."""
    if url == MEMORY_URL:
        from runtime.store.memory import MemoryEventStore
        return MemoryEventStore()
    from runtime.store.sql import EventStore
    return EventStore(url)
