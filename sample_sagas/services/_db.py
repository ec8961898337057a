"""SQLite access for the sample services: one connection per thread, short transactions.

    db = Database("services.db")
    with db.transaction() as conn:          # BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)
        conn.execute("INSERT ...")
    db.close()

WAL journal, ``synchronous=NORMAL`` and a busy timeout make it safe to share the file between
threads and processes; a process killed mid-transaction leaves the file as of the last commit.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sample_sagas.services._schema import SCHEMA

DEFAULT_BUSY_TIMEOUT = timedelta(seconds=30)


def connect(path: str | os.PathLike[str], busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT
            ) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the services' pragmas."""
    seconds = busy_timeout.total_seconds()
    conn = sqlite3.connect(os.fspath(path), timeout=seconds, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class _Holder:
    """A thread's connection; when the thread ends, its finalizer closes the connection."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()


def _discard(open_connections: dict[int, tuple[int, sqlite3.Connection]],
             lock: threading.Lock, key: int) -> None:
    with lock:
        entry = open_connections.pop(key, None)
    if entry is not None and entry[0] == os.getpid():
        entry[1].close()


class Database:
    """The services' SQLite file. Thread-safe: each thread (and each forked process) gets its
    own connection, created on first use, closed when the thread ends or by :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str], *,
                 busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[int, tuple[int, sqlite3.Connection]] = {}
        self._next_key = itertools.count()
        self._closed = False
        self._create_schema()

    def _create_schema(self) -> None:
        conn = self.connection()
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction() as txn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    txn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork)."""
        if self._closed:
            raise RuntimeError(f"services database {self.path} is closed; build a new "
                               "SampleServices to use it again")
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None or holder.pid != os.getpid():
            holder = _Holder(connect(self.path, self.busy_timeout))
            key = next(self._next_key)
            with self._lock:
                self._open[key] = (holder.pid, holder.conn)
            weakref.finalize(holder, _discard, self._open, self._lock, key)
            self._local.holder = holder
        return holder.conn

    @property
    def open_connections(self) -> int:
        """Connections open now (one per live thread that used the services)."""
        with self._lock:
            return len(self._open)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` (waits up to the busy timeout), commit
        on success, roll back on any exception."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._lock:
            self._closed = True
            entries = list(self._open.values())
            self._open.clear()
        for pid, conn in entries:
            if pid == os.getpid():
                conn.close()
