"""The airline: seats held per run, released by compensation, ticketed at the pivot."""

from __future__ import annotations

import sqlite3

from runtime.actions import ActionContext
from sample_sagas.services import _notify
from sample_sagas.services._inputs import DEFAULT_CAPACITY, Order
from sample_sagas.services._ledger import Refusal, Result, allocate, forward_key, free, reference

FLIGHT = "flight"
_LETTERS = "ABCDEF"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def seat_label(seat_no: int) -> str:
    """Seat number to its printed name: 1 -> ``1A``, 6 -> ``1F``, 7 -> ``2A``."""
    return f"{(seat_no - 1) // len(_LETTERS) + 1}{_LETTERS[(seat_no - 1) % len(_LETTERS)]}"


def reserve_seat_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``flight.reserve_seat``: hold the next free seat for the run."""
    seat_no = allocate(conn, FLIGHT, order.flight, DEFAULT_CAPACITY)
    seat = seat_label(seat_no)
    conn.execute(
        "INSERT INTO seats (flight, seat_no, seat, passenger, run_id, status, idempotency_key) "
        "VALUES (?, ?, ?, ?, ?, 'held', ?)",
        (order.flight, seat_no, seat, order.passenger, context.run_id, context.idempotency_key))
    return {"seat": seat, "flight": order.flight, "passenger": order.passenger}


def release_seat_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``flight.release_seat``: free the seat the step held (none: nothing to free) and send
    the customer a ``booking_cancelled`` notice. A ticketed seat is not released: the saga
    went past its pivot, and undoing it would leave a customer with a ticket and no seat."""
    row = conn.execute(
        "SELECT id, flight, seat_no, seat, status FROM seats WHERE idempotency_key = ?",
        (forward_key(context),)).fetchone()
    released = False
    flight, seat = order.flight, None
    if row is not None:
        seat_id, flight, seat_no, seat, status = row
        ticket = conn.execute("SELECT ticket_no FROM tickets WHERE seat_id = ?",
                              (seat_id,)).fetchone()
        if ticket is not None:
            raise Refusal("ticketed", f"seat {seat} on {flight} carries ticket {ticket[0]}; "
                                      "cancel the ticket first")
        if status == "held":
            conn.execute(f"UPDATE seats SET status = 'released', release_key = ?, "
                         f"released_at = {_NOW} WHERE id = ?",
                         (context.idempotency_key, seat_id))
            free(conn, FLIGHT, flight, seat_no)
            released = True
    notification_id = _notify.record(
        conn, _notify.BOOKING_CANCELLED, order.passenger, context,
        {"flight": flight, "seat": seat, "seat_released": released})
    return {"released": released, "seat": seat, "flight": flight,
            "notification_id": notification_id}


def issue_ticket_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``tickets.issue``: ticket the seat the run holds; refused if it holds none."""
    row = conn.execute(
        "SELECT id, flight, seat, passenger FROM seats WHERE run_id = ? AND status = 'held' "
        "ORDER BY id DESC LIMIT 1", (context.run_id,)).fetchone()
    if row is None:
        released = conn.execute("SELECT 1 FROM seats WHERE run_id = ?",
                                (context.run_id,)).fetchone()
        reason = "seat-released" if released else "no-seat"
        raise Refusal(reason, f"run {context.run_id} holds no seat to ticket "
                              f"({'it was released' if released else 'none was reserved'})")
    seat_id, flight, seat, passenger = row
    taken = conn.execute("SELECT ticket_no FROM tickets WHERE seat_id = ?", (seat_id,)).fetchone()
    if taken is not None:
        raise Refusal("already-ticketed", f"seat {seat} on {flight} already carries ticket "
                                          f"{taken[0]} from another call")
    ticket = reference("TK", context.idempotency_key)
    conn.execute(
        "INSERT INTO tickets (ticket_no, seat_id, flight, seat, passenger, run_id, "
        "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ticket, seat_id, flight, seat, passenger, context.run_id, context.idempotency_key))
    return {"ticket": ticket, "flight": flight, "seat": seat, "passenger": passenger}
