"""Reading definition documents safely: size, encoding, YAML/JSON syntax, alias bombs,
nesting depth and shape, every problem reported as a :class:`DefinitionError` whose lines
name the file, the JSON path and the rule. Nothing here can execute code: YAML goes through
``yaml.SafeLoader`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.definition import SagaDefinition
from runtime.errors import DefinitionError, Issue
from runtime.limits import DEFAULT_LIMITS, Limits


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
    return definition_from_data(data, source=source)


def parse_document(raw: bytes | str, *, source: str, fmt: str = "yaml",
                   limits: Limits = DEFAULT_LIMITS) -> Any:
    """Bytes -> plain data, with every guard applied before and during parsing."""
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
        data = _parse_json(text) if fmt == "json" else _parse_yaml(text, limits)
    except RecursionError:
        raise DefinitionError(source, [_too_deep(limits)]) from None
    except (yaml.YAMLError, json.JSONDecodeError, _TooLarge) as exc:
        raise DefinitionError(source, [_syntax_issue(exc, fmt)]) from None
    depth = _depth(data, limits.max_nesting_depth)
    if depth > limits.max_nesting_depth:
        raise DefinitionError(source, [_too_deep(limits)])
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise DefinitionError(source, [Issue("/", "not-a-mapping", f"the document is {kind}",
                                             "a definition is a mapping with 'saga' and 'steps'")])
    return data


def definition_from_data(data: Any, *, source: str = "<document>") -> SagaDefinition:
    try:
        return SagaDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(source, issues_from_pydantic(exc)) from None


def issues_from_pydantic(exc: ValidationError) -> list[Issue]:
    issues = []
    for error in exc.errors(include_url=False):
        path = "/" + "/".join(str(part) for part in error["loc"]) if error["loc"] else "/"
        rule = error["type"].replace("_", "-")
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        hint = ""
        if rule == "extra-forbidden":
            message, hint = "unknown field", "remove it or check its spelling (`saga schema` lists the fields)"
        elif rule == "missing":
            message, hint = "required field is missing", "add it"
        elif rule == "string-pattern-mismatch":
            hint = "use letters, digits, '_' and '-' (actions may add '.'-separated parts)"
        issues.append(Issue(path, rule, message, hint))
    return issues


class _TooLarge(Exception):
    """A YAML document whose aliases expand past ``Limits.max_yaml_nodes``."""


def _parse_json(text: str) -> Any:
    def no_constants(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not valid JSON", text, 0)

    return json.loads(text, parse_constant=no_constants)


def _parse_yaml(text: str, limits: Limits) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node, limits.max_yaml_nodes)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node, maximum: int) -> None:
    """Count nodes as if every alias were copied out, without copying (memoised by identity)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if children_done:
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > maximum:
                raise _TooLarge(f"the document expands to over {maximum} nodes "
                                "(YAML aliases repeat content); write it out without the aliases")
            sizes[id(node)] = total
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)


def _depth(data: Any, stop: int) -> int:
    depth, level = 0, [data]
    while level and depth <= stop:
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list):
                nxt.extend(item)
        depth += 1
        level = nxt
    return depth - 1 if not level else depth


def _syntax_issue(exc: Exception, fmt: str) -> Issue:
    if isinstance(exc, _TooLarge):
        return Issue("/", "alias-expansion", str(exc))
    if isinstance(exc, json.JSONDecodeError):
        return Issue("/", "json-syntax", f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
                     "fix the JSON syntax")
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "python/" in str(exc) or "could not determine a constructor" in str(exc):
        return Issue("/", "yaml-tag", f"{where}tags like !!python/... are not allowed",
                     "definitions are plain data; refer to actions by registered name")
    return Issue("/", "yaml-syntax", f"{where}{problem}", "fix the YAML syntax")


def _too_big(size: int, limits: Limits) -> Issue:
    return Issue("/", "document-size",
                 f"the document is {size} bytes, over the limit of {limits.max_document_bytes}",
                 "split it or raise Limits.max_document_bytes")


def _too_deep(limits: Limits) -> Issue:
    return Issue("/", "nesting-depth", f"nested deeper than {limits.max_nesting_depth} levels",
                 "a definition needs only a few levels")
