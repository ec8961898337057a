"""Run page: start N runs of a definition with failure injection and watch the batch.

The batch runs in a background thread (``designer.runs.BatchJob``); a fragment polls its
progress every second, so the page stays responsive. Runs write to the event log at
``$SAGA_DB`` (default ``sqlite:///saga.db``), the one the Monitor page reads.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from designer.checks import check_draft
from designer.files import DesignStore, designs_dir, list_samples, open_sample
from designer.registry import simulated_registry
from designer.runs import (
    COLUMNS,
    BatchJob,
    db_url,
    injection_from_rows,
    injection_rows,
    real_registry,
    services_db,
)
from runtime.errors import DefinitionError, SagaError
from runtime.validation import validate

ss = st.session_state
SOURCES = ("Current design", "Sample", "Saved design")


def _pick() -> Any:
    """The chosen definition, or None with the reason shown."""
    has_design = "design" in ss and bool(ss.design.draft.step_names())
    source = st.radio("Definition", SOURCES, horizontal=True, key="run_source",
                      index=0 if has_design else 1)
    try:
        if source == "Sample":
            return open_sample(st.selectbox("Sample", list_samples(), key="run_sample"))
        if source == "Saved design":
            saved = DesignStore(designs_dir()).list_designs()
            if not saved:
                st.info(f"No saved designs in {designs_dir()} yet: save one on the Design page.")
                return None
            name = st.selectbox("Saved design", saved, key="run_saved")
            return DesignStore(designs_dir()).open(name)
        if not has_design:
            st.info("The current design has no steps yet: draw one on the Design page, or pick "
                    "a sample.")
            return None
        report = check_draft(ss.design.draft)
        if report.definition is None:
            st.error("The current design has shape problems; fix them on the Design page first.")
            return None
        return report.definition
    except DefinitionError as err:
        st.error("\n\n".join(err.lines()))
    except SagaError as err:
        st.error(str(err))
    return None


def _start(definition: Any, rows: list[dict[str, Any]]) -> None:
    from runtime.batch import BatchOptions

    try:
        injection = injection_from_rows(definition, rows, seed=int(ss.run_seed))
        cleanup = None
        if ss.run_origin == "real":
            registry, cleanup = real_registry(definition, services_db())
        else:
            registry = simulated_registry(definition)
        options = BatchOptions(count=int(ss.run_count), concurrency=int(ss.run_concurrency),
                               seed=int(ss.run_seed), injection=injection, origin=ss.run_origin,
                               input={})
        ss.run_job = BatchJob(definition, registry, db_url(), options, cleanup=cleanup).start()
    except SagaError as err:
        ss.run_error = str(err)


def _rate(label: str) -> Any:
    return st.column_config.NumberColumn(label, min_value=0.0, max_value=1.0, step=0.01)


def _progress() -> None:
    job: BatchJob | None = ss.get("run_job")
    if job is None:
        return
    snap = job.snapshot()
    st.progress(snap.fraction,
                text=f"Batch {snap.batch_id}: {snap.done} of {snap.total} runs ended")
    cols = st.columns(3)
    cols[0].metric("Completed", snap.completed)
    cols[1].metric("Compensated", snap.compensated)
    cols[2].metric("Failed", snap.failed)
    if snap.error:
        st.error(snap.error)
    elif snap.finished:
        summary = snap.summary
        st.success(f"Batch {summary.batch_id} done: {summary.total} runs in "
                   f"{summary.elapsed_seconds:.1f} s.")
        cols = st.columns(3)
        cols[0].metric("Sagas per second", f"{summary.sagas_per_second:.1f}")
        cols[1].metric("p50 duration", f"{summary.p50_ms:.0f} ms")
        cols[2].metric("p95 duration", f"{summary.p95_ms:.0f} ms")
    st.markdown(f"[Open this batch in Monitor](monitor?batch={snap.batch_id})")
    if snap.finished and ss.get("run_polling"):
        ss.run_polling = False
        st.rerun(scope="app")


st.title("Run")
st.caption(f"Runs write to the event log at `{db_url()}` (set SAGA_DB to change it); "
           "the Monitor page reads the same log.")
definition = _pick()
if definition is not None:
    issues = validate(definition)
    if issues:
        st.error("This definition does not validate; fix it first:\n\n"
                 + "\n\n".join(f"- {i}" for i in issues))
        definition = None
if definition is not None:
    st.markdown(f"**{definition.saga}** v{definition.version} · {len(definition.steps)} steps: "
                + " → ".join(s.name for s in definition.steps))
    c = st.columns(4)
    c[0].number_input("Runs", min_value=1, max_value=100_000, value=50, key="run_count")
    c[1].number_input("Concurrency", min_value=1, max_value=1_000, value=10, key="run_concurrency")
    c[2].number_input("Seed", min_value=0, value=7, key="run_seed")
    c[3].radio("Services", ("simulated", "real"), key="run_origin", horizontal=True,
               format_func=lambda o: "Simulated" if o == "simulated" else "Real sample services",
               help="Simulated: every action is a no-op and only the injection below decides. "
                    "Real: the in-process sample services (flight, payments, ...).")
    st.markdown("**Failure injection per step** (defaults: each step's simulated fields)")
    rows = st.data_editor(
        injection_rows(definition), key=f"run_injection_{definition.content_hash[:12]}",
        hide_index=True, width="stretch", disabled=["step"], column_order=COLUMNS,
        column_config={
            "step": "Step",
            "fail": _rate("Fail rate"),
            "flaky": _rate("Flaky rate"),
            "latency_p50_ms": st.column_config.NumberColumn("Latency p50 (ms)", min_value=0.0),
            "latency_p95_ms": st.column_config.NumberColumn("Latency p95 (ms)", min_value=0.0),
            "fail_compensation": _rate("Compensation fail rate"),
        })
    job = ss.get("run_job")
    running = job is not None and not job.snapshot().finished
    if st.button("Start", type="primary", disabled=running, width="content"):
        ss.pop("run_error", None)
        _start(definition, list(rows))
        ss.run_polling = True
        running = True
    if ss.get("run_error"):
        st.error(ss.run_error)

st.fragment(_progress, run_every=1.0 if ss.get("run_polling") else None)()
