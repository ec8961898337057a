"""The services the sample sagas call, keeping real state in one SQLite file.

    services = SampleServices("services.db")
    services.call("payments.charge", context)      # exactly once per idempotency key

Errors: ``ServiceRefusedError`` (a ``runtime.errors.NonRetryableError``) when a service
refuses for good (sold out, declined card, a late attempt whose compensation already ran);
``NonRetryableError`` for a bad run input. Ground truth for tests: ``sample_sagas.ground_truth``.
"""

from __future__ import annotations

from sample_sagas.services._inputs import (
    DECLINED_CARD,
    DEFAULT_CAPACITY,
    DEFAULT_CAR,
    DEFAULT_FLIGHT,
    DEFAULT_HOTEL,
    DEFAULT_NIGHTS,
    DEFAULT_PRICE,
    Order,
)
from sample_sagas.services._ledger import ServiceRefusedError
from sample_sagas.services._notify import (
    BOOKING_CANCELLED,
    CONFIRMATION,
    RENTAL_CANCELLED,
    ROOM_CANCELLED,
)
from sample_sagas.services._services import (
    ACTION_NAMES,
    OPERATIONS,
    InventoryKind,
    Operation,
    SampleServices,
)

__all__ = [
    "ACTION_NAMES",
    "BOOKING_CANCELLED",
    "CONFIRMATION",
    "DECLINED_CARD",
    "DEFAULT_CAPACITY",
    "DEFAULT_CAR",
    "DEFAULT_FLIGHT",
    "DEFAULT_HOTEL",
    "DEFAULT_NIGHTS",
    "DEFAULT_PRICE",
    "OPERATIONS",
    "RENTAL_CANCELLED",
    "ROOM_CANCELLED",
    "InventoryKind",
    "Operation",
    "Order",
    "SampleServices",
    "ServiceRefusedError",
]
