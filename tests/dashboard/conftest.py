"""Fixtures: the hand-made ``shop`` log (tests/dashboard/logs.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from tests.dashboard.logs import build_shop_log


def _pg_database(admin_url: str) -> tuple[str, str]:
    """Create a uniquely named database; returns (its URL, its name)."""
    import psycopg

    name = f"saga_dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[Engine]:
    """An engine on the shop log, once per module and backend (read-only in tests)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("shop") / "events.db"
        engine = create_engine(f"sqlite:///{path}")
        build_shop_log(engine)
        yield engine
        engine.dispose()
        return
    admin = request.getfixturevalue("pg_server")
    url, name = _pg_database(admin)
    engine = create_engine(url)
    try:
        build_shop_log(engine)
        yield engine
    finally:
        engine.dispose()
        _drop_pg_database(admin, name)


@pytest.fixture(scope="module")
def shop_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop log in a SQLite file: its URL (for the page and the chart tests)."""
    path = tmp_path_factory.mktemp("shop_file") / "events.db"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    build_shop_log(engine)
    engine.dispose()
    yield url
