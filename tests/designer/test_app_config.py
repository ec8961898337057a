"""The app's Streamlit settings: local only, XSRF on, small uploads, no tracebacks."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_config() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] == 1
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


def test_the_entry_point_is_only_a_router() -> None:
    tree = ast.parse((ROOT / "streamlit_app.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "main" in functions
    source = (ROOT / "streamlit_app.py").read_text()
    for page in ("designer/pages/design.py", "designer/pages/run.py", "dashboard/pages/monitor.py"):
        assert all(part in source for part in page.removesuffix(".py").split("/"))
    assert 'url_path="monitor"' in source and "st.navigation" in source
