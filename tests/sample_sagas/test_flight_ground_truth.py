"""Issue 2's acceptance check: `saga run flight_booking --count 1000 --fail charge_payment=0.2
--seed 7` against the real sample services, then the services' own state (ground truth)
compared with the event log; and the same over HTTP on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, func, select

from runtime.store.tables import event_table, run_table
from sample_sagas.ground_truth import DEFAULT_PRICE, snapshot, violations
from tests.servers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = ROOT / "sample_sagas" / "flight_booking.yaml"


def saga_cli(*args: str, cwd: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", *args, "--json"], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def event_log_counts(db: Path) -> dict[str, object]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(run_table.c.status, func.count())
                                     .group_by(run_table.c.status)).all())
        by_step = Counter({(t, s): n for t, s, n in conn.execute(
            select(event_table.c.type, event_table.c.step, func.count())
            .group_by(event_table.c.type, event_table.c.step)).all()})
        runs = {status: {r for (r,) in conn.execute(select(run_table.c.id)
                                                     .where(run_table.c.status == status))}
                for status in ("completed", "compensated", "failed")}
        gaps = conn.execute(select(event_table.c.run_id).group_by(event_table.c.run_id).having(
            func.max(event_table.c.seq) != func.count())).all()
    engine.dispose()
    return {"statuses": statuses, "by_step": by_step, "runs": runs, "seq_gaps": len(gaps)}


def check_against_services(db: Path, services_db: Path, summary: dict[str, object]) -> None:
    truth = snapshot(services_db)
    log = event_log_counts(db)
    assert violations(truth, saga="flight_booking", price=DEFAULT_PRICE) == []
    by_step, runs = log["by_step"], log["runs"]
    assert log["seq_gaps"] == 0
    # the services' counts equal the event log's
    assert truth.tickets == by_step[("step_succeeded", "issue_ticket")] == summary["completed"]
    assert truth.seats_held == truth.tickets
    assert truth.runs_with_ticket == runs["completed"]
    assert truth.runs_with_released_seat == runs["compensated"]
    assert truth.runs_notified_cancel == runs["compensated"]
    assert all(n == 1 for n in truth.cancel_notices_by_run.values())
    assert truth.runs_confirmed == runs["completed"]
    assert truth.charge_count == by_step[("step_succeeded", "charge_payment")]
    assert truth.refund_count == by_step[("compensation_succeeded", "charge_payment")]
    assert truth.net_cents == truth.tickets * round(DEFAULT_PRICE * 100)
    assert truth.seats_released == by_step[("compensation_succeeded", "reserve_seat")]


def test_flight_1000_runs_in_process(tmp_path: Path) -> None:
    summary = saga_cli("run", str(FLIGHT), "--count", "1000", "--fail", "charge_payment=0.2",
                       "--seed", "7", "--concurrency", "50", "--db", "events.db",
                       "--services-db", "services.db", cwd=tmp_path)
    assert summary["total"] == 1000 and summary["failed"] == 0 and summary["unfinished"] == 0
    assert 760 <= summary["completed"] <= 840  # binomial(1000, 0.8): about 800
    assert summary["completed"] + summary["compensated"] == 1000
    check_against_services(tmp_path / "events.db", tmp_path / "services.db", summary)


def test_same_seed_same_outcomes(tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        summary = saga_cli("run", str(FLIGHT), "--count", "200", "--fail", "charge_payment=0.3",
                           "--seed", "11", "--concurrency", str(5 if name == "a" else 40),
                           "--db", "events.db", cwd=tmp_path / name)
        results.append((summary["completed"], summary["compensated"]))
    assert results[0] == results[1]


@pytest.fixture
def http_services(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    port = free_port()
    services_db = tmp_path / "services.db"
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "services", "--port", str(port),
                             "--services-db", str(services_db)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc, what="saga services")
        spec = yaml.safe_load((ROOT / "sample_sagas" / "http_actions.yaml").read_text())
        spec["allow_hosts"] = [f"127.0.0.1:{port}"]
        for action in spec["actions"].values():
            action["url"] = action["url"].replace("127.0.0.1:8100", f"127.0.0.1:{port}")
        actions_file = tmp_path / "http_actions.yaml"
        actions_file.write_text(yaml.safe_dump(spec))
        yield actions_file, services_db
    finally:
        proc.terminate()
        proc.wait(10)


def test_flight_over_http_on_loopback(tmp_path: Path, http_services: tuple[Path, Path]) -> None:
    actions_file, services_db = http_services
    summary = saga_cli("run", str(FLIGHT), "--count", "300", "--fail", "charge_payment=0.2",
                       "--seed", "7", "--concurrency", "20", "--db", "events.db",
                       "--actions", str(actions_file), cwd=tmp_path)
    assert summary["total"] == 300 and summary["failed"] == 0 and summary["unfinished"] == 0
    assert 200 <= summary["completed"] <= 280
    check_against_services(tmp_path / "events.db", services_db, summary)


def test_http_host_outside_allowlist_is_refused(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "sample_sagas" / "http_actions.yaml").read_text())
    spec["allow_hosts"] = ["127.0.0.1:1"]
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(spec))
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "run", str(FLIGHT), "--actions",
                           "a.yaml", "--db", "e.db"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 1
    assert "not in the operator allowlist" in proc.stderr and "Traceback" not in proc.stderr
