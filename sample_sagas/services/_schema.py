"""The sample services' tables: one SQLite file holds every service's state.

Every effect row carries the idempotency key of the call that made it (UNIQUE), and the
``idempotency`` table holds each key's original result and how many repeats it absorbed.
Partial unique indexes make a double sale impossible, whatever the callers do.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS idempotency (
    key        TEXT PRIMARY KEY,
    operation  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    result     TEXT NOT NULL,
    hits       INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS idempotency_run ON idempotency(run_id);

CREATE TABLE IF NOT EXISTS refusals (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    operation  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT {_NOW}
);

CREATE TABLE IF NOT EXISTS inventory (
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    capacity  INTEGER NOT NULL CHECK (capacity >= 0),
    next_unit INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS free_units (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    unit INTEGER NOT NULL,
    PRIMARY KEY (kind, name, unit)
);

CREATE TABLE IF NOT EXISTS seats (
    id              INTEGER PRIMARY KEY,
    flight          TEXT NOT NULL,
    seat_no         INTEGER NOT NULL,
    seat            TEXT NOT NULL,
    passenger       TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('held', 'released')),
    idempotency_key TEXT NOT NULL UNIQUE,
    release_key     TEXT UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW},
    released_at     TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS seats_one_holder ON seats(flight, seat_no)
    WHERE status = 'held';
CREATE INDEX IF NOT EXISTS seats_run ON seats(run_id);

CREATE TABLE IF NOT EXISTS tickets (
    id              INTEGER PRIMARY KEY,
    ticket_no       TEXT NOT NULL UNIQUE,
    seat_id         INTEGER NOT NULL UNIQUE REFERENCES seats(id),
    flight          TEXT NOT NULL,
    seat            TEXT NOT NULL,
    passenger       TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS tickets_run ON tickets(run_id);

CREATE TABLE IF NOT EXISTS payments (
    id              INTEGER PRIMARY KEY,
    payment_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    customer        TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    refund_of       TEXT UNIQUE REFERENCES payments(payment_id),
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS payments_run ON payments(run_id, kind);

CREATE TABLE IF NOT EXISTS notifications (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS notifications_run ON notifications(run_id, kind);

CREATE TABLE IF NOT EXISTS room_bookings (
    id              INTEGER PRIMARY KEY,
    hotel           TEXT NOT NULL,
    room_no         INTEGER NOT NULL,
    guest           TEXT NOT NULL,
    nights          INTEGER NOT NULL CHECK (nights >= 1),
    run_id          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    idempotency_key TEXT NOT NULL UNIQUE,
    cancel_key      TEXT UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW},
    cancelled_at    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS rooms_one_guest ON room_bookings(hotel, room_no)
    WHERE status = 'booked';
CREATE INDEX IF NOT EXISTS rooms_run ON room_bookings(run_id);

CREATE TABLE IF NOT EXISTS car_rentals (
    id              INTEGER PRIMARY KEY,
    car_class       TEXT NOT NULL,
    car_no          INTEGER NOT NULL,
    driver          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('rented', 'returned')),
    idempotency_key TEXT NOT NULL UNIQUE,
    return_key      TEXT UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW},
    returned_at     TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS cars_one_driver ON car_rentals(car_class, car_no)
    WHERE status = 'rented';
CREATE INDEX IF NOT EXISTS cars_run ON car_rentals(run_id);

CREATE TABLE IF NOT EXISTS loyalty_points (
    id              INTEGER PRIMARY KEY,
    member          TEXT NOT NULL,
    points          INTEGER NOT NULL,
    run_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS loyalty_member ON loyalty_points(member);
CREATE INDEX IF NOT EXISTS loyalty_run ON loyalty_points(run_id);
"""

EFFECT_TABLES = ("seats", "tickets", "payments", "notifications", "room_bookings",
                 "car_rentals", "loyalty_points")
"""Tables whose every row was written together with an ``idempotency`` row of the same key."""
