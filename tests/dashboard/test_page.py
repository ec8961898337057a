"""The Monitor page under AppTest: empty logs, the shop log, failed compensations, URL filters,
a bad database URL. The live fragment runs once per script run (it does not tick here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

from bench.synthetic_log import SyntheticSpec, generate, make_engine
from tests.dashboard.logs import T0, create_tables

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "pages" / "monitor.py")


def run_page(url: str, **params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["db_url"] = url
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def kpi_tiles(at: AppTest) -> dict[str, Any]:
    first = figures(at)[0]
    return {trace["title"]["text"]: trace.get("value") for trace in first["data"]}


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("info", "error", "warning", "caption", "markdown")
                     for e in getattr(at, kind))


def test_no_log_file_yet(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    at = run_page(url)
    assert not at.exception
    assert "No event log yet" in at.info[0].value
    assert not (tmp_path / "saga.db").exists()


def test_database_without_tables_then_without_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    engine = create_engine(url)
    with engine.connect():
        pass  # creates the empty file
    at = run_page(url)
    assert not at.exception and "no event log tables" in at.info[0].value
    create_tables(engine)
    engine.dispose()
    at = run_page(url)
    assert not at.exception and "holds no runs" in at.info[0].value


def test_unreachable_database_is_one_clear_error() -> None:
    at = run_page("postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert not at.exception
    assert at.error[0].value.startswith("cannot read the event log at postgresql+psycopg://")


def test_small_log(shop_sqlite: str) -> None:
    at = run_page(shop_sqlite)
    assert not at.exception
    tiles = kpi_tiles(at)
    assert (tiles["Runs"], tiles["Completed"], tiles["Compensated"]) == (9, 4, 2)
    kinds = [fig["data"][0]["type"] for fig in figures(at)]
    assert kinds == ["indicator", "bar", "scatter", "sankey", "bar", "table"]
    assert "shop: steps and paths" in [h.value for h in at.subheader]


def test_filters_and_run_from_the_url(shop_sqlite: str) -> None:
    at = run_page(shop_sqlite, batch="B1", run="r4")
    assert not at.exception
    assert kpi_tiles(at)["Runs"] == 5
    gantt = figures(at)[-1]
    assert [row for row in gantt["data"][0]["y"]] == ["a", "b", "undo a", "undo a", "undo a"]
    assert "**failed**" in texts(at)


def test_version_from_the_url(shop_sqlite: str) -> None:
    at = run_page(shop_sqlite)
    v2 = next(o for o in at.selectbox(key="version").options if o.startswith("shop v2"))
    at = run_page(shop_sqlite, version=v2, status="compensated")
    assert not at.exception
    assert kpi_tiles(at)["Runs"] == 1  # r7


def test_unknown_run_and_unknown_saga(shop_sqlite: str) -> None:
    at = run_page(shop_sqlite, run="nope", saga="nope")
    assert not at.exception
    assert "No run 'nope' in this log." in [w.value for w in at.warning]
    assert "No run matches these filters yet" in texts(at)


@pytest.fixture(scope="module")
def synthetic_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A generated log with retries, timeouts, compensations and failed compensations."""
    url = f"sqlite:///{tmp_path_factory.mktemp('synthetic') / 'events.db'}"
    engine = make_engine(url)
    generate(engine, SyntheticSpec(events=6_000, seed=3, end=T0, compensation_failure_rate=0.3))
    engine.dispose()
    return url


def test_log_with_failed_compensations(synthetic_url: str) -> None:
    at = run_page(synthetic_url, saga="flight_booking")
    assert not at.exception
    attention = figures(at)[5]["data"][0]
    assert "compensation failed" in attention["cells"]["values"][4]
    assert kpi_tiles(at)["Failed (need attention)"] > 0
