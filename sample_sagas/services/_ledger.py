"""Exactly-once effects on top of at-least-once calls, and the services' shared inventory.

    result = run_once(db, "payments.charge", context, charge_txn)

``run_once`` opens one transaction: if the idempotency key was seen, it counts the repeat
and returns the original result; otherwise it runs ``work(conn, context, order)`` and records
the key with the result, so the effect and its key commit together or not at all.

A forward call whose compensation already ran (``key + ":compensate"`` is recorded) is
refused: the late arrival of a timed-out attempt must not book what was already undone.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from runtime.actions import ActionContext
from runtime.errors import NonRetryableError
from sample_sagas.services._db import Database
from sample_sagas.services._inputs import Order

COMPENSATE_SUFFIX = ":compensate"

Result = dict[str, Any]
Work = Callable[[sqlite3.Connection, ActionContext, Order], Result]


class ServiceRefusedError(NonRetryableError):
    """A sample service refused a call for good (sold out, declined card, already undone).

    operation: the action name (``flight.reserve_seat``).
    idempotency_key: the call's key.
    reason: short machine name (``sold-out``, ``card-declined``, ``compensated``, ...).
    detail: what happened, for a human.
    """

    def __init__(self, operation: str, idempotency_key: str, reason: str, detail: str) -> None:
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.reason = reason
        self.detail = detail
        super().__init__(f"{operation} refused ({reason}) for key {idempotency_key!r}: {detail}")


class Refusal(Exception):
    """Raised inside ``work`` to refuse the call; ``run_once`` turns it into a recorded
    :class:`ServiceRefusedError` after undoing the work's writes."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


def forward_key(context: ActionContext) -> str:
    """The key of the forward call a compensation undoes (``run_id:step``)."""
    return f"{context.run_id}:{context.step}"


def run_once(db: Database, operation: str, context: ActionContext, work: Work, *,
             barred_after_compensation: bool = False) -> Result:
    """Run ``work`` at most once per idempotency key; see the module docstring."""
    key = context.idempotency_key
    expected = forward_key(context)
    if key not in (expected, expected + COMPENSATE_SUFFIX):
        raise NonRetryableError(
            f"{operation}: idempotency key {key!r} does not match run {context.run_id!r} and "
            f"step {context.step!r}; send {expected!r} (or {expected + COMPENSATE_SUFFIX!r})")
    refused: ServiceRefusedError | None = None
    with db.transaction() as conn:
        row = conn.execute("SELECT operation, result FROM idempotency WHERE key = ?",
                           (key,)).fetchone()
        if row is not None:
            if row[0] != operation:
                raise ServiceRefusedError(operation, key, "key-reused",
                                          f"the key was already used by {row[0]}")
            conn.execute("UPDATE idempotency SET hits = hits + 1 WHERE key = ?", (key,))
            stored: Result = json.loads(row[1])
            return stored
        order = Order.from_context(context)         # after the lookup: a repeat never fails
        try:
            if barred_after_compensation and _seen(conn, key + COMPENSATE_SUFFIX):
                raise Refusal("compensated", "its compensation already ran, so this late "
                                             "attempt changes nothing")
            conn.execute("SAVEPOINT work")
            try:
                result = work(conn, context, order)
            except Refusal:
                conn.execute("ROLLBACK TO work")
                raise
            finally:
                if conn.in_transaction:
                    conn.execute("RELEASE work")
        except Refusal as refusal:
            refused = ServiceRefusedError(operation, key, refusal.reason, refusal.detail)
            conn.execute(
                "INSERT INTO refusals (key, operation, run_id, reason, message) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, operation, context.run_id, refusal.reason, refusal.detail))
        else:
            conn.execute("INSERT INTO idempotency (key, operation, run_id, result) "
                         "VALUES (?, ?, ?, ?)",
                         (key, operation, context.run_id, json.dumps(result)))
            return result
    raise refused


def reference(prefix: str, key: str) -> str:
    """A stable id derived from an idempotency key: the same call always names the same
    payment, ticket or booking (``PAY-3F2A...``)."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16].upper()}"


def _seen(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM idempotency WHERE key = ?", (key,)).fetchone() is not None


# -- inventory: seats, rooms and cars -------------------------------------------------------

def set_capacity(conn: sqlite3.Connection, kind: str, name: str, capacity: int) -> None:
    """Set how many units ``name`` (a flight, hotel or car class) has."""
    if capacity < 0:
        raise ValueError(f"capacity of {kind} {name!r} must be >= 0, got {capacity}")
    conn.execute("INSERT INTO inventory (kind, name, capacity) VALUES (?, ?, ?) "
                 "ON CONFLICT (kind, name) DO UPDATE SET capacity = excluded.capacity",
                 (kind, name, capacity))
    conn.execute("DELETE FROM free_units WHERE kind = ? AND name = ? AND unit > ?",
                 (kind, name, capacity))


def allocate(conn: sqlite3.Connection, kind: str, name: str, default_capacity: int) -> int:
    """Take a free unit (a released one first, lowest number), or refuse as sold out."""
    conn.execute("INSERT OR IGNORE INTO inventory (kind, name, capacity) VALUES (?, ?, ?)",
                 (kind, name, default_capacity))
    row = conn.execute("SELECT MIN(unit) FROM free_units WHERE kind = ? AND name = ?",
                       (kind, name)).fetchone()
    if row[0] is not None:
        conn.execute("DELETE FROM free_units WHERE kind = ? AND name = ? AND unit = ?",
                     (kind, name, row[0]))
        return int(row[0])
    next_unit, capacity = conn.execute(
        "SELECT next_unit, capacity FROM inventory WHERE kind = ? AND name = ?",
        (kind, name)).fetchone()
    if next_unit > capacity:
        raise Refusal("sold-out", f"{kind} {name!r} is sold out ({capacity} in all)")
    conn.execute("UPDATE inventory SET next_unit = next_unit + 1 WHERE kind = ? AND name = ?",
                 (kind, name))
    return int(next_unit)


def free(conn: sqlite3.Connection, kind: str, name: str, unit: int) -> None:
    """Give a unit back so another run can take it."""
    capacity = conn.execute("SELECT capacity FROM inventory WHERE kind = ? AND name = ?",
                            (kind, name)).fetchone()
    if capacity is not None and unit <= capacity[0]:
        conn.execute("INSERT OR IGNORE INTO free_units (kind, name, unit) VALUES (?, ?, ?)",
                     (kind, name, unit))
