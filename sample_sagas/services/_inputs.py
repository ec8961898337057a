"""The run input the sample services read, with defaults for everything that is absent.

    order = Order.from_context(context)      # NonRetryableError if a field has the wrong type
    order.passenger, order.flight, order.price_cents, order.nights, ...

A bad input never gets better on retry, so it is a :class:`NonRetryableError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from runtime.actions import ActionContext
from runtime.errors import NonRetryableError

DEFAULT_FLIGHT = "SS100"
DEFAULT_PRICE = 120
DEFAULT_HOTEL = "SAGA-INN"
DEFAULT_NIGHTS = 2
DEFAULT_CAR = "compact"
DEFAULT_CAPACITY = 1_000_000
"""Seats per flight, rooms per hotel, cars per class: enough that 100k runs never sell out."""
DECLINED_CARD = "declined"
"""``input.card`` with this value makes ``payments.charge`` refuse (a non-retryable error)."""


@dataclass(frozen=True)
class Order:
    """What a run asks the services for, defaults filled in.

    passenger: the customer (also hotel guest, driver, loyalty member unless given).
    price_cents: ``input.price`` in cents (at most two decimals, not negative).
    """

    run_id: str
    passenger: str
    flight: str
    price_cents: int
    hotel: str
    guest: str
    nights: int
    car: str
    driver: str
    card: str

    @classmethod
    def from_context(cls, context: ActionContext) -> Order:
        data: Mapping[str, Any] = context.input or {}
        if not isinstance(data, Mapping):
            raise NonRetryableError(f"run input must be an object, got {type(data).__name__}")
        passenger = _text(data, "passenger", f"passenger-{context.run_id[:8]}")
        return cls(
            run_id=context.run_id,
            passenger=passenger,
            flight=_text(data, "flight", DEFAULT_FLIGHT),
            price_cents=_cents(data.get("price", DEFAULT_PRICE)),
            hotel=_text(data, "hotel", DEFAULT_HOTEL),
            guest=_text(data, "guest", passenger),
            nights=_positive_int(data, "nights", DEFAULT_NIGHTS),
            car=_text(data, "car", DEFAULT_CAR),
            driver=_text(data, "driver", passenger),
            card=_text(data, "card", "ok"),
            price_given="price" in data,
        )

    price_given: bool = False

    @property
    def loyalty_points(self) -> int:
        """Points a stay or trip earns: the price in whole units, or ``nights * 10`` when the
        input gives no price."""
        return self.price_cents // 100 if self.price_given else self.nights * 10


def _text(data: Mapping[str, Any], name: str, default: str) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise NonRetryableError(f"input.{name} must be a non-empty string of at most 255 "
                                f"characters, got {value!r}")
    return value


def _positive_int(data: Mapping[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise NonRetryableError(f"input.{name} must be a whole number from 1 to 10000, "
                                f"got {value!r}")
    return value


def _cents(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NonRetryableError(f"input.price must be a number, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise NonRetryableError(f"input.price must be a number, got {value!r}") from None
    cents = amount * 100
    if not amount.is_finite() or amount < 0 or cents != cents.to_integral_value():
        raise NonRetryableError(f"input.price must be a non-negative amount with at most two "
                                f"decimals, got {value!r}")
    return int(cents)


def amount_of(cents: int) -> int | float:
    """Cents back to the JSON number a caller expects: ``12000 -> 120``, ``1999 -> 19.99``."""
    return cents // 100 if cents % 100 == 0 else cents / 100
