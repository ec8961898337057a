"""The action names the designer offers: every name the sample sagas use."""

from __future__ import annotations

from designer.files import open_sample
from designer.registry import sample_action_names, sample_registry, simulated_registry

EXPECTED = {
    "flight.reserve_seat", "flight.release_seat", "payments.charge", "payments.refund",
    "tickets.issue", "notify.confirm", "hotel.book_room", "hotel.cancel_room",
    "loyalty.add_points", "car.rent", "car.return",
}


def test_every_sample_action_is_offered() -> None:
    assert EXPECTED <= set(sample_action_names())
    registry = sample_registry()
    assert EXPECTED <= set(registry.names())
    assert registry.describe("payments.charge") == "simulated"


def test_each_call_builds_a_new_registry() -> None:
    assert sample_registry() is not sample_registry()


def test_simulated_registry_of_a_definition() -> None:
    registry = simulated_registry(open_sample("hotel_booking"))
    assert registry.names() == ["hotel.book_room", "hotel.cancel_room", "loyalty.add_points",
                                "payments.charge"]
