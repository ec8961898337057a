"""Group commit: many concurrent runs share one transaction per round trip.

Runs *buffer* events (no I/O) and *flush* when an outcome must be durable before they go on
(a step's outcome before its dependents start). One writer task takes everything buffered
by every run, writes it in one transaction on a dedicated thread, and wakes the flushers.
While a transaction is in flight, new flushes queue for the next one, so under load each
commit carries many runs' events.

If a write fails, every run with rows in that batch is *poisoned*: its in-memory state may
be ahead of the log, so its next buffer/flush raises and the engine abandons it; recovery
re-folds it from the log. A lease rejection poisons just that run.

Where the writing happens: SQLite is written on the event loop's own thread, by the writer
task. A writer *thread* would be worse there: Python's sqlite3 releases the GIL around every
statement and row, and each time it wants the GIL back it waits up to the interpreter's switch
interval (5 ms) while the busy event loop holds it, so one commit of a few hundred rows took
10+ ms on a 2-core machine (the same write alone: 4 ms). The loop is blocked for the
commit instead, which costs less, and the next batch builds up meanwhile. PostgreSQL writes go
to a thread (network waits must not stall the loop). A store with ``inline_writes`` (the
in-memory store) has nothing to wait for: ``commit_now`` writes at once, per flush (one run's
new events through the store's one-pass ``append_events``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, cast

from runtime.clock import Clock
from runtime.errors import LeaseLostError, SagaError, StoreError
from runtime.store import InlineStore, Store
from runtime.store.sql import EventRow, RunUpdate, WriteBatch

_LEASE_REUSE = 0.01  # seconds


class GroupCommitter:
    def __init__(self, store: Store, owner: str, clock: Clock, *,
                 lease_seconds: float = 30.0) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.inline: bool = getattr(store, "inline_writes", False)
        self.write_on_loop: bool = bool(getattr(store, "is_sqlite", False))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="saga-commit")
        self._new_runs: list[dict[str, Any]] = []
        self._events: dict[str, list[EventRow]] = {}
        self._updates: dict[str, RunUpdate] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._poisoned: dict[str, SagaError] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        self.rows = 0
        self.takes = 0  # commits that took buffered rows (rows_of's lists are then stale)
        self._lease_asked = float("-inf")
        self._lease_until = clock.now()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="saga-group-commit")

    async def close(self, *, flush: bool = True) -> None:
        """Write what is buffered (unless ``flush`` is False: a crash loses it, as it would
        a dying process's memory) and stop the writer."""
        self._closing = True
        if not flush:
            self._new_runs, self._events, self._updates = [], {}, {}
            self.takes += 1
            for futures in self._waiters.values():
                for future in futures:
                    future.cancel()
            self._waiters = {}
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=not flush)
        self._executor.shutdown(wait=True)

    def lease_until(self) -> datetime:
        """Now + the lease. Every commit asks; within ``_LEASE_REUSE`` seconds of the last
        answer the same one is given (a lease at most that much shorter: on the safe side)."""
        mono = self.clock.monotonic()
        if mono - self._lease_asked > _LEASE_REUSE:
            self._lease_asked, self._lease_until = mono, self.clock.now() + self.lease
        return self._lease_until

    # -- API for the engine ----------------------------------------------------------------
    def check(self, run_id: str) -> None:
        error = self._poisoned.get(run_id)
        if error is not None:
            raise error

    def rows_of(self, run_id: str) -> list[EventRow]:
        """The list to append ``run_id``'s new event rows to (the caller appends to it
        directly: ten times a saga). Valid while ``takes`` is unchanged: every commit that
        takes buffered rows changes it, and the caller asks again."""
        self.check(run_id)
        rows = self._events.get(run_id)
        if rows is None:
            rows = self._events[run_id] = []
        return rows

    def buffer_new_run(self, row: dict[str, Any]) -> None:
        self._new_runs.append(row)

    def flush(self, run_id: str, update: RunUpdate | None = None) -> asyncio.Future[None]:
        """Ask for everything buffered so far to be committed; await the result."""
        self.check(run_id)
        if update is not None:
            self._updates[run_id] = update
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(run_id, []).append(future)
        assert self._wake is not None, "GroupCommitter.start() was not awaited"
        self._wake.set()
        return future

    def commit_now(self, run_id: str, update: RunUpdate | None = None) -> None:
        """For an ``inline`` store: write everything buffered now, on this thread."""
        if run_id in self._poisoned:
            raise self._poisoned[run_id]
        if update is None and len(self._events) == 1 and not self._new_runs and not self._updates:
            rows = self._events.pop(run_id, None)
            if rows is not None:  # only this run's new events: the store's one-pass append
                self.takes += 1
                try:
                    written = cast(InlineStore, self.store).append_events(self.owner, run_id, rows)
                except BaseException as exc:
                    self._failed(WriteBatch(self.owner, self.lease_until(), [], {run_id: rows}), {}, exc)
                else:  # = self._counted(len(rows), ...), inline: once per step
                    self.commits += 1
                    self.rows += len(rows)
                    if written:
                        return
                    self._poisoned[run_id] = LeaseLostError(run_id, self.owner)
                raise self._poisoned[run_id]
        if update is not None:
            self._updates[run_id] = update
        batch = self._take()
        try:
            rejected = self.store.write(batch)
        except BaseException as exc:
            self._failed(batch, {}, exc)
        else:
            self._count(batch, rejected)
        if run_id in self._poisoned:
            raise self._poisoned[run_id]

    def forget(self, run_id: str) -> None:
        """Drop poison and leftovers of a run the engine has finished with."""
        self._poisoned.pop(run_id, None)

    # -- the writer ------------------------------------------------------------------------
    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._closing:
                await self._wake.wait()
            self._wake.clear()
            if not (self._waiters or self._events or self._new_runs or self._updates):
                if self._closing:
                    return
                continue
            waiters = self._waiters
            self._waiters = {}
            batch = self._take()
            try:
                if self.write_on_loop:
                    rejected = self.store.write(batch)
                else:
                    rejected = await loop.run_in_executor(self._executor, self.store.write, batch)
            except BaseException as exc:  # every run in the batch must learn of it
                self._failed(batch, waiters, exc)
                continue
            self._written(batch, waiters, rejected)

    def _take(self) -> WriteBatch:
        batch = WriteBatch(self.owner, self.lease_until(), self._new_runs, self._events, self._updates)
        self._new_runs, self._events, self._updates = [], {}, {}
        self.takes += 1
        return batch

    def _failed(self, batch: WriteBatch, waiters: dict[str, list[asyncio.Future[None]]],
                exc: BaseException) -> None:
        if not isinstance(exc, Exception):  # a (simulated) crash: nobody goes on
            self._settle(waiters, lambda _run_id, crash=exc: crash)
            raise exc
        error = exc if isinstance(exc, SagaError) else StoreError("append", repr(exc))
        touched = batch.run_ids() | {row["id"] for row in batch.new_runs}
        for run_id in touched:
            self._poisoned[run_id] = error
        self._settle(waiters, lambda run_id: error if run_id in touched else None)

    def _written(self, batch: WriteBatch, waiters: dict[str, list[asyncio.Future[None]]],
                 rejected: set[str]) -> None:
        self._count(batch, rejected)
        self._settle(waiters, lambda run_id: self._poisoned.get(run_id))

    def _count(self, batch: WriteBatch, rejected: Iterable[str]) -> None:
        self._counted(sum(len(rows) for rows in batch.events.values()), rejected)

    def _counted(self, rows: int, rejected: Iterable[str]) -> None:
        """A commit of ``rows`` events is written: count it, and poison the runs whose lease
        fence failed."""
        self.commits += 1
        self.rows += rows
        for run_id in rejected:
            self._poisoned[run_id] = LeaseLostError(run_id, self.owner)

    @staticmethod
    def _settle(waiters: dict[str, list[asyncio.Future[None]]], error_of: Any) -> None:
        for run_id, futures in waiters.items():
            error = error_of(run_id)
            for future in futures:
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
