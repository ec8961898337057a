"""Process set-up for the ``saga`` command (``runtime.cli.main``: a one-shot process)."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what start-up left behind, then freeze what remains (modules, the definition,
    the registry: it lives as long as the process) out of the garbage collector, whose full
    collections then walk only what the runs themselves keep. Measured at 50,000 runs on the
    in-memory store: full collections 340-400 ms -> 180 ms, 12% of the batch's time.

    For one-shot runner processes only: frozen objects are never collected as cycles, so a
    long-lived host (the Streamlit app, an application embedding the engine) must not call
    it between batches."""
    gc.collect()
    gc.freeze()
