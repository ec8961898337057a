"""Time ``saga simulate``'s Monte Carlo: 100,000 runs of the sample sagas (target <= 2 s).

    python bench/simulate_100k.py                     # 100,000 runs, 5 repeats, + engine
    python bench/simulate_100k.py --runs 1000000 --engine-runs 0

For each saga: the first (cold) call and the median of ``--repeat`` warm calls of
``runtime.simulation.simulate`` (model build, Monte Carlo and summary, with each step's
``simulate:`` defaults, as ``saga simulate FILE`` does). For comparison, the engine itself
runs ``--engine-runs`` simulated runs (``saga run --simulate``'s path: run_batch on a
simulated registry, a temporary SQLite event log) on a clock that never really sleeps, so the
time is the engine's own cost; it is scaled to ``--runs``. (``saga run --simulate`` on the
real clock also waits out every injected latency and backoff.)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.batch import BatchOptions, run_batch, simulated_registry
from runtime.clock import ManualClock
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.simulation import simulate
from runtime.store.sql import EventStore

SAMPLES = Path(__file__).resolve().parents[1] / "sample_sagas"
SAGAS = ("flight_booking", "trip_booking")


def time_simulation(name: str, runs: int, repeat: int) -> tuple[float, float]:
    definition = load_definition(SAMPLES / f"{name}.yaml")
    began = time.perf_counter()
    simulate(definition, runs=runs, seed=0)
    cold = time.perf_counter() - began
    warm = []
    for seed in range(1, repeat + 1):
        began = time.perf_counter()
        simulate(definition, runs=runs, seed=seed)
        warm.append(time.perf_counter() - began)
    return cold, statistics.median(warm)


def time_engine(name: str, runs: int, concurrency: int) -> float:
    definition = load_definition(SAMPLES / f"{name}.yaml")
    injection = Injection.from_flags(definition, seed=0)
    with tempfile.TemporaryDirectory() as directory:
        store = EventStore(f"sqlite:///{Path(directory) / 'events.db'}")
        try:
            began = time.perf_counter()
            asyncio.run(run_batch(definition, simulated_registry(definition), store,
                                  BatchOptions(count=runs, concurrency=concurrency, seed=0,
                                               injection=injection, origin="simulated"),
                                  clock=ManualClock()))
            return time.perf_counter() - began
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine-runs", type=int, default=2000,
                        help="engine runs to time for comparison (0: skip)")
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    print(f"simulate: {args.runs:,} runs (median of {args.repeat} warm calls; target <= 2 s)")
    for name in SAGAS:
        cold, warm = time_simulation(name, args.runs, args.repeat)
        print(f"  {name:<16} {warm:7.3f} s   (cold {cold:.3f} s, "
              f"{args.runs / warm:,.0f} runs/s)")
    if args.engine_runs:
        print(f"engine (saga run --simulate's path, no real sleeping): {args.engine_runs:,} runs, "
              f"concurrency {args.concurrency}, scaled to {args.runs:,}")
        for name in SAGAS:
            elapsed = time_engine(name, args.engine_runs, args.concurrency)
            scaled = elapsed * args.runs / args.engine_runs
            print(f"  {name:<16} {elapsed:7.2f} s -> ~{scaled:,.0f} s for {args.runs:,} runs "
                  f"({args.engine_runs / elapsed:,.0f} runs/s)")


if __name__ == "__main__":
    main()
