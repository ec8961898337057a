"""Why SQLite group commits are written on the event loop's thread, not on a writer thread.

    .venv/bin/python bench/gil_handoff.py

Python's sqlite3 releases the GIL around every statement step (each row of an
``executemany``) and around ``COMMIT``'s fsync. Each time the writing thread wants the GIL
back while another thread is running Python code, it waits for that thread to yield it:
up to the interpreter's switch interval (5 ms). This script writes the same 250-row
transactions (WAL, synchronous=FULL, one index with random inserts, as an event log commit
has) from a second thread, first while the main thread idles, then while it spins in
Python (as a busy event loop would), and prints the median time of the inserts and of the
``COMMIT``. The committer (``runtime/store/committer.py``) relies on this: a writer thread
would make a commit wait for the loop, so SQLite commits run on the loop itself.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

WORK = Path(__file__).resolve().parents[1] / "artifacts" / "bench" / "work"
ROWS, COMMITS = 250, 10


def fresh_connection() -> sqlite3.Connection:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "gil-handoff.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE event (run_id TEXT, seq INT, duration_ms REAL, type TEXT)")
    conn.execute("CREATE INDEX ix_type_duration ON event (type, duration_ms)")
    return conn


def commits(conn: sqlite3.Connection, rng: random.Random) -> tuple[float, float]:
    """Median seconds of the inserts and of the COMMIT over ``COMMITS`` transactions."""
    inserts, commit_times = [], []
    for _ in range(COMMITS):
        rows = [(f"run-{rng.random()}", i, rng.random() * 100, rng.choice("abcdef"))
                for i in range(ROWS)]
        conn.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        conn.executemany("INSERT INTO event VALUES (?, ?, ?, ?)", rows)
        inserted = time.perf_counter()
        conn.execute("COMMIT")
        inserts.append(inserted - began)
        commit_times.append(time.perf_counter() - inserted)
    return statistics.median(inserts), statistics.median(commit_times)


def on_a_thread(conn: sqlite3.Connection, main_busy: bool) -> tuple[float, float]:
    result: list[tuple[float, float]] = []
    writer = threading.Thread(target=lambda: result.append(commits(conn, random.Random(7))))
    writer.start()
    while writer.is_alive():
        if main_busy:  # Python bytecode, like an event loop running coroutines
            sum(i * i for i in range(2000))
        else:
            writer.join(0.05)
    writer.join()
    return result[0]


def main() -> int:
    conn = fresh_connection()
    print(f"{COMMITS} transactions of {ROWS} rows each, written from a second thread "
          f"(switch interval {sys.getswitchinterval() * 1000:.0f} ms); medians:")
    for label, busy in (("main thread idle", False), ("main thread busy", True),
                        ("main thread idle", False), ("main thread busy", True)):
        insert, commit = on_a_thread(conn, busy)
        print(f"  {label}:  executemany {insert * 1000:8.2f} ms   COMMIT {commit * 1000:6.2f} ms",
              flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
