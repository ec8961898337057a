"""Designs folder, sanitised names, no overwrite without confirmation, exact round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from designer.canvas import canvas_from_definition, definition_from_canvas
from designer.draft import Draft
from designer.files import (
    SAMPLES_DIR,
    DesignExistsError,
    DesignNameError,
    DesignNotFoundError,
    DesignStore,
    design_name,
    designs_dir,
    export_file,
    list_samples,
    open_sample,
    open_upload,
)
from runtime.definition import dump_json, dump_yaml
from runtime.errors import DefinitionError
from runtime.export import GraphvizNotInstalledError
from runtime.loading import load_definition, parse_definition


@pytest.mark.parametrize("raw, name", [
    ("trip", "trip"), ("my trip", "my_trip"), ("  Trip-2  ", "Trip-2"), ("trip.yaml", "trip"),
    ("a_b.json", "a_b"),
])
def test_design_names_are_sanitised(raw: str, name: str) -> None:
    assert design_name(raw) == name


@pytest.mark.parametrize("raw, reason", [
    ("../evil", "path"), ("/etc/passwd", "path"), ("..", "path"), ("a/b", "path"),
    ("a\\b", "path"), ("C:evil", "path"), ("", "needed"), ("   ", "needed"), ("naïve", "letters"),
    ("x$y", "letters"), ("a" * 101, "at most"), (".hidden", "letters"),
])
def test_unsafe_names_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(DesignNameError, match=reason):
        design_name(raw)


def test_designs_dir_is_configurable() -> None:
    assert designs_dir({}) == Path("designs")
    assert designs_dir({"SAGA_DESIGNS_DIR": "/tmp/d"}) == Path("/tmp/d")


def test_save_never_overwrites_without_confirmation(tmp_path: Path) -> None:
    store = DesignStore(tmp_path / "designs")
    flight, hotel = open_sample("flight_booking"), open_sample("hotel_booking")
    path = store.save(flight, "my trip")
    assert path == (tmp_path / "designs" / "my_trip.yaml").resolve()
    with pytest.raises(DesignExistsError, match="already exists"):
        store.save(hotel, "my_trip")
    assert store.open("my_trip") == flight
    store.save(hotel, "my_trip", overwrite=True)
    assert store.open("my_trip") == hotel
    assert store.list_designs() == ["my_trip"]
    assert [p.name for p in (tmp_path / "designs").iterdir()] == ["my_trip.yaml"]


def test_saved_designs_stay_in_their_folder(tmp_path: Path) -> None:
    store = DesignStore(tmp_path)
    for name in ("../x", "/tmp/x", "..\\x"):
        with pytest.raises(DesignNameError):
            store.save(open_sample("flight_booking"), name)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "link.yaml").symlink_to(tmp_path.parent / "elsewhere.yaml")
    with pytest.raises(DesignNameError, match="outside"):
        store.open("link")


def test_opening_a_missing_design_says_so(tmp_path: Path) -> None:
    with pytest.raises(DesignNotFoundError, match="no design named 'nope'"):
        DesignStore(tmp_path).open("nope")
    with pytest.raises(DesignNotFoundError, match="no sample"):
        open_sample("nope")


@pytest.mark.parametrize("sample", list_samples())
def test_open_then_save_without_edits_is_exact(tmp_path: Path, sample: str) -> None:
    """Issue 3: open a YAML, save it without edits, get the same definition (layout too)."""
    original = load_definition(SAMPLES_DIR / f"{sample}.yaml")
    draft = Draft.of(original)                                   # what the page holds
    via_canvas = definition_from_canvas(canvas_from_definition(draft.definition()))
    path = DesignStore(tmp_path).save(via_canvas, sample)
    again = load_definition(path)
    assert again == original and again.layout == original.layout
    assert path.read_text() == dump_yaml(original)
    path = DesignStore(tmp_path).save(again, sample, overwrite=True)
    assert path.read_text() == dump_yaml(original)


def test_uploads_go_through_the_safe_loader() -> None:
    flight = open_sample("flight_booking")
    assert open_upload(dump_yaml(flight).encode(), "f.yaml") == flight
    assert open_upload(dump_json(flight).encode(), "f.JSON") == flight
    with pytest.raises(DefinitionError) as err:
        open_upload(b"saga: x\nsteps: [\n", "broken.yml")
    assert err.value.lines()[0].startswith("broken.yml: /: line")
    with pytest.raises(DefinitionError, match="yaml-tag"):
        open_upload(b"!!python/object/apply:os.system ['true']", "evil.yaml")
    with pytest.raises(DesignNameError, match="upload a"):
        open_upload(b"", "saga.exe")


def test_samples_list_only_definitions() -> None:
    assert "http_actions" not in list_samples()


@pytest.mark.parametrize("fmt, start", [
    ("yaml", b"saga: flight_booking"), ("json", b"{"), ("dot", b"digraph flight_booking"),
    ("mermaid", b"flowchart LR"),
])
def test_text_exports(fmt: str, start: bytes) -> None:
    file = export_file(open_sample("flight_booking"), fmt)
    assert file.data.lstrip().startswith(start) or start in file.data
    assert file.file_name.startswith("flight_booking.")


def test_exports_read_back() -> None:
    flight = open_sample("flight_booking")
    for fmt in ("yaml", "json"):
        file = export_file(flight, fmt)
        assert parse_definition(file.data, fmt=fmt) == flight


def test_rendered_exports_need_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(GraphvizNotInstalledError, match="apt-get install graphviz"):
        export_file(open_sample("flight_booking"), "png")
