"""Issue 5, recovery: a runner killed with SIGKILL again and again loses nothing and
double-charges no one. Ground truth is the sample services' own state."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sample_sagas.ground_truth import DEFAULT_PRICE, snapshot, violations

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = ROOT / "sample_sagas" / "flight_booking.yaml"


def run_command(runs: int) -> list[str]:
    return [sys.executable, "-m", "runtime.cli", "run", str(FLIGHT), "--count", str(runs),
            "--batch", "crash", "--lease", "1", "--concurrency", "2", "--seed", "7",
            "--fail", "charge_payment=0.2", "--flaky", "send_confirmation=0.2",
            "--latency", "reserve_seat=50:120", "--latency", "charge_payment=50:120",
            "--latency", "issue_ticket=30:80", "--db", "events.db",
            "--actions", "tests.reliability.crash_actions", "--json"]


def events_written(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("select count(*) from event").fetchone()[0])
    except sqlite3.Error:
        return 0


def crash_many_times(tmp_path: Path, runs: int, kills: int, seed: int) -> dict[str, int]:
    env = dict(os.environ, CRASH_SERVICES_DB=str(tmp_path / "services.db"),
               PYTHONPATH=str(ROOT))
    rng = random.Random(seed)
    db = tmp_path / "events.db"
    killed = 0
    while killed < kills:
        before = events_written(db)
        proc = subprocess.Popen(run_command(runs), cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while events_written(db) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # wait until this runner is really working
        if proc.poll() is not None:
            break  # it finished the whole batch before we could kill it
        time.sleep(rng.uniform(0.010, 0.500))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed += 1
    final = subprocess.run(run_command(runs), cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    return {"kills": killed}


def check_invariants(tmp_path: Path, runs: int) -> dict[str, int]:
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        statuses = dict(conn.execute("select status, count(*) from run group by status"))
        completed = {r for (r,) in conn.execute("select id from run where status='completed'")}
        compensated = {r for (r,) in conn.execute("select id from run where status='compensated'")}
        gaps = conn.execute("select run_id from event group by run_id "
                            "having max(seq) != count(*) or min(seq) != 1").fetchall()
        indexes = sorted(json.loads(data)["run_index"] for (data,) in conn.execute(
            "select data from event where type = 'run_started'"))
        # re-executed attempts: a step started again after an attempt with no recorded outcome
        rerun = conn.execute("""
            select count(*) from event s where s.type in ('step_started', 'compensation_started')
            and not exists (select 1 from event o where o.run_id = s.run_id and o.step = s.step
                and o.attempt = s.attempt and o.seq > s.seq
                and o.type in ('step_succeeded','step_failed','step_timed_out',
                               'compensation_succeeded','compensation_failed'))
            and exists (select 1 from event n where n.run_id = s.run_id and n.step = s.step
                and n.seq > s.seq and n.type = s.type)""").fetchone()[0]
    assert sum(statuses.values()) == runs
    assert indexes == list(range(runs)), "a run index is missing, or was started twice"
    assert set(statuses) <= {"completed", "compensated"}, statuses
    assert gaps == []
    truth = snapshot(tmp_path / "services.db")
    assert violations(truth, saga="flight_booking", price=DEFAULT_PRICE) == []
    assert all(n == 1 for n in truth.charges_by_run.values()), "a run was charged twice"
    assert truth.runs_holding_seat <= completed, "a seat is held by a run that did not complete"
    assert truth.runs_with_ticket == completed
    assert truth.runs_notified_cancel == compensated
    assert all(truth.cancel_notices_by_run[r] == 1 for r in compensated)
    assert truth.net_cents == len(completed) * round(DEFAULT_PRICE * 100)
    return {"completed": len(completed), "compensated": len(compensated),
            "re_executed_attempts": int(rerun), "dedup_hits": truth.dedup_hits}


def test_sigkill_50_times_loses_nothing(tmp_path: Path, record_property: object) -> None:
    runs, kills = 200, 50
    crash = crash_many_times(tmp_path, runs, kills, seed=5)
    figures = crash | check_invariants(tmp_path, runs)
    print("crash recovery:", figures)
    assert figures["kills"] == kills, "the batch finished before every crash was made"
    assert figures["re_executed_attempts"] > 0, "no crash hit an attempt in flight"
    assert figures["dedup_hits"] > 0, "no crash hit the window after an effect"


@pytest.mark.slow
def test_sigkill_500_times_nightly(tmp_path: Path) -> None:
    runs, kills = 2000, 500
    crash = crash_many_times(tmp_path, runs, kills, seed=11)
    figures = crash | check_invariants(tmp_path, runs)
    print("crash recovery (nightly):", figures)
    assert figures["re_executed_attempts"] > 0 and figures["dedup_hits"] > 0
