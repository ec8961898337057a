#!/usr/bin/env bash
# Install the benchmark peers (DBOS 3.4, saga-py 1.1.0) and py-spy into bench/.venv-peers.
#
#     bash bench/setup.sh            # idempotent; needs PyPI and nothing else
#     PYTHON=python3.12 bash bench/setup.sh
#
# They get a venv of their own so that DBOS's dependencies (its own SQLAlchemy, psycopg,
# OpenTelemetry pins...) can never change the project venv that the tests and the runtime
# use. bench/run_all.py runs DBOS and saga-py with bench/.venv-peers/bin/python, and
# everything else (this runtime, the raw sqlite3 floors, SQLModel) with the project venv.
# py-spy is a standalone binary: bench/profile_engine.py uses it to sample the project
# venv's Python from outside.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=bench/.venv-peers
if [ -z "${PYTHON:-}" ]; then
    # the interpreter the project venv was made from, so both sides run the same Python
    if [ -x .venv/bin/python ]; then
        PYTHON=$(.venv/bin/python -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
    else
        PYTHON=python3
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $("$PYTHON" --version 2>&1) ($PYTHON)"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
import dbos, saga  # noqa: F401  (fails loudly if the install did not work)
print("peers ready in bench/.venv-peers: " + ", ".join(
    f"{name} {version(name)}" for name in ("dbos", "saga-py", "py-spy")))
PY
