"""Payments (a ledger of charges and refunds) and loyalty points."""

from __future__ import annotations

import sqlite3

from runtime.actions import ActionContext
from sample_sagas.services._inputs import DECLINED_CARD, Order, amount_of
from sample_sagas.services._ledger import Refusal, Result, forward_key, reference


def charge_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``payments.charge``: charge the run's price (refused for ``input.card: declined``)."""
    if order.card == DECLINED_CARD:
        raise Refusal("card-declined", f"the card of {order.passenger} was declined")
    payment_id = reference("PAY", context.idempotency_key)
    conn.execute(
        "INSERT INTO payments (payment_id, kind, amount_cents, customer, run_id, "
        "idempotency_key) VALUES (?, 'charge', ?, ?, ?, ?)",
        (payment_id, order.price_cents, order.passenger, context.run_id,
         context.idempotency_key))
    return {"payment_id": payment_id, "amount": amount_of(order.price_cents)}


def refund_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``payments.refund``: refund what the step charged, in full; nothing if it charged
    nothing (its outcome may have been unknown) or was refunded already."""
    charge = conn.execute(
        "SELECT payment_id, amount_cents FROM payments "
        "WHERE idempotency_key = ? AND kind = 'charge'", (forward_key(context),)).fetchone()
    if charge is None:
        return {"refunded": False, "refund_id": None, "payment_id": None, "amount": 0}
    payment_id, cents = charge
    earlier = conn.execute("SELECT payment_id FROM payments WHERE refund_of = ?",
                           (payment_id,)).fetchone()
    if earlier is not None:
        return {"refunded": False, "refund_id": earlier[0], "payment_id": payment_id,
                "amount": 0}
    refund_id = reference("REF", context.idempotency_key)
    conn.execute(
        "INSERT INTO payments (payment_id, kind, amount_cents, customer, run_id, refund_of, "
        "idempotency_key) VALUES (?, 'refund', ?, ?, ?, ?, ?)",
        (refund_id, cents, order.passenger, context.run_id, payment_id,
         context.idempotency_key))
    return {"refunded": True, "refund_id": refund_id, "payment_id": payment_id,
            "amount": amount_of(cents)}


def add_points_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``loyalty.add_points``: credit the guest (price in whole units, or nights x 10)."""
    points = order.loyalty_points
    conn.execute(
        "INSERT INTO loyalty_points (member, points, run_id, idempotency_key) "
        "VALUES (?, ?, ?, ?)", (order.guest, points, context.run_id, context.idempotency_key))
    balance = conn.execute("SELECT SUM(points) FROM loyalty_points WHERE member = ?",
                           (order.guest,)).fetchone()[0]
    return {"member": order.guest, "points": points, "balance": int(balance)}
