"""Several runners on one SQLite file: 2 and 4 `saga resume` workers share 1,000 enqueued
runs; no step is advanced twice and no "database is locked" reaches the user. A zombie
runner (paused past its lease, then resumed) has its late writes rejected."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine
from runtime.store.sql import EventStore
from runtime.store.tables import RunStatus
from sample_sagas.ground_truth import DEFAULT_PRICE, snapshot, violations

from .faults import Ledger

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = ROOT / "sample_sagas" / "flight_booking.yaml"


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_one_sqlite_file(tmp_path: Path, workers: int) -> None:
    cli = [sys.executable, "-m", "runtime.cli"]
    subprocess.run([*cli, "run", str(FLIGHT), "--count", "1000", "--enqueue", "--seed", "9",
                    "--fail", "charge_payment=0.2", "--db", "events.db"], cwd=tmp_path,
                   check=True, capture_output=True, timeout=120)
    procs = [subprocess.Popen([*cli, "resume", "--db", "events.db", "--services-db",
                               "services.db", "--concurrency", "25", "--json"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "locked" not in err.lower() and "Traceback" not in err
        reports.append(json.loads(out))
    print(f"{workers} workers claimed", [r["claimed"] for r in reports])
    assert sum(r["claimed"] for r in reports) == 1000
    assert sum(1 for r in reports if r["claimed"] > 0) >= 2, "the work was shared"

    with sqlite3.connect(tmp_path / "events.db") as conn:
        statuses = dict(conn.execute("select status, count(*) from run group by status"))
        twice = conn.execute("""select run_id, step, type, count(*) from event
            where type in ('step_succeeded', 'compensation_succeeded', 'step_started')
            group by run_id, step, type having count(*) > 1""").fetchall()
        gaps = conn.execute("select run_id from event group by run_id "
                            "having max(seq) != count(*)").fetchall()
    assert set(statuses) <= {"completed", "compensated"} and sum(statuses.values()) == 1000
    assert twice == [] and gaps == []
    truth = snapshot(tmp_path / "services.db")
    assert truth.dedup_hits == 0, "a step was executed twice"
    assert violations(truth, saga="flight_booking", price=DEFAULT_PRICE) == []
    assert truth.tickets == statuses.get("completed", 0)


ZOMBIE = SagaDefinition.model_validate({"saga": "z", "steps": [
    {"name": "hold", "action": "seat.hold", "compensation": "seat.free"},
    {"name": "pay", "action": "card.charge", "compensation": "card.refund", "after": ["hold"]}]})


def test_zombie_runner_late_writes_are_rejected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    ledger = Ledger()

    async def scenario() -> tuple[object, object]:
        gate = asyncio.Event()
        entered = asyncio.Event()
        registry = ledger.registry(ZOMBIE)
        real_pay = registry.get("card.charge")

        async def stuck_pay(ctx):  # the zombie's action takes effect, then the runner stalls
            result = await real_pay(ctx)
            entered.set()
            await gate.wait()
            return result
        registry._actions["card.charge"] = stuck_pay  # noqa: SLF001 - test seam

        zombie_clock = ManualClock()
        zombie_store, rescuer_store = EventStore(url), EventStore(url)
        async with Engine(zombie_store, registry, clock=zombie_clock, owner="zombie",
                          lease_seconds=5) as zombie:
            zombie_run = asyncio.create_task(zombie.start(ZOMBIE, {}))
            await entered.wait()
            run_id = zombie_store.list_runs()[0]["id"]
            # time passes: the zombie's lease (5 s) is long gone when the rescuer looks
            later = ManualClock(zombie_clock.now() + timedelta(seconds=60))
            assert rescuer_store.claim("rescuer", later.now(), later.now() + timedelta(seconds=30)) == [run_id]
            async with Engine(rescuer_store, ledger.registry(ZOMBIE), clock=later,
                              owner="rescuer") as rescuer:
                rescued = await rescuer.resume(run_id)
            gate.set()  # the zombie wakes up and tries to record its outcome
            late = await zombie_run
        return rescued, late

    rescued, late = asyncio.run(scenario())
    assert rescued.status is RunStatus.COMPLETED
    assert late.status is None and "no longer holds the lease" in late.abandoned
    events = EventStore(url).load_run(rescued.run_id).events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.type.value == "step_succeeded" and e.step == "pay" for e in events) == 1
    assert ledger.effects["card.charge"] == 1 and ledger.calls["card.charge"] == 2
