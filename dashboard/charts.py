"""Plotly figures of the Monitor, built from the query results (no database, no Streamlit).

    kpi_figure(kpis)                      number tiles
    throughput_figure(series)             runs started per bucket by outcome + rates
    saga_graph_figure(definition, steps)  the designed DAG coloured by failure and trigger rates
    sankey_figure(paths, order)           start -> steps -> completed / compensated / failed
    latency_figure(steps)                 p50 / p95 / p99 per step
    timeline_figure(events)               one run's Gantt: attempts, backoffs, compensations
    attention_figure(items)               the failed runs table

Tests read the figures' data: node colours, arrow labels, link values, bar order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from dashboard.paths import START, graph_positions, sankey_flows
from dashboard.queries import AttentionItem, Kpis, PathGroup, RunEvent, StepStats, TimeSeries
from dashboard.timeline import SegmentKind, row_order, run_segments
from runtime.definition import SagaDefinition

STATUS_COLOURS = {
    "completed": "#2e7d32",
    "compensated": "#ef6c00",
    "failed": "#c62828",
    "running": "#1565c0",
    "compensating": "#8e24aa",
}
SEGMENT_COLOURS = {
    SegmentKind.SUCCEEDED: "#2e7d32",
    SegmentKind.FAILED: "#c62828",
    SegmentKind.TIMED_OUT: "#6a1b9a",
    SegmentKind.UNKNOWN: "#9e9e9e",
    SegmentKind.BACKOFF: "#cfd8dc",
    SegmentKind.COMPENSATED: "#ef6c00",
    SegmentKind.COMPENSATION_FAILED: "#b71c1c",
    SegmentKind.COMPENSATION_BACKOFF: "#ffe0b2",
}
FAILURE_SCALE = [[0.0, "#e8f5e9"], [0.35, "#fff59d"], [0.7, "#ff9800"], [1.0, "#c62828"]]
TRIGGER_SCALE = [[0.0, "#b0bec5"], [1.0, "#e65100"]]
NEUTRAL = "#78909c"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:,.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


# -- KPIs ------------------------------------------------------------------------------
def kpi_figure(kpis: Kpis) -> go.Figure:
    """Eight number tiles in two rows: counts first, then rates and run durations."""
    tiles: list[tuple[str, float | None, str, str]] = [
        ("Runs", kpis.runs, ",", ""),
        ("Completed", kpis.completed, ",", ""),
        ("Compensated", kpis.compensated, ",", ""),
        ("Failed (need attention)", kpis.failed, ",", ""),
        ("In flight", kpis.in_flight, ",", ""),
        ("Compensation rate", kpis.compensation_rate * 100, ".1f", "%"),
        ("p50 run duration", kpis.p50_ms, ",.0f", " ms"),
        ("p95 run duration", kpis.p95_ms, ",.0f", " ms"),
    ]
    colours = ["#263238", STATUS_COLOURS["completed"], STATUS_COLOURS["compensated"],
               STATUS_COLOURS["failed"], STATUS_COLOURS["running"], STATUS_COLOURS["compensated"],
               "#263238", "#263238"]
    fig = go.Figure()
    for i, ((title, value, fmt, suffix), colour) in enumerate(zip(tiles, colours, strict=True)):
        row, col = divmod(i, 4)
        fig.add_trace(go.Indicator(
            mode="number", value=value, title={"text": title, "font": {"size": 14}},
            number={"valueformat": fmt, "suffix": suffix, "font": {"size": 34, "color": colour}},
            domain={"row": row, "column": col}))
    fig.update_layout(grid={"rows": 2, "columns": 4, "pattern": "independent"}, height=230,
                      margin={"l": 10, "r": 10, "t": 30, "b": 0})
    return fig


# -- throughput and rates --------------------------------------------------------------
def _width_label(seconds: int) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {unit}" if n > 1 else unit
    return f"{seconds} s"


def throughput_figure(series: TimeSeries) -> go.Figure:
    """Top: runs started per bucket, stacked by outcome. Bottom: failure and compensation
    rate of the runs started in each bucket."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38],
                        vertical_spacing=0.08,
                        subplot_titles=(f"Runs started per {_width_label(series.bucket_seconds)}, "
                                        "by outcome", "Failure and compensation rate"))
    x = [bucket.start for bucket in series.buckets]
    counts: tuple[tuple[str, list[int]], ...] = (
        ("completed", [b.completed for b in series.buckets]),
        ("compensated", [b.compensated for b in series.buckets]),
        ("failed", [b.failed for b in series.buckets]),
        ("in flight", [b.in_flight for b in series.buckets]),
    )
    for name, values in counts:
        colour = STATUS_COLOURS["running" if name == "in flight" else name]
        fig.add_trace(go.Bar(x=x, y=values, name=name, marker_color=colour,
                             hovertemplate=f"%{{x}}<br>{name}: %{{y:,}}<extra></extra>"),
                      row=1, col=1)
    for name, rates, colour in (
        ("failure rate", [b.failure_rate for b in series.buckets], STATUS_COLOURS["failed"]),
        ("compensation rate", [b.compensation_rate for b in series.buckets],
         STATUS_COLOURS["compensated"]),
    ):
        fig.add_trace(go.Scatter(x=x, y=rates, name=name, mode="lines+markers",
                                 line={"color": colour}, connectgaps=False,
                                 hovertemplate=f"%{{x}}<br>{name}: %{{y:.1%}}<extra></extra>"),
                      row=2, col=1)
    fig.update_layout(barmode="stack", bargap=0.1, height=420,
                      legend={"orientation": "h", "traceorder": "normal"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_yaxes(title_text="runs", row=1, col=1)
    fig.update_yaxes(title_text="share", tickformat=".0%", rangemode="tozero", row=2, col=1)
    return fig


# -- the saga graph --------------------------------------------------------------------
def saga_graph_figure(definition: SagaDefinition | None, steps: Sequence[StepStats]) -> go.Figure:
    """The designed DAG: node fill = failed attempts per attempt, node ring = share of the
    step's runs whose compensation its failure triggered; arrows carry the runs that went
    along them (runs that started the target step). Hover: p50/p95/p99, retries, counts."""
    stats = {s.step: s for s in steps}
    if definition is not None and definition.steps:
        names = [step.name for step in definition.steps]
        positions = graph_positions(definition)
        edges = [(dep, step.name) for step in definition.steps for dep in step.after
                 if dep in positions]
        kinds = {step.name: step.kind.value for step in definition.steps}
    else:
        names = [s.step for s in steps]
        positions = {name: (float(i), 0.0) for i, name in enumerate(names)}
        edges = []
        kinds = {}
    if not names:
        return _empty("No steps to draw yet")
    fig = go.Figure()
    xs = [positions[n][0] for n in names]
    ys = [positions[n][1] for n in names]
    span_x = (max(xs) - min(xs)) or 1.0
    gap = span_x / max(len(set(xs)) - 1, 1)
    roots = [n for n in names if not any(t == n for _, t in edges)]
    leaves = [n for n in names if not any(s == n for s, _ in edges)]
    start = (min(xs) - gap, sum(positions[n][1] for n in roots) / len(roots))
    end = (max(xs) + gap, sum(positions[n][1] for n in leaves) / len(leaves))

    def runs_into(name: str) -> int:
        return stats[name].runs if name in stats else 0

    arrows = [(START, n, runs_into(n)) for n in roots]
    arrows += [(s, t, runs_into(t)) for s, t in edges]
    arrows += [(n, "completed", stats[n].succeeded if n in stats else 0) for n in leaves]
    where = {**positions, START: start, "completed": end}
    for source, target, count in arrows:
        (x0, y0), (x1, y1) = where[source], where[target]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=1.5,
                           arrowcolor="#90a4ae", standoff=26, startstandoff=26, text="")
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=f"{count:,}", showarrow=False,
                           font={"size": 12, "color": "#37474f"}, bgcolor="rgba(255,255,255,0.85)",
                           name=f"count:{source}->{target}")
    failure = [stats[n].failure_rate if n in stats else 0.0 for n in names]
    trigger = [stats[n].trigger_rate if n in stats else 0.0 for n in names]
    top_trigger = max(max(trigger), 1e-9)
    ring_colours = sample_colorscale(TRIGGER_SCALE, [t / top_trigger for t in trigger])
    ring_widths = [2 + 10 * t / top_trigger if t > 0 else 1.5 for t in trigger]
    hover = [_step_hover(n, kinds.get(n), stats.get(n)) for n in names]
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", name="steps", text=[
            f"<b>{n}</b><br>fail {_pct(f)} · trig {_pct(t)}" for n, f, t in
            zip(names, failure, trigger, strict=True)],
        textposition="bottom center", hovertext=hover, hoverinfo="text",
        marker={"size": 46, "color": failure, "colorscale": FAILURE_SCALE, "cmin": 0.0,
                "cmax": max(0.1, max(failure)), "showscale": True,
                "colorbar": {"title": {"text": "failed<br>attempts"}, "tickformat": ".0%",
                             "thickness": 12, "len": 0.8},
                "line": {"color": ring_colours, "width": ring_widths}},
        customdata=[[f, t] for f, t in zip(failure, trigger, strict=True)]))
    fig.add_trace(go.Scatter(
        x=[start[0], end[0]], y=[start[1], end[1]], mode="markers+text", name="ends",
        text=["start", "completed"], textposition="bottom center", hoverinfo="skip",
        marker={"size": 18, "color": [NEUTRAL, STATUS_COLOURS["completed"]], "symbol": "circle"}))
    pad_y = max((max(ys) - min(ys)) * 0.3, gap * 0.5)
    fig.update_xaxes(visible=False, range=[start[0] - gap * 0.4, end[0] + gap * 0.4])
    fig.update_yaxes(visible=False, range=[min(ys) - pad_y, max(ys) + pad_y * 0.6])
    fig.update_layout(showlegend=False, height=min(200 + 70 * len(set(ys)), 520),
                      plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Saga graph · fill: share of attempts that failed · "
                                     "ring: share of runs whose compensation the step "
                                     "triggered · arrows: runs", "font": {"size": 13}})
    return fig


def _step_hover(name: str, kind: str | None, s: StepStats | None) -> str:
    head = f"<b>{name}</b>" + (f" ({kind})" if kind else "")
    if s is None:
        return head + "<br>no events yet"
    return "<br>".join([
        head,
        f"runs {s.runs:,} · attempts {s.attempts:,} · retries {s.retries:,}",
        f"failed attempts {s.failures:,} ({_pct(s.failure_rate)}), timeouts {s.timeouts:,}",
        f"triggered compensation {s.compensation_triggered:,} ({_pct(s.trigger_rate)})",
        f"compensations {s.compensation_attempts:,}, failed {s.compensation_failures:,}",
        f"p50 {_ms(s.p50_ms)} · p95 {_ms(s.p95_ms)} · p99 {_ms(s.p99_ms)}",
    ])


# -- Sankey ----------------------------------------------------------------------------
def sankey_figure(paths: Sequence[PathGroup], step_order: Sequence[str]) -> go.Figure:
    """start -> succeeded steps -> what failed -> outcome, one band per path group."""
    flows = sankey_flows(paths, step_order)
    if not flows.links:
        return _empty("No runs yet")
    colours = [STATUS_COLOURS.get(kind, NEUTRAL if kind in ("start", "step") else "#e53935")
               for kind in flows.kinds]
    link_colours = []
    for _, target, _ in flows.links:
        kind = flows.kinds[target]
        colour = STATUS_COLOURS.get(kind, "#e53935" if kind == "failure" else "#b0bec5")
        link_colours.append(_rgba(colour, 0.35))
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": flows.nodes, "color": colours, "pad": 18, "thickness": 16,
              "hovertemplate": "%{label}: %{value:,} runs<extra></extra>"},
        link={"source": [s for s, _, _ in flows.links], "target": [t for _, t, _ in flows.links],
              "value": [v for _, _, v in flows.links], "color": link_colours,
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} runs"
                               "<extra></extra>"}))
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Paths: steps that succeeded, what failed, how runs ended",
                             "font": {"size": 13}})
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# -- latency ---------------------------------------------------------------------------
def latency_figure(steps: Sequence[StepStats]) -> go.Figure:
    """Grouped bars of successful attempt duration percentiles per step."""
    shown = [s for s in steps if s.p50_ms is not None]
    if not shown:
        return _empty("No successful attempts yet")
    names = [s.step for s in shown]
    fig = go.Figure()
    for label, attr, colour in (("p50", "p50_ms", "#90caf9"), ("p95", "p95_ms", "#1e88e5"),
                                ("p99", "p99_ms", "#0d47a1")):
        values = [getattr(s, attr) for s in shown]
        fig.add_trace(go.Bar(x=names, y=values, name=label, marker_color=colour,
                             customdata=[s.succeeded for s in shown],
                             hovertemplate=f"%{{x}} {label}: %{{y:,.1f}} ms"
                                           "<br>over %{customdata:,} successes<extra></extra>"))
    fig.update_layout(barmode="group", height=300, yaxis_title="ms", xaxis_tickangle=0,
                      legend={"orientation": "h"}, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Successful attempt duration per step", "font": {"size": 13}})
    return fig


# -- one run's timeline ----------------------------------------------------------------
def timeline_figure(events: Sequence[RunEvent]) -> go.Figure:
    """Gantt of one run: a bar per attempt, backoff wait and compensation, in the order
    they happened (one trace, bars in time order; legend entries per kind)."""
    segments = run_segments(events)
    if not segments:
        return _empty("No step events in this run yet")
    rows = row_order(segments)
    fig = go.Figure()
    fig.add_trace(go.Bar(
        orientation="h", name="timeline", showlegend=False,
        y=[s.row for s in segments],
        base=[s.start for s in segments],
        x=[max(s.duration_ms, 0.5) for s in segments],
        marker={"color": [SEGMENT_COLOURS[s.kind] for s in segments],
                "line": {"color": "#455a64", "width": 0.5}},
        text=[s.label for s in segments], textposition="inside", insidetextanchor="middle",
        customdata=[[s.kind.value, s.label, f"{s.duration_ms:,.1f}", s.detail]
                    for s in segments],
        hovertemplate="%{y}: %{customdata[1]} (%{customdata[0]})<br>%{base|%H:%M:%S.%L} · "
                      "%{customdata[2]} ms<br>%{customdata[3]}<extra></extra>"))
    for kind in dict.fromkeys(s.kind for s in segments):
        fig.add_trace(go.Bar(orientation="h", x=[None], y=[None], name=kind.value,
                             marker_color=SEGMENT_COLOURS[kind], showlegend=True))
    for event in events:
        if event.type in ("run_compensating", "run_failed", "run_completed", "run_compensated"):
            fig.add_vline(x=_epoch_ms(event.ts), line_dash="dot", line_color="#546e7a",
                          annotation_text=event.type.removeprefix("run_"),
                          annotation_position="top")
    fig.update_xaxes(type="date", title_text="time (UTC)")
    fig.update_yaxes(categoryorder="array", categoryarray=rows, autorange="reversed")
    fig.update_layout(barmode="overlay", height=160 + 34 * len(rows),
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def _epoch_ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def timeline_order(fig: go.Figure) -> list[tuple[str, datetime]]:
    """(row, start) of the bars in the order the figure holds them (for tests and docs)."""
    bars = fig.data[0]
    return list(zip(bars.y, bars.base, strict=True))


# -- needs attention -------------------------------------------------------------------
def attention_figure(items: Sequence[AttentionItem]) -> go.Figure:
    """Failed runs: what failed for good, why, and the step that started compensating."""
    if not items:
        return _empty("Nothing needs attention")
    reasons = {"compensation_failed": "compensation failed",
               "forward_step_failed": "step after the pivot failed"}
    columns = {
        "run": [item.run_id[-12:] for item in items],  # the random end: ids start with their time
        "saga": [item.saga for item in items],
        "ended (UTC)": [f"{item.ended_at:%Y-%m-%d %H:%M:%S}" if item.ended_at else "–"
                        for item in items],
        "failed for good": [item.failed_step or "?" for item in items],
        "why": [reasons.get(item.reason or "", item.reason or "?") for item in items],
        "triggered by": [item.trigger or "–" for item in items],
        "error": [": ".join(p for p in (item.error_type, item.error) if p) or "–"
                  for item in items],
    }
    fig = go.Figure(go.Table(
        columnwidth=[1.1, 1.2, 1.5, 1.3, 1.6, 1.2, 3],
        header={"values": [f"<b>{c}</b>" for c in columns], "fill_color": "#ffebee",
                "align": "left"},
        cells={"values": list(columns.values()), "align": "left", "height": 26}))
    fig.update_layout(height=min(80 + 27 * len(items), 420),
                      margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 15, "color": "#607d8b"},
                       x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=90, plot_bgcolor="white", margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


__all__ = [
    "attention_figure", "kpi_figure", "latency_figure", "saga_graph_figure", "sankey_figure",
    "throughput_figure", "timeline_figure", "timeline_order",
]
