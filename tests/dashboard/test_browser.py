"""The Monitor in a real browser (Debian chromium through Playwright) while runs are written.

Starts with no event log at all, launches ``saga run sample_sagas/flight_booking.yaml
--simulate --count 500`` in the background, and watches
the Runs tile rise without a page reload until every tile equals the database's counts.
Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, func, select

from runtime.store.tables import run_table
from tests.servers import CHROMIUM, CHROMIUM_ARGS, require_browser, streamlit_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
RUNS = 500
APP = """
import streamlit as st

st.set_page_config(page_title="Saga Studio", layout="wide")
st.navigation([st.Page(lambda: st.write("home"), title="Home", default=True),
               st.Page({monitor!r}, title="Monitor", url_path="monitor")]).run()
"""


@dataclass
class Served:
    url: str
    db_url: str
    log: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    require_browser()
    app = tmp_path / "app.py"
    app.write_text(APP.format(monitor=str(ROOT / "dashboard" / "pages" / "monitor.py")))
    log = tmp_path / "saga.db"
    db_url = f"sqlite:///{log}"
    with streamlit_app(app, env={"SAGA_DB": db_url}, cwd=ROOT,
                       log=tmp_path / "streamlit.log") as url:
        yield Served(url, db_url, log)


def start_writing(db_url: str, tmp: Path) -> subprocess.Popen[bytes]:
    """`saga run ... --simulate --count 500` in the background (the project's console script)."""
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "run",
         str(ROOT / "sample_sagas" / "flight_booking.yaml"), "--count", str(RUNS),
         "--simulate", "--concurrency", "20", "--seed", "4", "--db", db_url, "--json"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tiles(page: Page) -> dict[str, str]:
    """Title -> number of the KPI tiles, read in one go (the chart re-renders every 2 s)."""
    pairs = page.evaluate("""() => {
        const layer = document.querySelector('.indicatorlayer');
        if (!layer) return [];
        return Array.from(layer.querySelectorAll(':scope > .trace')).map(
            t => [t.querySelector('.title')?.textContent, t.querySelector('.number')?.textContent]);
    }""")
    return {title: number for title, number in pairs if title}


def as_int(text: str | None) -> int:
    return int((text or "-1").replace(",", ""))


def db_counts(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(run_table.c.status, func.count()).group_by(run_table.c.status))
        counts = {status: n for status, n in rows}
    engine.dispose()
    return {"Runs": sum(counts.values()), "Completed": counts.get("completed", 0),
            "Compensated": counts.get("compensated", 0),
            "Failed (need attention)": counts.get("failed", 0)}


def test_kpis_rise_live_and_end_equal_to_the_database(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        page.goto(served.url + "/monitor")
        page.get_by_text("No event log yet").wait_for()
        page.evaluate("window.__not_reloaded = true")

        writer = start_writing(served.db_url, tmp_path)
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = as_int(tiles(page).get("Runs"))
            if runs >= 0 and (not seen or runs != seen[-1]):
                seen.append(runs)
            if writer.poll() is not None and runs == db_counts(served.db_url)["Runs"]:
                break
            page.wait_for_timeout(250)
        assert writer.poll() is not None, "saga run did not finish in time"
        assert writer.returncode == 0, "saga run failed"

        expected = db_counts(served.db_url)
        assert expected["Runs"] == RUNS
        assert page.evaluate("window.__not_reloaded") is True  # the page was never reloaded
        assert seen == sorted(seen) and len(seen) >= 3, f"the Runs tile did not rise: {seen}"
        assert seen[-1] == RUNS and seen[0] < RUNS

        for _ in range(20):  # the other tiles catch up on the same refresh
            shown = {k: as_int(v) for k, v in tiles(page).items() if k in expected}
            if shown == expected:
                break
            page.wait_for_timeout(250)
        assert shown == expected
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "monitor_live.png"), full_page=True)

        # one run: its Gantt and events (a link with ?run= as the Run page would give)
        engine = create_engine(served.db_url)
        with engine.connect() as conn:
            run_id = conn.execute(select(run_table.c.id).order_by(
                (run_table.c.status == "completed").asc(), run_table.c.started_at)
                .limit(1)).scalar_one()
        engine.dispose()
        page.set_viewport_size({"width": 1400, "height": 3400})
        page.goto(f"{served.url}/monitor?run={run_id}")
        page.get_by_text(run_id).first.wait_for()
        page.locator('[data-testid="stPlotlyChart"]').nth(6).wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "monitor_run.png"))
        browser.close()
