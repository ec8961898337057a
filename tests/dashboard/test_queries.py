"""Queries against the hand-made shop log (tests/dashboard/logs.py), on SQLite and PostgreSQL.

Every expected number below is counted by hand from the log's docstring.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dashboard import queries
from dashboard.filters import MonitorFilter
from dashboard.queries import PathGroup
from tests.dashboard.logs import SHOP, SHOP_V2, T0

SHOP_ONLY = MonitorFilter(saga="shop")


def by_step(engine: Engine, flt: MonitorFilter, **kw: object) -> dict[str, queries.StepStats]:
    return {s.step: s for s in queries.step_stats(engine, flt, **kw)}  # type: ignore[arg-type]


# -- KPIs ------------------------------------------------------------------------------
def test_kpis_of_every_run(shop: Engine) -> None:
    k = queries.kpis(shop, MonitorFilter())
    assert (k.runs, k.completed, k.compensated, k.failed, k.running, k.compensating) == \
        (9, 4, 2, 2, 1, 0)
    assert k.compensation_triggered == 3  # r3, r4 (then failed), r7
    assert k.compensation_rate == pytest.approx(3 / 9)
    assert k.failure_rate == pytest.approx(2 / 9)
    # finished durations sorted: 6 50 100 120 200 300 400 500 -> nearest rank 4, 8, 8
    assert (k.p50_ms, k.p95_ms, k.p99_ms) == (120.0, 500.0, 500.0)


def test_kpis_of_one_saga(shop: Engine) -> None:
    k = queries.kpis(shop, SHOP_ONLY)
    assert (k.runs, k.completed, k.compensated, k.failed, k.in_flight) == (7, 2, 2, 2, 1)
    assert k.compensation_triggered == 3
    # 50 100 200 300 400 500 -> ranks 3, 6, 6 (a filtered query: the ranked sort)
    assert (k.p50_ms, k.p95_ms, k.p99_ms) == (200.0, 500.0, 500.0)


@pytest.mark.parametrize(("flt", "runs"), [
    (MonitorFilter(batch="B1"), 5),
    (MonitorFilter(origins=("real",)), 2),
    (MonitorFilter(origins=("real", "test")), 4),
    (MonitorFilter(definition_hash=SHOP_V2.content_hash), 1),
    (MonitorFilter(statuses=("failed", "running")), 3),
    (MonitorFilter(since=T0 + timedelta(minutes=35)), 5),
    (MonitorFilter(until=T0 + timedelta(minutes=35)), 4),
    (MonitorFilter(since=T0.replace(tzinfo=None)), 9),  # naive = UTC
    (MonitorFilter(saga="shop", batch="B1", statuses=("failed",)), 2),
    (MonitorFilter(saga="nope"), 0),
])
def test_filters_select_runs(shop: Engine, flt: MonitorFilter, runs: int) -> None:
    assert queries.kpis(shop, flt).runs == runs
    assert len(queries.list_runs(shop, flt)) == runs


def test_empty_selection_has_no_percentiles(shop: Engine) -> None:
    k = queries.kpis(shop, MonitorFilter(saga="nope"))
    assert (k.runs, k.p50_ms, k.compensation_rate) == (0, None, 0.0)


# -- time series -----------------------------------------------------------------------
def test_time_series_over_a_window(shop: Engine) -> None:
    flt = MonitorFilter(since=T0, until=T0 + timedelta(minutes=90))
    series = queries.time_series(shop, flt)
    assert series.bucket_seconds == 120  # 5,400 s in at most 60 buckets
    assert len(series.buckets) == 46  # 12:00 .. 13:30 inclusive, empty ones included
    assert series.total == 9
    by_start = {b.start: b for b in series.buckets}
    first = by_start[T0]  # r1 starts exactly on the boundary: its own bucket, not the one before
    assert (first.started, first.completed) == (1, 1)
    r4 = by_start[T0 + timedelta(minutes=30)]
    assert (r4.failed, r4.compensation_triggered, r4.failure_rate) == (1, 1, 1.0)
    r3 = by_start[T0 + timedelta(minutes=20)]
    assert (r3.compensated, r3.compensation_rate) == (1, 1.0)
    assert by_start[T0 + timedelta(minutes=50)].in_flight == 1
    empty = by_start[T0 + timedelta(minutes=2)]
    assert (empty.started, empty.failure_rate) == (0, None)


def test_time_series_without_window_spans_the_runs(shop: Engine) -> None:
    series = queries.time_series(shop, MonitorFilter())
    assert series.buckets[0].start == T0
    assert series.buckets[-1].start == T0 + timedelta(minutes=80)
    assert series.total == 9
    assert sum(b.compensation_triggered for b in series.buckets) == 3


def test_time_series_of_nothing(shop: Engine) -> None:
    assert queries.time_series(shop, MonitorFilter(saga="nope")).buckets == []


# -- steps -----------------------------------------------------------------------------
@pytest.mark.parametrize("seek_runs", [False, True])
def test_step_statistics(shop: Engine, seek_runs: bool) -> None:
    steps = queries.step_stats(shop, SHOP_ONLY, order=["a", "b", "c", "d"], seek_runs=seek_runs)
    assert [s.step for s in steps] == ["a", "b", "c", "d"]
    a, b, c, d = steps
    assert (a.attempts, a.runs, a.retries, a.succeeded, a.failures) == (7, 7, 0, 6, 1)
    assert (a.compensation_triggered, a.compensation_attempts, a.compensation_failures,
            a.compensations_succeeded) == (1, 3, 2, 1)
    assert (b.attempts, b.runs, b.retries, b.succeeded, b.failures, b.timeouts) == \
        (6, 5, 1, 3, 3, 1)
    assert b.compensation_triggered == 2  # r3 and r4
    assert b.failure_rate == 0.5 and b.trigger_rate == pytest.approx(2 / 5)
    assert (c.attempts, c.failures, c.compensation_triggered) == (3, 0, 0)
    assert (d.attempts, d.runs, d.retries, d.failures, d.trigger_rate) == (4, 3, 1, 2, 0.0)
    # successful durations: a 10..15 -> ranks 3, 6, 6; b 20 22 25 -> ranks 2, 3, 3
    assert (a.p50_ms, a.p95_ms, a.p99_ms) == (12.0, 15.0, 15.0)
    assert (b.p50_ms, b.p95_ms, b.p99_ms) == (22.0, 25.0, 25.0)
    assert (d.p50_ms, d.p99_ms) == (40.0, 40.0)


def test_steps_of_another_saga_with_the_same_step_name_stay_apart(shop: Engine) -> None:
    audit = by_step(shop, MonitorFilter(saga="audit"))
    assert list(audit) == ["a"]
    assert (audit["a"].attempts, audit["a"].p50_ms) == (1, 99.0)
    everything = by_step(shop, MonitorFilter())
    assert everything["a"].attempts == 8  # unfiltered: shop's 7 and audit's 1


def test_unique_step_names_take_the_index_shortcut(shop: Engine) -> None:
    with shop.connect() as conn:
        assert queries.saga_own_steps(conn, MonitorFilter(saga="solo")) == {"x"}
        assert queries.saga_own_steps(conn, SHOP_ONLY) is None  # "a" is also audit's step
        assert queries.saga_own_steps(conn, MonitorFilter(saga="solo", batch="B1")) is None
    assert by_step(shop, MonitorFilter(saga="solo")) == by_step(
        shop, MonitorFilter(saga="solo"), seek_runs=True)


def test_step_stats_follow_the_filter(shop: Engine) -> None:
    v2 = by_step(shop, MonitorFilter(definition_hash=SHOP_V2.content_hash))
    assert (v2["a"].attempts, v2["a"].failures, v2["a"].compensation_triggered) == (1, 1, 1)
    batch = by_step(shop, MonitorFilter(saga="shop", batch="B1"))
    assert batch["a"].attempts == 5


# -- paths -----------------------------------------------------------------------------
def test_path_groups(shop: Engine) -> None:
    groups = queries.path_groups(shop, SHOP_ONLY, ["a", "b", "c", "d"])
    found = {(g.status, g.steps, g.trigger, g.failed_step): g.runs for g in groups}
    assert found == {
        ("completed", frozenset("abcd"), None, None): 2,
        ("compensated", frozenset("a"), "b", None): 1,
        ("failed", frozenset("a"), "b", "a"): 1,
        ("failed", frozenset("abc"), None, "d"): 1,
        ("running", frozenset("a"), None, None): 1,
        ("compensated", frozenset(), "a", None): 1,
    }
    assert groups[0] == PathGroup("completed", frozenset("abcd"), None, None, 2)
    assert sum(g.runs for g in groups) == queries.kpis(shop, SHOP_ONLY).runs


def test_path_groups_with_counts_given(shop: Engine) -> None:
    given = {SHOP.content_hash: 2}
    assert queries.path_groups(shop, SHOP_ONLY, ["a", "b", "c", "d"],
                               completed_by_version=given) == \
        queries.path_groups(shop, SHOP_ONLY, ["a", "b", "c", "d"])


# -- runs, events, attention, options ----------------------------------------------------
def test_runs_list_newest_first_with_paging(shop: Engine) -> None:
    page = queries.list_runs(shop, MonitorFilter(), limit=3, offset=2)
    assert [r.run_id for r in page] == ["r7", "r6", "r5"]
    assert (page[0].version, page[0].status, page[0].duration_ms) == (2, "compensated", 50.0)
    assert page[1].ended_at is None
    assert page[2].started_at == T0 + timedelta(minutes=40)


def test_events_of_one_run(shop: Engine) -> None:
    events = queries.run_events(shop, "r2")
    assert [e.seq for e in events] == list(range(1, 13))
    assert [(e.type, e.step, e.attempt) for e in events[3:6]] == [
        ("step_started", "b", 1), ("step_failed", "b", 1), ("step_started", "b", 2)]
    assert events[4].data == {"final": False, "retry_in_ms": 50}
    assert queries.run_summary(shop, "r2").status == "completed"  # type: ignore[union-attr]
    assert queries.run_summary(shop, "nope") is None
    assert queries.run_events(shop, "nope") == []


def test_needs_attention(shop: Engine) -> None:
    items = queries.needs_attention(shop, MonitorFilter())
    assert [i.run_id for i in items] == ["r5", "r4"]
    r5, r4 = items
    assert (r5.failed_step, r5.reason, r5.trigger) == ("d", "forward_step_failed", None)
    assert (r4.failed_step, r4.reason, r4.trigger) == ("a", "compensation_failed", "b")
    assert (r4.error_type, r4.error) == ("ServiceError", "could not undo a")
    assert queries.needs_attention(shop, MonitorFilter(statuses=("completed",))) == []


def test_filter_options(shop: Engine) -> None:
    options = queries.filter_options(shop)
    assert options.sagas == ["shop", "audit", "solo"]
    assert {v.short.split(" · ")[0] for v in options.versions} == \
        {"shop v1", "shop v2", "audit v1", "solo v1"}
    assert [(b.batch, b.runs, b.saga) for b in options.batches] == [("B1", 5, "shop")]


def test_saga_definition(shop: Engine) -> None:
    assert queries.saga_definition(shop, "shop") == SHOP_V2  # the newest version
    assert queries.saga_definition(shop, "shop", SHOP.content_hash) == SHOP
    assert queries.saga_definition(shop, "nope") is None


# -- the live section ------------------------------------------------------------------
def test_overview_agrees_with_the_single_queries(shop: Engine) -> None:
    flt = MonitorFilter(origins=("simulated", "real"))
    view = queries.overview(shop, flt, focus_saga="shop", now=T0 + timedelta(hours=2))
    assert view.kpis == queries.kpis(shop, flt)
    assert view.series == queries.time_series(shop, flt)
    assert view.focus_saga == "shop" and view.definition == SHOP_V2
    focused = MonitorFilter(saga="shop", origins=("simulated", "real"))
    assert view.steps == queries.step_stats(shop, focused, order=["a", "b", "c", "d"])
    assert view.paths == queries.path_groups(shop, focused, ["a", "b", "c", "d"])
    assert view.attention == queries.needs_attention(shop, flt)


def test_overview_of_a_window_with_nothing(shop: Engine) -> None:
    flt = MonitorFilter(window="15m").resolved(T0 + timedelta(days=3))
    view = queries.overview(shop, flt, focus_saga="shop", now=T0 + timedelta(days=3))
    assert view.kpis.runs == 0 and view.paths == [] and view.attention == []
    assert view.series.total == 0 and len(view.series.buckets) > 1
