"""Ground truth: what the sample services really did, read straight from their SQLite file.

    truth = snapshot(services.db_path)        # counts and per-run sets, one consistent read
    assert violations(truth, saga="flight_booking", price=120) == []
    truth.runs_with_ticket == {run ids whose saga completed}     # compare with the event log

Take the snapshot once no run is in flight: a run half way through holds a seat without a
ticket, which the flight invariants rightly call a violation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sample_sagas.services import BOOKING_CANCELLED, CONFIRMATION, DEFAULT_PRICE
from sample_sagas.services._schema import EFFECT_TABLES

SAGAS = ("flight_booking", "hotel_booking", "trip_booking")

_EFFECT_OF = {
    "flight.reserve_seat": "seats", "tickets.issue": "tickets", "payments.charge": "payments",
    "notify.confirm": "notifications", "flight.release_seat": "notifications",
    "hotel.book_room": "room_bookings", "hotel.cancel_room": "notifications",
    "loyalty.add_points": "loyalty_points", "car.rent": "car_rentals",
    "car.return": "notifications",
}
"""Forward and compensating calls that always leave a row keyed by their idempotency key."""


@dataclass(frozen=True)
class GroundTruth:
    """Counts and per-run sets of the services' state. Amounts are in cents."""

    seats_held: int
    seats_released: int
    tickets: int
    charge_count: int
    refund_count: int
    charges_total_cents: int
    refunds_total_cents: int
    rooms_booked: int
    rooms_cancelled: int
    cars_rented: int
    cars_returned: int
    loyalty_points_total: int
    notifications: Mapping[str, int]
    """Notifications by kind (``confirmation``, ``booking_cancelled``, ...)."""
    dedup_hits: int
    """Repeated calls absorbed by idempotency keys (duplicate attempts that changed nothing)."""
    dedup_hits_by_operation: Mapping[str, int]
    refusals: Mapping[str, int]
    """Refused calls by reason (``sold-out``, ``compensated``, ``card-declined``, ...)."""
    runs_holding_seat: frozenset[str]
    runs_with_released_seat: frozenset[str]
    runs_with_ticket: frozenset[str]
    runs_charged: frozenset[str]
    runs_refunded: frozenset[str]
    runs_notified_cancel: frozenset[str]
    """Runs with at least one ``booking_cancelled`` notification."""
    runs_confirmed: frozenset[str]
    runs_holding_room: frozenset[str]
    runs_with_cancelled_room: frozenset[str]
    runs_holding_car: frozenset[str]
    runs_with_returned_car: frozenset[str]
    runs_with_points: frozenset[str]
    charges_by_run: Mapping[str, int]
    """Number of charges per charged run."""
    charged_cents_by_run: Mapping[str, int]
    refunded_cents_by_run: Mapping[str, int]
    cancel_notices_by_run: Mapping[str, int]
    """Number of ``booking_cancelled`` notifications per notified run."""
    integrity_problems: tuple[str, ...]
    """Effects without their idempotency record or the reverse: never expected, even after a
    process was killed mid-call, since both commit in one transaction."""

    @property
    def charges_total(self) -> float:
        return self.charges_total_cents / 100

    @property
    def refunds_total(self) -> float:
        return self.refunds_total_cents / 100

    @property
    def net_cents(self) -> int:
        return self.charges_total_cents - self.refunds_total_cents


def snapshot(db_path: str | Path) -> GroundTruth:
    """Read the services' state in one read transaction (a consistent point in time)."""
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"no sample services database at {path}; "
                                "SampleServices(path) creates it")
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN")
        truth = _read(conn)
        conn.execute("COMMIT")
        return truth
    finally:
        conn.close()


def _read(conn: sqlite3.Connection) -> GroundTruth:
    def one(sql: str, *args: object) -> int:
        return int(conn.execute(sql, args).fetchone()[0] or 0)

    def runs(sql: str, *args: object) -> frozenset[str]:
        return frozenset(row[0] for row in conn.execute(sql, args))

    def pairs(sql: str, *args: object) -> dict[str, int]:
        return {str(key): int(value) for key, value in conn.execute(sql, args)}

    return GroundTruth(
        seats_held=one("SELECT COUNT(*) FROM seats WHERE status = 'held'"),
        seats_released=one("SELECT COUNT(*) FROM seats WHERE status = 'released'"),
        tickets=one("SELECT COUNT(*) FROM tickets"),
        charge_count=one("SELECT COUNT(*) FROM payments WHERE kind = 'charge'"),
        refund_count=one("SELECT COUNT(*) FROM payments WHERE kind = 'refund'"),
        charges_total_cents=one("SELECT SUM(amount_cents) FROM payments WHERE kind = 'charge'"),
        refunds_total_cents=one("SELECT SUM(amount_cents) FROM payments WHERE kind = 'refund'"),
        rooms_booked=one("SELECT COUNT(*) FROM room_bookings WHERE status = 'booked'"),
        rooms_cancelled=one("SELECT COUNT(*) FROM room_bookings WHERE status = 'cancelled'"),
        cars_rented=one("SELECT COUNT(*) FROM car_rentals WHERE status = 'rented'"),
        cars_returned=one("SELECT COUNT(*) FROM car_rentals WHERE status = 'returned'"),
        loyalty_points_total=one("SELECT SUM(points) FROM loyalty_points"),
        notifications=pairs("SELECT kind, COUNT(*) FROM notifications GROUP BY kind"),
        dedup_hits=one("SELECT SUM(hits) FROM idempotency"),
        dedup_hits_by_operation=pairs("SELECT operation, SUM(hits) FROM idempotency "
                                      "GROUP BY operation HAVING SUM(hits) > 0"),
        refusals=pairs("SELECT reason, COUNT(*) FROM refusals GROUP BY reason"),
        runs_holding_seat=runs("SELECT run_id FROM seats WHERE status = 'held'"),
        runs_with_released_seat=runs("SELECT run_id FROM seats WHERE status = 'released'"),
        runs_with_ticket=runs("SELECT run_id FROM tickets"),
        runs_charged=runs("SELECT run_id FROM payments WHERE kind = 'charge'"),
        runs_refunded=runs("SELECT run_id FROM payments WHERE kind = 'refund'"),
        runs_notified_cancel=runs("SELECT run_id FROM notifications WHERE kind = ?",
                                  BOOKING_CANCELLED),
        runs_confirmed=runs("SELECT run_id FROM notifications WHERE kind = ?", CONFIRMATION),
        runs_holding_room=runs("SELECT run_id FROM room_bookings WHERE status = 'booked'"),
        runs_with_cancelled_room=runs(
            "SELECT run_id FROM room_bookings WHERE status = 'cancelled'"),
        runs_holding_car=runs("SELECT run_id FROM car_rentals WHERE status = 'rented'"),
        runs_with_returned_car=runs("SELECT run_id FROM car_rentals WHERE status = 'returned'"),
        runs_with_points=runs("SELECT run_id FROM loyalty_points"),
        charges_by_run=pairs("SELECT run_id, COUNT(*) FROM payments WHERE kind = 'charge' "
                             "GROUP BY run_id"),
        charged_cents_by_run=pairs("SELECT run_id, SUM(amount_cents) FROM payments "
                                   "WHERE kind = 'charge' GROUP BY run_id"),
        refunded_cents_by_run=pairs("SELECT run_id, SUM(amount_cents) FROM payments "
                                    "WHERE kind = 'refund' GROUP BY run_id"),
        cancel_notices_by_run=pairs("SELECT run_id, COUNT(*) FROM notifications "
                                    "WHERE kind = ? GROUP BY run_id", BOOKING_CANCELLED),
        integrity_problems=tuple(_integrity(conn)),
    )


def _integrity(conn: sqlite3.Connection) -> list[str]:
    problems = []
    for table in EFFECT_TABLES:
        orphans = conn.execute(
            f"SELECT COUNT(*) FROM {table} t WHERE NOT EXISTS "
            f"(SELECT 1 FROM idempotency i WHERE i.key = t.idempotency_key)").fetchone()[0]
        if orphans:
            problems.append(f"{orphans} {table} rows have no idempotency record")
    for operation, table in _EFFECT_OF.items():
        missing = conn.execute(
            f"SELECT COUNT(*) FROM idempotency i WHERE i.operation = ? AND NOT EXISTS "
            f"(SELECT 1 FROM {table} t WHERE t.idempotency_key = i.key)",
            (operation,)).fetchone()[0]
        if missing:
            problems.append(f"{missing} {operation} calls are recorded without their effect")
    return problems


def violations(truth: GroundTruth, *, saga: str = "flight_booking",
               price: int | float | None = DEFAULT_PRICE) -> list[str]:
    """Every broken invariant of ``saga``'s runs, as one sentence each (empty: all hold).

    ``price``: what every run paid (``None`` when runs paid different prices: the per-run
    checks still apply). Common to all sagas: no run charged twice, no refund above its
    charge, no run with both a ticket and a released seat, and every run with a refund or a
    released seat notified of the cancellation exactly once.
    """
    if saga not in SAGAS:
        raise ValueError(f"no invariants for saga {saga!r}; known: {', '.join(SAGAS)}")
    price_cents = None if price is None else round(price * 100)
    problems = list(truth.integrity_problems) + _common(truth)
    if saga == "flight_booking":
        return problems + _flight(truth, price_cents)
    holders = {"room": truth.runs_holding_room}
    if saga == "trip_booking":
        holders |= {"seat": truth.runs_holding_seat, "car": truth.runs_holding_car}
        problems += _subset("was confirmed", truth.runs_confirmed, truth.runs_charged)
    else:
        problems += _subset("got loyalty points", truth.runs_with_points, truth.runs_charged)
    for noun, runs in holders.items():
        problems += _listed(f"runs hold a {noun} but did not pay", runs - truth.runs_charged)
        problems += _listed(f"runs paid but hold no {noun}", truth.runs_charged - runs)
    if price_cents is not None and truth.net_cents != len(truth.runs_charged) * price_cents:
        problems.append(f"charges minus refunds ({truth.net_cents / 100:g}) != paying runs x "
                        f"price ({len(truth.runs_charged)} x {price_cents / 100:g})")
    return problems


def _common(truth: GroundTruth) -> list[str]:
    problems = _listed("runs were charged more than once",
                       (run for run, n in truth.charges_by_run.items() if n > 1))
    problems += _listed("runs were refunded more than they paid", (
        run for run, cents in truth.refunded_cents_by_run.items()
        if cents > truth.charged_cents_by_run.get(run, 0)))
    problems += _listed("runs have both a ticket and a released seat",
                        truth.runs_with_ticket & truth.runs_with_released_seat)
    cancelled = truth.runs_refunded | truth.runs_with_released_seat
    problems += _listed("runs with a refund or a released seat did not get exactly one "
                        "booking_cancelled notification",
                        (run for run in cancelled if truth.cancel_notices_by_run.get(run) != 1))
    problems += _listed("runs got more than one booking_cancelled notification",
                        (run for run, n in truth.cancel_notices_by_run.items() if n > 1))
    return problems


def _flight(truth: GroundTruth, price_cents: int | None) -> list[str]:
    problems = []
    if truth.seats_held != truth.tickets:
        problems.append(f"seats held ({truth.seats_held}) != tickets issued ({truth.tickets})")
    problems += _listed("runs hold a seat without a ticket",
                        truth.runs_holding_seat - truth.runs_with_ticket)
    if price_cents is not None and truth.net_cents != truth.tickets * price_cents:
        problems.append(f"charges minus refunds ({truth.net_cents / 100:g}) != tickets x price "
                        f"({truth.tickets} x {price_cents / 100:g})")
    problems += _listed("runs kept a payment without a ticket", (
        run for run in truth.runs_charged - truth.runs_with_ticket if _net(truth, run) > 0))
    problems += _listed("runs have a ticket but kept no payment", (
        run for run in truth.runs_with_ticket if _net(truth, run) <= 0))
    problems += _subset("was confirmed", truth.runs_confirmed, truth.runs_with_ticket)
    return problems


def _subset(what: str, runs: frozenset[str], allowed: frozenset[str]) -> list[str]:
    return _listed(f"runs {what} without completing", runs - allowed)


def _net(truth: GroundTruth, run: str) -> int:
    return truth.charged_cents_by_run.get(run, 0) - truth.refunded_cents_by_run.get(run, 0)


def _listed(what: str, runs: Iterable[str]) -> list[str]:
    found = sorted(runs)
    if not found:
        return []
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    return [f"{len(found)} {what}: {shown}"]
