"""`saga studio` serves the app on 127.0.0.1 with the hardened settings, on the given log."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from runtime.studio import studio_command
from tests.servers import free_port, wait_for_http


def test_command_line_is_hardened() -> None:
    command = " ".join(studio_command("sqlite:///x.db", 8501))
    for flag in ("--server.address=127.0.0.1", "--server.enableXsrfProtection=true",
                 "--server.maxUploadSize=1", "--client.showErrorDetails=none"):
        assert flag in command


def test_studio_serves_the_app(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, SAGA_DESIGNS_DIR=str(tmp_path / "designs"))
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "studio", "--port", str(port),
                             "--db", str(tmp_path / "events.db")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc=proc, body=b"ok",
                      what="saga studio")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out and f"sqlite:///{tmp_path / 'events.db'}" in out


def test_relative_sqlite_paths_become_absolute(tmp_path: Path, monkeypatch) -> None:
    from runtime.studio import absolute_sqlite

    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite("sqlite:///demo/saga.db") == f"sqlite:///{tmp_path}/demo/saga.db"
    assert absolute_sqlite("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert absolute_sqlite("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
