"""The sample services keep real state in SQLite and absorb repeated keys.

Every assertion reads the services' database (directly or through ``ground_truth``): no
mocks. Runs are short: one SQLite file per test, a few dozen calls.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.actions import ActionContext, ActionRegistry
from runtime.definition import SagaDefinition
from runtime.errors import NonRetryableError, UnknownActionError
from runtime.validation import validate
from sample_sagas.actions import build_registry, register_actions
from sample_sagas.ground_truth import GroundTruth, snapshot, violations
from sample_sagas.services import (
    ACTION_NAMES,
    BOOKING_CANCELLED,
    CONFIRMATION,
    SampleServices,
    ServiceRefusedError,
)
from sample_sagas.services._schema import EFFECT_TABLES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_sagas"


def ctx(run_id: str, step: str, *, compensate: bool = False, attempt: int = 1,
        input: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None, saga: str = "") -> ActionContext:
    key = f"{run_id}:{step}" + (":compensate" if compensate else "")
    return ActionContext(run_id=run_id, step=step, attempt=attempt, input=dict(input or {}),
                         outputs=dict(outputs or {}), idempotency_key=key,
                         compensating=compensate, saga=saga)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[SampleServices]:
    with SampleServices(tmp_path / "services.db") as svc:
        yield svc


def state(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, but the dedup counters (which repeats are meant to bump)."""
    with sqlite3.connect(db_path) as conn:
        tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
                  for t in (*EFFECT_TABLES, "inventory", "free_units", "refusals")}
        tables["idempotency"] = conn.execute(
            "SELECT key, operation, run_id, result FROM idempotency ORDER BY key").fetchall()
    return tables


def truth(svc: SampleServices) -> GroundTruth:
    return snapshot(svc.db_path)


def flight_completed(svc: SampleServices, run: str, **input: Any) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for step, action in (("reserve_seat", "flight.reserve_seat"),
                         ("charge_payment", "payments.charge"),
                         ("issue_ticket", "tickets.issue"),
                         ("send_confirmation", "notify.confirm")):
        outputs[step] = svc.call(action, ctx(run, step, input=input, outputs=outputs))
    return outputs


def flight_compensated(svc: SampleServices, run: str, **input: Any) -> None:
    svc.call("flight.reserve_seat", ctx(run, "reserve_seat", input=input))
    svc.call("payments.charge", ctx(run, "charge_payment", input=input))
    svc.call("payments.refund", ctx(run, "charge_payment", compensate=True, input=input))
    svc.call("flight.release_seat", ctx(run, "reserve_seat", compensate=True, input=input))


# -- idempotency of every operation ---------------------------------------------------------

@dataclass(frozen=True)
class Case:
    action: str
    step: str
    compensate: bool = False
    setup: tuple[tuple[str, str], ...] = ()
    """(action, step) forward calls made first, for the same run."""


CASES = [
    Case("flight.reserve_seat", "reserve_seat"),
    Case("flight.release_seat", "reserve_seat", True, (("flight.reserve_seat", "reserve_seat"),)),
    Case("payments.charge", "charge_payment"),
    Case("payments.refund", "charge_payment", True, (("payments.charge", "charge_payment"),)),
    Case("tickets.issue", "issue_ticket", setup=(("flight.reserve_seat", "reserve_seat"),)),
    Case("notify.confirm", "send_confirmation"),
    Case("hotel.book_room", "book_room"),
    Case("hotel.cancel_room", "book_room", True, (("hotel.book_room", "book_room"),)),
    Case("loyalty.add_points", "update_loyalty_points"),
    Case("car.rent", "book_car"),
    Case("car.return", "book_car", True, (("car.rent", "book_car"),)),
]


def test_cases_cover_every_action() -> None:
    assert sorted(c.action for c in CASES) == sorted(ACTION_NAMES)


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_repeated_key_returns_original_result_and_changes_nothing(
        services: SampleServices, case: Case) -> None:
    for action, step in case.setup:
        services.call(action, ctx("run-1", step))
    first = services.call(case.action, ctx("run-1", case.step, compensate=case.compensate))
    after_first = state(services.db_path)

    again = [services.call(case.action, ctx("run-1", case.step, compensate=case.compensate,
                                            attempt=n)) for n in (2, 3)]

    assert again == [first, first]
    assert state(services.db_path) == after_first
    assert truth(services).dedup_hits_by_operation == {case.action: 2}
    assert truth(services).dedup_hits == 2


def test_a_new_key_is_a_new_effect(services: SampleServices) -> None:
    services.call("payments.charge", ctx("run-1", "charge_payment"))
    services.call("payments.charge", ctx("run-2", "charge_payment"))
    t = truth(services)
    assert (t.charge_count, t.charges_total_cents, t.dedup_hits) == (2, 24000, 0)


def test_a_key_used_by_another_operation_is_refused(services: SampleServices) -> None:
    services.call("payments.charge", ctx("run-1", "pay"))
    with pytest.raises(ServiceRefusedError, match="key-reused"):
        services.call("loyalty.add_points", ctx("run-1", "pay"))


def test_a_key_that_does_not_match_run_and_step_is_refused(services: SampleServices) -> None:
    bad = ActionContext(run_id="run-1", step="charge_payment", attempt=1, input={}, outputs={},
                        idempotency_key="something-else")
    with pytest.raises(NonRetryableError, match="does not match run 'run-1'"):
        services.call("payments.charge", bad)
    assert truth(services).charge_count == 0


# -- what each operation does ---------------------------------------------------------------

def test_flight_saga_happy_path(services: SampleServices) -> None:
    outputs = flight_completed(services, "run-abcdefghij")

    assert outputs["reserve_seat"] == {"seat": "1A", "flight": "SS100",
                                       "passenger": "passenger-run-abcd"}
    assert outputs["charge_payment"]["amount"] == 120
    assert outputs["issue_ticket"]["seat"] == "1A"
    assert outputs["send_confirmation"]["kind"] == CONFIRMATION
    t = truth(services)
    assert (t.seats_held, t.tickets, t.charges_total_cents, t.refund_count) == (1, 1, 12000, 0)
    assert t.runs_with_ticket == t.runs_confirmed == {"run-abcdefghij"}
    assert violations(t, price=120) == []


def test_confirmation_quotes_the_references_of_earlier_steps(services: SampleServices) -> None:
    outputs = flight_completed(services, "run-1")
    with sqlite3.connect(services.db_path) as conn:
        (detail,) = conn.execute("SELECT detail FROM notifications WHERE kind = ?",
                                 (CONFIRMATION,)).fetchone()
    assert outputs["issue_ticket"]["ticket"] in detail
    assert outputs["charge_payment"]["payment_id"] in detail


def test_input_overrides_defaults(services: SampleServices) -> None:
    seat = services.call("flight.reserve_seat", ctx("r", "reserve_seat", input={
        "passenger": "Ada", "flight": "SS7"}))
    charge = services.call("payments.charge", ctx("r", "charge_payment", input={"price": 19.99}))
    points = services.call("loyalty.add_points", ctx("r", "points", input={"guest": "Ada"}))
    room = services.call("hotel.book_room", ctx("r", "room", input={"hotel": "H", "nights": 3}))
    car = services.call("car.rent", ctx("r", "car", input={"car": "van"}))
    assert seat == {"seat": "1A", "flight": "SS7", "passenger": "Ada"}
    assert charge["amount"] == 19.99 and truth(services).charges_total_cents == 1999
    assert points == {"member": "Ada", "points": 20, "balance": 20}     # no price: nights x 10
    assert (room["hotel"], room["nights"], car["car"]) == ("H", 3, "van")


def test_loyalty_points_follow_the_price_and_add_up(services: SampleServices) -> None:
    a = services.call("loyalty.add_points", ctx("a", "points", input={"guest": "G", "price": 80}))
    b = services.call("loyalty.add_points", ctx("b", "points", input={"guest": "G", "nights": 4}))
    assert (a["points"], a["balance"], b["points"], b["balance"]) == (80, 80, 40, 120)
    assert truth(services).loyalty_points_total == 120


@pytest.mark.parametrize("input", [{"price": "abc"}, {"price": -1}, {"price": 1.234},
                                   {"price": True}, {"nights": 0}, {"passenger": ""},
                                   {"flight": 7}])
def test_bad_input_is_non_retryable_and_changes_nothing(services: SampleServices,
                                                        input: dict[str, Any]) -> None:
    for action, step in (("payments.charge", "pay"), ("flight.reserve_seat", "seat"),
                         ("hotel.book_room", "room")):
        with pytest.raises(NonRetryableError, match="input"):
            services.call(action, ctx("run-1", step, input=input))
    t = truth(services)
    assert (t.charge_count, t.seats_held, t.rooms_booked) == (0, 0, 0)


def test_declined_card_is_refused_and_recorded(services: SampleServices) -> None:
    with pytest.raises(ServiceRefusedError, match="card-declined") as err:
        services.call("payments.charge", ctx("run-1", "pay", input={"card": "declined"}))
    assert isinstance(err.value, NonRetryableError) and err.value.reason == "card-declined"
    t = truth(services)
    assert (t.charge_count, t.refusals) == (0, {"card-declined": 1})


def test_sold_out_flight_is_non_retryable_until_a_seat_is_released(
        services: SampleServices) -> None:
    services.set_capacity("flight", "TINY", 2)
    tiny = {"flight": "TINY"}
    seats = [services.call("flight.reserve_seat", ctx(r, "seat", input=tiny))["seat"]
             for r in ("a", "b")]
    with pytest.raises(ServiceRefusedError, match="sold-out") as err:
        services.call("flight.reserve_seat", ctx("c", "seat", input=tiny))
    assert isinstance(err.value, NonRetryableError)

    services.call("flight.release_seat", ctx("a", "seat", compensate=True, input=tiny))
    again = services.call("flight.reserve_seat", ctx("c", "seat", input=tiny))  # same key

    assert seats == ["1A", "1B"] and again["seat"] == "1A"
    t = truth(services)
    assert (t.seats_held, t.seats_released, t.refusals) == (2, 1, {"sold-out": 1})


def test_default_capacity_is_large(services: SampleServices) -> None:
    with sqlite3.connect(services.db_path) as conn:
        services.call("flight.reserve_seat", ctx("a", "seat"))
        (capacity,) = conn.execute("SELECT capacity FROM inventory WHERE name = 'SS100'").fetchone()
    assert capacity >= 1_000_000


def test_unknown_action(services: SampleServices) -> None:
    with pytest.raises(UnknownActionError, match="flight.reserve_seat"):
        services.call("flight.teleport", ctx("a", "seat"))


# -- compensations --------------------------------------------------------------------------

def test_flight_saga_compensated(services: SampleServices) -> None:
    flight_compensated(services, "run-1")
    t = truth(services)
    assert (t.seats_held, t.seats_released, t.tickets) == (0, 1, 0)
    assert (t.charges_total_cents, t.refunds_total_cents) == (12000, 12000)
    assert t.runs_notified_cancel == t.runs_refunded == t.runs_with_released_seat == {"run-1"}
    assert t.notifications == {BOOKING_CANCELLED: 1}
    assert violations(t) == []


@pytest.mark.parametrize("action,step,flag", [
    ("flight.release_seat", "reserve_seat", "released"),
    ("payments.refund", "charge_payment", "refunded"),
    ("hotel.cancel_room", "book_room", "cancelled"),
    ("car.return", "book_car", "returned"),
])
def test_compensating_what_never_happened_is_a_no_op_success(
        services: SampleServices, action: str, step: str, flag: str) -> None:
    result = services.call(action, ctx("run-1", step, compensate=True))
    assert result[flag] is False
    assert services.call(action, ctx("run-1", step, compensate=True, attempt=2)) == result
    t = truth(services)
    assert (t.seats_released, t.refund_count, t.rooms_cancelled, t.cars_returned) == (0, 0, 0, 0)
    assert t.dedup_hits == 1
    assert violations(t) == []


def test_release_of_an_unreserved_seat_still_tells_the_customer(
        services: SampleServices) -> None:
    services.call("flight.release_seat", ctx("run-1", "reserve_seat", compensate=True))
    assert truth(services).runs_notified_cancel == {"run-1"}


@pytest.mark.parametrize("action,step,undo", [
    ("flight.reserve_seat", "reserve_seat", "flight.release_seat"),
    ("payments.charge", "charge_payment", "payments.refund"),
    ("hotel.book_room", "book_room", "hotel.cancel_room"),
    ("car.rent", "book_car", "car.return"),
])
def test_a_late_attempt_after_its_compensation_is_refused(
        services: SampleServices, action: str, step: str, undo: str) -> None:
    """A timed-out attempt may land after the step was compensated: it must not book."""
    services.call(undo, ctx("run-1", step, compensate=True))
    with pytest.raises(ServiceRefusedError, match="compensated"):
        services.call(action, ctx("run-1", step, attempt=2))
    t = truth(services)
    assert (t.seats_held, t.charge_count, t.rooms_booked, t.cars_rented) == (0, 0, 0, 0)
    assert t.refusals == {"compensated": 1}


def test_a_ticketed_seat_is_not_released(services: SampleServices) -> None:
    flight_completed(services, "run-1")
    with pytest.raises(ServiceRefusedError, match="ticketed"):
        services.call("flight.release_seat", ctx("run-1", "reserve_seat", compensate=True))
    t = truth(services)
    assert (t.seats_held, t.seats_released, t.runs_notified_cancel) == (1, 0, frozenset())


@pytest.mark.parametrize("released", [False, True])
def test_no_ticket_without_a_held_seat(services: SampleServices, released: bool) -> None:
    if released:
        services.call("flight.reserve_seat", ctx("run-1", "reserve_seat"))
        services.call("flight.release_seat", ctx("run-1", "reserve_seat", compensate=True))
    with pytest.raises(ServiceRefusedError, match="seat-released" if released else "no-seat"):
        services.call("tickets.issue", ctx("run-1", "issue_ticket"))
    assert truth(services).tickets == 0


def test_refund_is_the_charged_amount_once(services: SampleServices) -> None:
    services.call("payments.charge", ctx("r", "pay", input={"price": 55.5}))
    refund = services.call("payments.refund", ctx("r", "pay", compensate=True))
    assert (refund["refunded"], refund["amount"]) == (True, 55.5)
    assert truth(services).refunded_cents_by_run == {"r": 5550}


# -- the other sagas ------------------------------------------------------------------------

def test_hotel_saga_paths(services: SampleServices) -> None:
    services.call("hotel.book_room", ctx("ok", "book_room"))
    services.call("payments.charge", ctx("ok", "deduct_payment"))
    services.call("loyalty.add_points", ctx("ok", "update_loyalty_points"))
    services.call("hotel.book_room", ctx("undone", "book_room"))
    services.call("hotel.cancel_room", ctx("undone", "book_room", compensate=True))
    t = truth(services)
    assert (t.rooms_booked, t.rooms_cancelled) == (1, 1) and t.runs_with_points == {"ok"}
    assert violations(t, saga="hotel_booking") == []


def test_trip_saga_paths(services: SampleServices) -> None:
    bookings = (("flight.reserve_seat", "book_flight"), ("hotel.book_room", "book_hotel"),
                ("car.rent", "book_car"))
    for run in ("ok", "undone"):
        for action, step in bookings:
            services.call(action, ctx(run, step))
    services.call("payments.charge", ctx("ok", "take_payment"))
    services.call("notify.confirm", ctx("ok", "send_itinerary"))
    for action, step in (("car.return", "book_car"), ("hotel.cancel_room", "book_hotel"),
                         ("flight.release_seat", "book_flight")):
        services.call(action, ctx("undone", step, compensate=True))
    t = truth(services)
    assert t.runs_holding_seat == t.runs_holding_room == t.runs_holding_car == {"ok"}
    assert t.runs_notified_cancel == {"undone"}
    assert violations(t, saga="trip_booking") == []


# -- ground truth catches planted violations ------------------------------------------------

def _plant_sql(svc: SampleServices, sql: str) -> None:
    with sqlite3.connect(svc.db_path) as conn:
        conn.execute(sql)


PLANTS: list[tuple[str, Any, str]] = [
    ("charge without ticket",
     lambda s: s.call("payments.charge", ctx("stray", "charge_payment")),
     "kept a payment without a ticket"),
    ("charge without ticket, totals",
     lambda s: s.call("payments.charge", ctx("stray", "charge_payment")),
     "charges minus refunds (240) != tickets x price (1 x 120)"),
    ("double charge",
     lambda s: s.call("payments.charge", ctx("ok", "charge_again")),
     "charged more than once: ok"),
    ("seat without ticket",
     lambda s: s.call("flight.reserve_seat", ctx("stray", "reserve_seat")),
     "seats held (2) != tickets issued (1)"),
    ("refund without notice",
     lambda s: (s.call("payments.charge", ctx("x", "charge_payment")),
                s.call("payments.refund", ctx("x", "charge_payment", compensate=True))),
     "did not get exactly one booking_cancelled notification: x"),
    ("ticket and released seat",
     lambda s: _plant_sql(s, "UPDATE seats SET status = 'released' WHERE run_id = 'ok'"),
     "both a ticket and a released seat: ok"),
    ("effect without its key",
     lambda s: _plant_sql(s, "DELETE FROM idempotency WHERE operation = 'tickets.issue'"),
     "1 tickets rows have no idempotency record"),
    ("key without its effect",
     lambda s: _plant_sql(s, "DELETE FROM notifications"),
     "1 notify.confirm calls are recorded without their effect"),
    ("confirmed without ticket",
     lambda s: s.call("notify.confirm", ctx("stray", "send_confirmation")),
     "was confirmed without completing: stray"),
]


@pytest.mark.parametrize("plant,expected", [(p, e) for _, p, e in PLANTS],
                         ids=[name for name, _, _ in PLANTS])
def test_violations_detect_a_planted_inconsistency(services: SampleServices, plant: Any,
                                                   expected: str) -> None:
    flight_completed(services, "ok")
    assert violations(truth(services)) == []
    plant(services)
    found = violations(truth(services))
    assert any(expected in problem for problem in found), found


def test_violations_of_the_other_sagas_detect_unpaid_bookings(services: SampleServices) -> None:
    services.call("hotel.book_room", ctx("unpaid", "book_room"))
    services.call("car.rent", ctx("unpaid", "book_car"))
    assert violations(truth(services), saga="hotel_booking") == [
        "1 runs hold a room but did not pay: unpaid"]
    assert "1 runs hold a car but did not pay: unpaid" in violations(
        truth(services), saga="trip_booking")
    with pytest.raises(ValueError, match="known: flight_booking"):
        violations(truth(services), saga="nope")


def test_snapshot_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SampleServices"):
        snapshot(tmp_path / "nothing.db")


# -- the registry ---------------------------------------------------------------------------

def _sample_actions() -> set[str]:
    names = set()
    for path in SAMPLES.glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        if "steps" in data:
            for step in data["steps"]:
                names |= {step["action"]} | ({step["compensation"]} - {None}
                                             if "compensation" in step else set())
    return names


def test_registry_holds_every_action_the_sample_sagas_use(tmp_path: Path) -> None:
    registry, services = build_registry(tmp_path / "s.db")
    try:
        assert set(registry.names()) == set(ACTION_NAMES) == _sample_actions()
        for path in sorted(SAMPLES.glob("*_booking.yaml")):
            definition = SagaDefinition.model_validate(yaml.safe_load(path.read_text()))
            assert validate(definition, registry) == [], path.name
    finally:
        services.close()


def test_registered_actions_run_in_threads_on_the_services(services: SampleServices) -> None:
    registry = ActionRegistry()
    register_actions(registry, services)

    async def run() -> list[Any]:
        return [await registry.invoke(a, ctx("run-1", s)) for a, s in (
            ("flight.reserve_seat", "reserve_seat"), ("payments.charge", "charge_payment"),
            ("tickets.issue", "issue_ticket"), ("notify.confirm", "send_confirmation"))]

    results = asyncio.run(run())
    assert results[0]["seat"] == results[2]["seat"] == "1A"
    assert violations(truth(services)) == []
    assert "charge" in registry.describe("payments.charge")


# -- concurrency: threads, processes, SIGKILL -----------------------------------------------

def test_threads_racing_on_the_same_keys_make_each_effect_once(
        services: SampleServices) -> None:
    runs = [f"run-{i:02d}" for i in range(24)]
    calls = [(a, r, s, c) for r in runs for a, s, c in (
        ("flight.reserve_seat", "reserve_seat", False), ("payments.charge", "charge_payment",
                                                         False))]
    # Half the runs also race their compensations against the forward calls.
    calls += [(a, r, s, True) for r in runs[::2] for a, s in (
        ("flight.release_seat", "reserve_seat"), ("payments.refund", "charge_payment"))]
    threads = 6

    def worker(seed: int) -> int:
        mine = calls[:]
        random.Random(seed).shuffle(mine)
        refused = 0
        for action, run, step, compensate in mine:
            try:
                services.call(action, ctx(run, step, compensate=compensate))
            except ServiceRefusedError:
                refused += 1
        return refused

    with ThreadPoolExecutor(threads) as pool:
        refused = sum(pool.map(worker, range(threads)))

    t = truth(services)
    kept, undone = set(runs[1::2]), set(runs[::2])
    assert t.runs_holding_seat == kept
    assert set(t.charged_cents_by_run) - set(t.refunded_cents_by_run) == kept
    assert t.runs_with_released_seat <= undone and t.runs_notified_cancel == undone
    assert set(t.charges_by_run.values()) == {1}
    rows = state(services.db_path)
    assert len(rows["seats"]) == len(t.runs_holding_seat | t.runs_with_released_seat)
    # Every call made an effect (once per key), was absorbed, or was refused as too late.
    assert t.dedup_hits == len(calls) * threads - refused - len(rows["idempotency"])
    assert refused == sum(t.refusals.values())
    assert t.integrity_problems == ()
    for run in kept:                       # finish the kept runs: the invariants then hold
        services.call("tickets.issue", ctx(run, "issue_ticket"))
    assert violations(truth(services)) == []


def test_connections_of_finished_threads_are_closed(services: SampleServices) -> None:
    for batch in range(3):                           # a new pool (new threads) each time
        runs = [f"{batch}-{i}" for i in range(8)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda run: services.call("payments.charge", ctx(run, "p")), runs))
    gc.collect()
    assert services.open_connections == 1            # the test thread's own
    assert truth(services).charge_count == 24


def _charge_many(db_path: str, runs: list[str]) -> None:
    with SampleServices(db_path) as svc:
        for run in runs:
            svc.call("flight.reserve_seat", ctx(run, "reserve_seat"))
            svc.call("payments.charge", ctx(run, "charge_payment"))


def test_processes_sharing_the_file_make_each_effect_once(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    SampleServices(db).close()
    runs = [f"run-{i:02d}" for i in range(40)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        list(pool.map(_charge_many, [db, db], [runs, runs[::-1]]))
    t = snapshot(db)
    assert (t.seats_held, t.charge_count, t.dedup_hits) == (40, 40, 80)
    assert len({row[3] for row in state(Path(db))["seats"]}) == 40     # 40 different seats
    assert t.integrity_problems == ()


_KILLED_WRITER = """
import sys
from runtime.actions import ActionContext
from sample_sagas.services import SampleServices
svc = SampleServices(sys.argv[1])
n = 0
while True:
    run = f"run-{n:05d}"
    outputs = {}
    for step, action in (("reserve_seat", "flight.reserve_seat"),
                         ("charge_payment", "payments.charge"),
                         ("issue_ticket", "tickets.issue")):
        outputs[step] = svc.call(action, ActionContext(run, step, 1, {}, outputs,
                                                       f"{run}:{step}"))
    n += 1
"""


def test_sigkill_mid_run_leaves_every_effect_with_its_key(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SampleServices(db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(db)], env=env,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while snapshot(db).tickets < 30:
            assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.02)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    before = snapshot(db)
    assert before.integrity_problems == ()
    keys_before = len(state(db)["idempotency"])

    # Recovery: re-run every started run with the same keys; only the missing effects happen.
    started = before.runs_holding_seat | before.runs_charged
    with SampleServices(db) as svc:
        for run in started:
            outputs: dict[str, Any] = {}
            for step, action in (("reserve_seat", "flight.reserve_seat"),
                                 ("charge_payment", "payments.charge"),
                                 ("issue_ticket", "tickets.issue")):
                outputs[step] = svc.call(action, ctx(run, step, outputs=outputs))
    after = snapshot(db)
    assert after.runs_with_ticket == started
    assert after.dedup_hits == keys_before       # every call that had landed was absorbed
    assert violations(after) == []


# -- a property: any mix of saga fates and repeated attempts keeps the invariants -----------

FATES = st.sampled_from(["completed", "payment_failed", "payment_unknown", "reserve_unknown"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fates=st.lists(FATES, min_size=1, max_size=6),
       repeats=st.lists(st.integers(1, 3), min_size=24, max_size=24))
def test_any_mix_of_fates_and_repeats_keeps_the_flight_invariants(
        fates: list[str], repeats: list[int]) -> None:
    attempts = iter(repeats)
    with tempfile.TemporaryDirectory() as tmp, SampleServices(Path(tmp) / "s.db") as svc:
        expected_hits = 0

        def call(action: str, run: str, step: str, compensate: bool = False) -> None:
            nonlocal expected_hits
            times = next(attempts, 1)
            for attempt in range(1, times + 1):
                svc.call(action, ctx(run, step, compensate=compensate, attempt=attempt))
            expected_hits += times - 1

        for i, fate in enumerate(fates):
            run = f"run-{i}"
            if fate != "reserve_unknown":          # an unknown outcome may or may not land
                call("flight.reserve_seat", run, "reserve_seat")
            if fate == "completed":
                call("payments.charge", run, "charge_payment")
                call("tickets.issue", run, "issue_ticket")
                call("notify.confirm", run, "send_confirmation")
                continue
            if fate == "payment_unknown":
                call("payments.charge", run, "charge_payment")
            if fate != "reserve_unknown":
                call("payments.refund", run, "charge_payment", compensate=True)
            call("flight.release_seat", run, "reserve_seat", compensate=True)

        t = snapshot(svc.db_path)
        assert violations(t) == []
        assert t.dedup_hits == expected_hits
        assert t.tickets == fates.count("completed")
        assert t.runs_notified_cancel == {f"run-{i}" for i, f in enumerate(fates)
                                          if f != "completed"}
