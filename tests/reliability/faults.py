"""Fault injection for reliability tests: simulated crashes at named engine points, a store
that fails like a real database (locked, I/O errors, crashes mid-transaction), and
actions that record their effects by idempotency key (the ground truth for these tests)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from runtime.actions import ActionContext, ActionRegistry
from runtime.definition import SagaDefinition
from runtime.errors import NonRetryableError, StoreError
from runtime.store.memory import MemoryEventStore
from runtime.store.sql import EventStore, WriteBatch
from tests.runtime.helpers import registry_of


class SimulatedCrash(BaseException):
    """The process dies here: nothing after this point runs (not an Exception, so no handler
    in the engine swallows it)."""


@dataclass
class CrashAt:
    """Crash the first time the engine reaches ``point`` for ``step``."""

    point: str
    step: str
    fired: bool = False

    def check(self, point: str, run_id: str, step: str) -> None:
        if not self.fired and point == self.point and step == self.step:
            self.fired = True
            raise SimulatedCrash(f"{point}@{step}")


class CrashInCommit(EventStore):
    """Crashes inside the write transaction that carries ``step``'s outcome event: rows are
    inserted, the COMMIT never happens."""

    def __init__(self, url: str, step: str, outcome: str = "step_succeeded") -> None:
        super().__init__(url)
        self.step, self.outcome, self.fired = step, outcome, False

    def _write_txn_body(self, conn: Connection, batch: WriteBatch) -> set[str]:
        rejected = super()._write_txn_body(conn, batch)
        rows = [r for rows in batch.events.values() for r in rows]
        if not self.fired and any(r[3] == self.outcome and r[4] == self.step for r in rows):  # type, step
            self.fired = True
            raise SimulatedCrash(f"in commit of {self.outcome}@{self.step}")
        return rejected


class _Faults:
    """Each public store method fails with probability ``rate`` (seeded): 'database is
    locked' or a disk I/O error, raised before the real call or *after* it (the write
    happened but the caller is told it failed). ``log`` lists every injected fault."""

    METHODS = ("write", "append_events", "claim", "renew", "load_run", "load_definition",
               "save_definition", "status_counts", "next_lease_expiry")
    armed: bool

    def _arm(self, seed: int, rate: float) -> None:
        self.seed = seed
        self.calls: Counter[str] = Counter()
        self.rate = rate
        self.log: list[tuple[str, str, str]] = []
        self.armed = True

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _Faults.METHODS and super().__getattribute__("armed"):
            return super().__getattribute__("_faulty")(name, attr)
        return attr

    def _faulty(self, name: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1  # the n-th call of each method decides alike in a replay
            rng = random.Random(f"{self.seed}:{name}:{self.calls[name]}")
            roll = rng.random()
            kind = "database is locked" if rng.random() < 0.5 else "disk I/O error"
            after = rng.random() < 0.5
            if roll < self.rate and not after:
                self.log.append((name, kind, "before"))
                raise StoreError(name, kind)
            result = method(*args, **kwargs)
            if roll < self.rate and after:
                self.log.append((name, kind, "after"))
                raise StoreError(name, kind)
            return result
        return call


class FaultyStore(_Faults, EventStore):
    """An SQL event log (by URL) with seeded faults."""

    def __init__(self, url: str, *, seed: int, rate: float = 0.05) -> None:
        self.armed = False
        EventStore.__init__(self, url)
        self._arm(seed, rate)


class FaultyMemoryStore(_Faults, MemoryEventStore):
    """The in-memory event log (written inline by the committer) with seeded faults."""

    def __init__(self, *, seed: int, rate: float = 0.05) -> None:
        self.armed = False
        MemoryEventStore.__init__(self)
        self._arm(seed, rate)


@dataclass
class Ledger:
    """Actions that apply an effect once per idempotency key (like the sample services)."""

    effects: Counter[str] = field(default_factory=Counter)   # action -> effects applied
    calls: Counter[str] = field(default_factory=Counter)     # action -> calls received
    keys: set[str] = field(default_factory=set)
    refuse: set[str] = field(default_factory=set)

    def registry(self, definition: SagaDefinition) -> ActionRegistry:
        return registry_of(definition, self._action)

    def _action(self, name: str) -> Any:
        async def act(ctx: ActionContext) -> Any:
            await asyncio.sleep(0)
            self.calls[name] += 1
            if name in self.refuse:
                raise NonRetryableError(f"{name} refused")
            if ctx.idempotency_key not in self.keys:
                self.keys.add(ctx.idempotency_key)
                self.effects[name] += 1
            return {"done": name}
        return act
