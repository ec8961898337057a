"""Pure helpers: percentile ranks, bucket widths, filters and URL params, timeline segments,
Sankey flows, graph positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.db import LogState, log_state, log_url, open_engine, sqlite_path
from dashboard.dialect import bucket_seconds, nearest_rank
from dashboard.filters import MonitorFilter
from dashboard.paths import START, graph_positions, path_of, sankey_flows, topological_order
from dashboard.queries import PathGroup, RunEvent
from dashboard.timeline import SegmentKind, row_order, run_segments
from runtime.definition import SagaDefinition
from tests.dashboard.logs import SHOP, T0


@pytest.mark.parametrize(("count", "percentile", "rank"), [
    (1, 50, 1), (1, 99, 1), (2, 50, 1), (3, 50, 2), (4, 50, 2), (6, 95, 6), (100, 95, 95),
    (100, 99, 99), (101, 99, 100), (1000, 50, 500), (10, 100, 10),
])
def test_nearest_rank(count: int, percentile: float, rank: int) -> None:
    assert nearest_rank(count, percentile) == rank


def test_nearest_rank_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        nearest_rank(0, 50)
    with pytest.raises(ValueError):
        nearest_rank(10, 0)


@pytest.mark.parametrize(("span", "width"), [
    (1, 1), (60, 1), (61, 2), (600, 10), (3600, 60), (5400, 120), (86400, 1800),
    (7 * 86400, 10800), (400 * 86400, 604800), (1000 * 86400, 604800 * 3),
])
def test_bucket_widths_fit_the_window(span: float, width: int) -> None:
    assert bucket_seconds(span) == width
    assert span / bucket_seconds(span) <= 60


# -- filters ---------------------------------------------------------------------------
def test_filter_refuses_unknown_values_from_code() -> None:
    with pytest.raises(ValueError, match="unknown run status"):
        MonitorFilter(statuses=("done",))
    with pytest.raises(ValueError, match="unknown origin"):
        MonitorFilter(origins=("prod",))


def test_window_resolves_against_now() -> None:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert MonitorFilter(window="1h").resolved(now).since == now - timedelta(hours=1)
    assert MonitorFilter(window="all").resolved(now).since is None
    assert MonitorFilter(since=datetime(2030, 1, 1)).since == datetime(2030, 1, 1, tzinfo=UTC)


# -- db --------------------------------------------------------------------------------
def test_log_url_precedence() -> None:
    assert log_url("sqlite:///a.db", {"SAGA_DB": "sqlite:///b.db"}) == "sqlite:///a.db"
    assert log_url(None, {"SAGA_DB": "postgresql://u@h/db"}) == "postgresql+psycopg://u@h/db"
    assert log_url(None, {}) == "sqlite:///saga.db"
    assert log_url("some/file.db", {}) == "sqlite:///some/file.db"


def test_missing_sqlite_file_is_not_created(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    engine = open_engine(url)
    assert log_state(engine) is LogState.MISSING
    assert not (tmp_path / "absent.db").exists()
    assert sqlite_path(url) == tmp_path / "absent.db"


# -- timeline --------------------------------------------------------------------------
def ev(seq: int, ms: float, type_: str, step: str | None = None, attempt: int | None = None,
       duration: float | None = None) -> RunEvent:
    return RunEvent(seq=seq, ts=T0 + timedelta(milliseconds=ms), type=type_, step=step,
                    attempt=attempt, duration_ms=duration, error_type=None, error=None, data=None)


def test_timeline_segments_in_real_order_with_backoffs() -> None:
    events = [
        ev(1, 0, "run_started"),
        ev(2, 0, "step_started", "a", 1), ev(3, 10, "step_succeeded", "a", 1, 10),
        ev(4, 10, "step_started", "b", 1), ev(5, 15, "step_failed", "b", 1, 5),
        ev(6, 65, "step_started", "b", 2), ev(7, 70, "step_timed_out", "b", 2, 5),
        ev(8, 71, "run_compensating", "b"),
        ev(9, 72, "compensation_started", "a", 1), ev(10, 76, "compensation_failed", "a", 1, 4),
        ev(11, 106, "compensation_started", "a", 2),
        ev(12, 110, "compensation_succeeded", "a", 2, 4),
        ev(13, 111, "run_compensated"),
    ]
    segments = run_segments(list(reversed(events)))  # any input order: seq decides
    assert [(s.row, s.kind, s.duration_ms) for s in segments] == [
        ("a", SegmentKind.SUCCEEDED, 10),
        ("b", SegmentKind.FAILED, 5),
        ("b", SegmentKind.BACKOFF, 50),
        ("b", SegmentKind.TIMED_OUT, 5),
        ("undo a", SegmentKind.COMPENSATION_FAILED, 4),
        ("undo a", SegmentKind.COMPENSATION_BACKOFF, 30),
        ("undo a", SegmentKind.COMPENSATED, 4),
    ]
    assert row_order(segments) == ["a", "b", "undo a"]


def test_timeline_unknown_outcome_and_missing_start() -> None:
    events = [ev(1, 0, "run_started"), ev(2, 5, "step_succeeded", "a", 1, 5),
              ev(3, 5, "step_started", "b", 1), ev(4, 40, "manual_action")]
    first, second = run_segments(events)
    assert (first.kind, first.start, first.duration_ms) == (SegmentKind.SUCCEEDED, T0, 5)
    assert (second.kind, second.row, second.duration_ms) == (SegmentKind.UNKNOWN, "b", 35)


# -- Sankey and layout -----------------------------------------------------------------
def test_path_of_each_kind_of_run() -> None:
    order = ["a", "b", "c", "d"]
    assert [n for n, _ in path_of(PathGroup("failed", frozenset("ba"), "c", "a", 1), order)] \
        == [START, "a", "b", "✗ c", "✗ undo a", "failed"]
    assert [n for n, _ in path_of(PathGroup("failed", frozenset("abc"), None, "d", 1), order)] \
        == [START, "a", "b", "c", "✗ d", "failed"]
    assert [n for n, _ in path_of(PathGroup("running", frozenset(), None, None, 1), order)] \
        == [START, "running"]


def test_sankey_flows_sum_to_the_runs() -> None:
    groups = [PathGroup("completed", frozenset("abcd"), None, None, 5),
              PathGroup("compensated", frozenset("a"), "b", None, 2),
              PathGroup("compensated", frozenset(), "a", None, 1),
              PathGroup("failed", frozenset("a"), "b", "a", 1)]
    flows = sankey_flows(groups, ["a", "b", "c", "d"])
    assert flows.out_of(START) == 9
    assert flows.nodes[:5] == [START, "a", "b", "c", "d"]
    into = {flows.nodes[t]: 0 for _, t, _ in flows.links}
    for _, t, runs in flows.links:
        into[flows.nodes[t]] += runs
    assert (into["completed"], into["compensated"], into["failed"]) == (5, 3, 1)
    assert into["a"] == 8 and into["✗ b"] == 3


def test_graph_positions() -> None:
    assert graph_positions(SHOP)["b"] == (200.0, -0.0)
    diamond = SagaDefinition.model_validate({"saga": "d", "steps": [
        {"name": "s", "action": "x.s", "read_only": True},
        {"name": "l", "action": "x.l", "read_only": True, "after": ["s"]},
        {"name": "r", "action": "x.r", "read_only": True, "after": ["s"]},
        {"name": "j", "action": "x.j", "read_only": True, "after": ["l", "r"]}]})
    positions = graph_positions(diamond)
    assert positions["s"] == (0.0, 0.0) and positions["j"] == (2.0, 0.0)
    assert positions["l"] == (1.0, 0.5) and positions["r"] == (1.0, -0.5)
    assert topological_order(diamond) == ["s", "l", "r", "j"]
