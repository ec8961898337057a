"""Predicted vs observed on a log the engine wrote with known injection (issue 7, item 5)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

from dashboard.what_if import predicted_vs_observed, what_if
from runtime.batch import BatchOptions, run_batch, simulated_registry
from runtime.calibration import LogFilter
from runtime.clock import ManualClock
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.store.sql import EventStore

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = load_definition(ROOT / "sample_sagas" / "flight_booking.yaml")
PAGE = str(ROOT / "dashboard" / "pages" / "monitor.py")


def write_log(path: Path) -> tuple[str, str]:
    url = f"sqlite:///{path}"
    store = EventStore(url)
    summary = asyncio.run(run_batch(FLIGHT, simulated_registry(FLIGHT), store, BatchOptions(
        count=600, concurrency=50, seed=4, origin="simulated",
        injection=Injection(seed=4, fail={"charge_payment": 0.25})), clock=ManualClock()))
    store.close()
    return url, summary.batch_id


def test_batch_prediction_matches_what_was_observed(tmp_path: Path) -> None:
    url, batch = write_log(tmp_path / "e.db")
    engine = create_engine(url)
    view = predicted_vs_observed(engine, FLIGHT, LogFilter(saga="flight_booking", batch=batch))
    assert view.source == "the batch's own failure injection"
    observed = view.calibration.observed
    assert observed.runs == 600
    expected = view.prediction.compensated.expected_range(observed.runs)
    assert observed.compensated / observed.runs in expected
    more = what_if(view, "charge_payment", max_attempts=5)
    assert abs(more.compensated.rate - view.prediction.compensated.rate) < 0.02  # fail-for-good is not retried
    engine.dispose()


def test_monitor_prediction_section_renders(tmp_path: Path) -> None:
    url, batch = write_log(tmp_path / "e.db")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["db_url"] = url
    at.query_params["batch"] = batch
    at.run()
    assert not at.exception
    at.toggle(key="monitor_predict").set_value(True).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = " ".join(str(s.get("layout", {}).get("title", {}).get("text", "")) for s in specs)
    assert "what if" in titles.lower() or len(specs) >= 8
