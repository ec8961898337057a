"""Hostile definition documents for ``test_hostile_input.py``, from two reproducible sources:

    mutation_case(index, seed=SEED, canary=path)   # the index-th mutation of a sample saga
    documents(canary)                              # a hypothesis strategy (generated documents)

Mutations start from ``sample_sagas/*_booking.yaml`` (as YAML and as JSON) and break them one
way each: wrong types, missing fields, cycles, unknown names, huge strings, deep nesting,
non-UTF-8 bytes, BOMs, YAML tags (``!!python/...`` with a command that would create the
``canary`` file), alias bombs, merge keys, sizes around 1 MiB, empty and multi-document
streams, tabs, control characters, long lines, duplicate keys, odd numbers and timestamps.
Case ``index`` uses kind ``MUTATIONS[index % len(MUTATIONS)]`` and its own
``random.Random(f"{seed}:{index}")``, so one case is rebuilt without the others::

    python -c "from tests.reliability.corpus import mutation_case as m; print(m(417).label)"

(a label from another seed reads ``#417 seed=123 ...``: ``mutation_case(417, seed=123)``).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FILES = sorted((ROOT / "sample_sagas").glob("*_booking.yaml"))
SEED = 20_260_501
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One hostile document: ``label`` names the mutation and where it struck."""

    label: str
    raw: bytes
    fmt: str  # "yaml" or "json"

    @property
    def suffix(self) -> str:
        return ".json" if self.fmt == "json" else ".yaml"


@dataclass(frozen=True)
class Base:
    name: str
    text: str
    data: dict[str, Any]


def bases() -> list[Base]:
    found = []
    for path in SAMPLE_FILES:
        text = path.read_text(encoding="utf-8")
        found.append(Base(path.stem, text, yaml.safe_load(text)))
    return found


BASES = bases()
Pointer = tuple[str | int, ...]
Mutation = Callable[[random.Random, Base, str], Case]


# -- helpers ----------------------------------------------------------------------------
def pointer(path: Pointer) -> str:
    return "/" + "/".join(str(p) for p in path)


def paths(data: Any, prefix: Pointer = ()) -> Iterator[Pointer]:
    """Every node below the root, depth first."""
    items: Any = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def get(data: Any, path: Pointer) -> Any:
    for part in path:
        data = data[part]
    return data


def put(data: Any, path: Pointer, value: Any) -> None:
    get(data, path[:-1])[path[-1]] = value


def dump(rng: random.Random, data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, default=str, indent=rng.choice([None, 2]))
    return yaml.safe_dump(
        data,
        sort_keys=False,
        allow_unicode=rng.random() < 0.5,
        default_flow_style=rng.choice([False, None, True]),
        width=rng.choice([80, 10**6]),
    )


MARK = "@@MARK@@"


def splice(
    rng: random.Random, data: Any, fmt: str, payload: str, *, where: Pointer | None = None
) -> tuple[str, str]:
    """Dump ``data`` with ``payload`` written, as raw text, in place of one value."""
    data = copy.deepcopy(data)
    where = where if where is not None else rng.choice(list(paths(data)))
    put(data, where, MARK)
    text = dump(rng, data, fmt)
    for quoted in (f'"{MARK}"', f"'{MARK}'", MARK):
        if quoted in text:
            return text.replace(quoted, payload, 1), pointer(where)
    raise AssertionError("marker lost")  # pragma: no cover


def fmt_of(rng: random.Random, json_share: float = 0.3) -> str:
    return "json" if rng.random() < json_share else "yaml"


def case(label: str, text: str | bytes, fmt: str) -> Case:
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return Case(label, raw, fmt)


# -- mutations ------------------------------------------------------------------------
WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    10**40,
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    "",
    " ",
    "x",
    "x" * 300,
    "a b",
    "../../etc/passwd",
    "${jndi:ldap://h/a}",
    "{{7*7}}",
    "yes",
    "~",
    [],
    [None],
    [[[]]],
    [1, "a", None],
    {},
    {"": None},
    {"a": {"b": {"c": 1}}},
    {"name": 1},
    date(2020, 1, 1),
    datetime(2001, 12, 14, 21, 59, 43, tzinfo=UTC),
    b"\x00\xff\xfe",
    {1, 2},
    "1e999",
    ".nan",
    "2001-12-14",
    "0x1F",
    "1:30",
    "é" * 40,
    "\u202e\u0000",
]


def wrong_type(rng: random.Random, base: Base, canary: str) -> Case:
    data = copy.deepcopy(base.data)
    where = rng.choice(list(paths(data)))
    value = rng.choice(WRONG_VALUES)
    put(data, where, value)
    fmt = fmt_of(rng)
    return case(f"wrong-type {pointer(where)} = {type(value).__name__}", dump(rng, data, fmt), fmt)


def missing_field(rng: random.Random, base: Base, canary: str) -> Case:
    data = copy.deepcopy(base.data)
    mappings = [()] + [p for p in paths(data) if isinstance(get(data, p), dict) and get(data, p)]
    where: Pointer = rng.choice(mappings)
    key = rng.choice(list(get(data, where)))
    del get(data, where)[key]
    if rng.random() < 0.3:  # and sometimes a second one
        steps = data.get("steps")
        if isinstance(steps, list) and steps:
            step = rng.choice(steps)
            step.pop(rng.choice(list(step)), None)
    fmt = fmt_of(rng)
    return case(f"missing {pointer((*where, key))}", dump(rng, data, fmt), fmt)


def cycle(rng: random.Random, base: Base, canary: str) -> Case:
    data = copy.deepcopy(base.data)
    steps = data["steps"]
    names = [s["name"] for s in steps]
    kind = rng.choice(["ring", "pair", "self", "back-edge"])
    if kind == "ring":
        for i, step in enumerate(steps):
            step["after"] = [names[i - 1]]
    elif kind == "pair":
        i, j = rng.sample(range(len(steps)), 2)
        steps[i]["after"] = [names[j]]
        steps[j]["after"] = [names[i]]
    elif kind == "self":
        i = rng.randrange(len(steps))
        steps[i]["after"] = [*steps[i].get("after", []), names[i]]
    else:
        steps[0]["after"] = [names[-1]]
    fmt = fmt_of(rng)
    return case(f"cycle {kind}", dump(rng, data, fmt), fmt)


BAD_NAMES = [
    "ghost",
    "nope.nope",
    "",
    "a b",
    "é",
    "1abc",
    "a..b",
    ".a",
    "a.",
    "a/b",
    "a\nb",
    "x" * 256,
    "x" * 255,
    "reserve_seat ",
    "-",
    "_",
    "a" * 10_000,
    "tickets.issue",
]


def unknown_name(rng: random.Random, base: Base, canary: str) -> Case:
    data = copy.deepcopy(base.data)
    steps = data["steps"]
    i = rng.randrange(len(steps))
    target = rng.choice(
        ["after", "action", "compensation", "name", "kind", "saga", "layout", "dup"]
    )
    name = rng.choice(BAD_NAMES)
    if target == "after":
        steps[i]["after"] = [*steps[i].get("after", []), name]
    elif target in ("action", "compensation", "name", "kind"):
        steps[i][target] = name
    elif target == "saga":
        data["saga"] = name
    elif target == "layout":
        data.setdefault("layout", {})[name] = {"x": 1, "y": 2}
    else:
        steps.append(copy.deepcopy(steps[i]))
    fmt = fmt_of(rng)
    return case(f"unknown-name {target} {name[:20]!r}", dump(rng, data, fmt), fmt)


def huge_string(rng: random.Random, base: Base, canary: str) -> Case:
    data = copy.deepcopy(base.data)
    strings = [p for p in paths(data) if isinstance(get(data, p), str)]
    where = rng.choice(strings)
    n = rng.choice([256, 10_000, 300_000, 999_000, 1_000_001, 1_100_000])
    value = rng.choice(["x", "é", "\U0001f600", "ab "]) * (n // 3 if rng.random() < 0.3 else n)
    fmt = fmt_of(rng)
    # spliced in as a JSON string (valid YAML too): dumping 1 MB through PyYAML takes seconds
    text, _ = splice(
        rng, data, fmt, json.dumps(value, ensure_ascii=rng.random() < 0.5), where=where
    )
    return case(f"huge-string {pointer(where)} {len(value)} chars", text, fmt)


def deep_nesting(rng: random.Random, base: Base, canary: str) -> Case:
    depth = rng.choice([10, 63, 64, 65, 200, 999, 1000, 1001, 10_000, 100_000])
    shape = rng.choice(["list", "map", "block", "mixed"])
    fmt = "json" if shape in ("list", "map") and rng.random() < 0.4 else "yaml"
    if shape == "block":
        text = "saga: s\nsteps:\n" + "".join(" " * (i + 2) + "-\n" for i in range(min(depth, 2000)))
        return case(f"deep block {depth}", text, "yaml")
    if shape == "list":
        payload = "[" * depth + "]" * depth
    elif shape == "map":
        payload = ('{"a": ' if fmt == "json" else "{a: ") * depth + "1" + "}" * depth
    else:
        payload = "[{a: " * (depth // 2) + "[]" + "}]" * (depth // 2)
    text, where = splice(rng, base.data, fmt, payload)
    return case(f"deep {shape} {depth} at {where}", text, fmt)


def non_utf8(rng: random.Random, base: Base, canary: str) -> Case:
    raw = base.text.encode()
    kind = rng.choice(
        ["byte", "latin1", "utf16", "utf32", "cp1252", "truncated", "overlong", "surrogate", "blob"]
    )
    pos = rng.randrange(len(raw))
    if kind == "byte":
        raw = raw[:pos] + bytes([rng.randrange(0x80, 0x100)]) + raw[pos:]
    elif kind == "latin1":
        raw = base.text.replace("Reserve", "Résérve").encode("latin-1", "replace")
    elif kind in ("utf16", "utf32"):
        width = kind[3:]
        raw = base.text.encode(rng.choice([f"utf-{width}", f"utf-{width}-le", f"utf-{width}-be"]))
    elif kind == "cp1252":
        raw = (base.text + "# “quotes” – €\n").encode("cp1252")
    elif kind == "truncated":
        raw = raw[:pos] + "é".encode()[:1] + raw[pos:]
    elif kind == "overlong":
        raw = raw[:pos] + b"\xc0\xaf" + raw[pos:]
    elif kind == "surrogate":
        raw = raw[:pos] + b"\xed\xa0\x80" + raw[pos:]
    else:
        raw = bytes(rng.randrange(256) for _ in range(rng.choice([1, 64, 4096])))
    return case(f"non-utf8 {kind} at {pos}", raw, fmt_of(rng, 0.2))


def bom(rng: random.Random, base: Base, canary: str) -> Case:
    fmt = fmt_of(rng)
    raw = dump(rng, base.data, fmt).encode()
    kind = rng.choice(["utf8", "utf8", "double", "middle", "utf16-bom-utf8-body", "bom-only"])
    boms = {
        "utf8": b"\xef\xbb\xbf" + raw,
        "double": b"\xef\xbb\xbf" * 2 + raw,
        "middle": raw[: len(raw) // 2] + b"\xef\xbb\xbf" + raw[len(raw) // 2 :],
        "utf16-bom-utf8-body": b"\xff\xfe" + raw,
        "bom-only": b"\xef\xbb\xbf",
    }
    return case(f"bom {kind}", boms[kind], fmt)


def tag_payloads(canary: str) -> list[str]:
    touch = f"touch {canary}"
    return [
        f"!!python/object/apply:os.system ['{touch}']",
        f"!!python/object/apply:subprocess.check_output [['touch', '{canary}']]",
        f"!!python/object/apply:subprocess.Popen [['touch', '{canary}']]",
        f"!!python/object/new:os.system ['{touch}']",
        f"!!python/object/apply:builtins.exec [\"open('{canary}', 'w')\"]",
        f"!!python/object/apply:builtins.eval [\"open('{canary}', 'w')\"]",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/object:pathlib.Path {}",
        "!!python/tuple [1, 2]",
        "!!python/bytes aGk=",
        "!!python/complex 1+2j",
        f"!<tag:yaml.org,2002:python/object/apply:os.system> ['{touch}']",
        "!!binary aGVsbG8=",
        "!!binary '@@@'",
        "!!set {a, b}",
        "!!omap [{a: 1}, {b: 2}]",
        "!!pairs [{a: 1}]",
        "!!timestamp 2001-12-14",
        "!!float nan",
        "!!int 0x10",
        "!!int abc",
        "!!bool maybe",
        "!!str 1",
        "!!null x",
        "!foo bar",
        "!!foo bar",
        "!<!> x",
        "!local {a: 1}",
        "!<tag:example.com,2000:app/x> 1",
        "!!value =",
        "!!merge x",
    ]


def python_tag(rng: random.Random, base: Base, canary: str) -> Case:
    payloads = tag_payloads(canary)
    payload = rng.choice(payloads)
    where = rng.choice(["value", "value", "document", "key", "directive"])
    if where == "document":
        return case(f"tag document {payload[:40]}", payload + "\n", "yaml")
    if where == "key":
        return case(f"tag key {payload[:40]}", f"? {payload}\n: 1\n" + base.text, "yaml")
    if where == "directive":
        touch = f"touch {canary}"
        text = (
            f"%TAG !p! tag:yaml.org,2002:python/\n---\nsaga: !p!object/apply:os.system "
            f"['{touch}']\nsteps: []\n"
        )
        return case("tag %TAG directive", text, "yaml")
    text, at = splice(rng, base.data, "yaml", payload)
    return case(f"tag {payload[:40]} at {at}", text, fmt_of(rng, 0.1))


def laughs(levels: int, width: int, *, mapping: bool = False) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        refs = [f"*a{i - 1}"] * width
        body = (
            "{" + ", ".join(f"k{j}: {r}" for j, r in enumerate(refs)) + "}"
            if mapping
            else "[" + ", ".join(refs) + "]"
        )
        lines.append(f"a{i}: &a{i} {body}")
    return "\n".join(lines) + "\n"


def alias_bomb(rng: random.Random, base: Base, canary: str) -> Case:
    kind = rng.choice(
        [
            "laughs",
            "laughs-map",
            "merge-chain",
            "recursive-seq",
            "recursive-map",
            "recursive-merge",
            "fan-out",
            "steps",
            "small",
        ]
    )
    if kind == "laughs":
        return case("alias billion laughs", laughs(rng.choice([6, 9, 12]), 10), "yaml")
    if kind == "laughs-map":
        return case("alias laughs mapping", laughs(rng.choice([6, 9]), 9, mapping=True), "yaml")
    if kind == "merge-chain":
        n = rng.choice([100, 5_000, 30_000])
        body = "m0: &m0 {" + ", ".join(f"k{j}: 1" for j in range(10)) + "}\n"
        body += "".join(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m0], x{i}: 1}}\n" for i in range(1, n))
        return case(f"alias merge chain {n}", body, "yaml")
    if kind == "recursive-seq":
        return case("alias recursive sequence", "saga: s\nsteps: &a [*a]\n", "yaml")
    if kind == "recursive-map":
        return case(
            "alias recursive mapping", "saga: s\nsteps: []\nlayout: &l {a: {x: *l}}\n", "yaml"
        )
    if kind == "recursive-merge":
        return case("alias recursive merge", "saga: s\nsteps: []\ndefaults: &d {<<: *d}\n", "yaml")
    if kind == "fan-out":
        n = rng.choice([1_000, 100_000])
        body = (
            "saga: s\nsteps: []\nx: &x ["
            + ", ".join(["1"] * 100)
            + "]\ny: ["
            + ", ".join(["*x"] * n)
            + "]\n"
        )
        return case(f"alias fan-out {n}", body, "yaml")
    if kind == "steps":
        first = json.dumps(base.data["steps"][0])
        copies = rng.choice([1, 3, 200])
        body = f"saga: s\nsteps:\n  - &s0 {first}\n" + "  - *s0\n" * copies
        return case(f"alias repeats a step x{copies}", body, "yaml")
    return case("alias small", "saga: &n s\nsteps: []\ndescription: *n\n", "yaml")


def merge_keys(rng: random.Random, base: Base, canary: str) -> Case:
    steps = base.data["steps"]
    kind = rng.choice(
        ["template", "override-name", "bad-scalar", "bad-list", "alias-scalar", "top"]
    )
    first = json.dumps({k: v for k, v in steps[0].items() if k != "name"})
    lines = ["saga: merged", "steps:", f"  - &base {json.dumps(steps[0])}"]
    if kind == "template":
        lines += [
            f"  - {{<<: *base, name: s{i}, after: [{steps[0]['name']}]}}" for i in range(1, 4)
        ]
    elif kind == "override-name":
        lines += [f"  - {{<<: *base, name: {steps[0]['name']}}}"]
    elif kind == "bad-scalar":
        lines += ["  - {<<: 1, name: x, action: a.b}"]
    elif kind == "bad-list":
        lines += ["  - {<<: [1, 2], name: x, action: a.b}"]
    elif kind == "alias-scalar":
        lines = ["saga: &n merged", "steps:", "  - {<<: *n, name: x, action: a.b}"]
    else:
        lines = [f"base: &b {first}", "<<: *b", "saga: merged", "steps: []"]
    return case(f"merge {kind}", "\n".join(lines) + "\n", "yaml")


def size_edge(rng: random.Random, base: Base, canary: str) -> Case:
    fmt = fmt_of(rng, 0.4)
    text = dump(rng, base.data, fmt)
    target = MIB + rng.choice([-1, 0, 0, 1, 1, 2, 100, MIB])
    pad = target - len(text.encode())
    if fmt == "json":
        text += " " * pad
    else:
        style = rng.choice(["comment", "comments", "blank"])
        if style == "comment":
            text += "#" + "x" * (pad - 2) + "\n"
        elif style == "comments":
            line = "# " + "y" * 97 + "\n"
            text += line * (pad // len(line)) + "#" * (pad % len(line))
        else:
            text += "\n" * pad
    assert len(text.encode()) == target
    return case(f"size {target - MIB:+d} bytes around 1 MiB", text, fmt)


EMPTY = [
    "",
    " ",
    "\n\n",
    "---",
    "---\n...\n",
    "...",
    "~",
    "null",
    "# only a comment\n",
    "[]",
    "{}",
    "0",
    '""',
    "\ufeff",
    "\t",
    "- ",
    "? ",
    ":",
    "---\n---\n",
    "%YAML 1.1\n---\n",
]


def empty(rng: random.Random, base: Base, canary: str) -> Case:
    text = rng.choice(EMPTY)
    return case(f"empty {text!r}", text, fmt_of(rng))


def multi_document(rng: random.Random, base: Base, canary: str) -> Case:
    text = base.text
    kind = rng.choice(
        ["two", "explicit-start", "explicit-end", "trailing-start", "three", "stream-json"]
    )
    variants = {
        "two": text + "\n---\n" + text,
        "explicit-start": "---\n" + text,
        "explicit-end": text + "...\n",
        "trailing-start": text + "---\n",
        "three": "---\n" + text + "---\nsaga: b\n---\n[]\n",
        "stream-json": json.dumps(base.data) + "\n" + json.dumps(base.data),
    }
    return case(
        f"multi-document {kind}", variants[kind], "json" if kind == "stream-json" else "yaml"
    )


def tabs(rng: random.Random, base: Base, canary: str) -> Case:
    lines = base.text.splitlines(keepends=True)
    kind = rng.choice(["indent", "indent-all", "after-colon", "in-flow", "tab-line"])
    i = rng.randrange(len(lines))
    if kind == "indent":
        lines[i] = lines[i].replace("  ", "\t", 1)
    elif kind == "indent-all":
        lines = [line.replace("  ", "\t") for line in lines]
    elif kind == "after-colon":
        lines[i] = lines[i].replace(": ", ":\t", 1)
    elif kind == "in-flow":
        lines[i] = lines[i].replace(", ", ",\t")
    else:
        lines.insert(i, "\t\n")
    return case(f"tabs {kind} line {i + 1}", "".join(lines), "yaml")


CONTROL = [chr(c) for c in range(0, 32) if c not in (9, 10, 13)] + [
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\ud800",
]


def control_chars(rng: random.Random, base: Base, canary: str) -> Case:
    kind = rng.choice(["raw", "raw", "escaped-key", "escaped-value", "json-escape"])
    ch = rng.choice(CONTROL)
    if kind == "raw":
        text = base.text
        for _ in range(rng.choice([1, 3])):
            pos = rng.randrange(len(text))
            text = text[:pos] + ch + text[pos:]
        return case(f"control raw {ch!r}", text, "yaml")
    escaped = json.dumps(f"bad{ch}key")  # JSON escapes are valid YAML double-quoted escapes
    if kind == "escaped-key":
        return case(f"control in key {ch!r}", base.text + f"{escaped}: 1\n", "yaml")
    if kind == "escaped-value":
        text, _ = splice(rng, base.data, "yaml", escaped)
        return case(f"control in value {ch!r}", text, "yaml")
    data = copy.deepcopy(base.data)
    data[f"k{ch}"] = f"v{ch}"
    data.setdefault("layout", {})[f"l{ch}/~"] = {"x": 1}
    return case(f"control json {ch!r}", json.dumps(data), "json")


def long_line(rng: random.Random, base: Base, canary: str) -> Case:
    n = rng.choice([100_000, 500_000, 1_040_000])
    kind = rng.choice(["plain", "quoted", "comment"] * 2 + ["many-nodes"])
    if kind == "comment":
        return case(f"long comment line {n}", base.text + "#" + "z" * n + "\n", "yaml")
    if kind == "many-nodes":  # one line of tiny scalars: 20,000 nodes, or past the node limit
        n = rng.choice([60_000, 60_000, 60_000, 700_000])
        items = ", ".join(["a"] * (n // 3))
        return case(
            f"long flow line {n}", f"saga: s\nsteps: []\nlayout: {{k: [{items}]}}\n", "yaml"
        )
    value = "y" * n if kind == "plain" else json.dumps("y " * (n // 2))
    text, where = splice(rng, base.data, "yaml", value)
    return case(f"long {kind} line {n} at {where}", text, "yaml")


def duplicate_keys(rng: random.Random, base: Base, canary: str) -> Case:
    kind = rng.choice(["saga", "steps", "in-step", "json", "layout"])
    if kind == "saga":
        return case("duplicate key saga", base.text + "saga: other\n", "yaml")
    if kind == "steps":
        return case("duplicate key steps", base.text + "steps: []\n", "yaml")
    if kind == "in-step":
        step = base.data["steps"][0]
        return case(
            "duplicate key in step",
            "saga: s\nsteps:\n  - {name: a, name: b, action: "
            f"{step['action']}, action: x.y, compensation: c.d}}\n",
            "yaml",
        )
    if kind == "layout":
        return case(
            "duplicate key layout",
            base.text.rstrip("\n") + "\n  reserve_seat: {x: 9, y: 9}\n",
            "yaml",
        )
    body = json.dumps(base.data)
    return case("duplicate key json", '{"saga": "first", ' + body[1:], "json")


NUMBERS_YAML = [
    "1e999",
    "-1e999",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "+.inf",
    "0x" + "f" * 20,
    "0x" + "f" * 5000,
    "0o777",
    "0b101",
    "1_000",
    "9" * 30,
    "9" * 5000,
    "-0",
    "1e-999",
    "1:30",
    "59:59:59",
    ":".join(["59"] * 2000),
    "0x",
    "1.",
    ".5",
    "1e",
    "nan",
    "Infinity",
    "-1",
    "0",
    "1.0e+3",
    "3.",
    "007",
    "!!int '1_'",
    "!!float '.'",
]
NUMBERS_JSON = [
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    "9" * 5000,
    "1E400",
    "-0",
    "0." + "0" * 400 + "1",
    "1e-999",
    "01",
    "1.",
    ".5",
    "+1",
    "0x10",
    "9" * 4300,
]
NUMERIC_FIELDS = {
    "version",
    "max_attempts",
    "backoff",
    "initial_interval",
    "max_interval",
    "timeout",
    "x",
    "y",
    "failure_rate",
    "flaky_rate",
    "latency_p50",
    "latency_p95",
}


def numbers(rng: random.Random, base: Base, canary: str) -> Case:
    fmt = fmt_of(rng, 0.4)
    data = copy.deepcopy(base.data)
    data.setdefault("version", 1)
    numeric = [p for p in paths(data) if p and p[-1] in NUMERIC_FIELDS]
    where = rng.choice(numeric)
    value = rng.choice(NUMBERS_JSON if fmt == "json" else NUMBERS_YAML)
    text, at = splice(rng, data, fmt, value, where=where)
    return case(f"number {value[:24]} at {at}", text, fmt)


TIMESTAMPS = [
    "2001-12-14t21:59:43.10-05:00",
    "2002-12-14",
    "2001-13-45",
    "2001-02-30",
    "2001-12-14 21:59:43.10 -5",
    "!!timestamp 2001-02-29",
    "1999-12-31T23:59:60Z",
    "9999-12-31",
    "0000-01-01",
    "2001-12-14T25:00:00",
]


def timestamps(rng: random.Random, base: Base, canary: str) -> Case:
    value = rng.choice(TIMESTAMPS)
    text, at = splice(rng, base.data, "yaml", value)
    return case(f"timestamp {value} at {at}", text, "yaml")


def anchors(rng: random.Random, base: Base, canary: str) -> Case:
    """Anchors and aliases that reference steps, names and the layout (not bombs)."""
    steps = base.data["steps"]
    kind = rng.choice(
        [
            "name-alias",
            "after-alias",
            "layout-alias",
            "whole-steps",
            "undefined",
            "duplicate-anchor",
        ]
    )
    s0 = json.dumps({k: v for k, v in steps[0].items() if k != "name"})
    texts = {
        "name-alias": "saga: s\nsteps:\n  - {name: &n a, **X}\n  - {name: *n, **X}\n",
        "after-alias": "saga: s\nsteps:\n  - {name: &n a, **X}\n"
        "  - {name: b, after: [*n, *n], **X}\n",
        "layout-alias": "saga: s\nsteps:\n  - {name: a, **X}\n"
        "layout: {a: &p {x: 1, y: 2}, b: *p}\n",
        "whole-steps": "saga: s\nsteps: &all\n  - {name: a, **X}\nlayout: *all\n",
        "undefined": "saga: s\nsteps:\n  - *nowhere\n",
        "duplicate-anchor": "saga: &a s\nsteps: &a []\n",
    }
    text = texts[kind].replace("**X", s0[1:-1].replace('"', ""))
    return case(f"anchors {kind}", text, "yaml")


def corrupt(rng: random.Random, base: Base, canary: str) -> Case:
    fmt = fmt_of(rng, 0.4)
    raw = dump(rng, base.data, fmt).encode()
    kind = rng.choice(["truncate", "flip", "delete-line", "duplicate-line", "swap-lines", "indent"])
    if kind == "truncate":
        raw = raw[: rng.randrange(len(raw))]
    elif kind == "flip":
        buf = bytearray(raw)
        for _ in range(rng.choice([1, 5, 50])):
            buf[rng.randrange(len(buf))] = rng.randrange(32, 127)
        raw = bytes(buf)
    else:
        lines = raw.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        if kind == "delete-line":
            del lines[i]
        elif kind == "duplicate-line":
            lines.insert(i, lines[i])
        elif kind == "swap-lines":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = b" " * rng.choice([1, 3, 7]) + lines[i]
        raw = b"".join(lines)
    return case(f"corrupt {kind}", raw, fmt)


JSON_BROKEN = [
    '{"saga": "s", "steps": [],}',
    '{"saga": "s", /* c */ "steps": []}',
    "{'saga': 's', 'steps': []}",
    '{saga: "s", steps: []}',
    '{"saga": "s"} {"x": 1}',
    '{"saga": NaN}',
    '{"saga": Infinity}',
    '{"saga": -Infinity}',
    '{"saga": "\\ud800"}',
    '{"saga": "a\x01b"}',
    '{"saga": "s", "steps": [' * 1 + "]",
    "[" * 100_000,
    '{"saga": "s", "steps": [], "version": ' + "1" * 5000 + "}",
    '"just a string"',
    "null",
    "true",
    "1",
    '{"": 1}',
    '{"saga": "s", "steps": [{"name": "a", "action": "x.a", '
    '"compensation": "x.b", "after": ["a"]}]}',
]


def json_specific(rng: random.Random, base: Base, canary: str) -> Case:
    text = rng.choice(JSON_BROKEN)
    return case(f"json {text[:30]!r}", text, "json")


MUTATIONS: list[Mutation] = [
    wrong_type,
    missing_field,
    cycle,
    unknown_name,
    huge_string,
    deep_nesting,
    non_utf8,
    bom,
    python_tag,
    alias_bomb,
    merge_keys,
    size_edge,
    empty,
    multi_document,
    tabs,
    control_chars,
    long_line,
    duplicate_keys,
    numbers,
    timestamps,
    anchors,
    corrupt,
    json_specific,
    wrong_type,
    python_tag,  # twice: the richest kinds
]


def mutation_case(index: int, *, seed: int = SEED, canary: str = "/nonexistent/canary") -> Case:
    """The ``index``-th case of the corpus: rebuilt alone, identical every time."""
    rng = random.Random(f"{seed}:{index}")
    mutation = MUTATIONS[index % len(MUTATIONS)]
    base = BASES[(index // len(MUTATIONS)) % len(BASES)]
    made = mutation(rng, base, canary)
    label = f"#{index}" if seed == SEED else f"#{index} seed={seed}"
    return Case(f"{label} {mutation.__name__} ({base.name}): {made.label}", made.raw, made.fmt)


def mutation_corpus(
    count: int, *, seed: int = SEED, canary: str = "/nonexistent/canary"
) -> Iterator[Case]:
    for index in range(count):
        yield mutation_case(index, seed=seed, canary=canary)


# -- hypothesis ---------------------------------------------------------------------------
STEP_FIELDS = [
    "name",
    "action",
    "compensation",
    "kind",
    "read_only",
    "after",
    "retry",
    "compensation_retry",
    "timeout",
    "simulate",
    "description",
]
TOP_FIELDS = ["saga", "version", "description", "defaults", "steps", "layout"]
NAMES = st.sampled_from(
    [
        "a",
        "b",
        "c",
        "p",
        "r",
        "x.a",
        "x.b",
        "svc.do",
        "pivot",
        "retriable",
        "compensatable",
        "flight.reserve_seat",
        "payments.refund",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    NAMES,
    st.sampled_from(["1s", "500ms", "1h30m", "-1s", "8d", "1e999", "", " ", "0", "2001-12-14"]),
    st.dates(),
    st.binary(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), NAMES), inner, max_size=4),
    ),
    max_leaves=12,
)
STEPS = st.lists(
    st.dictionaries(
        st.sampled_from(STEP_FIELDS),
        st.one_of(NAMES, VALUES, st.lists(NAMES, max_size=3)),
        max_size=len(STEP_FIELDS),
    ),
    max_size=6,
)
DEFINITIONS = st.fixed_dictionaries(
    {},
    optional={
        "saga": st.one_of(NAMES, VALUES),
        "version": VALUES,
        "description": VALUES,
        "defaults": st.one_of(
            VALUES,
            st.dictionaries(
                st.sampled_from(
                    ["retry", "timeout", "compensation", "compensation_retry", "bogus"]
                ),
                VALUES,
            ),
        ),
        "steps": st.one_of(STEPS, VALUES),
        "layout": VALUES,
        "extra": VALUES,
    },
)
FRAGMENTS = [
    "saga: ",
    "steps:",
    "\n",
    "  ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    ": ",
    "&a ",
    "*a",
    "<<: ",
    "!!python/name:os.system ",
    "!!binary ",
    "!!set ",
    "? ",
    "---\n",
    "...\n",
    "%TAG ! x\n",
    "'",
    '"',
    "\\",
    "#",
    "|",
    ">",
    "\t",
    "\x00",
    "\ufeff",
    "name: a",
    "action: x.a",
    "after: [a]",
    "kind: pivot",
    "1e999",
    ".nan",
    "~",
    "\u2028",
]


def _serialise(data: Any, fmt: str, flow: bool | None) -> bytes:
    if fmt == "json":
        return json.dumps(data, default=str).encode()
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=flow
    ).encode("utf-8", "surrogatepass")


@st.composite
def saga_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed definitions with random graphs: what reaches the validation rules
    (cycles, pivots, kinds, unknown steps and actions, duplicates)."""
    names = [f"s{i}" for i in range(draw(st.integers(1, 8)))]
    steps = []
    for name in names:
        step: dict[str, Any] = {
            "name": draw(st.sampled_from([name, name, name, "s0", "ghost"])),
            "action": draw(st.sampled_from(["flight.reserve_seat", "payments.charge", "nope.x"])),
        }
        if draw(st.booleans()):
            step["compensation"] = draw(st.sampled_from(["payments.refund", "nope.y"]))
        kind = draw(st.sampled_from([None, None, "compensatable", "pivot", "retriable"]))
        if kind:
            step["kind"] = kind
        after = draw(st.lists(st.sampled_from([*names, "ghost"]), max_size=3))
        if after:
            step["after"] = after
        if draw(st.integers(0, 4)) == 0:
            step["read_only"] = True
        steps.append(step)
    data: dict[str, Any] = {"saga": "fuzz", "steps": steps}
    if draw(st.booleans()):
        placed = draw(st.lists(st.sampled_from([*names, "ghost"])))
        data["layout"] = {n: {"x": 1, "y": 2} for n in placed}
    return data


@st.composite
def documents(draw: st.DrawFn, canary: str) -> Case:
    """Generated documents: definition-shaped data of any type, well-formed sagas with random
    graphs (dumped as YAML or JSON), token soup with YAML syntax and python tags, raw bytes."""
    kind = draw(st.sampled_from(["definition", "saga", "saga", "soup", "soup", "bytes"]))
    if kind == "saga":
        fmt = draw(st.sampled_from(["yaml", "json"]))
        return Case(f"hypothesis saga {fmt}", _serialise(draw(saga_shaped()), fmt, None), fmt)
    if kind == "definition":
        data = draw(DEFINITIONS)
        fmt = draw(st.sampled_from(["yaml", "yaml", "json"]))
        flow = draw(st.sampled_from([False, None, True]))
        return Case(f"hypothesis definition {fmt}", _serialise(data, fmt, flow), fmt)
    if kind == "soup":
        payloads = [p for p in tag_payloads(canary) if "touch" in p or "open(" in p]
        parts = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(FRAGMENTS), st.sampled_from(payloads), st.text(max_size=8)
                ),
                max_size=40,
            )
        )
        fmt = draw(st.sampled_from(["yaml", "yaml", "json"]))
        return Case(f"hypothesis soup {fmt}", "".join(parts).encode("utf-8", "surrogatepass"), fmt)
    return Case(
        "hypothesis bytes", draw(st.binary(max_size=512)), draw(st.sampled_from(["yaml", "json"]))
    )
