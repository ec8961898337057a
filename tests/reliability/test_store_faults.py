"""Store faults: 'database is locked' and I/O errors injected at 5% per store method (before
or after the real call), seeded. Every run still ends terminal, the ledger of effects holds,
and a failing seed can be replayed exactly (same faults, same order)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from runtime.batch import BatchOptions, run_batch
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.injection import Injection

from .faults import FaultyMemoryStore, FaultyStore, Ledger

FLIGHT = SagaDefinition.model_validate({
    "saga": "flight", "steps": [
        {"name": "reserve", "action": "seat.hold", "compensation": "seat.free"},
        {"name": "charge", "action": "card.charge", "compensation": "card.refund", "after": ["reserve"]},
        {"name": "ticket", "action": "ticket.issue", "after": ["charge"], "kind": "pivot"},
        {"name": "confirm", "action": "mail.send", "after": ["ticket"], "kind": "retriable"},
    ]})
SEEDS = [int(s) for s in os.environ.get("SAGA_FAULT_SEEDS", "1,2,3").split(",")]


def run_with_faults(tmp_path: Path, seed: int, runs: int = 150, concurrency: int = 5,
                    kind: str = "sqlite") -> tuple[FaultyStore | FaultyMemoryStore, Ledger, dict[str, int]]:
    store: FaultyStore | FaultyMemoryStore = (
        FaultyMemoryStore(seed=seed, rate=0.05) if kind == "memory"
        else FaultyStore(f"sqlite:///{tmp_path / f'e{seed}.db'}", seed=seed, rate=0.05))
    ledger = Ledger()
    injection = Injection(seed=seed, fail={"charge": 0.2})
    options = BatchOptions(count=runs, concurrency=concurrency, seed=seed, injection=injection, origin="test")
    asyncio.run(run_batch(FLIGHT, ledger.registry(FLIGHT), store, options, clock=ManualClock()))
    store.armed = False
    counts = store.status_counts()
    return store, ledger, counts


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@pytest.mark.parametrize("seed", SEEDS)
def test_every_run_terminal_under_store_faults(tmp_path: Path, seed: int, kind: str) -> None:
    store, ledger, counts = run_with_faults(tmp_path, seed, kind=kind)
    print(f"{kind} seed {seed}: {len(store.log)} faults injected; runs {counts}; "
          f"replay with SAGA_FAULT_SEEDS={seed}")
    assert len(store.log) >= 5, "faults were really injected"
    assert {k for k, v in counts.items() if v} <= {"completed", "compensated"}
    assert sum(counts.values()) == 150
    # each effect once per key: one hold per run, refunds only for charged runs
    assert all(n <= 150 for n in ledger.effects.values())
    assert ledger.effects["seat.hold"] == 150
    assert ledger.effects["seat.free"] == counts.get("compensated", 0)
    assert ledger.effects["ticket.issue"] == counts.get("completed", 0)
    assert ledger.effects["mail.send"] == counts.get("completed", 0)
    for run in store.list_runs(limit=1000):
        seqs = [e.seq for e in store.load_run(run["id"]).events]
        assert seqs == list(range(1, len(seqs) + 1))


def test_a_seed_replays_the_same_faults(tmp_path: Path) -> None:
    """One run at a time, a seed's faults hit the same calls in the same order."""
    first, _, counts_a = run_with_faults(tmp_path / "a", seed=42, runs=40, concurrency=1)
    second, _, counts_b = run_with_faults(tmp_path / "b", seed=42, runs=40, concurrency=1)
    assert first.log and first.log == second.log
    assert counts_a == counts_b
