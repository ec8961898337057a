"""Starting the processes tests talk to: a free loopback port, polling a server until it
answers (with a deadline, never a fixed sleep), a Streamlit app, and the browser check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import missing_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, *, proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None,
                  body: bytes | None = None, timeout: float = 60.0, what: str = "the server") -> None:
    """Poll ``url`` until it answers 200 (with ``body``, if given); fail if ``proc`` exits
    or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200 and (body is None or response.read() == body):
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode} before answering {url}")
        time.sleep(0.1)
    pytest.fail(f"{what} did not answer {url} within {timeout:.0f} s")


def require_browser() -> None:
    """Skip (fail under CI=true) without Debian's chromium or the playwright package."""
    if not Path(CHROMIUM).exists():
        missing_service(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing_service("playwright is not installed (pip install -e '.[test]'; "
                        "never `playwright install`)")


@contextmanager
def streamlit_app(app: Path, *, env: Mapping[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port; yield its URL once /_stcore/health says ok."""
    port = free_port()
    with open(log, "w") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}",
             "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
            cwd=cwd, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_for_http(url + "/_stcore/health", proc=proc, body=b"ok", what="streamlit")
            except pytest.fail.Exception:
                pytest.fail(f"streamlit did not come up: {log.read_text()[-2000:]}")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
