"""Launch the Streamlit app (Design, Run, Monitor) on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from runtime.errors import SagaError
from runtime.store.sql import normalise_url

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"


class StudioError(SagaError):
    pass


def studio_command(db: str, port: int, address: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            f"--server.address={address}", f"--server.port={port}", "--server.headless=true",
            "--browser.gatherUsageStats=false", "--server.enableXsrfProtection=true",
            "--server.maxUploadSize=1", "--client.showErrorDetails=none",
            "--server.fileWatcherType=none"]


def absolute_sqlite(url: str) -> str:
    """A SQLite URL with a relative path made absolute (the server runs in the app's folder)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + os.path.abspath(url[len(prefix):])
    return url


def launch(*, db: str, port: int = 8501, address: str = "127.0.0.1") -> None:
    """Run the app in the foreground until Ctrl-C."""
    if not APP.is_file():
        raise StudioError(f"the app entry point {APP} is missing; reinstall saga-studio "
                          "from a checkout (pip install -e .)")
    env = dict(os.environ, SAGA_DB=absolute_sqlite(normalise_url(db)))
    designs = os.path.abspath(env.get("SAGA_DESIGNS_DIR", "designs"))
    env.setdefault("SAGA_DESIGNS_DIR", designs)
    print(f"Saga Studio on http://{address}:{port}  (event log: {env['SAGA_DB']}; "
          f"designs: {designs}; Ctrl-C stops)", flush=True)
    command = studio_command(db, port, address)
    os.chdir(APP.parent)  # streamlit finds .streamlit/config.toml beside the app
    os.execve(command[0], command, env)  # become the server: signals reach it directly
