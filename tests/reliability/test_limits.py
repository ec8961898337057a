"""Issue 5, item 6 (limits): every limit in ``runtime.limits.Limits`` at the limit (accepted)
and one over (rejected before any side effect, with a message naming the limit).

    max_document_bytes   1 MiB      loading, before the file is read or parsed
    max_steps            100        loading (before pydantic) and validation
    max_name_length      255        validation: saga, step, action and compensation names
    max_yaml_nodes       200,000    loading, from parser events, before any node is built
    max_nesting_depth    64         loading (libyaml stops at 1,000 levels on its own)
    max_payload_bytes    256 KiB    engine: run input (nothing written), action output (fails)
    max_events_per_run   10,000     engine: the attempt (step or compensation) that would
                                    exceed it fails for good

``tests/runtime/test_loading.py`` and ``test_validation.py`` check the same rules with tiny
custom limits; here the defaults are used wherever that stays fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runtime import loading
from runtime.actions import ActionContext, ActionRegistry
from runtime.clock import ManualClock
from runtime.definition import SagaDefinition
from runtime.engine import Engine, RunResult
from runtime.errors import DefinitionError, LimitExceededError, NonRetryableError, RetryableError
from runtime.limits import DEFAULT_LIMITS, Limits
from runtime.loading import load_definition, parse_definition, parse_document
from runtime.planner import Event
from runtime.store.sql import EventStore
from runtime.store.tables import EventType, RunStatus
from runtime.validation import validate
from tests.runtime.helpers import saga, step

MIB = 1024 * 1024
GOOD = "saga: s\nsteps:\n  - {name: a, action: x.a, compensation: x.b}\n"


def rules_of(
    raw: bytes | str, fmt: str = "yaml", limits: Limits = DEFAULT_LIMITS
) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw, source="doc", fmt=fmt, limits=limits)
    return [(i.path, i.rule) for i in caught.value.issues]


def only_issue(raw: bytes | str, fmt: str = "yaml", limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw, source="doc", fmt=fmt, limits=limits)
    assert len(caught.value.issues) == 1, caught.value.issues
    return str(caught.value.issues[0])


def padded(size: int, fmt: str = "yaml") -> bytes:
    """A valid definition of exactly ``size`` bytes."""
    if fmt == "json":
        body = json.dumps(
            {"saga": "s", "steps": [{"name": "a", "action": "x.a", "compensation": "x.b"}]}
        )
        return (body + " " * (size - len(body))).encode()
    return (GOOD + "#" + "x" * (size - len(GOOD) - 2) + "\n").encode()


# -- max_document_bytes ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_document_bytes_at_and_over_the_default_limit(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = tmp_path / f"at.{fmt}"
    at.write_bytes(padded(MIB, fmt))
    assert at.stat().st_size == DEFAULT_LIMITS.max_document_bytes
    assert load_definition(at).saga == "s"

    over = tmp_path / f"over.{fmt}"
    over.write_bytes(padded(MIB + 1, fmt))
    touched: list[str] = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: touched.append("read") or real_read(self))
    monkeypatch.setattr(loading, "_parse_yaml", lambda *a: touched.append("yaml"))
    monkeypatch.setattr(loading, "_parse_json", lambda *a: touched.append("json"))
    with pytest.raises(DefinitionError) as caught:
        load_definition(over)
    [issue] = caught.value.issues
    assert (issue.path, issue.rule) == ("/", "document-size")
    assert f"{MIB + 1} bytes, over the limit of {MIB}" in issue.message
    assert "Limits.max_document_bytes" in str(issue)
    with pytest.raises(DefinitionError):
        parse_definition(padded(MIB + 1, fmt), fmt=fmt)  # bytes handed over: same guard
    assert touched == []  # neither read nor parsed


def test_document_bytes_counts_bytes_not_characters() -> None:
    """1 MiB of 2-byte characters is 2 MiB: refused, though it is 512 Ki characters."""
    text = GOOD + "description: " + "é" * (MIB // 2) + "\n"
    assert len(text) < MIB < len(text.encode())
    assert rules_of(text) == [("/", "document-size")]


def test_cli_names_the_file_the_path_and_the_limit(tmp_path: Path) -> None:
    from runtime.cli import app

    over = tmp_path / "big.yaml"
    over.write_bytes(padded(MIB + 1))
    result = CliRunner().invoke(app, ["validate", str(over)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{over}: /: the document is {MIB + 1} bytes, over the limit of {MIB} [document-size]; "
        "split it or raise Limits.max_document_bytes"
    ]


# -- max_steps ---------------------------------------------------------------------------------
def steps_document(count: int) -> str:
    lines = ["saga: many", "steps:"]
    for i in range(count):
        after = f", after: [s{i - 1}]" if i else ""
        lines.append(f"  - {{name: s{i}, action: x.do, compensation: x.undo{after}}}")
    return "\n".join(lines) + "\n"


def test_steps_at_the_default_limit_are_accepted() -> None:
    definition = parse_definition(steps_document(DEFAULT_LIMITS.max_steps))
    assert len(definition.steps) == 100
    assert validate(definition, {"x.do", "x.undo"}) == []


def test_steps_over_the_default_limit_are_refused_before_the_model_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    real = loading.definition_from_data
    monkeypatch.setattr(
        loading, "definition_from_data", lambda *a, **k: built.append(1) or real(*a, **k)
    )
    text = only_issue(steps_document(DEFAULT_LIMITS.max_steps + 1))
    assert text == (
        "/steps: 101 steps, over the limit of 100 (Limits.max_steps) [too-many-steps]; "
        "split the saga or raise Limits.max_steps"
    )
    assert built == []


def test_validation_applies_the_step_limit_to_a_definition_built_in_code() -> None:
    """The designer builds definitions without a file: validate() has the same rule."""

    def found(count: int) -> list[tuple[str, str, str]]:
        definition = SagaDefinition.model_validate(
            {"saga": "many", "steps": [step(f"s{i}") for i in range(count)]}
        )
        return [
            (i.path, i.rule, i.message) for i in validate(definition) if i.rule == "too-many-steps"
        ]

    assert found(100) == []
    assert found(101) == [
        ("/steps", "too-many-steps", "101 steps, over the limit of 100 (Limits.max_steps)")
    ]


# -- max_name_length ---------------------------------------------------------------------------
def name_of(length: int, dotted: bool) -> str:
    return ("x." + "a" * (length - 2)) if dotted else "n" * length


@pytest.mark.parametrize(
    ("field", "path", "dotted"),
    [
        ("saga", "/saga", False),
        ("name", "/steps/0/name", False),
        ("action", "/steps/0/action", True),
        ("compensation", "/steps/0/compensation", True),
    ],
)
def test_name_length_at_and_over_the_default_limit(field: str, path: str, dotted: bool) -> None:
    limit = DEFAULT_LIMITS.max_name_length

    def issues_with(length: int) -> list[Any]:
        data: dict[str, Any] = {
            "saga": "s",
            "steps": [{"name": "a", "action": "x.a", "compensation": "x.b"}],
        }
        target = data if field == "saga" else data["steps"][0]
        target[field] = name_of(length, dotted)
        definition = parse_definition(json.dumps(data), fmt="json")
        return [i for i in validate(definition) if i.rule == "name-too-long"]

    assert len(name_of(limit, dotted)) == 255
    assert issues_with(limit) == []
    [issue] = issues_with(limit + 1)
    assert issue.path == path
    assert issue.message == "name is 256 characters, over the limit of 255 (Limits.max_name_length)"


# -- max_yaml_nodes ----------------------------------------------------------------------------
def nodes_document(total: int) -> str:
    """A valid definition of exactly ``total`` YAML nodes (keys count): 14 + the ``after`` items."""
    items = ", ".join(["a"] * (total - 14))
    return f"saga: s\nsteps:\n  - {{name: a, action: x.a, compensation: x.b, after: [{items}]}}\n"


def aliased_document(total: int) -> str:
    """``total`` nodes once the alias is expanded: 22 written, 10 more per ``*t``, the rest."""
    copies, rest = divmod(total - 22, 10)
    return (
        "saga: s\nsteps: []\ndescription: d\nlayout:\n  k: &t [a, a, a, a, a, a, a, a, a]\n"
        f"  m: [{', '.join(['*t'] * copies + ['b'] * rest)}]\n"
    )


@pytest.mark.parametrize("limit", [50, 1_000])
def test_yaml_nodes_at_and_over_a_small_limit(limit: int) -> None:
    limits = Limits(max_yaml_nodes=limit)
    assert parse_definition(nodes_document(limit), limits=limits).steps[0].name == "a"
    assert only_issue(nodes_document(limit + 1), limits=limits) == (
        f"/: the document has over {limit} YAML nodes (Limits.max_yaml_nodes); shorten it "
        "[too-many-nodes]"
    )
    assert parse_document(aliased_document(limit), source="d", limits=limits)["layout"]["m"]
    assert rules_of(aliased_document(limit + 1), limits=limits) == [("/", "alias-expansion")]
    assert "Limits.max_yaml_nodes" in only_issue(aliased_document(limit + 1), limits=limits)


def test_the_node_count_matches_what_is_built() -> None:
    """The guard counts parser events; the count is the size of the data, aliases expanded."""

    def size(data: Any) -> int:
        if isinstance(data, dict):
            return 1 + sum(1 + size(v) for v in data.values())
        if isinstance(data, list):
            return 1 + sum(size(v) for v in data)
        return 1

    for total in (60, 101, 333):
        assert size(parse_document(nodes_document(total), source="d")) == total
        assert size(parse_document(aliased_document(total), source="d")) == total


def test_yaml_nodes_at_and_over_the_default_limit() -> None:
    limit = DEFAULT_LIMITS.max_yaml_nodes
    definition = parse_definition(nodes_document(limit))
    assert len(definition.steps[0].after) == limit - 14
    assert rules_of(nodes_document(limit + 1)) == [("/", "too-many-nodes")]


def test_json_documents_have_the_same_node_limit() -> None:
    limits = Limits(max_yaml_nodes=100)
    data = {
        "saga": "s",
        "steps": [{"name": "a", "action": "x.a", "compensation": "x.b", "after": []}],
    }
    data["steps"][0]["after"] = ["a"] * (100 - 14)
    assert parse_definition(json.dumps(data), fmt="json", limits=limits).saga == "s"
    data["steps"][0]["after"].append("a")
    assert rules_of(json.dumps(data), fmt="json", limits=limits) == [("/", "too-many-nodes")]


def test_a_recursive_alias_is_refused_without_expanding_it() -> None:
    """Regression (issue 5): ``&a [*a]`` used to loop forever while being counted."""
    assert only_issue("saga: s\nsteps: &a [*a]\n").endswith("[alias-expansion]")


# -- max_nesting_depth -------------------------------------------------------------------------
def nested(depth: int, kind: str, fmt: str) -> str:
    """A document whose data has exactly ``depth`` levels of containers, the root included."""
    inner = depth - 1
    if kind == "list":
        value = "[" * inner + "]" * inner
    elif kind == "list-scalar":
        value = "[" * inner + "1" + "]" * inner
    else:
        key = '{"a": ' if fmt == "json" else "{a: "
        value = key * inner + "1" + "}" * inner
    return f'{{"saga": "s", "x": {value}}}' if fmt == "json" else f"saga: s\nx: {value}\n"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("kind", ["list", "list-scalar", "map"])
@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, Limits(max_nesting_depth=3)], ids=["64", "3"])
def test_nesting_depth_at_and_over_the_limit(fmt: str, kind: str, limits: Limits) -> None:
    limit = limits.max_nesting_depth
    assert (
        parse_document(nested(limit, kind, fmt), source="d", fmt=fmt, limits=limits)["saga"] == "s"
    )
    assert only_issue(nested(limit + 1, kind, fmt), fmt=fmt, limits=limits) == (
        f"/: nested deeper than {limit} levels (Limits.max_nesting_depth) [nesting-depth]; "
        "a definition needs only a few levels"
    )


def test_an_empty_innermost_container_counts_as_a_level() -> None:
    """Regression (issue 5): ``{"a": []}`` was counted as 1 level, so 65 levels passed."""
    limits = Limits(max_nesting_depth=2)
    assert parse_document('{"a": 1}', source="d", limits=limits)
    assert parse_document('{"a": []}', source="d", limits=limits)
    assert rules_of('{"a": [[]]}', limits=limits) == [("/", "nesting-depth")]


def test_depth_reached_through_aliases_is_counted() -> None:
    half = "[" * 40 + "]" * 40
    doc = f"saga: s\nsteps: []\nlayout:\n  a: &deep {half}\n  b: {'[' * 30}*deep{']' * 30}\n"
    assert rules_of(doc) == [("/", "nesting-depth")]


# -- the engine: max_payload_bytes and max_events_per_run --------------------------------------
Behaviour = Callable[[ActionContext], Any]


def registry_for(
    definition: SagaDefinition, behaviours: dict[str, Behaviour], calls: list[str]
) -> ActionRegistry:
    registry = ActionRegistry()
    for s in definition.steps:
        for name in filter(None, (s.action, s.compensation)):
            behaviour = behaviours.get(name, lambda ctx: {"ok": True})

            async def act(
                ctx: ActionContext, name: str = name, behaviour: Behaviour = behaviour
            ) -> Any:
                calls.append(name)
                return behaviour(ctx)

            if name not in registry:
                registry.register(name, act, blocking=False)
    return registry


def run(
    definition: SagaDefinition,
    url: str,
    *,
    run_input: dict[str, Any] | None = None,
    behaviours: dict[str, Behaviour] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[RunResult, list[Event], list[str], EventStore]:
    store = EventStore(url)
    calls: list[str] = []
    registry = registry_for(definition, behaviours or {}, calls)

    async def go() -> RunResult:
        async with Engine(store, registry, clock=ManualClock(), limits=limits) as engine:
            return await engine.start(definition, run_input or {})

    result = asyncio.run(go())
    return result, store.load_run(result.run_id).events, calls, store


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def sized(size: int, key: str = "blob") -> dict[str, str]:
    value = {key: ""}
    value[key] = "x" * (size - compact_size(value))
    assert compact_size(value) == size
    return value


TWO_STEPS = saga(step("a"), step("b", "a"))


def test_run_input_at_the_payload_limit_runs(sqlite_url: str) -> None:
    result, events, calls, store = run(
        TWO_STEPS, sqlite_url, run_input=sized(DEFAULT_LIMITS.max_payload_bytes)
    )
    assert result.status is RunStatus.COMPLETED and calls == ["svc.a", "svc.b"]
    assert len(store.list_runs()) == 1
    store.close()


def test_run_input_over_the_payload_limit_writes_nothing(sqlite_url: str) -> None:
    store = EventStore(sqlite_url)
    calls: list[str] = []
    registry = registry_for(TWO_STEPS, {}, calls)
    limit = DEFAULT_LIMITS.max_payload_bytes

    async def go() -> RunResult:
        async with Engine(store, registry, clock=ManualClock()) as engine:
            return await engine.start(TWO_STEPS, sized(limit + 1))

    with pytest.raises(LimitExceededError) as caught:
        asyncio.run(go())
    assert (caught.value.value, caught.value.maximum) == (limit + 1, limit)
    assert (
        str(caught.value)
        == f"the run input size in bytes is {limit + 1}, over the limit of {limit}"
    )
    assert store.list_runs() == [] and store.definitions() == [] and calls == []
    store.close()


def test_run_input_limit_counts_encoded_json_bytes(sqlite_url: str) -> None:
    """Non-ASCII input is measured as the JSON the engine stores: UTF-8, 2 bytes per ``é``."""
    limits = Limits(max_payload_bytes=100)
    with pytest.raises(LimitExceededError, match="size in bytes is 104, over the limit of 100"):
        run(TWO_STEPS, sqlite_url, run_input={"k": "é" * 48}, limits=limits)  # 48 chars, 104 bytes
    result, events, _, store = run(TWO_STEPS, sqlite_url, run_input={"k": "é" * 46}, limits=limits)
    store.close()  # 46 chars, 100 bytes: at the limit
    assert result.status is RunStatus.COMPLETED
    assert events[0].data is not None and events[0].data["input"] == {"k": "é" * 46}


@pytest.mark.parametrize("over", [0, 1])
def test_action_output_at_and_over_the_payload_limit(sqlite_url: str, over: int) -> None:
    limit = DEFAULT_LIMITS.max_payload_bytes
    result, events, calls, store = run(
        TWO_STEPS, sqlite_url, behaviours={"svc.b": lambda ctx: sized(limit + over)}
    )
    store.close()
    if not over:
        assert result.status is RunStatus.COMPLETED
        return
    failed = [e for e in events if e.type is EventType.STEP_FAILED]
    assert [(e.step, e.attempt, e.error_type) for e in failed] == [("b", 1, "LimitExceededError")]
    assert failed[0].error == (
        f"the output of svc.b size in bytes is {limit + 1}, over the limit of {limit}"
    )
    assert calls.count("svc.b") == 1  # not retried: the same action would return the same
    assert result.status is RunStatus.COMPENSATED and calls[-1] == "svc.undo_a"


def test_compensation_output_over_the_payload_limit_fails_the_run(sqlite_url: str) -> None:
    limit = DEFAULT_LIMITS.max_payload_bytes

    def refuse(ctx: ActionContext) -> Any:
        raise NonRetryableError("declined")

    result, events, calls, store = run(
        TWO_STEPS,
        sqlite_url,
        behaviours={"svc.b": refuse, "svc.undo_a": lambda ctx: sized(limit + 1)},
    )
    store.close()
    failed = [e for e in events if e.type is EventType.COMPENSATION_FAILED]
    assert [(e.step, e.error_type) for e in failed] == [("a", "LimitExceededError")]
    assert result.status is RunStatus.FAILED  # needs attention, never silently dropped


def always_flaky(ctx: ActionContext) -> Any:
    raise RetryableError("try again")


FOREVER = {"max_attempts": 10_000, "initial_interval": "1ms", "backoff": 1.0, "jitter": False}


def test_events_per_run_a_step_that_keeps_failing_stops_at_the_limit(sqlite_url: str) -> None:
    limits = Limits(max_events_per_run=60)
    definition = saga(step("a"), step("b", "a", retry=FOREVER))
    result, events, calls, store = run(
        definition, sqlite_url, limits=limits, behaviours={"svc.b": always_flaky}
    )
    store.close()
    assert result.status is RunStatus.COMPENSATED
    assert len(events) <= limits.max_events_per_run
    last = [e for e in events if e.type is EventType.STEP_FAILED][-1]
    assert last.error_type == "LimitExceededError"
    assert "events in this run is" in (last.error or "") and "over the limit of 60" in (
        last.error or ""
    )
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_events_per_run_the_last_admitted_attempt_still_completes(sqlite_url: str) -> None:
    """At the limit: the run that succeeds on the last attempt the budget admits completes."""
    limits = Limits(max_events_per_run=60)
    definition = saga(step("a"), step("b", "a", retry=FOREVER))
    _, events, calls, store = run(
        definition, sqlite_url, limits=limits, behaviours={"svc.b": always_flaky}
    )
    store.close()
    admitted = calls.count("svc.b")  # attempts that reached the action before the limit
    failures = iter(range(admitted - 1))

    def flaky_then_ok(ctx: ActionContext) -> Any:
        if next(failures, None) is not None:
            raise RetryableError("try again")
        return {"ok": True}

    result, events, calls, store = run(
        definition,
        sqlite_url.replace(".db", "2.db"),
        limits=limits,
        behaviours={"svc.b": flaky_then_ok},
    )
    store.close()
    assert result.status is RunStatus.COMPLETED and calls.count("svc.b") == admitted
    assert len(events) <= limits.max_events_per_run


def test_events_per_run_a_retriable_step_after_the_pivot_stops_at_the_limit(
    sqlite_url: str,
) -> None:
    limits = Limits(max_events_per_run=40)
    definition = saga(
        step("a"), step("p", "a", kind="pivot"), step("r", "p", kind="retriable", retry=FOREVER)
    )
    result, events, _, store = run(
        definition, sqlite_url, limits=limits, behaviours={"svc.r": always_flaky}
    )
    store.close()
    assert result.status is RunStatus.FAILED  # a post-pivot step failed for good: needs attention
    assert len(events) <= limits.max_events_per_run


def test_events_per_run_a_compensation_that_keeps_failing_stops_at_the_limit(
    sqlite_url: str,
) -> None:
    """Issue 5: compensations did not check the budget (2,007 events with a limit of 50)."""
    limits = Limits(max_events_per_run=50)
    definition = saga(
        step("a"),
        step("b", "a"),
        compensation_retry={"max_attempts": 1_000, "initial_interval": "1ms", "jitter": False},
    )

    def refuse(ctx: ActionContext) -> Any:
        raise NonRetryableError("declined")

    result, events, _, store = run(
        definition,
        sqlite_url,
        limits=limits,
        behaviours={"svc.b": refuse, "svc.undo_a": always_flaky},
    )
    store.close()
    assert result.status is RunStatus.FAILED
    assert len(events) <= limits.max_events_per_run
