"""Opening the event log for reading.

    url = log_url(session_url, os.environ)         # session > $SAGA_DB > sqlite:///saga.db
    engine = open_engine(url)                       # the page keeps it in st.cache_resource
    state = log_state(engine)                       # MISSING / NO_TABLES / EMPTY / READY

The dashboard only reads. A SQLite file that does not exist is reported as missing and is
never created by looking at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from runtime.store.sql import normalise_url
from runtime.store.tables import run_table

DEFAULT_URL = "sqlite:///saga.db"
ENV_VAR = "SAGA_DB"
BUSY_TIMEOUT_S = 5.0
SQLITE_CACHE_KIB = 65_536
"""SQLite page cache per connection: the live queries re-read the same index pages."""
SQLITE_MMAP_BYTES = 1 << 30
"""Read the file through a memory map (no read() call per page); a limit, not an allocation."""
PG_WORK_MEM = "32MB"


class LogState(StrEnum):
    MISSING = "missing"
    """a SQLite file that does not exist yet"""
    NO_TABLES = "no_tables"
    """the database exists but nothing has been written to it"""
    EMPTY = "empty"
    """the tables exist but hold no run"""
    READY = "ready"


class LogUnavailable(Exception):
    """The event log cannot be read; the message says why and what to do."""


def log_url(session_url: str | None, environ: Mapping[str, str]) -> str:
    """The URL to read: the page's choice, else ``$SAGA_DB``, else ``sqlite:///saga.db``."""
    return normalise_url(session_url or environ.get(ENV_VAR) or DEFAULT_URL)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def open_engine(url: str) -> Engine:
    """An engine for reading the log. Raises :class:`LogUnavailable` for a bad URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LogUnavailable(
            f"{url!r} is not a database URL: use sqlite:///path/to/saga.db or "
            "postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S,
                                                  "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.execute("PRAGMA query_only=ON")  # the dashboard never writes
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # small repeated aggregations: JIT compiling them costs more than running them;
        # their sorts fit in memory with a little more than the 4 MB default; a live log is
        # cached, so reaching a few runs' events by index beats scanning every event
        connect_args["options"] = (f"-c jit=off -c work_mem={PG_WORK_MEM} "
                                   "-c random_page_cost=1.1")
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise LogUnavailable(f"cannot open {parsed.render_as_string(hide_password=True)}: "
                             f"{exc}") from None


def log_state(engine: Engine) -> LogState:
    """Whether there is anything to show. Raises :class:`LogUnavailable` if unreachable."""
    path = sqlite_path(str(engine.url))
    if path is not None and not path.exists():
        return LogState.MISSING
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(run_table.name):
                return LogState.NO_TABLES
            any_run = conn.execute(select(run_table.c.id).limit(1)).first()
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise LogUnavailable(f"cannot read the event log at {where}: {reason}") from None
    return LogState.READY if any_run else LogState.EMPTY


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """One line for the page: what went wrong reading the log (never a traceback)."""
    if isinstance(exc, LogUnavailable):
        return str(exc)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    where = ""
    if url:
        try:
            where = f" at {make_url(url).render_as_string(hide_password=True)}"
        except ArgumentError:
            where = ""
    return f"could not read the event log{where}: {reason[0] if reason else type(exc).__name__}"
