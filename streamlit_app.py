"""Saga Studio: one Streamlit app, three pages (``streamlit run streamlit_app.py``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent


def main() -> None:
    """Route between Design, Run and Monitor."""
    st.set_page_config(page_title="Saga Studio", page_icon=":material/account_tree:", layout="wide")
    monitor = ROOT / "dashboard" / "pages" / "monitor.py"
    pages = [
        st.Page(ROOT / "designer" / "pages" / "design.py", title="Design", icon=":material/draw:",
                url_path="design", default=True),
        st.Page(ROOT / "designer" / "pages" / "run.py", title="Run", icon=":material/play_arrow:",
                url_path="run"),
        st.Page(monitor if monitor.exists() else _monitor_missing, title="Monitor",
                icon=":material/monitoring:", url_path="monitor"),
    ]
    st.navigation(pages).run()


def _monitor_missing() -> None:
    st.title("Monitor")
    st.info("The Monitor page (dashboard/pages/monitor.py) is not installed in this copy.")


main()
