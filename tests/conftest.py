"""Shared fixtures: event-log URLs on SQLite files and on a throwaway PostgreSQL database.

PostgreSQL tests skip with a reason when no server answers on 127.0.0.1:5432, except under
``CI=true``, where a missing service fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sagas"
PG_ADMIN_URL = os.environ.get("SAGA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--nightly", action="store_true", help="run the long variants too")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--nightly"):
        return
    skip = pytest.mark.skip(reason="long variant: run with --nightly")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def missing_service(reason: str) -> None:
    """Skip outside CI, fail under CI=true (a service CI needs must be there)."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        import psycopg
    except ImportError:
        missing_service("psycopg is not installed (pip install -e '.[test]')")
    plain = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable server"
        missing_service(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"saga_test_{uuid.uuid4().hex[:10]}"
    admin = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The event log on SQLite, PostgreSQL and in memory (``runtime.store.open_store`` URLs)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    if request.param == "memory":
        return "memory:"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The event log on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))
