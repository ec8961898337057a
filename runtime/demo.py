"""``saga demo``: sample runs into a local SQLite file, so the app has something to show."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from runtime.batch import BatchOptions, run_batch, simulated_registry
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.store.sql import EventStore, sqlite_url
from runtime.store.tables import Origin

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sagas"


def run_demo(directory: Path, *, count: int = 500, console: Console | None = None) -> str:
    """Run ``count`` flight bookings against the real in-process sample services (every
    10th payment declined, flaky confirmations), plus simulated hotel and trip bookings.
    Returns the event log's URL."""
    from sample_sagas.actions import build_registry
    from sample_sagas.ground_truth import snapshot

    console = console or Console()
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite_url(directory / "saga.db")
    services_db = directory / "sample_services.db"
    flight = load_definition(SAMPLES / "flight_booking.yaml")
    registry, services = build_registry(services_db)
    jobs = [
        (flight, registry, Injection.from_flags(
            flight, seed=1, fail=["charge_payment=0.1"], flaky=["send_confirmation=0.1"],
            latency=["reserve_seat=2:8", "charge_payment=4:15"], use_simulate_defaults=False),
         Origin.REAL, count),
    ]
    for name in ("hotel_booking.yaml", "trip_booking.yaml"):
        definition = load_definition(SAMPLES / name)
        jobs.append((definition, simulated_registry(definition),
                     Injection.from_flags(definition, seed=2), Origin.SIMULATED, max(count // 5, 20)))
    store = EventStore(db)
    try:
        for definition, actions, injection, origin, runs in jobs:
            with console.status(f"running {runs} {definition.saga} ({origin.value})"):
                summary = asyncio.run(run_batch(definition, actions, store, BatchOptions(
                    count=runs, concurrency=20, seed=1, injection=injection, origin=origin.value)))
            console.print(f"{definition.saga:15} {summary.completed:5} completed "
                          f"{summary.compensated:5} compensated {summary.failed:3} failed  "
                          f"({summary.sagas_per_second:,.0f} sagas/s, batch {summary.batch_id})")
    finally:
        store.close()
        services.close()
    truth = snapshot(services_db)
    console.print(f"sample services: {truth.tickets} tickets, {truth.seats_held} seats held, "
                  f"{truth.seats_released} released, charges {truth.charges_total} - refunds "
                  f"{truth.refunds_total}")
    console.print(f"event log: {directory / 'saga.db'}   services: {services_db}")
    console.print(f"look: saga runs --db {db}   |   saga studio --db {db}")
    return db
