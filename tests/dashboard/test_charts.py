"""Chart builders: assertions on the figures' data, from the shop log's query results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine

from dashboard import charts, queries
from dashboard.filters import MonitorFilter
from dashboard.queries import Kpis, StepStats
from dashboard.timeline import SegmentKind
from tests.dashboard.logs import SHOP, T0

ORDER = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def engine(shop_sqlite: str) -> Iterator[Engine]:
    engine = create_engine(shop_sqlite)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def view(engine: Engine) -> queries.Overview:
    return queries.overview(engine, MonitorFilter(), focus_saga="shop",
                            now=T0 + timedelta(hours=2))


def test_kpi_tiles(view: queries.Overview) -> None:
    fig = charts.kpi_figure(view.kpis)
    tiles = {t.title.text: t.value for t in fig.data}
    assert tiles["Runs"] == 9 and tiles["Completed"] == 4 and tiles["Failed (need attention)"] == 2
    assert tiles["Compensation rate"] == pytest.approx(100 * 3 / 9)
    assert tiles["p95 run duration"] == 500
    assert charts.kpi_figure(Kpis()).data[6].value is None  # no finished run: no duration


def test_throughput_bars_add_up_to_the_runs(view: queries.Overview) -> None:
    fig = charts.throughput_figure(view.series)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == ["completed", "compensated", "failed", "in flight"]
    assert sum(sum(t.y) for t in bars) == 9
    rates = {t.name: t for t in fig.data if t.type == "scatter"}
    assert max(v for v in rates["failure rate"].y if v is not None) == 1.0
    assert "2 min" in fig.layout.annotations[0].text


def test_saga_graph_colours_follow_the_rates(view: queries.Overview) -> None:
    fig = charts.saga_graph_figure(SHOP, view.steps)
    nodes = next(t for t in fig.data if t.name == "steps")
    stats = {s.step: s for s in view.steps}
    assert list(nodes.marker.color) == [stats[n].failure_rate for n in ORDER]
    # b fails most and triggers most: the hottest fill and the thickest ring
    fill = dict(zip(ORDER, nodes.marker.color, strict=True))
    ring = dict(zip(ORDER, nodes.marker.line.width, strict=True))
    assert fill["b"] == fill["d"] == 0.5 > fill["a"] > fill["c"] == 0
    assert ring["b"] > ring["a"] > ring["c"] == ring["d"]
    assert nodes.marker.cmin == 0 and nodes.marker.cmax == 0.5
    counts = {a.name: a.text for a in fig.layout.annotations if a.name}
    assert counts == {"count:start->a": "7", "count:a->b": "5", "count:b->c": "3",
                      "count:c->d": "3", "count:d->completed": "2"}
    hover_b = nodes.hovertext[1]
    assert "p95 25 ms" in hover_b and "retries 1" in hover_b


def test_saga_graph_without_definition_or_steps() -> None:
    only_stats = charts.saga_graph_figure(None, [StepStats(step="x", attempts=2, failures=1)])
    assert list(only_stats.data[0].marker.color) == [0.5]
    assert charts.saga_graph_figure(None, []).layout.annotations[0].text == "No steps to draw yet"


def test_sankey_flows_from_start_sum_to_the_runs(view: queries.Overview) -> None:
    fig = charts.sankey_figure(view.paths, ORDER)
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    start = labels.index("start")
    out_of_start = sum(v for s, v in zip(sankey.link.source, sankey.link.value, strict=True)
                       if s == start)
    assert out_of_start == 7 == sum(g.runs for g in view.paths)
    into = dict.fromkeys(labels, 0)
    for t, v in zip(sankey.link.target, sankey.link.value, strict=True):
        into[labels[t]] += v
    assert (into["completed"], into["compensated"], into["failed"], into["running"]) == \
        (2, 2, 2, 1)
    assert into["✗ b"] == 2 and into["✗ undo a"] == 1 and into["✗ d"] == 1
    colours = dict(zip(labels, sankey.node.color, strict=True))
    assert colours["failed"] == charts.STATUS_COLOURS["failed"]


def test_latency_bars(view: queries.Overview) -> None:
    fig = charts.latency_figure(view.steps)
    p95 = next(t for t in fig.data if t.name == "p95")
    assert list(p95.x) == ORDER and list(p95.y) == [15.0, 25.0, 30.0, 40.0]
    assert charts.latency_figure([]).layout.annotations[0].text == "No successful attempts yet"


def test_gantt_bars_in_real_order(engine: Engine) -> None:
    fig = charts.timeline_figure(queries.run_events(engine, "r4"))
    bars = fig.data[0]
    assert list(bars.y) == ["a", "b", "undo a", "undo a", "undo a"]
    kinds = [row[0] for row in bars.customdata]
    assert kinds == ["attempt succeeded", "attempt timed out", "compensation failed",
                     "compensation backoff", "compensation failed"]
    starts = list(bars.base)
    assert starts == sorted(starts)
    assert list(bars.x)[3] == pytest.approx(30.0)  # the backoff wait between the two tries
    assert list(bars.marker.color) == [charts.SEGMENT_COLOURS[SegmentKind(k)] for k in kinds]
    legend = [t.name for t in fig.data[1:]]
    assert "compensation backoff" in legend
    assert list(fig.layout.yaxis.categoryarray) == ["a", "b", "undo a"]


def test_gantt_of_a_retried_step(engine: Engine) -> None:
    order = charts.timeline_order(charts.timeline_figure(queries.run_events(engine, "r2")))
    assert [row for row, _ in order] == ["a", "b", "b", "b", "c", "d"]
    backoff = charts.timeline_figure(queries.run_events(engine, "r2")).data[0].x[2]
    assert backoff == pytest.approx(50.0)


def test_attention_table(view: queries.Overview) -> None:
    fig = charts.attention_figure(view.attention)
    columns = dict(zip([h.strip("<b/>") for h in fig.data[0].header.values],
                       fig.data[0].cells.values, strict=True))
    assert list(columns["run"]) == ["r5", "r4"]
    assert list(columns["why"]) == ["step after the pivot failed", "compensation failed"]
    assert list(columns["failed for good"]) == ["d", "a"]
    assert columns["error"][1] == "ServiceError: could not undo a"
    assert charts.attention_figure([]).layout.annotations[0].text == "Nothing needs attention"
