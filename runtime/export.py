"""A saga definition as a picture: Graphviz DOT, Mermaid, and SVG/PNG rendered by ``dot``.

    text = to_dot(definition)            # always works (pure Python)
    text = to_mermaid(definition)        # always works
    svg = render(definition, "svg")      # needs Graphviz's `dot` program
    data = export_bytes(definition, "png")

Arrows go from a step to the steps that wait for it (``after``). Each box shows the step's
name, action, compensation (``↩``) and kind; the pivot is drawn bold, retriable steps dashed.
``SVG``/``PNG`` raise :class:`GraphvizNotInstalledError` when ``dot`` is missing; the
message says how to install it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Literal

import graphviz

from runtime.definition import SagaDefinition, StepDefinition, StepKind, dump_json, dump_yaml
from runtime.errors import SagaError

ExportFormat = Literal["yaml", "json", "dot", "mermaid", "svg", "png"]
FORMATS: tuple[ExportFormat, ...] = ("yaml", "json", "dot", "mermaid", "svg", "png")
RENDERED_FORMATS: tuple[ExportFormat, ...] = ("svg", "png")
MEDIA_TYPES: Mapping[str, str] = {
    "yaml": "application/yaml", "json": "application/json", "dot": "text/vnd.graphviz",
    "mermaid": "text/plain", "svg": "image/svg+xml", "png": "image/png",
}
FILE_SUFFIXES: Mapping[str, str] = {
    "yaml": ".yaml", "json": ".json", "dot": ".dot", "mermaid": ".mmd", "svg": ".svg",
    "png": ".png",
}

_FILL = {StepKind.COMPENSATABLE: "#eef3fb", StepKind.PIVOT: "#fff1dc",
         StepKind.RETRIABLE: "#eaf7ec"}


class ExportError(SagaError):
    """A definition could not be exported in the requested format."""

    def __init__(self, fmt: str, reason: str) -> None:
        self.format = fmt
        self.reason = reason
        super().__init__(f"cannot export {fmt.upper()}: {reason}")


class GraphvizNotInstalledError(ExportError):
    """SVG and PNG need Graphviz's ``dot`` program, which is not on the PATH."""

    def __init__(self, fmt: str) -> None:
        super().__init__(
            fmt, "Graphviz's `dot` program is not installed; install it with "
                 "`apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS), "
                 "or export DOT and render it elsewhere")


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH (SVG/PNG export works)."""
    return shutil.which("dot") is not None


def step_label(step: StepDefinition, *, separator: str = "\n") -> str:
    """Name, action, ``↩ compensation`` and ``[kind]``, one per line."""
    lines = [step.name, step.action]
    if step.compensation:
        lines.append(f"↩ {step.compensation}")
    read_only = step.read_only and step.kind is StepKind.COMPENSATABLE
    kind = "read-only" if read_only else step.kind.value
    lines.append(f"[{kind}]")
    return separator.join(lines)


def digraph(definition: SagaDefinition,
            node_attrs: Mapping[str, Mapping[str, str]] | None = None) -> graphviz.Digraph:
    """The saga as a ``graphviz.Digraph``; ``node_attrs`` overrides attributes per step name
    (the Monitor colours steps by failure rate this way)."""
    comment = " ".join(definition.description.split()) if definition.description else None
    graph = graphviz.Digraph(name=definition.saga, comment=comment)
    graph.attr(rankdir="LR", label=f"{definition.saga} v{definition.version}", labelloc="t",
               fontname="Helvetica")
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    graph.attr("edge", color="#5f6b7a", arrowsize="0.8")
    for step in definition.steps:
        attrs = {"label": step_label(step, separator="\\n"), "fillcolor": _FILL[step.kind]}
        if step.kind is StepKind.PIVOT:
            attrs.update(penwidth="2.5", style="rounded,filled,bold")
        elif step.kind is StepKind.RETRIABLE:
            attrs.update(style="rounded,filled,dashed")
        attrs.update((node_attrs or {}).get(step.name, {}))
        graph.node(step.name, **attrs)
    for step in definition.steps:
        for dep in step.after:
            graph.edge(dep, step.name)
    return graph


def to_dot(definition: SagaDefinition) -> str:
    return str(digraph(definition).source)


def to_mermaid(definition: SagaDefinition) -> str:
    """A Mermaid ``flowchart LR``. Node ids are ``s0, s1, ...`` (step names such as ``end``
    are Mermaid keywords); the pivot is a hexagon, retriable steps have rounded ends."""
    ids = {step.name: f"s{i}" for i, step in enumerate(definition.steps)}
    lines = ["flowchart LR"]
    for step in definition.steps:
        label = step_label(step, separator="<br/>").replace('"', "#quot;")
        opening, closing = {StepKind.PIVOT: ("{{", "}}"), StepKind.RETRIABLE: ("([", "])")}.get(
            step.kind, ("[", "]"))
        lines.append(f'    {ids[step.name]}{opening}"{label}"{closing}')
    for step in definition.steps:
        for dep in step.after:
            if dep in ids:
                lines.append(f"    {ids[dep]} --> {ids[step.name]}")
    return "\n".join(lines) + "\n"


def render(definition: SagaDefinition, fmt: Literal["svg", "png"]) -> bytes:
    """Run ``dot`` to draw the saga; raises :class:`GraphvizNotInstalledError` without it."""
    if fmt not in RENDERED_FORMATS:
        raise ExportError(fmt, f"render() draws {', '.join(RENDERED_FORMATS)}")
    if not dot_available():
        raise GraphvizNotInstalledError(fmt)
    try:
        return bytes(digraph(definition).pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise GraphvizNotInstalledError(fmt) from None
    except graphviz.CalledProcessError as exc:
        raw = exc.stderr
        stderr = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
        raise ExportError(fmt, f"`dot` failed: {stderr.strip()[:300]}") from None


def export_text(definition: SagaDefinition, fmt: str) -> str:
    """YAML, JSON, DOT or Mermaid text."""
    if fmt == "yaml":
        return dump_yaml(definition)
    if fmt == "json":
        return dump_json(definition)
    if fmt == "dot":
        return to_dot(definition)
    if fmt == "mermaid":
        return to_mermaid(definition)
    raise ExportError(fmt, "not a text format; choose one of yaml, json, dot, mermaid")


def export_bytes(definition: SagaDefinition, fmt: str) -> bytes:
    """Any format of :data:`FORMATS` as bytes (text formats UTF-8 encoded)."""
    if fmt == "svg":
        return render(definition, "svg")
    if fmt == "png":
        return render(definition, "png")
    if fmt not in FORMATS:
        raise ExportError(fmt, f"unknown format; choose one of {', '.join(FORMATS)}")
    return export_text(definition, fmt).encode("utf-8")
