"""Machine instructions and simulated cache misses per saga: this runtime (in memory) and saga-py.

    .venv/bin/python bench/cache_misses.py                  # both, 200 and 1,200 runs each
    .venv/bin/python bench/cache_misses.py --only runtime   # no peers venv needed

Wall time on a shared machine moves 15-30% between minutes, and by 2x between days, far more
than a single change moves it. Instruction counts do not: each system runs the flight saga
under valgrind's cachegrind twice, with the garbage collector off and a fixed hash seed, and
the difference between the two runs (start-up, imports and exit cancel out) divided by the
extra runs is the cost of one saga: instructions, L1 instruction-cache and data-cache misses,
last-level misses. The same code measures within about 1%. Misses matter as much as
instructions here: saga-py's small working set runs at several instructions per cycle, this
runtime's at far fewer (docs/performance.md, "Notes on method").

Needs ``valgrind`` (``apt-get install valgrind``); saga-py runs from bench/.venv-peers
(``bash bench/setup.sh``). Each system takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
COUNTERS = {"I   refs": "instructions", "I1  misses": "L1i misses", "D1  misses": "L1d misses",
            "LL misses": "LL misses"}


def child(system: str, runs: int) -> None:
    """Run ``runs`` flight sagas in this process (under cachegrind), collector off."""
    sys.path[:0] = [str(HERE), str(ROOT)]
    import flight_peers as peers

    gc.collect()
    gc.disable()
    if system == "saga-py":
        result = peers.run_saga_py(argparse.Namespace(runs=runs, system="saga-py", concurrency=1))
        print(result["completed"], result["compensated"])
        return
    from runtime.batch import BatchOptions, run_batch, simulated_registry
    from runtime.injection import Injection
    from runtime.store.memory import MemoryEventStore

    definition = peers._definition()
    options = BatchOptions(count=runs, concurrency=100, seed=peers.SEED, origin="test",
                           injection=Injection(fail={peers.FAIL_STEP: peers.FAIL_RATE}, seed=peers.SEED))
    summary = asyncio.run(run_batch(definition, simulated_registry(definition), MemoryEventStore(),
                                    options))
    print(summary.completed, summary.compensated)


def counts(python: str, system: str, runs: int) -> dict[str, int]:
    """cachegrind's totals for one child process."""
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=yes",
             f"--cachegrind-out-file={scratch}/out", python, __file__, "--child", system, str(runs)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
    if done.returncode != 0:
        sys.exit(f"cache_misses.py: {system} failed under valgrind:\n{done.stderr[-2000:]}")
    found = {}
    for label in COUNTERS:
        match = re.search(re.escape(label) + r":\s+([\d,]+)", done.stderr)
        if match is None:
            sys.exit(f"cache_misses.py: no '{label}' line in valgrind's summary for {system}")
        found[label] = int(match.group(1).replace(",", ""))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["runtime", "saga-py"], help="measure one system")
    parser.add_argument("--base", type=int, default=200, help="runs in the first process")
    parser.add_argument("--runs", type=int, default=1200, help="runs in the second process")
    parser.add_argument("--peers-python", default=str(PEERS_PYTHON))
    parser.add_argument("--child", nargs=2, metavar=("SYSTEM", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("cache_misses.py: valgrind is missing (apt-get install valgrind)")
    if args.runs <= args.base:
        sys.exit("cache_misses.py: --runs must be larger than --base")
    systems = [args.only] if args.only else ["runtime", "saga-py"]
    extra = args.runs - args.base
    rows = {}
    for system in systems:
        python = sys.executable if system == "runtime" else args.peers_python
        if not Path(python).exists() and shutil.which(python) is None:
            sys.exit(f"cache_misses.py: no {python} for {system}: run `bash bench/setup.sh`")
        print(f"{system}: {args.base:,} and {args.runs:,} runs under cachegrind ...", flush=True)
        low, high = counts(python, system, args.base), counts(python, system, args.runs)
        rows[system] = {label: (high[label] - low[label]) / extra for label in COUNTERS}
    print(f"\nper saga (difference of {args.runs:,} and {args.base:,} runs, collector off, "
          "PYTHONHASHSEED=0):\n")
    print("| system | " + " | ".join(COUNTERS.values()) + " |")
    print("|---|" + "---:|" * len(COUNTERS))
    for system, row in rows.items():
        print(f"| {system} | " + " | ".join(f"{row[label]:,.0f}" for label in COUNTERS) + " |")
    if len(rows) == 2:
        ratios = [f"{rows['runtime'][label] / rows['saga-py'][label]:.1f}x"
                  if rows["saga-py"][label] >= 1 else "-" for label in COUNTERS]
        print("| runtime / saga-py | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
