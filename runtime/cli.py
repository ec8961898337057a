"""The ``saga`` command. Bad input is one clear line on stderr and exit code 1, never a
traceback. ``saga --help`` lists the commands."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runtime import cli_errors
from runtime.batch import BatchOptions, BatchProgress, BatchSummary, run_batch
from runtime.definition import SagaDefinition, json_schema
from runtime.errors import DefinitionError, SagaError
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.process import settle_heap
from runtime.registries import build_registry
from runtime.store.sql import EventStore
from runtime.store.tables import Origin, RunStatus
from runtime.validation import check, validate

DEFAULT_DB = "sqlite:///saga.db"
app = typer.Typer(help="Saga Studio: design, run and watch sagas.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

DbOption = Annotated[str, typer.Option("--db", envvar="SAGA_DB",
                                       help="event log: SQLAlchemy URL or SQLite file path")]
ActionsOption = Annotated[str | None, typer.Option(
    "--actions", help="'sample' (default), an HTTP actions .yaml, or a module with register_actions()")]
ServicesDbOption = Annotated[Path, typer.Option(
    "--services-db", envvar="SAGA_SERVICES_DB", help="state file of the in-process sample services")]


def fail(message: str, code: int = 1) -> NoReturn:
    cli_errors.fail(err, message, code)


def user_errors() -> AbstractContextManager[None]:
    return cli_errors.user_errors(err)


def _load(file: Path) -> SagaDefinition:
    return load_definition(file)


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="definition files (.yaml, .yml, .json)")],
    actions: ActionsOption = None,
    services_db: ServicesDbOption = Path("sample_services.db"),
) -> None:
    """Check definitions; print one line per issue: file, JSON path, message, rule and fix."""
    failed = False
    with user_errors():
        registry = build_registry(actions, services_db=services_db) if actions else None
        for file in files:
            try:
                definition = _load(file)
                issues = validate(definition, registry)
            except DefinitionError as exc:
                issues, failed = [], True
                for line in exc.lines():
                    err.print(line, markup=False, highlight=False, soft_wrap=True)
                continue
            for issue in issues:
                err.print(f"{file}: {issue}", markup=False, highlight=False, soft_wrap=True)
            failed = failed or bool(issues)
            if not issues:
                out.print(f"{file}: ok ({len(definition.steps)} steps, version "
                          f"{definition.version}, hash {definition.content_hash[:12]})",
                          highlight=False)
    raise typer.Exit(1 if failed else 0)


@app.command("schema")
def schema_command() -> None:
    """Print the definition format as JSON Schema."""
    print(json.dumps(json_schema(), indent=2))


@app.command("export")
def export_command(
    file: Path,
    to: Annotated[str, typer.Option("--to", help="yaml, json, dot, mermaid, svg or png")] = "yaml",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write")] = None,
) -> None:
    """Convert a definition to YAML, JSON, DOT, Mermaid, SVG or PNG."""
    with user_errors():
        from runtime import export

        if to not in export.FORMATS:
            fail(f"saga: --to {to}: unknown format; choose one of {', '.join(export.FORMATS)}")
        definition = _load(file)
        data: str | bytes = (export.export_bytes(definition, to) if to in ("svg", "png")
                             else export.export_text(definition, to))
        if output is not None:
            output.write_bytes(data if isinstance(data, bytes) else data.encode())
            out.print(f"wrote {output}", highlight=False)
        elif isinstance(data, bytes):
            fail(f"saga: {to} is binary; write it to a file with -o FILE.{to}")
        else:
            sys.stdout.write(data if data.endswith("\n") else data + "\n")


@app.command("run")
def run_command(
    file: Path,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="runs to start")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=10_000)] = 10,
    db: DbOption = DEFAULT_DB,
    seed: Annotated[int, typer.Option(help="seed for failure injection and jitter")] = 0,
    fail_flag: Annotated[list[str], typer.Option("--fail", help="STEP=P: fails for good in a fraction P of runs")] = [],  # noqa: B006
    flaky: Annotated[list[str], typer.Option(help="STEP=P: each attempt fails with probability P")] = [],  # noqa: B006
    latency: Annotated[list[str], typer.Option(help="STEP=P50MS[:P95MS]: injected latency")] = [],  # noqa: B006
    fail_compensation: Annotated[list[str], typer.Option(help="STEP=P: the compensation fails for good")] = [],  # noqa: B006
    input_json: Annotated[str, typer.Option("--input", help="run input as a JSON object")] = "{}",
    simulate: Annotated[bool, typer.Option(
        help="no real actions: simulate every step (uses each step's simulate: defaults)")] = False,
    actions: ActionsOption = None,
    services_db: ServicesDbOption = Path("sample_services.db"),
    batch: Annotated[str | None, typer.Option(
        help="batch id; naming an existing batch continues it (resumes its unfinished runs, "
             "starts the missing ones)")] = None,
    lease: Annotated[float, typer.Option(
        min=0.2, help="seconds a run stays locked to this runner without a heartbeat")] = 30.0,
    enqueue_only: Annotated[bool, typer.Option(
        "--enqueue", help="only write the runs to the log; `saga resume` workers (several may "
                          "share the database) run them")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run a definition COUNT times and print a summary. Runs left unfinished by a runner
    that stopped (same definition, lease expired) are resumed first."""
    with user_errors():
        definition = _load(file)
        try:
            run_input = json.loads(input_json)
        except json.JSONDecodeError as exc:
            fail(f"saga: --input is not JSON: {exc}")
        if not isinstance(run_input, dict):
            fail("saga: --input must be a JSON object, e.g. '{\"price\": 120}'")
        registry = build_registry(actions, definition=definition, simulate=simulate,
                                  services_db=services_db)
        check(definition, registry, source=str(file))
        injection = Injection.from_flags(definition, seed=seed, fail=fail_flag, flaky=flaky,
                                         latency=latency, fail_compensation=fail_compensation,
                                         use_simulate_defaults=simulate)
        options = BatchOptions(count=count, concurrency=concurrency, seed=seed,
                               injection=None if injection.empty else injection,
                               origin=(Origin.SIMULATED if simulate else Origin.REAL).value,
                               input=run_input, batch_id=batch, lease_seconds=lease)
        if enqueue_only:
            from runtime.batch import enqueue

            with EventStore(db) as store:
                batch_id, enqueued = enqueue(definition, store, options)
            if as_json:
                print(json.dumps({"batch_id": batch_id, "enqueued": enqueued, "db": db}))
            else:
                out.print(f"enqueued {enqueued} runs as batch {batch_id}; run them with "
                          f"`saga resume --db {db}` (one or more workers)")
            return
        _resume_leftovers(definition, registry, db, lease, quiet=as_json)
        summary = _run_with_progress(definition, registry, db, options, quiet=as_json)
        _print_summary(summary, as_json=as_json, db=db)


def _run_with_progress(definition: SagaDefinition, registry: Any, db: str, options: BatchOptions,
                       *, quiet: bool) -> BatchSummary:
    store = EventStore(db)

    async def go(callback: Callable[[BatchProgress], None] | None) -> BatchSummary:
        try:
            return await run_batch(definition, registry, store, options, progress=callback)
        finally:
            await registry.aclose()

    try:
        if quiet or options.count < 2:
            return asyncio.run(go(None))
        columns = [TextColumn(f"[bold]{definition.saga}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[tally]}"), TimeElapsedColumn()]
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task("runs", total=options.count, tally="")

            def update(tally: BatchProgress) -> None:
                progress.update(task, completed=tally.done, tally=(
                    f"[green]{tally.completed} completed[/] [yellow]{tally.compensated} "
                    f"compensated[/] [red]{tally.failed} failed[/]"))
            return asyncio.run(go(update))
    finally:
        store.close()


def _resume_leftovers(definition: SagaDefinition, registry: Any, db: str, lease: float, *,
                      quiet: bool) -> None:
    from runtime.recovery import resume_unfinished

    with EventStore(db) as store:
        report = asyncio.run(resume_unfinished(store, lambda _d, _o: registry, lease_seconds=lease,
                                               definition_hashes=[definition.content_hash],
                                               close_registries=False))
    if report.claimed and not quiet:
        err.print(report.describe().replace("resumed", "first resumed runs a stopped runner left:", 1))


def _print_summary(summary: BatchSummary, *, as_json: bool, db: str) -> None:
    if as_json:
        print(json.dumps(summary.as_dict() | {"db": db}, indent=2))
        return
    table = Table(title=f"batch {summary.batch_id}", show_header=False)
    for label, value in [
        ("runs", summary.total), ("completed", summary.completed),
        ("compensated", summary.compensated), ("failed", summary.failed),
        ("unfinished", summary.unfinished),
        ("sagas/s", f"{summary.sagas_per_second:,.0f}"),
        ("duration p50 / p95", f"{summary.p50_ms:,.1f} ms / {summary.p95_ms:,.1f} ms"),
        ("elapsed", f"{summary.elapsed_seconds:,.2f} s"), ("event log", db),
    ]:
        table.add_row(label, str(value))
    out.print(table)
    if summary.unfinished:
        err.print(f"{summary.unfinished} runs did not finish; `saga resume --db {db}` continues them")


@app.command("runs")
def runs_command(
    db: DbOption = DEFAULT_DB,
    saga: Annotated[str | None, typer.Option(help="only this saga")] = None,
    status: Annotated[str | None, typer.Option(help="running, compensating, completed, compensated, failed")] = None,
    batch: Annotated[str | None, typer.Option(help="only this batch")] = None,
    origin: Annotated[str | None, typer.Option(help="real, simulated or test")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    with user_errors():
        with EventStore(db) as store:
            rows = store.list_runs(saga=saga, status=status, batch=batch, origin=origin, limit=limit)
            counts = store.status_counts(batch=batch)
        if as_json:
            print(json.dumps(rows, default=str, indent=2))
            return
        table = Table(title=f"runs ({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'})")
        for column in ("run", "saga", "status", "origin", "batch", "started (UTC)", "ms"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["id"][-12:], row["saga"], _status(row["status"]), row["origin"],
                          row["batch"] or "", row["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
                          f"{row['duration_ms']:,.1f}" if row["duration_ms"] is not None else "")
        out.print(table)


def _status(status: str) -> str:
    colour = {"completed": "green", "compensated": "yellow", "failed": "red"}.get(status, "cyan")
    return f"[{colour}]{status}[/]"


@app.command("show")
def show_command(run_id: str, db: DbOption = DEFAULT_DB,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The timeline of one run (the end of its id that `saga runs` shows is enough)."""
    with user_errors():
        with EventStore(db) as store:
            record = store.load_run(store.find_run(run_id))
        if as_json:
            print(json.dumps({"run": {k: v for k, v in vars(record).items() if k != "events"},
                              "events": [vars_of(e) for e in record.events]}, default=str, indent=2))
            return
        out.print(f"run [bold]{record.id}[/] {record.saga} {_status(record.status)} "
                  f"origin={record.origin} batch={record.batch or '-'} "
                  f"definition={record.definition_hash[:12]}")
        table = Table()
        for column in ("seq", "+ms", "event", "step", "try", "ms", "error"):
            table.add_column(column)
        for event in record.events:
            offset = (event.ts - record.started_at).total_seconds() * 1000 if event.ts else 0
            table.add_row(str(event.seq), f"{offset:,.1f}", event.type.value, event.step or "",
                          str(event.attempt or ""), f"{event.duration_ms:,.1f}" if event.duration_ms else "",
                          (event.error or "")[:80])
        out.print(table)


def vars_of(event: Any) -> dict[str, Any]:
    return {slot: getattr(event, slot) for slot in event.__slots__}


@app.command("resume")
def resume_command(
    db: DbOption = DEFAULT_DB,
    actions: ActionsOption = None,
    services_db: ServicesDbOption = Path("sample_services.db"),
    lease: Annotated[float, typer.Option(help="lease seconds")] = 30.0,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Continue every unfinished run nobody holds (never started, or its runner's lease
    expired). Several `saga resume` workers can share one database."""
    from runtime.recovery import resume_unfinished

    with user_errors():
        with EventStore(db) as store:
            report = asyncio.run(resume_unfinished(
                store, lambda d, origin: build_registry(
                    actions, definition=d, simulate=origin == Origin.SIMULATED.value,
                    services_db=services_db), lease_seconds=lease, concurrency=concurrency))
        if as_json:
            print(json.dumps({"claimed": report.claimed, "completed": report.count(RunStatus.COMPLETED),
                              "compensated": report.count(RunStatus.COMPENSATED),
                              "failed": report.count(RunStatus.FAILED),
                              "unfinished": report.unfinished}))
        else:
            out.print(report.describe(), highlight=False)


@app.command("retry")
def retry_command(
    run_id: str,
    db: DbOption = DEFAULT_DB,
    actions: ActionsOption = None,
    services_db: ServicesDbOption = Path("sample_services.db"),
    note: Annotated[str, typer.Option(help="why (kept in the log)")] = "",
) -> None:
    """Redrive a failed run from the step or compensation that failed (after fixing the cause)."""
    from runtime.recovery import redrive

    with user_errors():
        with EventStore(db) as store:
            result = asyncio.run(redrive(store, store.find_run(run_id), lambda d, origin: build_registry(
                actions, definition=d, simulate=origin == Origin.SIMULATED.value,
                services_db=services_db), by=_user(), note=note))
        out.print(f"run {result.run_id}: {_status(result.status.value if result.status else 'unfinished')}")


@app.command("resolve")
def resolve_command(run_id: str, db: DbOption = DEFAULT_DB,
                    note: Annotated[str, typer.Option(help="what was done by hand")] = "") -> None:
    """Mark a failed run as resolved by hand (a manual_action event; nothing is executed)."""
    from runtime.clock import SystemClock

    with user_errors():
        with EventStore(db) as store:
            full = store.find_run(run_id)
            store.append_manual_action(full, SystemClock().now(), "resolve", by=_user(), note=note)
        out.print(f"run {full}: marked resolved")


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "operator"


@app.command("services")
def services_command(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8100,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    services_db: ServicesDbOption = Path("sample_services.db"),
) -> None:
    """Serve the sample services over HTTP (for sample_sagas/http_actions.yaml)."""
    from sample_sagas.http_app import serve

    out.print(f"sample services on http://{host}:{port} (state in {services_db}); Ctrl-C stops")
    serve(host=host, port=port, db_path=services_db)


@app.command("studio")
def studio_command(
    db: DbOption = DEFAULT_DB,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8501,
    address: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
) -> None:
    """Open the app (Design, Run, Monitor) in the browser."""
    from runtime.studio import launch

    with user_errors():
        launch(db=db, port=port, address=address)


@app.command("demo")
def demo_command(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo's files go")] = Path("saga-demo"),
    count: Annotated[int, typer.Option(help="flight bookings to run")] = 500,
    studio: Annotated[bool, typer.Option(help="open the app at the end")] = True,
    port: Annotated[int, typer.Option(help="app port on 127.0.0.1")] = 8501,
) -> None:
    """Run sample flight bookings (and the other samples) into a local SQLite file, then open the app."""
    from runtime.demo import run_demo

    with user_errors():
        db = run_demo(directory, count=count, console=out)
        if studio:
            from runtime.studio import launch

            launch(db=db, port=port, address="127.0.0.1")


def _register_simulate() -> None:
    from runtime.simulate_cli import simulate_command

    app.command("simulate", help="Predict completed / compensated / failed rates, compensations "
                "and latency by Monte Carlo, before running anything.")(simulate_command)


_register_simulate()


def main() -> None:
    settle_heap()  # a one-shot process: what its imports made lives until it exits
    try:
        app()
    except SagaError as exc:  # anything that escaped a command's own handling
        err.print(f"saga: {exc}", markup=False, highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
