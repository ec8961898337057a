"""Time the Monitor's live-section queries on a 1,000,000-event log.

    python -m bench.dashboard_queries                      # generate once, then reuse
    python -m bench.dashboard_queries --url postgresql+psycopg://postgres@127.0.0.1/bench

Generates the log with ``bench.synthetic_log`` when the database has no runs, creates the
dashboard indexes that are missing (those of ``runtime/store/tables.py`` plus
:func:`proposed_indexes`, until tables.py declares them), then runs every query of
``dashboard.queries.overview`` -- the set the live fragment repeats every 2 s -- for several
filters and prints each query's time and the total (the median of ``--repeat`` warm runs;
the first, cold run is printed apart). The target is <= 1 s for the whole overview.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Connection, Engine, Index, MetaData, func, inspect, select

from bench.synthetic_log import SyntheticSpec, generate, make_engine
from dashboard import queries
from dashboard.db import open_engine
from dashboard.filters import MonitorFilter
from runtime.store.tables import event_table, run_table


def proposed_indexes() -> list[Index]:
    """Indexes the dashboard needs that tables.py may not declare yet (docs/event-log.md),
    built on copies of the tables so that the shared SQLModel metadata stays untouched."""
    copies = MetaData()
    event = event_table.to_metadata(copies)
    run = run_table.to_metadata(copies)
    return [
        Index("ix_event_type_step_duration", event.c.type, event.c.step, event.c.duration_ms,
              event.c.attempt, event.c.run_id),
        Index("ix_run_duration", run.c.duration_ms),
    ]


@dataclass
class Timing:
    name: str
    cold_ms: float
    warm_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.warm_ms)


def ensure_log(engine: Engine, events: int) -> None:
    if inspect(engine).has_table("run"):
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(event_table)).scalar_one()
        if count:
            print(f"reusing {engine.url.render_as_string(hide_password=True)}: {count:,} events")
            return
    print(f"generating {events:,} events (once) ...", flush=True)
    clock = time.perf_counter()
    runs, written = generate(engine, SyntheticSpec(events=events), progress=True)
    print(f"wrote {runs:,} runs, {written:,} events in {time.perf_counter() - clock:.1f} s")


def ensure_indexes(engine: Engine) -> None:
    existing = {ix["name"] for table in ("run", "event")
                for ix in inspect(engine).get_indexes(table)}
    for index in proposed_indexes():
        if index.name not in existing:
            clock = time.perf_counter()
            index.create(engine)
            print(f"created {index.name} in {time.perf_counter() - clock:.1f} s")
    if engine.dialect.name == "postgresql":
        # what autovacuum does to a live log: statistics, and the visibility map that lets
        # index-only scans skip the table
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE run")
            conn.exec_driver_sql("VACUUM ANALYZE event")


def time_it(name: str, work: Callable[[], Any], repeat: int) -> Timing:
    clock = time.perf_counter()
    work()
    cold = (time.perf_counter() - clock) * 1000
    warm = []
    for _ in range(repeat):
        clock = time.perf_counter()
        work()
        warm.append((time.perf_counter() - clock) * 1000)
    return Timing(name, cold, warm)


def overview_parts(conn: Connection, flt: MonitorFilter, focus: str,
                   now: datetime) -> list[tuple[str, Callable[[], Any]]]:
    """The queries ``queries.overview`` runs, one by one."""
    focused = flt if flt.saga else replace(flt, saga=focus)
    definition = queries.saga_definition(conn, focus, flt.definition_hash)
    order = [step.name for step in definition.steps] if definition else []
    return [
        ("kpis", lambda: queries.kpis(conn, flt)),
        ("time_series", lambda: queries.time_series(conn, flt, now=now)),
        ("needs_attention", lambda: queries.needs_attention(conn, flt)),
        ("saga_definition", lambda: queries.saga_definition(conn, focus, flt.definition_hash)),
        ("step_stats", lambda: queries.step_stats(conn, focused, order=order)),
        ("path_groups", lambda: queries.path_groups(conn, focused, order)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="sqlite:///artifacts/bench/synthetic.db")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-proposed-indexes", action="store_true",
                        help="time with tables.py's indexes only")
    args = parser.parse_args(argv)

    writer = make_engine(args.url)
    ensure_log(writer, args.events)
    if not args.no_proposed_indexes:
        ensure_indexes(writer)
    writer.dispose()
    engine = open_engine(args.url)  # the page's engine: read-only, its SQLite pragmas
    now = datetime.now(UTC)
    with engine.connect() as conn:
        options = queries.filter_options(conn)
        total_runs = queries.kpis(conn, MonitorFilter()).runs
        newest = conn.execute(select(func.max(run_table.c.started_at))).scalar_one()
    focus = options.sagas[0]
    batch = options.batches[0].batch if options.batches else None
    scenarios = [
        ("everything (default view)", MonitorFilter()),
        (f"saga={focus}", MonitorFilter(saga=focus)),
        ("last hour", MonitorFilter(window="1h").resolved(newest or now)),
        (f"batch={batch}", MonitorFilter(batch=batch)),
    ]
    print(f"{total_runs:,} runs; focus saga for graph/paths/steps: {focus}; "
          f"median of {args.repeat} warm runs (cold first run in brackets)\n")
    worst = 0.0
    for title, flt in scenarios:
        with engine.connect() as conn:
            timings = [time_it(name, work, args.repeat)
                       for name, work in overview_parts(conn, flt, focus, now)]
            whole = time_it("overview() in one snapshot",
                            lambda: queries.overview(conn, flt,  # noqa: B023 - used at once
                                                     focus_saga=focus, now=now),
                            args.repeat)
        print(f"== {title}")
        for timing in timings:
            print(f"   {timing.name:<28} {timing.median_ms:8.1f} ms   [{timing.cold_ms:7.1f}]")
        parts = sum(t.median_ms for t in timings)
        print(f"   {'sum of the queries':<28} {parts:8.1f} ms")
        print(f"   {whole.name:<28} {whole.median_ms:8.1f} ms   [{whole.cold_ms:7.1f}]\n")
        worst = max(worst, whole.median_ms)
    verdict = "OK" if worst <= 1000 else "OVER"
    print(f"slowest overview: {worst:.0f} ms (target <= 1000 ms): {verdict}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
