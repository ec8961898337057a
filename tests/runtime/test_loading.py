"""Bad documents: one clear issue each, naming the path and the rule; nothing executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import DefinitionError
from runtime.limits import Limits
from runtime.loading import load_definition, parse_definition

GOOD = "saga: s\nsteps:\n  - {name: a, action: x.a, compensation: x.b}\n"


def issues_of(raw: bytes | str, fmt: str = "yaml", **limits: int) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw, source="doc.yaml", fmt=fmt, limits=Limits(**limits))
    for line in caught.value.lines():
        assert line.startswith("doc.yaml: /") and "\n" not in line
    return [(i.path, i.rule) for i in caught.value.issues]


@pytest.mark.parametrize(("raw", "expected"), [
    (b"saga: s\nsteps: 5\n", ("/steps", "list-type")),
    (b"steps: []\n", ("/saga", "missing")),
    (b"saga: s\nsteps: [{name: a}]\n", ("/steps/0/action", "missing")),
    (b"saga: s\nsteps: [{name: a, action: x.a, retry: {max_attempts: zero}}]\n",
     ("/steps/0/retry/max_attempts", "int-parsing")),
    (b"saga: s\nsteps: [{name: a, action: x.a, timeout: soon}]\n", ("/steps/0/timeout", "value-error")),
    (b"saga: s\nsteps: [{name: 'a b', action: x.a}]\n", ("/steps/0/name", "string-pattern-mismatch")),
    (b"saga: s\nsteps: []\nbogus: 1\n", ("/bogus", "extra-forbidden")),
    (b"saga: [unclosed\n", ("/", "yaml-syntax")),
    (b"- just\n- a list\n", ("/", "not-a-mapping")),
    (b"", ("/", "not-a-mapping")),
    (b"saga: s\xff\n", ("/", "encoding")),
    (b"!!python/object/apply:os.system ['touch /tmp/pwned']\n", ("/", "yaml-tag")),
    (b"saga: !!python/name:os.system\nsteps: []\n", ("/", "yaml-tag")),
])
def test_bad_documents(raw: bytes, expected: tuple[str, str]) -> None:
    assert expected in issues_of(raw)


@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    (GOOD + "saga: t\n", "yaml", [("/saga", "duplicate-key")]),
    ("saga: s\nsteps:\n  - {name: a, action: x.a, compensation: x.b, compensation: x.a}\n", "yaml",
     [("/steps/0/compensation", "duplicate-key")]),
    ('{"saga": "s", "steps": [{"name": "a", "action": "x.a", "action": "x.b"}], "saga": "t"}',
     "json", [("/saga", "duplicate-key"), ("/steps/0/action", "duplicate-key")]),
    # a mapping named by an alias is walked (and reported) once, where it is defined
    ("x: &m {a: 1, a: 2}\ny: *m\nsaga: s\nsteps: []\n", "yaml", [("/x/a", "duplicate-key")]),
])
def test_a_key_given_twice_is_refused(raw: str, fmt: str, expected: list[tuple[str, str]]) -> None:
    assert issues_of(raw, fmt) == expected


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition("saga: s\nsteps:\n  - name: a\n    action: x.a\n    action: x.b\n",
                         source="doc.yaml")
    assert caught.value.lines() == [
        "doc.yaml: /steps/0/action: key 'action' is given more than once in the same mapping "
        "(lines 4 and 5); only the last would count [duplicate-key]; keep one of them"]


def test_a_merge_may_override_its_keys() -> None:
    raw = ("saga: s\nsteps:\n  - &base {name: a, action: x.a, compensation: x.b}\n"
           "  - <<: *base\n    name: b\n    after: [a]\n")
    definition = parse_definition(raw)
    assert [(s.name, s.action, s.after) for s in definition.steps] == [("a", "x.a", []), ("b", "x.a", ["a"])]


def test_bom_is_accepted() -> None:
    assert parse_definition(b"\xef\xbb\xbf" + GOOD.encode()).saga == "s"


def test_every_issue_is_reported_at_once() -> None:
    found = issues_of(b"saga: 's s'\nsteps: [{name: a}, {action: b}]\n")
    assert {p for p, _ in found} >= {"/saga", "/steps/0/action", "/steps/1/name"}


def test_document_over_the_size_limit_is_rejected_before_parsing() -> None:
    limit = 1024
    assert issues_of(GOOD + "#" * limit, max_document_bytes=limit) == [("/", "document-size")]


def test_document_at_the_size_limit_is_accepted() -> None:
    raw = GOOD + "#" * (1024 - len(GOOD))
    assert len(raw) == 1024
    assert parse_definition(raw, limits=Limits(max_document_bytes=1024)).saga == "s"


def test_alias_bomb_is_rejected() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
    assert issues_of("\n".join(lines)) == [("/", "alias-expansion")]


def test_deep_nesting_is_rejected() -> None:
    assert ("/", "nesting-depth") in issues_of("saga: " + "[" * 5000 + "]" * 5000)
    assert ("/", "nesting-depth") in issues_of('{"saga": ' + "[" * 5000 + "]" * 5000 + "}", fmt="json")


def test_json_rejects_nan() -> None:
    assert issues_of('{"saga": NaN}', fmt="json") == [("/", "json-syntax")]


def test_python_tag_executes_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    doc = tmp_path / "evil.yaml"
    doc.write_text(f"!!python/object/apply:os.system ['touch {canary}']\n")
    with pytest.raises(DefinitionError):
        load_definition(doc)
    assert not canary.exists()


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(tmp_path / "nope.yaml")
    assert caught.value.lines() == [f"{tmp_path / 'nope.yaml'}: /: no such file [file-not-found]; check the path"]
