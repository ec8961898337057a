"""Design page: draw a saga on a canvas, edit its steps, validate live, open/save/export.

Session state holds UI state only: one ``designer.session.DesignSession`` (``design``: the
undo history of drafts, the selected step, pending messages) and widget values. Every
callback calls one of its pure methods; every definition comes from ``designer/``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from dashboard.prediction import outcome_figure
from designer.canvas import canvas_from_draft
from designer.checks import DraftReport, check_draft
from designer.files import (
    DesignStore,
    designs_dir,
    export_file,
    list_samples,
    open_sample,
    open_upload,
)
from designer.flow import flow_edges, flow_nodes, frame_nodes
from designer.forms import (
    KINDS,
    NO_COMPENSATION,
    DefaultsForm,
    action_choices,
    defaults_form,
    step_form,
)
from designer.predict import PredictSummary, predict
from designer.registry import sample_registry
from designer.session import DesignSession
from runtime.export import MEDIA_TYPES, dot_available

ss = st.session_state


@st.cache_resource
def _registry() -> Any:
    return sample_registry()


def _session() -> DesignSession:
    if "design" not in ss:
        ss.design = DesignSession.start()
    session: DesignSession = ss.design
    return session


def _do(method: str, *args: Any, **kwargs: Any) -> None:
    """A callback: one method of the session, whose result becomes the session."""
    ss.design = getattr(_session(), method)(*args, **kwargs)


def _from_widget(method: str, key: str, *args: Any) -> None:
    ss.design = getattr(_session(), method)(*args, ss[key])


def _open_sample() -> None:
    name = str(ss.get("design_open_sample"))
    _do("open", lambda: open_sample(name), f"sample {name}")


def _open_saved() -> None:
    name = str(ss.get("design_open_saved"))
    _do("open", lambda: DesignStore(designs_dir()).open(name), f"design {name}")


def _open_uploaded() -> None:
    upload = ss.get("design_upload")
    if upload is None:
        _do("notify", "warning", "Choose a YAML or JSON file first.")
    else:
        _do("open", lambda: open_upload(upload.getvalue(), upload.name), upload.name)


def _save(name_key: str) -> None:
    _do("save", DesignStore(designs_dir()), str(ss.get(name_key, "")),
        overwrite=bool(ss.get("design_overwrite")), actions=_registry())
    ss.design_overwrite = False


# -- page ---------------------------------------------------------------------------------------
def _toolbar(session: DesignSession) -> None:
    history, selected = session.history, session.selected
    bar = st.columns([1, 1, 1, 1, 1, 1.2, 1.6], vertical_alignment="center")
    bar[0].button("New", key="design_new", on_click=_do, args=("new",), width="stretch",
                  help="Start an empty design (Undo brings the old one back)")
    with bar[1].popover("Open", width="stretch"):
        st.selectbox("Sample", list_samples(), key="design_open_sample")
        st.button("Open sample", key="design_open_sample_btn", on_click=_open_sample,
                  width="stretch")
        saved = DesignStore(designs_dir()).list_designs()
        if saved:
            st.selectbox("Saved design", saved, key="design_open_saved")
            st.button("Open saved design", key="design_open_saved_btn", on_click=_open_saved,
                      width="stretch")
        st.file_uploader("Upload YAML or JSON (1 MB at most)", type=["yaml", "yml", "json"],
                         key="design_upload")
        st.button("Open upload", key="design_open_upload_btn", on_click=_open_uploaded,
                  width="stretch")
    with bar[2].popover("Save", width="stretch"):
        saga = str(session.draft.document.get("saga") or "design")
        name_key = f"design_save_name_{saga}"  # the default follows the saga's name
        st.text_input("Design name", saga, key=name_key,
                      help=f"Saved as <name>.yaml in {designs_dir()}")
        st.checkbox("Overwrite an existing design", key="design_overwrite")
        st.button("Save design", key="design_save", on_click=_save, args=(name_key,),
                  width="stretch", type="primary")
    bar[3].button("Undo", key="design_undo", on_click=_do, args=("undo",),
                  disabled=not history.can_undo, width="stretch")
    bar[4].button("Redo", key="design_redo", on_click=_do, args=("redo",),
                  disabled=not history.can_redo, width="stretch")
    bar[5].button("Add step", key="design_add", on_click=_do, args=("add_step",),
                  width="stretch", type="primary")
    bar[6].button("Delete selected step", key="design_delete", on_click=_do,
                  args=("delete_selected",), disabled=selected is None, width="stretch")


def _canvas(session: DesignSession, report: DraftReport) -> None:
    canvas = canvas_from_draft(session.draft)
    nodes = flow_nodes(canvas, report, session.selected) + frame_nodes(canvas)
    state = StreamlitFlowState(nodes=[StreamlitFlowNode.from_dict(n) for n in nodes],
                               edges=[StreamlitFlowEdge.from_dict(e) for e in flow_edges(canvas)],
                               timestamp=0)  # never newer than the canvas's own edits
    streamlit_flow(session.canvas_key, state, height=480, fit_view=True,
                   allow_new_edges=True, get_node_on_click=True, enable_pane_menu=True,
                   enable_node_menu=True, enable_edge_menu=True, hide_watermark=True,
                   min_zoom=0.3, style={"border": "1px solid #d0d5dd", "borderRadius": "8px"})
    st.caption("Click a step to edit it · drag a step's right handle onto another step to make "
               "it wait for the first · right-click the canvas to create a step, a step or an "
               "arrow to delete it.")


def _issues(report: DraftReport, names: list[str]) -> None:
    if not names:
        st.info("The canvas is empty: press **Add step**, right-click the canvas, or open a "
                "sample.")
        return
    if report.valid:
        st.success("No problems: this saga is valid.")
        return
    st.error(f"{len(report.issues)} problem(s); steps with problems are outlined red.")
    for issue in report.issues:
        owner = next((n for n, found in report.step_issues.items() if issue in found), None)
        where = f"**{owner}** · " if owner else ""
        hint = f" — {issue.hint}" if issue.hint else ""
        st.markdown(f"- {where}`{issue.path}` {issue.message} [{issue.rule}]{hint}")


def _header(session: DesignSession, expanded: bool) -> None:
    doc, r = session.draft.document, session.history.render
    with st.expander("Saga", expanded=expanded):
        st.text_input("Saga name", str(doc.get("saga", "")), key=f"saga_{r}",
                      on_change=_from_widget, args=("edit_header", f"saga_{r}", "saga"))
        version = doc.get("version", 1)
        st.number_input("Version", min_value=1, value=version if isinstance(version, int) else 1,
                        key=f"version_{r}", on_change=_from_widget,
                        args=("edit_header", f"version_{r}", "version"))
        st.text_area("Description", str(doc.get("description") or ""), key=f"desc_{r}",
                     on_change=_from_widget, args=("edit_header", f"desc_{r}", "description"),
                     height=68)


def _step_form(session: DesignSession, report: DraftReport, defaults: DefaultsForm) -> None:
    ss.design_step = session.selected
    st.selectbox("Step", session.draft.step_names(), key="design_step", on_change=_from_widget,
                 args=("select", "design_step"), help="Or click a step on the canvas")
    step = str(session.selected)
    form = step_form(session.draft, step)
    registered = _registry().names()

    def widget(kind: Any, label: str, field: str, /, **kwargs: Any) -> None:
        key = f"field_{field}_{session.history.render}_{step}"
        kind(label, key=key, on_change=_from_widget, args=("edit_field", key, step, field),
             **kwargs)

    widget(st.text_input, "Name", "name", value=form.name)
    actions = action_choices(registered, form.action)
    widget(st.selectbox, "Action", "action", options=actions, accept_new_options=True,
           index=actions.index(form.action) if form.action in actions else None,
           placeholder="Pick a registered action or type a name")
    compensations = [NO_COMPENSATION, *action_choices(registered, form.compensation)]
    widget(st.selectbox, "Compensation", "compensation", options=compensations,
           accept_new_options=True, index=compensations.index(form.compensation or NO_COMPENSATION))
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    with c1:
        widget(st.selectbox, "Kind", "kind", options=KINDS,
               index=KINDS.index(form.kind) if form.kind in KINDS else 0)
    with c2:
        widget(st.checkbox, "Read-only", "read_only", value=form.read_only,
               help="The step changes nothing, so it needs no compensation")
    widget(st.multiselect, "Waits for", "after", options=form.candidates,
           default=[n for n in form.after if n in form.candidates])
    for issue in report.for_step(step):
        st.warning(f"`{issue.path}` {issue.message}" + (f" — {issue.hint}" if issue.hint else ""))
    with st.expander("Retry and timeout"):
        widget(st.text_input, "Timeout per attempt", "timeout", value=form.timeout,
               placeholder=f"saga default: {defaults.timeout}")
        for policy, label in (("retry", "Own retry policy"),
                              ("compensation_retry", "Own compensation retry policy")):
            widget(st.checkbox, f"{label} (otherwise the saga's default)", f"{policy}.own",
                   value=form.own[policy])
            if form.own[policy]:
                _policy_widgets(widget, policy, form.policies[policy])
    with st.expander("Simulation (defaults of simulated runs)"):
        sim = form.simulate
        for field, label in (("failure_rate", "Failure rate"),
                             ("flaky_rate", "Flaky rate (per attempt)"),
                             ("compensation_failure_rate", "Compensation failure rate")):
            widget(st.number_input, label, f"simulate.{field}", min_value=0.0, max_value=1.0,
                   step=0.01, value=_float(sim[field], 0.0))
        for field, label, example in (("latency_p50", "Latency p50", "20ms"),
                                      ("latency_p95", "Latency p95", "80ms")):
            widget(st.text_input, label, f"simulate.{field}", value=str(sim[field] or ""),
                   placeholder=f"e.g. {example}")
    widget(st.text_input, "Description", "description", value=form.description)


def _policy_widgets(widget: Any, policy: str, values: Any) -> None:
    """The five fields of a retry policy, as ``widget(kind, label, field, **kwargs)`` makes them."""
    attempts = values["max_attempts"]
    widget(st.number_input, "Max attempts", f"{policy}.max_attempts", min_value=1,
           max_value=10_000, value=attempts if isinstance(attempts, int) else 3)
    widget(st.text_input, "Initial interval", f"{policy}.initial_interval",
           value=str(values["initial_interval"]))
    widget(st.number_input, "Backoff", f"{policy}.backoff", min_value=1.0, max_value=100.0,
           value=_float(values["backoff"], 2.0), step=0.5)
    widget(st.text_input, "Max interval", f"{policy}.max_interval",
           value=str(values["max_interval"]))
    widget(st.checkbox, "Jitter", f"{policy}.jitter", value=bool(values["jitter"]))


def _defaults(session: DesignSession, form: DefaultsForm) -> None:
    """The saga-level defaults every step follows unless it sets its own."""

    def widget(kind: Any, label: str, field: str, /, **kwargs: Any) -> None:
        key = f"default_{field}_{session.history.render}"
        kind(label, key=key, on_change=_from_widget, args=("edit_default", key, field), **kwargs)

    with st.expander("Saga defaults"):
        widget(st.text_input, "Timeout per attempt", "timeout", value=form.timeout)
        widget(st.checkbox, "Keep compensating when a compensation fails for good",
               "continue_on_error", value=form.continue_on_error,
               help="Otherwise the run stops at the failed compensation and ends failed")
        for policy, label in (("retry", "Retry"), ("compensation_retry", "Compensation retry"),
                              ("retriable_retry", "Retry of retriable steps")):
            st.markdown(f"**{label}**")
            _policy_widgets(widget, policy, form.policies[policy])


def _float(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _exports(report: DraftReport) -> None:
    st.subheader("Export")
    definition = report.definition
    if definition is None:
        st.caption("Export is available once the shape problems above are fixed.")
        return
    if report.issues:
        st.caption(f"The design still has {len(report.issues)} problem(s); exported files will "
                   "not validate.")
    cols = st.columns(6)
    for col, fmt, label in zip(cols, ("yaml", "json", "dot", "mermaid"),
                               ("YAML", "JSON", "DOT", "Mermaid"), strict=False):
        file = export_file(definition, fmt)
        col.download_button(label, file.data, file.file_name, file.mime, key=f"export_{fmt}",
                            on_click="ignore", width="stretch")
    for col, fmt in zip(cols[4:], ("svg", "png"), strict=True):
        if dot_available():
            col.download_button(fmt.upper(), partial(_picture, definition, fmt),
                                f"{definition.saga}.{fmt}", MEDIA_TYPES[fmt],
                                key=f"export_{fmt}", on_click="ignore", width="stretch")
        else:
            col.button(fmt.upper(), disabled=True, key=f"export_{fmt}", width="stretch",
                       help="Needs Graphviz: apt-get install graphviz (or brew install graphviz)")
    with st.expander("YAML preview"):
        st.code(export_file(definition, "yaml").data.decode(), language="yaml")


def _picture(definition: Any, fmt: str) -> bytes:
    return export_file(definition, fmt).data


@st.cache_data(max_entries=64, show_spinner=False)
def _prediction(document_hash: str, _definition: Any) -> PredictSummary:
    return predict(_definition)


def _predict(report: DraftReport) -> None:
    """Predict panel: Monte Carlo over the design as it is now (updates on every edit)."""
    with st.container(border=True):
        st.markdown("**Predict** (5,000 simulated runs)")
        definition = report.definition if report.valid else None
        summary = (_prediction(definition.content_hash, definition) if definition is not None
                   else predict(None))
        for line in summary.lines():
            st.caption(line)
        if summary.result is not None:
            st.plotly_chart(outcome_figure(summary.result), key="design_predict_chart",
                            width="stretch", config={"displayModeBar": False})
            if summary.error:
                st.caption(summary.error)


def main() -> None:
    session = _session()
    session = ss.design = session.take_flow_value(session.canvas_key, ss.get(session.canvas_key))
    report = check_draft(session.draft, _registry())
    names = session.draft.step_names()

    st.title("Design")
    status = "valid" if report.valid else f"{len(report.issues)} issue(s)"
    st.caption(f"Saga **{session.draft.document.get('saga', '')}** · {len(names)} step(s) · "
               f"{status}")
    for level, text in session.notices:
        getattr(st, level)(text)
    ss.design = session.without_notices()
    _toolbar(session)
    left, right = st.columns([2.2, 1], gap="medium")
    with left:
        _canvas(session, report)
        _issues(report, names)
    with right:
        _header(session, expanded=not names)
        defaults = defaults_form(session.draft)
        _defaults(session, defaults)
        if session.selected is None:
            st.info("Select a step on the canvas to edit it.")
        else:
            _step_form(session, report, defaults)
        _predict(report)
    _exports(report)


main()
