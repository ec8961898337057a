"""How a SQLite COMMIT's time (WAL write + fsync) grows with the rows it carries.

    .venv/bin/python bench/commit_size.py                 # 250 and 125 event rows, 60 commits each
    .venv/bin/python bench/commit_size.py --sizes 250 125 60

Raw sqlite3 on a fresh file under artifacts/bench/work/ (WAL, synchronous=FULL), an event
table with the log's unique (run_id, seq) and its covering index (random durations, so
random leaf pages, as the runtime's commits have). Prints the median COMMIT time per size,
alternating sizes so both see the same disk. The question it answers: would splitting a
group commit in two halve its fsync (docs/performance.md, "Pipelining")?
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent.parent / "artifacts" / "bench" / "work"
INSERT = ("INSERT INTO event (run_id, seq, ts, type, step, attempt, duration_ms) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 125])
    parser.add_argument("--commits", type=int, default=60, help="commits per size and pass")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "commit-size.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, run_id TEXT, seq INT, ts TEXT, "
                 "type TEXT, step TEXT, attempt INT, duration_ms REAL, UNIQUE (run_id, seq))")
    conn.execute("CREATE INDEX ix_event_type_step_duration ON event "
                 "(type, step, duration_ms, attempt, run_id)")
    rng = random.Random(7)
    made = 0

    def commit(rows: int) -> float:
        nonlocal made
        batch = []
        for _ in range(rows):
            made += 1
            batch.append((f"{made // 10:032x}", made % 10, "2026-11-26 10:00:00.000000",
                          rng.choice(("step_started", "step_succeeded")), rng.choice("abcd"), 1,
                          rng.random() * 10))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, batch)
        began = time.perf_counter()
        conn.execute("COMMIT")
        return time.perf_counter() - began

    for _ in range(100):  # a log of 25,000 events first: commits then touch existing pages
        commit(250)
    times: dict[int, list[float]] = {size: [] for size in args.sizes}
    for _ in range(2):
        for size in args.sizes:
            times[size] += [commit(size) for _ in range(args.commits)]
    for size, values in times.items():
        print(f"{size:>5} rows per commit: COMMIT median {statistics.median(values) * 1000:.2f} ms "
              f"(p90 {statistics.quantiles(values, n=10)[8] * 1000:.2f} ms, {len(values)} commits)")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
