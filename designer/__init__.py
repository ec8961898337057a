"""Saga Studio's designer: the Design and Run pages and the pure code behind them.

Pure modules (no Streamlit): ``draft`` (a design as plain data and its edits), ``history``
(undo/redo), ``checks`` (validation mapped to steps), ``canvas`` (canvas state <->
``SagaDefinition``), ``flow`` (the streamlit-flow component's dicts), ``forms`` (the step
form), ``session`` (the Design page's state machine), ``files`` (designs folder, samples,
uploads, exports), ``registry`` (action names offered), ``runs`` (failure injection table and
the batch thread). Pages: ``designer/pages/design.py`` and ``designer/pages/run.py``.
"""
