"""``SampleServices``: every sample action over one SQLite file.

    services = SampleServices("services.db")
    result = services.call("flight.reserve_seat", context)    # {"seat": "1A", "flight": ...}
    services.call("flight.reserve_seat", context)             # same key: same result, no effect
    services.close()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Literal

from runtime.actions import ActionContext
from runtime.errors import UnknownActionError
from sample_sagas.services import _flight, _notify, _payments, _stays
from sample_sagas.services._db import DEFAULT_BUSY_TIMEOUT, Database
from sample_sagas.services._ledger import Result, Work, run_once, set_capacity

InventoryKind = Literal["flight", "hotel", "car"]


@dataclass(frozen=True)
class Operation:
    """One action the sample services answer.

    action: the registered name (``flight.reserve_seat``); HTTP route ``/flight/reserve_seat``.
    work: the transaction body, ``work(conn, context, order) -> result``.
    undoes: for a compensation, the action it undoes.
    """

    action: str
    work: Work
    undoes: str | None = None

    @property
    def description(self) -> str:
        return (self.work.__doc__ or "").split("\n")[0].split(": ", 1)[-1]


OPERATIONS: tuple[Operation, ...] = (
    Operation("flight.reserve_seat", _flight.reserve_seat_txn),
    Operation("flight.release_seat", _flight.release_seat_txn, undoes="flight.reserve_seat"),
    Operation("payments.charge", _payments.charge_txn),
    Operation("payments.refund", _payments.refund_txn, undoes="payments.charge"),
    Operation("tickets.issue", _flight.issue_ticket_txn),
    Operation("notify.confirm", _notify.confirm_txn),
    Operation("hotel.book_room", _stays.book_room_txn),
    Operation("hotel.cancel_room", _stays.cancel_room_txn, undoes="hotel.book_room"),
    Operation("loyalty.add_points", _payments.add_points_txn),
    Operation("car.rent", _stays.rent_car_txn),
    Operation("car.return", _stays.return_car_txn, undoes="car.rent"),
)
ACTION_NAMES: tuple[str, ...] = tuple(op.action for op in OPERATIONS)
_BY_NAME = {op.action: op for op in OPERATIONS}
_COMPENSATED = {op.undoes for op in OPERATIONS if op.undoes}


class SampleServices:
    """The sample sagas' services (airline, payments, tickets, notifications, hotel,
    loyalty, car rental) keeping real state in one SQLite file.

    Every call is one short transaction that records its idempotency key with its effect: a
    repeated key returns the original result, changes nothing and counts a dedup hit. Safe to
    call from many threads and from many processes sharing ``db_path``.
    """

    def __init__(self, db_path: str | os.PathLike[str], *,
                 busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> None:
        self._db = Database(db_path, busy_timeout=busy_timeout)

    @property
    def db_path(self) -> Path:
        return self._db.path

    @property
    def open_connections(self) -> int:
        """SQLite connections open now: one per live thread that called the services."""
        return self._db.open_connections

    def call(self, action: str, context: ActionContext) -> Result:
        """Run ``action`` for ``context`` (at most once per ``context.idempotency_key``).

        Raises ``ServiceRefusedError`` (a ``NonRetryableError``) when the service refuses
        for good, ``NonRetryableError`` for a bad input, ``UnknownActionError`` for a name
        that is not in :data:`ACTION_NAMES`.
        """
        operation = _BY_NAME.get(action)
        if operation is None:
            raise UnknownActionError(action, ACTION_NAMES)
        return run_once(self._db, action, context, operation.work,
                        barred_after_compensation=action in _COMPENSATED)

    def handler(self, action: str) -> Callable[[ActionContext], Result]:
        """``call`` bound to one action: a sync callable for an ``ActionRegistry``."""
        if action not in _BY_NAME:
            raise UnknownActionError(action, ACTION_NAMES)
        function = partial(self.call, action)
        function.__doc__ = _BY_NAME[action].work.__doc__
        return function

    def set_capacity(self, kind: InventoryKind, name: str, capacity: int) -> None:
        """How many seats a flight, rooms a hotel or cars a class has (default 1,000,000)."""
        with self._db.transaction() as conn:
            set_capacity(conn, kind, name, capacity)

    def close(self) -> None:
        """Close this object's connections; the file keeps the state."""
        self._db.close()

    def __enter__(self) -> SampleServices:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
