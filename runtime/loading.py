"""Reading definition documents safely: size, encoding, YAML/JSON syntax, alias bombs,
nesting depth and shape, every problem reported as a :class:`DefinitionError` whose lines
name the file, the JSON path and the rule. Nothing here can execute code: YAML goes through
``yaml.SafeLoader`` only (its libyaml twin ``CSafeLoader`` when available: same constructor,
parsing in C, so a 1 MiB document takes well under a second; see docs/hostile-input.md).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError, Issue
from runtime.limits import DEFAULT_LIMITS, Limits

MAX_REPORTED_ISSUES = 1000
"""Issues listed per document; the rest are counted in one last ``too-many-issues`` issue, so
a 600 KB list of bad names cannot turn into 200,000 lines of output."""


def load_definition(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> SagaDefinition:
    """Read, parse and shape-check a YAML or JSON file (graph rules: ``validation``)."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > limits.max_document_bytes:
            raise DefinitionError(source, [_too_big(size, limits)])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DefinitionError(source, [Issue("/", "file-not-found", "no such file",
                                             "check the path")]) from None
    except IsADirectoryError:
        raise DefinitionError(source, [Issue("/", "not-a-file", "is a directory",
                                             "give a .yaml or .json file")]) from None
    except OSError as exc:
        raise DefinitionError(source, [Issue("/", "unreadable", exc.strerror or str(exc))]) from None
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_definition(raw, source=source, fmt=fmt, limits=limits)


def parse_definition(raw: bytes | str, *, source: str = "<document>", fmt: str = "yaml",
                     limits: Limits = DEFAULT_LIMITS) -> SagaDefinition:
    """Parse a document's bytes or text; ``fmt`` is ``yaml`` (a superset of JSON) or ``json``."""
    data = parse_document(raw, source=source, fmt=fmt, limits=limits)
    steps = data.get("steps")
    if isinstance(steps, list) and len(steps) > limits.max_steps:  # before pydantic sees them
        raise DefinitionError(source, [too_many_steps(len(steps), limits)])
    return definition_from_data(data, source=source)


def parse_document(raw: bytes | str, *, source: str, fmt: str = "yaml",
                   limits: Limits = DEFAULT_LIMITS,
                   shape: str = "a definition is a mapping with 'saga' and 'steps'") -> Any:
    """Bytes -> plain data (a mapping: ``shape`` says of what), with every guard applied before
    and during parsing."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > limits.max_document_bytes:
        raise DefinitionError(source, [_too_big(len(raw), limits)])
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM is accepted and dropped
    except UnicodeDecodeError as exc:
        raise DefinitionError(source, [Issue(
            "/", "encoding", f"not UTF-8 (byte {exc.start} is 0x{raw[exc.start]:02x})",
            "save the file as UTF-8")]) from None
    if "\x00" in text:
        raise DefinitionError(source, [Issue("/", "encoding", "contains a NUL character",
                                             "save the file as UTF-8 text")])
    try:
        if fmt == "json":
            data = _parse_json(text)
            _check_json_size(data, limits.max_yaml_nodes)
        else:
            data = _parse_yaml(text, limits)
    except RecursionError:
        raise DefinitionError(source, [_too_deep(limits)]) from None
    except _DuplicateKeys as exc:
        raise DefinitionError(source, exc.issues) from None
    except (yaml.YAMLError, ValueError, _TooLarge) as exc:  # ValueError: JSON (digits, ...)
        if getattr(exc, "problem", None) == "exceeded maximum nesting depth":  # libyaml's guard
            raise DefinitionError(source, [_too_deep(limits)]) from None
        raise DefinitionError(source, [_syntax_issue(exc, fmt)]) from None
    depth = _depth(data, limits.max_nesting_depth)
    if depth > limits.max_nesting_depth:
        raise DefinitionError(source, [_too_deep(limits)])
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise DefinitionError(source, [Issue("/", "not-a-mapping", f"the document is {kind}", shape)])
    huge = _huge_integers(data)
    if huge:
        raise DefinitionError(source, huge)
    return data


def definition_from_data(data: Any, *, source: str = "<document>") -> SagaDefinition:
    try:
        return SagaDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(source, issues_from_pydantic(exc)) from None
    except ArithmeticError as exc:  # a field validator overflowed (e.g. a duration of .inf)
        raise DefinitionError(source, [Issue(
            "/", "value-out-of-range", f"a number in the document is out of range ({exc})",
            "use finite values of a sensible size")]) from None


def issues_from_pydantic(exc: ValidationError,
                         fields: str = "`saga schema` lists the fields") -> list[Issue]:
    """pydantic's errors as issues; ``fields`` says where the allowed fields are listed."""
    issues = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_REPORTED_ISSUES]:
        path = "/" + "/".join(pointer_part(part) for part in error["loc"]) if error["loc"] else "/"
        rule = error["type"].replace("_", "-")
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        hint = ""
        if rule == "extra-forbidden":
            message, hint = "unknown field", f"remove it or check its spelling ({fields})"
        elif rule == "missing":
            message, hint = "required field is missing", "add it"
        elif rule == "string-pattern-mismatch":
            hint = "use letters, digits, '_' and '-' (actions may add '.'-separated parts)"
        issues.append(Issue(path, rule, message, hint))
    return cap_issues(issues, len(errors))


def cap_issues(issues: list[Issue], total: int | None = None) -> list[Issue]:
    """The first ``MAX_REPORTED_ISSUES`` issues and, if there were more, one that counts them."""
    total = len(issues) if total is None else total
    if total <= MAX_REPORTED_ISSUES:
        return issues
    return issues[:MAX_REPORTED_ISSUES] + [Issue(
        "/", "too-many-issues", f"{total - MAX_REPORTED_ISSUES} more problems are not listed",
        "fix the ones above first")]


def pointer_part(part: object) -> str:
    """One JSON-pointer segment (RFC 6901 ``~0``/``~1``), control characters escaped, so a
    key from the document can neither fake a path nor break the one-line-per-issue output."""
    text = str(part).replace("~", "~0").replace("/", "~1")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class _TooLarge(Exception):
    """A document over ``Limits.max_yaml_nodes`` (``alias-expansion`` when aliases repeat
    content, ``too-many-nodes`` when it is simply that big)."""

    def __init__(self, message: str, rule: str = "alias-expansion") -> None:
        super().__init__(message)
        self.rule = rule


class _DuplicateKeys(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} duplicate keys")
        self.issues = issues


def _duplicate_key(path: str, key: object, lines: str = "") -> Issue:
    return Issue(path, "duplicate-key", f"key '{pointer_part(key)}' is given more than once in "
                 f"the same mapping{lines}; only the last would count", "keep one of them")


def _parse_json(text: str) -> Any:
    def no_constants(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not valid JSON", text, 0)

    repeated: dict[int, list[str]] = {}  # id of an object -> its keys given more than once

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            repeated[id(obj)] = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
        return obj

    data = json.loads(text, parse_constant=no_constants, object_pairs_hook=unique_keys)
    if repeated:  # the objects are all alive in ``data``, so their ids still name them
        raise _DuplicateKeys(cap_issues([
            _duplicate_key(f"{path}/{pointer_part(key)}", key) for item, path in _values(data)
            if isinstance(item, dict) for key in repeated.get(id(item), ())]))
    return data


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BadValue(yaml.constructor.ConstructorError):
    """A scalar that matches a YAML type but cannot be built (``2001-13-45``, ``!!int abc``)."""


class _SafeLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml's parser (the pure-Python one without libyaml) with PyYAML's SafeConstructor,
    whose scalar constructors raise bare ValueError, KeyError, ... on values like
    ``2001-13-45``, ``!!bool maybe`` or a 5,000-digit int: turned into marked YAML errors."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError,
                ValueError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise _BadValue(None, None, f"cannot read this {kind} value ({exc})",
                            node.start_mark) from None


def _parse_yaml(text: str, limits: Limits) -> Any:
    _check_expanded_size(text, limits.max_yaml_nodes)  # before any node is built
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        repeated = _duplicate_yaml_keys(node)
        if repeated:
            raise _DuplicateKeys(cap_issues(repeated))
        return loader.construct_document(node)
    finally:
        loader.dispose()


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _duplicate_yaml_keys(root: yaml.Node) -> list[Issue]:
    """Keys given twice in one mapping, by path and lines: YAML keeps the last without a word,
    so a second ``compensation:`` would quietly replace the first. Keys a merge (``<<: *base``)
    brings in may be overridden: that is what a merge is for. Each node is walked once, however
    many aliases name it."""
    issues: list[Issue] = []
    walked: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in walked:
            continue
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}  # (tag, text) of a key -> its line
            children = []
            for key, value in node.value:
                if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                    children.append((value, path))  # checked as mappings of their own
                    continue
                where, line = f"{path}/{pointer_part(key.value)}", key.start_mark.line + 1
                if (key.tag, key.value) in first:
                    issues.append(_duplicate_key(
                        where, key.value, f" (lines {first[key.tag, key.value]} and {line})"))
                else:
                    first[key.tag, key.value] = line
                children.append((value, where))
            stack.extend(reversed(children))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}/{i}") for i, item in reversed(list(enumerate(node.value))))
    return issues


def _check_expanded_size(text: str, maximum: int) -> None:
    """Count nodes as if every alias were copied out, from the parser's events alone (no node
    is built, nothing is copied), and stop at the first node over ``maximum``: a 1 MiB
    document of tiny scalars is refused in a fraction of the time composing it would take.
    An alias inside the node it names (``&a [*a]``) would expand forever: rejected."""
    loader = _SafeLoader(text)
    sizes: dict[str, int] = {}        # anchor -> expanded size of the node it names
    open_anchors: set[str] = set()    # anchors of collections not closed yet
    starts: list[tuple[str | None, int]] = []  # per open collection: (anchor, total before it)
    total, aliased = 0, False
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise _TooLarge("an alias refers to a node that contains it, so the document "
                                    "never ends; write the content out instead of the alias")
                total += sizes.get(str(event.anchor), 1)  # an undefined alias fails later
                aliased = True
            elif isinstance(event, yaml.ScalarEvent):
                total += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                starts.append((event.anchor, total))
                total += 1
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before = starts.pop()
                if anchor is not None:
                    sizes[anchor] = total - before
                    open_anchors.discard(anchor)  # duplicate anchors fail when composed
            elif isinstance(event, yaml.DocumentStartEvent):
                sizes.clear()  # anchors are per document
            if total > maximum:
                if aliased:
                    raise _TooLarge(f"the document has over {maximum} YAML nodes, counting what "
                                    "aliases repeat (Limits.max_yaml_nodes); write it out "
                                    "without the aliases, or shorten it")
                raise _TooLarge(f"the document has over {maximum} YAML nodes "
                                "(Limits.max_yaml_nodes); shorten it", "too-many-nodes")
    finally:
        loader.dispose()


def _check_json_size(data: Any, maximum: int) -> None:
    """The node limit for JSON too (no aliases there; keys count as nodes, as in YAML)."""
    total, level = 0, [data]
    while level:
        total += len(level)
        if total > maximum:
            raise _TooLarge(f"the document has over {maximum} nodes (Limits.max_yaml_nodes); "
                            "shorten it", "too-many-nodes")
        level = [part for item in level if isinstance(item, dict | list)
                 for part in (item if isinstance(item, list)
                              else [p for pair in item.items() for p in pair])]


def _values(data: Any) -> Iterator[tuple[Any, str]]:
    """Every value in ``data`` (itself included) with its JSON pointer, in document order."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        item, path = stack.pop()
        yield item, path
        if isinstance(item, dict):
            stack.extend((v, f"{path}/{pointer_part(k)}") for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, f"{path}/{i}") for i, v in reversed(list(enumerate(item))))


def _huge_integers(data: Any) -> list[Issue]:
    """YAML (``0xfff...``, ``59:59:...``) and JSON give integers of any size; one past 64 bits
    cannot be stored or even printed (over 4,300 digits), so it is refused here, by path."""
    issues: list[Issue] = []
    for item, path in _values(data):
        if len(issues) >= MAX_REPORTED_ISSUES:
            break
        if type(item) is int and not -(2**63) <= item < 2**63:
            issues.append(Issue(path or "/", "integer-range",
                                f"an integer of {item.bit_length()} bits, outside the signed "
                                "64-bit range",
                                "use a smaller number"))
    return issues


def _depth(data: Any, stop: int) -> int:
    """Levels of nested containers (``{"a": []}`` is 2), counted up to ``stop + 1``."""
    depth, level = 0, [data]
    while depth <= stop:
        containers = [item for item in level if isinstance(item, dict | list | tuple | set)]
        if not containers:
            return depth
        depth += 1
        level = [child for item in containers
                 for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def _syntax_issue(exc: Exception, fmt: str) -> Issue:
    if isinstance(exc, _TooLarge):
        return Issue("/", exc.rule, str(exc))
    if isinstance(exc, json.JSONDecodeError):
        return Issue("/", "json-syntax", f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
                     "fix the JSON syntax")
    if not isinstance(exc, yaml.YAMLError):  # json.loads: e.g. an int of over 4,300 digits
        return Issue("/", f"{fmt}-syntax", _one_line(str(exc)), f"fix the {fmt.upper()} value")
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = _one_line(getattr(exc, "problem", None) or str(exc))
    if problem.startswith("could not determine a constructor"):
        return Issue("/", "yaml-tag", f"{where}tags like !!python/... are not allowed",
                     "definitions are plain data; refer to actions by registered name")
    if isinstance(exc, _BadValue):
        return Issue("/", "yaml-value", f"{where}{problem}",
                     "quote it if it is text, or write a valid number or date")
    return Issue("/", "yaml-syntax", f"{where}{problem}", "fix the YAML syntax")


def _one_line(text: str, limit: int = 300) -> str:
    line = text.splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[:limit] + "..."


def _too_big(size: int, limits: Limits) -> Issue:
    return Issue("/", "document-size",
                 f"the document is {size} bytes, over the limit of {limits.max_document_bytes}",
                 "split it or raise Limits.max_document_bytes")


def too_many_steps(count: int, limits: Limits) -> Issue:
    return Issue("/steps", "too-many-steps",
                 f"{count} steps, over the limit of {limits.max_steps} (Limits.max_steps)",
                 "split the saga or raise Limits.max_steps")


def _too_deep(limits: Limits) -> Issue:
    return Issue("/", "nesting-depth",
                 f"nested deeper than {limits.max_nesting_depth} levels (Limits.max_nesting_depth)",
                 "a definition needs only a few levels")
