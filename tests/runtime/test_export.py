"""DOT, Mermaid, SVG and PNG export of a definition."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime import export
from runtime.definition import SagaDefinition
from runtime.errors import SagaError
from runtime.export import (
    ExportError,
    GraphvizNotInstalledError,
    digraph,
    export_bytes,
    export_text,
    render,
    to_dot,
    to_mermaid,
)
from runtime.loading import load_definition

SAMPLES = Path(__file__).resolve().parents[2] / "sample_sagas"
HAS_DOT = shutil.which("dot") is not None


@pytest.fixture
def flight() -> SagaDefinition:
    return load_definition(SAMPLES / "flight_booking.yaml")


def test_dot_has_every_step_and_arrow(flight: SagaDefinition) -> None:
    dot = to_dot(flight)
    assert dot.lstrip("/ ").split("\n", 1)[1].startswith("digraph flight_booking {")
    for step in flight.steps:
        assert f"\t{step.name} [label=\"{step.name}\\n{step.action}" in dot
    assert "charge_payment\\npayments.charge\\n↩ payments.refund\\n[compensatable]" in dot
    assert "reserve_seat -> charge_payment" in dot and "issue_ticket -> send_confirmation" in dot
    assert "penwidth=2.5" in dot  # the pivot stands out
    assert dot.count("->") == 3


def test_dot_quotes_keywords_and_flattens_the_description() -> None:
    definition = SagaDefinition.model_validate({
        "saga": "graph", "description": "line 1\n}\ndigraph evil {", "steps": [
            {"name": "node", "action": "a", "read_only": True},
            {"name": "edge", "action": "b", "read_only": True, "after": ["node"]}]})
    dot = to_dot(definition)
    assert dot.splitlines()[0] == "// line 1 } digraph evil {"
    assert '"node" -> "edge"' in dot and 'digraph "graph" {' in dot


def test_node_attributes_can_be_overridden(flight: SagaDefinition) -> None:
    graph = digraph(flight, {"charge_payment": {"fillcolor": "#ff0000"}})
    assert 'fillcolor="#ff0000"' in graph.source


def test_mermaid(flight: SagaDefinition) -> None:
    text = to_mermaid(flight)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert lines[1] == ('    s0["reserve_seat<br/>flight.reserve_seat<br/>↩ flight.release_seat'
                        '<br/>[compensatable]"]')
    assert lines[3] == '    s2{{"issue_ticket<br/>tickets.issue<br/>[pivot]"}}'
    assert lines[4].startswith('    s3(["send_confirmation')
    assert lines[5:] == ["    s0 --> s1", "    s1 --> s2", "    s2 --> s3"]


def test_mermaid_ids_do_not_clash_with_keywords() -> None:
    definition = SagaDefinition.model_validate({"saga": "s", "steps": [
        {"name": "end", "action": "a", "read_only": True}]})
    assert to_mermaid(definition).splitlines()[1].startswith('    s0["end<br/>')


def test_text_formats(flight: SagaDefinition) -> None:
    assert export_text(flight, "yaml").startswith("saga: flight_booking")
    assert export_bytes(flight, "json").startswith(b"{")
    with pytest.raises(ExportError, match="unknown format"):
        export_bytes(flight, "pdf")
    with pytest.raises(ExportError, match="not a text format"):
        export_text(flight, "png")


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is missing (apt-get install graphviz)")
def test_svg_and_png_with_dot(flight: SagaDefinition) -> None:
    svg = render(flight, "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and b"charge_payment" in svg
    assert export_bytes(flight, "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_svg_without_dot_says_how_to_install_it(flight: SagaDefinition,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotInstalledError) as err:
        render(flight, "svg")
    assert isinstance(err.value, SagaError) and err.value.format == "svg"
    assert "apt-get install graphviz" in str(err.value)
    assert "brew install graphviz" in str(err.value)
    assert not export.dot_available()


def test_png_without_dot_on_the_path(flight: SagaDefinition, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotInstalledError, match="`dot` program is not installed"):
        export_bytes(flight, "png")


def test_dot_vanishing_between_the_check_and_the_call(flight: SagaDefinition,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(export.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotInstalledError):
        render(flight, "svg")


def test_render_only_draws_pictures(flight: SagaDefinition) -> None:
    with pytest.raises(ExportError, match="render"):
        render(flight, "yaml")  # type: ignore[arg-type]


def test_a_failing_dot_is_one_clear_error(flight: SagaDefinition,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import graphviz

    def fail(self: object, format: str) -> bytes:
        raise graphviz.CalledProcessError(1, ["dot"], stderr=b"Error: syntax error in line 3\n")

    monkeypatch.setattr(export.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graphviz.Digraph, "pipe", fail)
    with pytest.raises(ExportError, match=r"cannot export SVG: `dot` failed: Error: syntax error"):
        render(flight, "svg")
