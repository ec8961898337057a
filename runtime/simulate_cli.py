"""``saga simulate``: predict outcomes, compensations, retry load and latency of a design.

Wired into the ``saga`` app with ``app.command("simulate")(simulate_command)``. The failure
flags are ``saga run``'s, and each step's ``simulate:`` fields give the defaults, exactly as
for ``saga run --simulate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from runtime.cli_errors import user_errors
from runtime.injection import Injection
from runtime.loading import load_definition
from runtime.simulation import MAX_RUNS, Interval, SimulationResult, simulate
from runtime.validation import check


def simulate_command(
    file: Annotated[Path, typer.Argument(help="definition file (.yaml, .yml, .json)")],
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, max=MAX_RUNS,
                                      help="simulated runs")] = 10_000,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 0,
    fail_flag: Annotated[list[str], typer.Option("--fail", help="STEP=P: fails for good in a fraction P of runs")] = [],  # noqa: B006, E501
    flaky: Annotated[list[str], typer.Option(help="STEP=P: each attempt fails with probability P")] = [],  # noqa: B006, E501
    latency: Annotated[list[str], typer.Option(help="STEP=P50MS[:P95MS]: injected latency")] = [],  # noqa: B006, E501
    fail_compensation: Annotated[list[str], typer.Option(help="STEP=P: the compensation fails for good")] = [],  # noqa: B006, E501
    as_json: Annotated[bool, typer.Option("--json", help="print the prediction as JSON")] = False,
) -> None:
    """Predict, without running anything, how often runs complete, compensate or fail; which
    steps compensate and why; the retry load per step; and end-to-end latency percentiles."""
    out, err = Console(), Console(stderr=True)
    with user_errors(err):
        definition = check(load_definition(file), source=str(file))
        injection = Injection.from_flags(definition, seed=seed, fail=fail_flag, flaky=flaky,
                                         latency=latency, fail_compensation=fail_compensation,
                                         use_simulate_defaults=True)
        result = simulate(definition, injection, runs=runs, seed=seed)
    if as_json:
        used = injection.model_dump(mode="json", exclude_defaults=True)
        print(json.dumps(result.as_dict() | {"injection": used}, indent=2))
        return
    render(result, out)


def _pct(value: float) -> str:
    if 0 < value < 0.0001:
        return f"{value * 100:.4f}%"
    return f"{value * 100:.2f}%"


def _pct1(value: float) -> str:
    return f"{value * 100:.1f}%" if value == 0 or value >= 0.001 else f"{value * 100:.3f}%"


def _interval(interval: Interval) -> str:
    return f"{_pct(interval.low)} - {_pct(interval.high)}"


def render(result: SimulationResult, console: Console) -> None:
    """The prediction as rich tables."""
    console.print(f"[bold]{result.saga}[/]: {result.runs:,} simulated runs (seed {result.seed})",
                  highlight=False)
    outcomes = Table(title="outcome", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("status", "probability", "95% interval"):
        outcomes.add_column(column, justify="left" if column == "status" else "right")
    for status, colour in (("completed", "green"), ("compensated", "yellow"), ("failed", "red")):
        share = result.outcome(status)
        outcomes.add_row(f"[{colour}]{status}[/]", _pct(share.rate), _interval(share.interval))
    outcomes.add_row("had to compensate", _pct(result.compensating.rate),
                     _interval(result.compensating.interval))
    console.print(outcomes)

    kinds = {"compensatable": "comp.", "pivot": "pivot", "retriable": "retriable"}
    steps = Table(title="steps (share of runs)", title_justify="left", box=box.SIMPLE_HEAD,
                  caption="triggers: its failure turned the run to compensating",
                  caption_justify="left")
    name_width = max(len(step.step) for step in result.steps)
    steps.add_column("step", no_wrap=True, min_width=name_width)
    steps.add_column("kind", no_wrap=True)
    for column in ("started", "triggers", "compensated", "comp. fails"):
        steps.add_column(column, justify="right")
    for step in result.steps:
        steps.add_row(step.step, kinds.get(step.kind, step.kind), _pct1(step.started.rate),
                      _pct1(step.triggers.rate), _pct1(step.compensations.rate),
                      _pct1(step.compensation_failures.rate))
    console.print(steps)

    load = Table(title="retry load (attempts each service sees)", title_justify="left",
                 box=box.SIMPLE_HEAD)
    load.add_column("step", no_wrap=True, min_width=name_width)
    for column in ("attempts per run", "per 1000 runs", "compensation attempts per 1000"):
        load.add_column(column, justify="right")
    for step in result.steps:
        load.add_row(step.step, f"{step.attempts.mean:.3f}", f"{step.attempts.per_1000_runs:,.0f}",
                     f"{step.compensation_attempts.per_1000_runs:,.0f}")
    console.print(load)

    trigger = result.most_common_trigger
    if trigger is not None:
        console.print(f"most often triggers compensation: [bold]{trigger}[/] "
                      f"({_pct(result.step(trigger).triggers.rate)} of runs)", highlight=False)
    else:
        console.print("no simulated run had to compensate")
    latency = result.latency
    console.print(f"end-to-end latency, backoff waits included: p50 {latency.p50_ms:,.1f} ms, "
                  f"p95 {latency.p95_ms:,.1f} ms, p99 {latency.p99_ms:,.1f} ms", highlight=False)
