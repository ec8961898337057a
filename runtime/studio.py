"""Launch the Streamlit app (Design, Run, Monitor) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
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


def launch(*, db: str, port: int = 8501, address: str = "127.0.0.1") -> None:
    """Run the app in the foreground until Ctrl-C."""
    if not APP.is_file():
        raise StudioError(f"the app entry point {APP} is missing; reinstall saga-studio "
                          "from a checkout (pip install -e .)")
    env = dict(os.environ, SAGA_DB=normalise_url(db))
    print(f"Saga Studio on http://{address}:{port}  (event log: {env['SAGA_DB']}; Ctrl-C stops)",
          flush=True)
    try:
        subprocess.run(studio_command(db, port, address), env=env, check=False,
                       cwd=APP.parent)
    except KeyboardInterrupt:
        pass
