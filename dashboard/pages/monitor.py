"""Monitor page: how sagas behave, read live from the event log.

Filters (sidebar; each bound to a URL query parameter: ``?saga=&version=&window=&status=
&origin=&batch=&run=``), then a live section that re-runs every 2 s as a fragment (KPIs,
throughput and rates, the saga graph, the Sankey of paths, step latency, runs needing
attention), then the runs table: pick a run to see its Gantt timeline and its events.
The log is ``st.session_state["db_url"]``, else ``$SAGA_DB``, else ``sqlite:///saga.db``.
Queries: ``dashboard.queries``; figures: ``dashboard.charts``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from dashboard import charts, queries
from dashboard.db import LogState, LogUnavailable, describe_error, log_state, log_url, open_engine
from dashboard.filters import ORIGINS, STATUSES, WINDOW_LABELS, WINDOWS, MonitorFilter

REFRESH_SECONDS = 2.0
RUNS_SHOWN = 200
DB_ERRORS = (SQLAlchemyError, LogUnavailable, OSError)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return open_engine(url)


@st.cache_data(ttl=10, show_spinner=False)
def _options(url: str) -> queries.FilterOptions:
    return queries.filter_options(_engine(url))


def _state(url: str) -> LogState | str:
    """The log's state, or the error message if it cannot be read."""
    try:
        return log_state(_engine(url))
    except DB_ERRORS as exc:
        return describe_error(exc, url)


# -- filters ---------------------------------------------------------------------------
def _with_param(options: list[Any], key: str) -> list[Any]:
    """Keep a value that arrived by URL selectable even if the cached options lack it."""
    value = st.query_params.get(key)
    return options + [value] if value and value not in options else options


def _filters(options: queries.FilterOptions) -> tuple[MonitorFilter, bool]:
    """Sidebar widgets, each bound to the URL query parameter of its key (the URL holds the
    option as shown, so bound options are shown as their raw values)."""
    side = st.sidebar
    side.header("Filters")
    saga = side.selectbox("Saga", _with_param([None, *options.sagas], "saga"), key="saga",
                          bind="query-params", format_func=lambda v: v or "all sagas")
    versions = {v.short: v for v in options.versions if saga in (None, v.saga)}
    version = side.selectbox("Version", _with_param([None, *versions], "version"),
                             key="version", bind="query-params",
                             format_func=lambda v: v or "all versions")
    window = side.selectbox("Time window (run start)", list(WINDOWS), key="window",
                            index=list(WINDOWS).index("all"), bind="query-params",
                            help=", ".join(f"{k}: {v}" for k, v in WINDOW_LABELS.items()))
    statuses = side.multiselect("Status", list(STATUSES), key="status", bind="query-params",
                                placeholder="all statuses")
    origins = side.multiselect("Origin", list(ORIGINS), key="origin", bind="query-params",
                               placeholder="real, simulated and test")
    batches = {b.batch: b for b in options.batches}
    batch = side.selectbox("Batch", _with_param([None, *batches], "batch"), key="batch",
                           bind="query-params", format_func=lambda v: v or "all batches")
    if batch in batches:
        side.caption(batches[batch].label)
    live = side.toggle("Live (refresh every 2 s)", value=True, key="monitor_live")
    chosen = versions.get(version) if version else None
    flt = MonitorFilter(saga=saga, window=window, statuses=tuple(statuses),
                        origins=tuple(origins), batch=batch,
                        definition_hash=chosen.definition_hash if chosen else version)
    return flt, live


# -- the live section ------------------------------------------------------------------
def _live_body(url: str, flt: MonitorFilter, focus: str | None) -> None:
    now = datetime.now(UTC)
    try:
        view = queries.overview(_engine(url), flt.resolved(now), focus_saga=focus, now=now)
    except DB_ERRORS as exc:
        st.error(describe_error(exc, url))
        return
    k = view.kpis
    st.caption(f"Updated {now:%H:%M:%S} UTC · {k.runs:,} runs · {k.completed:,} completed · "
               f"{k.compensated:,} compensated · {k.failed:,} failed · {k.in_flight:,} in flight")
    st.plotly_chart(charts.kpi_figure(k), key="monitor_kpis", width="stretch")
    if not k.runs:
        st.info("No run matches these filters yet. Widen the time window or clear a filter.")
        return
    st.plotly_chart(charts.throughput_figure(view.series), key="monitor_series", width="stretch")
    if view.focus_saga:
        st.subheader(f"{view.focus_saga}: steps and paths")
        if not flt.saga:
            st.caption("Showing the saga with the most runs; pick a saga in the filters to "
                       "see another.")
        order = ([s.name for s in view.definition.steps] if view.definition
                 else [s.step for s in view.steps])
        st.plotly_chart(charts.saga_graph_figure(view.definition, view.steps),
                        key="monitor_graph", width="stretch")
        st.plotly_chart(charts.sankey_figure(view.paths, order), key="monitor_sankey",
                        width="stretch")
        st.plotly_chart(charts.latency_figure(view.steps), key="monitor_latency",
                        width="stretch")
    st.subheader(f"Needs attention ({k.failed:,} failed)")
    st.plotly_chart(charts.attention_figure(view.attention), key="monitor_attention",
                    width="stretch")


# -- predicted vs observed -------------------------------------------------------------
def _prediction_body(url: str, flt: MonitorFilter, focus: str | None) -> None:
    from dashboard import prediction as figures
    from dashboard.what_if import predicted_vs_observed, what_if
    from runtime.calibration import LogFilter
    from runtime.errors import SagaError

    if not focus:
        return
    definition = queries.saga_definition(_engine(url), focus, flt.definition_hash)
    if definition is None:
        st.info(f"No stored definition of {focus!r} to simulate.")
        return
    resolved = flt.resolved(datetime.now(UTC))
    log_filter = LogFilter(saga=focus, definition_hash=flt.definition_hash,
                           origins=tuple(flt.origins), batch=flt.batch, since=resolved.since,
                           until=resolved.until)
    try:
        view = predicted_vs_observed(_engine(url), definition, log_filter)
    except (SagaError, *DB_ERRORS) as exc:
        st.error(str(exc))
        return
    observed = view.calibration.observed
    st.caption(f"Simulated 20,000 runs of {focus} v{definition.version} with "
               f"{view.source}; observed: {observed.runs:,} finished runs. Bars: predicted, "
               "with the 95% range expected for that many runs; dots: observed.")
    left, right = st.columns(2)
    left.plotly_chart(figures.outcome_figure(view.prediction, observed), width="stretch",
                      key="monitor_pred_outcome")
    right.plotly_chart(figures.step_figure(view.prediction, observed, "compensations"),
                       width="stretch", key="monitor_pred_steps")
    rows = figures.comparison_rows(view.prediction, observed)
    st.dataframe([{"metric": r.metric, "predicted": round(r.predicted, 4),
                   "95% range": f"{r.low:.4f} - {r.high:.4f}", "observed": round(r.observed, 4),
                   "inside": "yes" if r.inside else "NO"} for r in rows],
                 hide_index=True, width="stretch", key="monitor_pred_rows")
    st.markdown("**What if** a step had another retry budget?")
    names = [s.name for s in definition.steps]
    pick, budget = st.columns(2)
    step = pick.selectbox("Step", names, key="monitor_whatif_step")
    current = definition.retry_policy(definition.step(step)).max_attempts
    attempts = budget.number_input("max_attempts", 1, 50, value=min(current + 2, 50),
                                   key="monitor_whatif_attempts")
    variant = what_if(view, step, max_attempts=int(attempts))
    st.plotly_chart(figures.what_if_figure(view.prediction, variant,
                                           (f"now ({current} attempts)", f"{attempts} attempts")),
                    width="stretch", key="monitor_whatif")


# -- runs and one run ------------------------------------------------------------------
def _runs_body(url: str, flt: MonitorFilter) -> None:
    head, button = st.columns([5, 1])
    head.subheader("Runs")
    button.button("Refresh", key="monitor_runs_refresh", width="stretch")
    now = datetime.now(UTC)
    try:
        runs = queries.list_runs(_engine(url), flt.resolved(now), limit=RUNS_SHOWN)
    except DB_ERRORS as exc:
        st.error(describe_error(exc, url))
        return
    st.caption(f"The newest {len(runs):,} matching runs as of {now:%H:%M:%S} UTC "
               "(select a row to open the run).")
    rows = [{"run": r.run_id, "saga": r.saga, "version": r.version, "status": r.status,
             "origin": r.origin, "batch": r.batch or "",
             "started (UTC)": f"{r.started_at:%Y-%m-%d %H:%M:%S}",
             "duration ms": None if r.duration_ms is None else round(r.duration_ms, 1)}
            for r in runs]
    picked = st.dataframe(rows, key="monitor_runs", on_select="rerun",
                          selection_mode="single-row", hide_index=True, height=300,
                          width="stretch")
    selected = list(picked.selection.rows) if picked is not None else []
    if selected and selected != st.session_state.get("_monitor_seen_rows"):
        index = selected[0]
        if index < len(rows):
            st.session_state["run"] = rows[index]["run"]
    st.session_state["_monitor_seen_rows"] = selected
    run_id = st.text_input("Run id", key="run", bind="query-params",
                           placeholder="select a run above or paste its id").strip()
    if run_id:
        _one_run(url, run_id)


def _one_run(url: str, run_id: str) -> None:
    try:
        summary = queries.run_summary(_engine(url), run_id)
        events = queries.run_events(_engine(url), run_id) if summary else []
    except DB_ERRORS as exc:
        st.error(describe_error(exc, url))
        return
    if summary is None:
        st.warning(f"No run {run_id!r} in this log.")
        return
    took = f"{summary.duration_ms:,.0f} ms" if summary.duration_ms is not None else "still going"
    st.markdown(f"**{summary.saga}** v{summary.version or '?'} · `{summary.run_id}` · "
                f"**{summary.status}** · {summary.origin} · started "
                f"{summary.started_at:%Y-%m-%d %H:%M:%S} UTC · {took}")
    st.plotly_chart(charts.timeline_figure(events), key="monitor_timeline", width="stretch")
    st.dataframe([{"seq": e.seq, "time (UTC)": e.ts.isoformat(sep=" ", timespec="milliseconds")
                   .removesuffix("+00:00"), "type": e.type, "step": e.step, "attempt": e.attempt,
                   "ms": None if e.duration_ms is None else round(e.duration_ms, 1),
                   "error": ": ".join(p for p in (e.error_type, e.error) if p),
                   "data": e.data} for e in events],
                 hide_index=True, width="stretch", key="monitor_events")


# -- empty states ----------------------------------------------------------------------
def _waiting(url: str, state: LogState | str) -> None:
    if not isinstance(state, LogState):  # LogState is a str too: test it first
        st.error(state)
        return
    hint = ("Start some runs from the **Run** page, or from a terminal: "
            "`saga run sample_sagas/flight_booking.yaml --count 100 --simulate`.")
    if state is LogState.MISSING:
        st.info(f"No event log yet at `{url}`. {hint}")
    elif state is LogState.NO_TABLES:
        st.info(f"The database at `{url}` has no event log tables yet. {hint}")
    else:
        st.info(f"The event log at `{url}` holds no runs yet. {hint}")
    st.caption("This page starts showing runs as soon as the first one is written.")


def main() -> None:
    st.title("Monitor")
    url = log_url(st.session_state.get("db_url"), os.environ)
    st.caption(f"Event log: `{url}`")
    state = _state(url)
    if state is not LogState.READY:

        @st.fragment(run_every=REFRESH_SECONDS)
        def wait_for_runs() -> None:
            now_state = _state(url)
            if now_state is LogState.READY:
                _options.clear()
                st.rerun(scope="app")
            _waiting(url, now_state)

        wait_for_runs()
        return
    try:
        options = _options(url)
    except DB_ERRORS as exc:
        st.error(describe_error(exc, url))
        return
    flt, live = _filters(options)
    focus = flt.saga or (options.sagas[0] if options.sagas else None)

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def live_section() -> None:
        _live_body(url, flt, focus)

    @st.fragment
    def runs_section() -> None:
        _runs_body(url, flt)

    live_section()
    with st.expander("Predicted vs observed, and what-if (Monte Carlo over the design)"):
        if st.toggle("Compute the prediction", key="monitor_predict"):
            _prediction_body(url, flt, focus)
    st.divider()
    runs_section()


main()
