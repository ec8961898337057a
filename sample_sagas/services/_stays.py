"""The hotel (rooms booked per run) and the car rental (cars rented per run)."""

from __future__ import annotations

import sqlite3

from runtime.actions import ActionContext
from sample_sagas.services import _notify
from sample_sagas.services._inputs import DEFAULT_CAPACITY, Order
from sample_sagas.services._ledger import Result, allocate, forward_key, free, reference

HOTEL = "hotel"
CAR = "car"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def book_room_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``hotel.book_room``: book the next free room of ``input.hotel`` for ``input.nights``."""
    room_no = allocate(conn, HOTEL, order.hotel, DEFAULT_CAPACITY)
    booking_id = reference("HB", context.idempotency_key)
    conn.execute(
        "INSERT INTO room_bookings (hotel, room_no, guest, nights, run_id, status, "
        "idempotency_key) VALUES (?, ?, ?, ?, ?, 'booked', ?)",
        (order.hotel, room_no, order.guest, order.nights, context.run_id,
         context.idempotency_key))
    return {"booking_id": booking_id, "hotel": order.hotel, "room": room_no,
            "nights": order.nights}


def cancel_room_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``hotel.cancel_room``: cancel the room the step booked (none: nothing to cancel) and
    send a ``room_cancelled`` notice."""
    row = conn.execute(
        "SELECT id, hotel, room_no, status FROM room_bookings WHERE idempotency_key = ?",
        (forward_key(context),)).fetchone()
    cancelled = False
    hotel, room = order.hotel, None
    if row is not None:
        booking, hotel, room, status = row
        if status == "booked":
            conn.execute(f"UPDATE room_bookings SET status = 'cancelled', cancel_key = ?, "
                         f"cancelled_at = {_NOW} WHERE id = ?",
                         (context.idempotency_key, booking))
            free(conn, HOTEL, hotel, room)
            cancelled = True
    notification_id = _notify.record(conn, _notify.ROOM_CANCELLED, order.guest, context,
                                     {"hotel": hotel, "room": room, "cancelled": cancelled})
    return {"cancelled": cancelled, "hotel": hotel, "room": room,
            "notification_id": notification_id}


def rent_car_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``car.rent``: rent the next free car of class ``input.car``."""
    car_no = allocate(conn, CAR, order.car, DEFAULT_CAPACITY)
    rental_id = reference("CR", context.idempotency_key)
    conn.execute(
        "INSERT INTO car_rentals (car_class, car_no, driver, run_id, status, idempotency_key) "
        "VALUES (?, ?, ?, ?, 'rented', ?)",
        (order.car, car_no, order.driver, context.run_id, context.idempotency_key))
    return {"rental_id": rental_id, "car": order.car, "car_no": car_no}


def return_car_txn(conn: sqlite3.Connection, context: ActionContext, order: Order) -> Result:
    """``car.return``: take back the car the step rented (none: nothing to return) and send
    a ``rental_cancelled`` notice."""
    row = conn.execute(
        "SELECT id, car_class, car_no, status FROM car_rentals WHERE idempotency_key = ?",
        (forward_key(context),)).fetchone()
    returned = False
    car, car_no = order.car, None
    if row is not None:
        rental, car, car_no, status = row
        if status == "rented":
            conn.execute(f"UPDATE car_rentals SET status = 'returned', return_key = ?, "
                         f"returned_at = {_NOW} WHERE id = ?",
                         (context.idempotency_key, rental))
            free(conn, CAR, car, car_no)
            returned = True
    notification_id = _notify.record(conn, _notify.RENTAL_CANCELLED, order.driver, context,
                                     {"car": car, "car_no": car_no, "returned": returned})
    return {"returned": returned, "car": car, "car_no": car_no,
            "notification_id": notification_id}
