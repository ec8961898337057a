"""The notification service: confirmations and cancellation notices, one per key."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from runtime.actions import ActionContext
from sample_sagas.services._inputs import Order
from sample_sagas.services._ledger import Result, reference

CONFIRMATION = "confirmation"
BOOKING_CANCELLED = "booking_cancelled"
ROOM_CANCELLED = "room_cancelled"
RENTAL_CANCELLED = "rental_cancelled"
KINDS = (CONFIRMATION, BOOKING_CANCELLED, ROOM_CANCELLED, RENTAL_CANCELLED)

_REFERENCE_FIELDS = ("ticket", "payment_id", "booking_id", "rental_id", "seat", "flight")


def record(conn: sqlite3.Connection, kind: str, recipient: str, context: ActionContext,
           detail: Mapping[str, Any]) -> str:
    """Store one notification under the call's key; returns its id."""
    notification_id = reference("MSG", context.idempotency_key)
    conn.execute(
        "INSERT INTO notifications (kind, recipient, run_id, detail, idempotency_key) "
        "VALUES (?, ?, ?, ?, ?)",
        (kind, recipient, context.run_id, json.dumps(dict(detail), sort_keys=True),
         context.idempotency_key))
    return notification_id


def confirm_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``notify.confirm``: tell the customer the saga went through, quoting its references."""
    references = {
        f"{step}.{name}": value
        for step, output in sorted(context.outputs.items()) if isinstance(output, Mapping)
        for name, value in output.items() if name in _REFERENCE_FIELDS
    }
    detail = {"saga": context.saga, "step": context.step, "references": references}
    notification_id = record(conn, CONFIRMATION, order.passenger, context, detail)
    return {"notification_id": notification_id, "kind": CONFIRMATION,
            "recipient": order.passenger}
