"""Graph rules, one row per rule: the path and rule each issue names."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.actions import ActionRegistry
from runtime.definition import SagaDefinition
from runtime.limits import Limits
from runtime.validation import validate


def s(name: str, *after: str, kind: str = "compensatable", comp: bool = True, **kw: Any) -> dict[str, Any]:
    data = {"name": name, "action": f"x.{name}", "after": list(after), "kind": kind} | kw
    if comp and kind == "compensatable":
        data["compensation"] = f"x.undo_{name}"
    return data


def issues(*steps: dict[str, Any], registry: ActionRegistry | None = None,
           limits: Limits | None = None, **extra: Any) -> set[tuple[str, str]]:
    definition = SagaDefinition.model_validate({"saga": "t", "steps": list(steps)} | extra)
    return {(i.path, i.rule) for i in validate(definition, registry, limits=limits or Limits())}


@pytest.mark.parametrize(("steps", "expected"), [
    ([s("a"), s("a")], ("/steps/1/name", "duplicate-step")),
    ([s("a", "zz")], ("/steps/0/after/0", "unknown-step")),
    ([s("a", "a")], ("/steps/0/after/0", "self-dependency")),
    ([s("a", "b"), s("b", "a")], ("/steps/0/after", "cycle")),
    ([s("a", comp=False)], ("/steps/0/compensation", "missing-compensation")),
    ([s("a"), s("p", "a", kind="pivot"), s("q", "p", kind="pivot")], ("/steps/2/kind", "multiple-pivots")),
    ([s("a"), s("p", "a", kind="pivot"), s("b", "p")], ("/steps/2/kind", "after-pivot-not-retriable")),
    ([s("r", kind="retriable"), s("p", "r", kind="pivot")], ("/steps/0/kind", "retriable-before-pivot")),
    ([s("a"), s("r", "a", kind="retriable")], ("/steps/1/kind", "retriable-without-pivot")),
    ([s("a"), s("p", "a", kind="pivot"), s("x")], ("/steps/2/after", "unrelated-to-pivot")),
    ([s("a"), s("p", "a", kind="pivot", compensation="x.u")], ("/steps/1/compensation", "pivot-compensated")),
    ([s("a"), s("p", "a", kind="pivot"), s("r", "p", kind="retriable", compensation="x.u")],
     ("/steps/2/compensation", "retriable-compensated")),
    ([], ("/steps", "no-steps")),
])
def test_rule(steps: list[dict[str, Any]], expected: tuple[str, str]) -> None:
    assert expected in issues(*steps)


def test_read_only_step_needs_no_compensation() -> None:
    assert issues(s("a", comp=False, read_only=True)) == set()


def test_valid_saga_with_pivot_has_no_issues() -> None:
    assert issues(s("a"), s("b"), s("p", "a", "b", kind="pivot"), s("r", "p", kind="retriable")) == set()


def test_unknown_actions_checked_against_the_registry() -> None:
    registry = ActionRegistry()
    registry.register_simulated("x.a")
    found = issues(s("a"), registry=registry)
    assert found == {("/steps/0/compensation", "unknown-action")}


def test_layout_naming_unknown_step() -> None:
    assert ("/layout/ghost", "unknown-step") in issues(s("a"), layout={"ghost": {"x": 1, "y": 2}})


@pytest.mark.parametrize(("count", "ok"), [(5, True), (6, False)])
def test_step_limit_at_and_over(count: int, ok: bool) -> None:
    steps = [s(f"s{i}") for i in range(count)]
    found = issues(*steps, limits=Limits(max_steps=5))
    assert (("/steps", "too-many-steps") not in found) is ok


@pytest.mark.parametrize(("length", "ok"), [(10, True), (11, False)])
def test_name_length_at_and_over(length: int, ok: bool) -> None:
    found = issues(s("a" * length), limits=Limits(max_name_length=10))
    assert (("/steps/0/name", "name-too-long") not in found) is ok


def test_all_issues_at_once() -> None:
    found = issues(s("a", "zz", comp=False), s("a"), s("b", "c"), s("c", "b"))
    assert {r for _, r in found} >= {"unknown-step", "missing-compensation", "duplicate-step", "cycle"}
