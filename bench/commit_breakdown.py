"""Where a durable group commit's time goes: run a flight batch, then replay its commits.

    .venv/bin/python bench/commit_breakdown.py                       # 3,000 runs at c=100
    .venv/bin/python bench/commit_breakdown.py --drop-index ix_event_type_step_duration

1. Runs ``--runs`` flight sagas at ``--concurrency`` on a fresh SQLite file (as
   ``bench/flight_peers.py runtime`` does), timing every ``EventStore.write`` (one group
   commit) and keeping a copy of each batch.
2. Replays the same batches on another fresh file (after dropping ``--drop-index``, if
   given), timing each SQL statement kind; what is left of the replay's time is the COMMIT
   (the WAL fsync) and the Python around the statements.

Prints the batch's sagas/s, the write time percentiles, and the replay's breakdown.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WORK = ROOT / "artifacts" / "bench" / "work"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--drop-index", action="append", default=[],
                        help="drop this index before the replay (repeatable)")
    args = parser.parse_args()

    from flight_peers import FAIL_RATE, FAIL_STEP, SEED, _definition, _fresh
    from sqlalchemy.engine import Connection

    from runtime.batch import BatchOptions, run_batch, simulated_registry
    from runtime.injection import Injection
    from runtime.store.sql import EventStore, WriteBatch, _DriverSql, sqlite_url

    definition = _definition()
    store = EventStore(sqlite_url(_fresh(WORK / "breakdown.db")))
    batches: list[WriteBatch] = []
    write_times: list[float] = []
    real_write = store.write

    def timed_write(batch: WriteBatch) -> set[str]:
        batches.append(copy.deepcopy(batch))
        began = time.perf_counter()
        try:
            return real_write(batch)
        finally:
            write_times.append(time.perf_counter() - began)

    store.write = timed_write  # type: ignore[method-assign]
    options = BatchOptions(count=args.runs, concurrency=args.concurrency, seed=SEED,
                           injection=Injection(fail={FAIL_STEP: FAIL_RATE}, seed=SEED), origin="test")
    summary = asyncio.run(run_batch(definition, simulated_registry(definition), store, options))
    store.close()
    q = statistics.quantiles(write_times, n=20)
    print(f"batch: {summary.total:,} runs at c={args.concurrency}: {summary.sagas_per_second:,.0f} sagas/s "
          f"in {summary.elapsed_seconds:.2f} s; {len(write_times)} group commits took {sum(write_times):.2f} s "
          f"(p50 {q[9] * 1000:.1f} ms, p90 {q[17] * 1000:.1f} ms, max {max(write_times) * 1000:.1f} ms)")

    replay = EventStore(sqlite_url(_fresh(WORK / "breakdown-replay.db")))
    replay.save_definition(definition)
    with replay.engine.begin() as conn:
        for index in args.drop_index:
            conn.exec_driver_sql(f'DROP INDEX "{index}"')
    spent: dict[str, float] = defaultdict(float)
    real_execute, real_driver_sql = Connection.execute, Connection.exec_driver_sql

    def execute(self: Connection, statement: Any, *rest: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return real_execute(self, statement, *rest, **kwargs)
        finally:
            spent[" ".join(str(statement).split()[:3])] += time.perf_counter() - began

    def driver_sql(self: Connection, statement: str, *rest: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return real_driver_sql(self, statement, *rest, **kwargs)
        finally:
            spent[" ".join(statement.split()[:3])] += time.perf_counter() - began

    # SQLite group commits run their statements on the DBAPI connection (_DriverSql)
    real_dbapi_sql = _DriverSql.exec_driver_sql

    def dbapi_sql(self: _DriverSql, statement: str, *rest: Any) -> Any:
        began = time.perf_counter()
        try:
            return real_dbapi_sql(self, statement, *rest)
        finally:
            spent[" ".join(statement.split()[:3])] += time.perf_counter() - began

    Connection.execute, Connection.exec_driver_sql = execute, driver_sql  # type: ignore[method-assign]
    _DriverSql.exec_driver_sql = dbapi_sql  # type: ignore[method-assign]
    began = time.perf_counter()
    for batch in batches:
        replay.write(batch)
    total = time.perf_counter() - began
    Connection.execute, Connection.exec_driver_sql = real_execute, real_driver_sql  # type: ignore[method-assign]
    _DriverSql.exec_driver_sql = real_dbapi_sql  # type: ignore[method-assign]
    replay.close()
    dropped = f" (dropped: {', '.join(args.drop_index)})" if args.drop_index else ""
    print(f"replay of the {len(batches)} commits on a fresh file{dropped}: {total:.3f} s")
    for statement, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:7.3f} s  {statement}")
    print(f"  {total - sum(spent.values()):7.3f} s  COMMIT (WAL fsync) and the Python around the statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
