"""Profile the engine on the flight saga at concurrency 1 and 100 (reports: artifacts/profiles/).

    .venv/bin/python bench/profile_engine.py                         # c=1 and c=100, 2000 runs
    .venv/bin/python bench/profile_engine.py --concurrency 100 --runs 5000 --store memory
    .venv/bin/python bench/profile_engine.py --tool cprofile          # no py-spy needed
    .venv/bin/python bench/profile_engine.py --store memory --concurrency 100 --tool opcodes

Each profile runs in its own process: the runtime, durable default (a fresh SQLite file,
WAL, synchronous=FULL), the flight saga with no-op actions and charge_payment failing for
good in ~10% of runs (``bench/flight_peers.py``'s rule). ``--store memory`` profiles on
the in-memory store (``runtime.store.memory``) and ``--store null`` on a store that writes
nothing (the engine alone).

Tools:

- ``py-spy`` (default; ``bash bench/setup.sh`` installs it in bench/.venv-peers): samples
  every thread of the process from outside, attaching only for the timed batch, with idle
  samples kept so waiting shows. Writes ``engine-c<N>.txt`` (the report below),
  ``engine-c<N>.svg`` (an interactive flame graph: open it in a browser) and
  ``engine-c<N>.raw`` (collapsed stacks).
- ``pyinstrument``, if it imports in this interpreter: the event-loop thread only;
  ``engine-c<N>.html`` and ``.txt``.
- ``cprofile``: the standard library's deterministic profiler, event-loop thread only, with
  call counts; ``engine-c<N>.txt`` (slower: it inflates Python-heavy code).
- ``opcodes``: bytecodes executed per saga, by function (``sys.settrace`` opcode events,
  event-loop thread only): exact and free of timing noise, so one change can be compared
  with the next; ``engine-c<N>.txt``.

The py-spy report: where each thread's time goes (waiting vs running), the time of each
component per step call (engine, planner, committer, store, SQLAlchemy, sqlite COMMIT, asyncio,
...), the top functions and lines by self time, and the inclusive time of the engine's main
functions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OUT = ROOT / "artifacts" / "profiles"
PEERS_BIN = ROOT / "bench" / ".venv-peers" / "bin"
RATE = 250  # py-spy samples per second per thread

# A sample whose innermost Python frame is one of these is a thread waiting, not working.
WAITING = (
    ("select", "selectors.py", "event loop: waiting in select (for the writer or a timer)"),
    ("_worker", "concurrent/futures/thread.py", "executor thread: idle, waiting for work"),
    ("wait", "threading.py", "thread: waiting on a lock/condition"),
    ("acquire", "threading.py", "thread: waiting on a lock"),
    ("get", "queue.py", "thread: waiting on a queue"),
    ("sleep", "time.py", "sleeping"),
)
# Components, by the file of the innermost Python frame (first match wins).
COMPONENTS = (
    # SQLite group commits run on the DBAPI connection: their statements in
    # _DriverSql.exec_driver_sql, BEGIN IMMEDIATE and COMMIT in EventStore._sqlite_write
    ("sqlite COMMIT (fsync; and BEGIN IMMEDIATE lock waits)",
     lambda f, fn: _bare(fn) in ("do_commit", "_sqlite_write")),
    ("sqlite execute (C: statements)",
     lambda f, fn: _bare(fn) in ("do_execute", "do_executemany", "exec_driver_sql")
     and not f.endswith("sqlalchemy/engine/base.py")),
    ("runtime/engine.py", lambda f, fn: f.endswith("runtime/engine.py")),
    ("runtime/planner.py", lambda f, fn: f.endswith("runtime/planner.py")),
    ("runtime/store/committer.py", lambda f, fn: f.endswith("runtime/store/committer.py")),
    ("runtime/store/sql.py", lambda f, fn: f.endswith("runtime/store/sql.py")),
    ("runtime/injection.py", lambda f, fn: f.endswith("runtime/injection.py")),
    ("runtime/actions.py", lambda f, fn: f.endswith("runtime/actions.py")),
    ("runtime/batch.py", lambda f, fn: f.endswith("runtime/batch.py")),
    ("runtime (other)", lambda f, fn: f.startswith("runtime/")),
    ("sqlalchemy: JSON / type processing", lambda f, fn: "sqlalchemy/" in f and (
        "sqltypes" in f or "type_api" in f or "processors" in f)),
    ("sqlalchemy: compile", lambda f, fn: "sqlalchemy/sql/compiler" in f or "sqlalchemy/sql/" in f),
    ("sqlalchemy: engine / pool / events", lambda f, fn: "sqlalchemy/" in f),
    ("sqlmodel", lambda f, fn: "sqlmodel/" in f),
    ("pydantic", lambda f, fn: "pydantic" in f),
    ("asyncio", lambda f, fn: "asyncio/" in f),
    ("threads / futures", lambda f, fn: "concurrent/" in f or f.endswith("threading.py")
     or f.endswith("queue.py")),
    ("json", lambda f, fn: "json/" in f),
    ("uuid / enum / dataclasses / typing", lambda f, fn: f.endswith(("uuid.py", "enum.py",
                                                                      "dataclasses.py",
                                                                      "typing.py"))),
)
KEY_FUNCTIONS = (
    "Engine.start", "Engine._drive", "Engine._attempts", "Engine._buffer",
    "Engine._append", "Engine._finish", "Engine._check_payload", "Engine._create",
    "Engine._wait_for_tasks", "Planner.decide", "record", "GroupCommitter.flush",
    "GroupCommitter.buffer", "GroupCommitter._loop", "EventStore.write", "EventStore._sqlite_write",
    "EventStore._write_txn_body", "EventStore._owned", "ActionRegistry.invoke",
    "Injection.fails_for_good", "deterministic_uniform", "run_batch",
)
def _bare(function: str) -> str:
    """``DefaultDialect.do_commit`` -> ``do_commit``."""
    return function.rsplit(".", 1)[-1]


FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


# -- the profiled child ----------------------------------------------------------------------

def child(args: argparse.Namespace) -> int:
    from flight_peers import FAIL_RATE, FAIL_STEP, SEED, _NullStore, step_calls

    from runtime.batch import BatchOptions, run_batch, simulated_registry
    from runtime.injection import Injection
    from runtime.loading import load_definition
    from runtime.store.sql import EventStore, sqlite_url

    definition = load_definition(ROOT / "sample_sagas" / "flight_booking.yaml")
    registry = simulated_registry(definition)
    injection = Injection(fail={FAIL_STEP: FAIL_RATE}, seed=SEED)

    def store() -> Any:
        if args.store == "null":
            return _NullStore()
        if args.store == "memory":
            from runtime.store.memory import MemoryEventStore
            return MemoryEventStore()
        db = Path(args.db)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return EventStore(sqlite_url(db))

    def batch(runs: int) -> Any:
        options = BatchOptions(count=runs, concurrency=args.concurrency, seed=SEED,
                               injection=injection, origin="test")
        s = store()
        try:
            return asyncio.run(run_batch(definition, registry, s, options))
        finally:
            s.close()

    batch(min(100, args.runs))  # warm up: imports, caches, the first compile of each statement
    gc_time = [0.0, 0.0, 0]  # seconds in collections, start of the current one, collections

    def gc_watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]
            gc_time[2] += 1
    stop = _start_profiler(args)
    gc.callbacks.append(gc_watch)
    began = time.perf_counter()
    summary = batch(args.runs)
    elapsed = time.perf_counter() - began
    gc.callbacks.remove(gc_watch)
    stop()
    calls = step_calls(summary.completed, summary.compensated)
    print(f"RESULT runs={args.runs} concurrency={args.concurrency} store={args.store} "
          f"elapsed={elapsed:.4f} completed={summary.completed} "
          f"compensated={summary.compensated} step_calls={calls} commits={summary.commits} "
          f"events={summary.events} gc_ms={gc_time[0] * 1000:.0f} gc_collections={gc_time[2]}",
          flush=True)
    return 0


def _start_profiler(args: argparse.Namespace) -> Any:
    stem = Path(args.stem)
    if args.tool == "py-spy":
        command = [args.py_spy, "record", "--pid", str(os.getpid()), "--rate", str(RATE),
                   "--threads", "--idle", "--format", "raw", "--output", f"{stem}.raw"]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach before the timed batch starts

        def stop() -> None:
            spy.send_signal(signal.SIGINT)
            _, err = spy.communicate(timeout=120)
            if spy.returncode not in (0, -signal.SIGINT) and not Path(f"{stem}.raw").exists():
                print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return stop
    if args.tool == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()

        def stop_pyinstrument() -> None:
            profiler.stop()
            Path(f"{stem}.html").write_text(profiler.output_html())
            Path(f"{stem}.txt").write_text(profiler.output_text(unicode=True, color=False))
        return stop_pyinstrument
    if args.tool == "opcodes":
        return _count_opcodes(stem, args.runs)
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()

    def stop_cprofile() -> None:
        profile.disable()
        profile.dump_stats(f"{stem}.prof")
        with open(f"{stem}.txt", "w") as handle:
            stats = pstats.Stats(profile, stream=handle)
            handle.write("== by own time (tottime) ==\n")
            stats.sort_stats("tottime").print_stats(40)
            handle.write("\n== by cumulative time ==\n")
            stats.sort_stats("cumulative").print_stats(40)
    return stop_cprofile


def _count_opcodes(stem: Path, runs: int, top: int = 40) -> Any:
    """Count the bytecodes each code object executes until the returned ``stop`` is called."""
    counts: Counter[CodeType] = Counter()

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        frame.f_trace_opcodes, frame.f_trace_lines = True, False
        if event == "opcode":
            counts[frame.f_code] += 1
        return tracer

    sys.settrace(tracer)

    def stop_opcodes() -> None:
        sys.settrace(None)
        total = sum(counts.values())
        lines = [f"{total / runs:,.0f} bytecodes per saga ({runs:,} runs)", "",
                 "| function | file:line | per saga | share |", "|---|---|---:|---:|"]
        lines += [f"| {code.co_qualname} | {_short(code.co_filename)}:{code.co_firstlineno} | "
                  f"{n / runs:,.1f} | {n * 100 / total:.1f}% |" for code, n in counts.most_common(top)]
        Path(f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return stop_opcodes


def per_step_calls(prof: Path, step_calls: int, top: int = 35) -> str:
    """cProfile's exact call counts, per step call: how much Python one step costs."""
    import pstats

    stats = pstats.Stats(str(prof))
    entries = stats.stats  # type: ignore[attr-defined]
    total_calls = sum(nc for (_, nc, _, _, _) in entries.values())
    total_time = sum(tt for (_, _, tt, _, _) in entries.values())
    lines = ["", "## Per step call (cProfile: exact call counts; its own overhead inflates "
             "the times)", "",
             f"{total_calls:,} function calls = {total_calls / step_calls:,.0f} per step call; "
             f"own time {total_time * 1e6 / step_calls:,.1f} us per step call under cProfile.", "",
             "| function | file:line | calls per step call | own us per step call | share |",
             "|---|---|---:|---:|---:|"]
    rows = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    for (file, line, fn), (_, nc, tt, _, _) in rows:
        lines.append(f"| {fn} | {_short(file)}:{line} | {nc / step_calls:.2f} | "
                     f"{tt * 1e6 / step_calls:.2f} | {tt * 100 / total_time:.1f}% |")
    return "\n".join(lines) + "\n"


# -- reading py-spy's collapsed stacks ---------------------------------------------------------

def parse_frame(text: str) -> tuple[str, str, str]:
    m = FRAME.match(text.strip())
    if not m:
        return text.strip(), "", ""
    return m.group("fn"), _short(m.group("file")), m.group("line") or ""


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = path.split("/", 1)[1] if "/" in path else path
    return path


def analyse(raw: Path, result: dict[str, str]) -> str:
    stacks: list[tuple[str, list[tuple[str, str, str]], int]] = []
    for line in raw.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        parts = body.split(";")
        thread = parts[0] if parts[0].startswith("thread") else "thread"
        frames = [parse_frame(p) for p in parts[1:] if p]
        if frames:
            stacks.append((thread, frames, int(count)))

    def role_of(thread: str) -> str:
        name = thread.split(":", 1)[-1].strip()
        if name == "MainThread":
            return "event loop (engine)"
        if name.startswith("saga-commit"):
            return "commit writer"
        if name.startswith("asyncio"):
            return "asyncio.to_thread pool"
        return "other threads"

    def in_window(thread: str, frames: list[tuple[str, str, str]]) -> bool:
        """Samples of the timed batch: drop the harness (the profiler's attach and stop) and
        the main thread outside asyncio.run (opening the store)."""
        if any(f.endswith("profile_engine.py") and fn.startswith(("_start_profiler", "stop"))
               for fn, f, _ in frames):
            return False
        if role_of(thread) == "event loop (engine)":
            return any(fn == "run" and f.endswith("asyncio/runners.py") for fn, f, _ in frames)
        return True

    stacks = [(t, fr, n) for t, fr, n in stacks if in_window(t, fr)]
    threads: Counter[str] = Counter()
    for thread, _, n in stacks:
        threads[role_of(thread)] += n

    steps = int(result.get("step_calls", "0") or 0)
    runs = int(result.get("runs", "0") or 0)
    elapsed = float(result.get("elapsed", "0") or 0)
    per_sample = 1.0 / RATE

    def ms(n: float) -> str:
        return f"{n * per_sample * 1000:,.0f} ms"

    def us_step(n: float) -> str:
        return f"{n * per_sample * 1e6 / steps:,.1f}" if steps else "-"

    lines = [f"# Engine profile: {result.get('concurrency')} concurrent runs, "
             f"store {result.get('store')}",
             "", f"{runs:,} runs ({result.get('completed')} completed, "
             f"{result.get('compensated')} compensated), {steps:,} step calls, "
             f"{int(result.get('commits', 0) or 0):,} commits, {elapsed:.2f}s "
             f"= {runs / elapsed if elapsed else 0:,.0f} sagas/s "
             f"({elapsed * 1e6 / steps if steps else 0:,.1f} us of wall time per step call; "
             f"{int(result.get('commits', 0) or 0) / runs if runs else 0:.2f} commits per run, "
             f"{elapsed * 1000 / max(int(result.get('commits', 0) or 0), 1):.2f} ms of wall time "
             "per commit).",
             f"Garbage collection: {result.get('gc_collections', '?')} collections, "
             f"{result.get('gc_ms', '?')} ms of the event loop's time (gc.callbacks); py-spy "
             "counts it in the frame that triggered it.",
             f"py-spy, {RATE} samples/s per thread, idle samples kept; one sample = "
             f"{per_sample * 1000:g} ms of that thread's time.", ""]

    def waiting(frame: tuple[str, str, str]) -> str | None:
        fn, f, _ = frame
        for name, file, label in WAITING:
            if f.endswith(file) and (fn == name or fn.endswith("." + name)):
                return label
        return None

    lines += ["## Threads: working vs waiting", "",
              "| thread | samples | time | working | waiting (innermost frame) |",
              "|---|---:|---:|---:|---|"]
    by_role_wait: dict[str, Counter[str]] = defaultdict(Counter)
    busy: Counter[str] = Counter()
    for thread, frames, n in stacks:
        r = role_of(thread)
        label = waiting(frames[-1])
        if label:
            by_role_wait[r][label] += n
        else:
            busy[r] += n
    for r, total in threads.most_common():
        waits = "; ".join(f"{label} {c * 100 / total:.0f}%"
                          for label, c in by_role_wait[r].most_common(3))
        lines.append(f"| {r} | {total:,} | {ms(total)} | {busy[r] * 100 / total:.0f}% | "
                     f"{waits or '-'} |")

    working = [(t, fr, n) for t, fr, n in stacks if waiting(fr[-1]) is None]
    total_working = sum(n for _, _, n in working)
    comp: Counter[str] = Counter()
    for _, frames, n in working:
        fn, f, _ = frames[-1]
        for name, test in COMPONENTS:
            if test(f, fn):
                comp[name] += n
                break
        else:
            comp["other (stdlib, C calls from elsewhere)"] += n
    lines += ["", "## Where the working time goes (self time of the innermost Python frame, "
              "all threads)", "",
              f"{total_working:,} working samples = {ms(total_working)}; per step call "
              f"{us_step(total_working)} us.", "",
              "| component | share | time | us per step call |", "|---|---:|---:|---:|"]
    for name, n in comp.most_common():
        lines.append(f"| {name} | {n * 100 / total_working:.1f}% | {ms(n)} | {us_step(n)} |")

    self_fn: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    for _, frames, n in working:
        fn, f, ln = frames[-1]
        self_fn[f"{fn} ({f})"] += n
        self_line[f"{f}:{ln} {fn}"] += n
    lines += ["", "## Top functions by self time (working samples)", "",
              "| function (file) | share | us per step call |", "|---|---:|---:|"]
    for name, n in self_fn.most_common(25):
        lines.append(f"| {name} | {n * 100 / total_working:.1f}% | {us_step(n)} |")
    lines += ["", "## Top lines by self time", "", "| file:line function | share |", "|---|---:|"]
    for name, n in self_line.most_common(25):
        lines.append(f"| {name} | {n * 100 / total_working:.1f}% |")

    inclusive: Counter[str] = Counter()
    inclusive_working: Counter[str] = Counter()
    where: dict[str, str] = {}
    working_ids = {id(fr) for _, fr, _ in working}
    for _, frames, n in stacks:
        seen = set()
        for fn, f, _ in frames:
            if fn in KEY_FUNCTIONS and fn not in seen and f.startswith("runtime/"):
                seen.add(fn)
                inclusive[fn] += n
                where.setdefault(fn, f)
                if id(frames) in working_ids:
                    inclusive_working[fn] += n
    lines += ["", "## The engine's main functions, inclusive (all threads)", "",
              "Inclusive = the function and everything it calls. Event-loop functions that",
              "`await` are not on the stack while suspended, so this is CPU plus blocking "
              "time, not latency.", "",
              "| function | file | inclusive | working | us per step call (working) |",
              "|---|---|---:|---:|---:|"]
    for fn in KEY_FUNCTIONS:
        if fn in inclusive:
            lines.append(f"| {fn} | {where[fn]} | {ms(inclusive[fn])} | "
                         f"{ms(inclusive_working[fn])} | {us_step(inclusive_working[fn])} |")
    return "\n".join(lines) + "\n"


# -- the parent --------------------------------------------------------------------------------

def find_py_spy() -> str | None:
    local = PEERS_BIN / "py-spy"
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--store", choices=("sqlite", "memory", "null"), default="sqlite")
    parser.add_argument("--tool", choices=("auto", "py-spy", "pyinstrument", "cprofile", "opcodes"),
                        default="auto")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stem", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--py-spy", dest="py_spy", help=argparse.SUPPRESS)
    parser.add_argument("--reanalyse", action="store_true",
                        help="rewrite the .txt reports from the .raw files already there")
    args = parser.parse_args(argv)
    if args.reanalyse:
        for raw in sorted(args.out.glob("engine-*.raw")):
            stem = raw.with_suffix("")
            found = Path(f"{stem}.result.json")
            if found.exists():
                Path(f"{stem}.txt").write_text(analyse(raw, json.loads(found.read_text())))
                print(f"rewrote {stem}.txt")
        return 0
    if args.child:
        args.concurrency = args.concurrency[0]
        return child(args)

    tool = args.tool
    py_spy = find_py_spy()
    if tool == "auto":
        if py_spy:
            tool = "py-spy"
        else:
            try:
                import pyinstrument  # noqa: F401
                tool = "pyinstrument"
            except ImportError:
                tool = "cprofile"
            print(f"py-spy not found (bash bench/setup.sh installs it); using {tool}")
    if tool == "py-spy" and not py_spy:
        print("py-spy not found: run `bash bench/setup.sh` (installs it in bench/.venv-peers)")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.store == "sqlite" else f"-{args.store}"
    for concurrency in args.concurrency:
        stem = args.out / f"engine-c{concurrency}{suffix}"
        db = ROOT / "artifacts" / "bench" / "work" / f"profile-c{concurrency}.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--runs",
                   str(args.runs), "--concurrency", str(concurrency), "--store", args.store,
                   "--tool", tool, "--stem", str(stem), "--db", str(db),
                   "--py-spy", py_spy or ""]
        print("$ " + " ".join(command[:10]), flush=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        for suffix_ in ("", "-wal", "-shm"):
            Path(f"{db}{suffix_}").unlink(missing_ok=True)
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not found:
            print(done.stdout[-2000:], done.stderr[-2000:])
            return 1
        result = dict(part.split("=", 1) for part in found[-1].split()[1:])
        Path(f"{stem}.result.json").write_text(json.dumps(result))
        print(found[-1])
        if tool == "py-spy":
            raw = Path(f"{stem}.raw")
            report = analyse(raw, result)
            Path(f"{stem}.txt").write_text(report)
            _flamegraph(raw, Path(f"{stem}.svg"))
            print(f"wrote {stem}.txt, {stem}.svg, {stem}.raw")
        elif tool == "cprofile":
            with open(f"{stem}.txt", "a") as handle:
                handle.write(per_step_calls(Path(f"{stem}.prof"), int(result["step_calls"])))
            print(f"wrote {stem}.txt, {stem}.prof")
        elif tool == "opcodes":
            print(f"wrote {stem}.txt")
        else:
            print(f"wrote {stem}.txt, {stem}.html")
    return 0


def _flamegraph(raw: Path, svg: Path) -> None:
    """A small self-contained SVG icicle graph of the collapsed stacks (no external script)."""
    tree: dict[str, Any] = {"n": 0, "c": {}}
    for line in raw.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        node = tree
        node["n"] += int(count)
        for part in body.split(";"):
            node = node["c"].setdefault(part, {"n": 0, "c": {}})
            node["n"] += int(count)
    width, row = 1600, 16
    rects: list[str] = []
    depth_max = [0]

    def draw(node: dict[str, Any], name: str, x: float, depth: int, scale: float) -> None:
        w = node["n"] * scale
        if w < 0.5:
            return
        depth_max[0] = max(depth_max[0], depth)
        hue = 20 + (hash(name.split(" (")[-1]) % 40)
        label = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        pct = node["n"] * 100 / max(tree["n"], 1)
        text = label if w > 7 * len(label) else label[: max(int(w / 7) - 1, 0)]
        rects.append(f'<g><title>{label} ({pct:.1f}%)</title><rect x="{x:.1f}" y="{depth * row}" '
                     f'width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                     f'<text x="{x + 2:.1f}" y="{depth * row + 12}">{text}</text></g>')
        offset = x
        for child_name, child_node in sorted(node["c"].items(), key=lambda kv: -kv[1]["n"]):
            draw(child_node, child_name, offset, depth + 1, scale)
            offset += child_node["n"] * scale

    scale = width / max(tree["n"], 1)
    offset = 0.0
    for name, node in sorted(tree["c"].items(), key=lambda kv: -kv[1]["n"]):
        draw(node, name, offset, 0, scale)
        offset += node["n"] * scale
    height = (depth_max[0] + 2) * row
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                   f'font-family="monospace" font-size="11">' + "".join(rects) + "</svg>")


if __name__ == "__main__":
    sys.exit(main())
