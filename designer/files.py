"""Opening, saving and exporting designs (pure: no Streamlit).

    store = DesignStore(designs_dir())               # ./designs, or $SAGA_DESIGNS_DIR
    store.save(definition, "my trip")                # -> designs/my_trip.yaml; never overwrites
    store.save(definition, "my_trip", overwrite=True)
    definition = store.open("my_trip")
    definition = open_sample("flight_booking")       # from sample_sagas/
    definition = open_upload(data, "saga.json")
    file = export_file(definition, "mermaid")        # .data, .file_name, .mime

Design names are file stems made of letters, digits, ``_`` and ``-`` (spaces become ``_``);
anything that could leave the designs folder (``/``, ``\\``, ``..``, a drive or an absolute
path) is refused with a clear message. Every document is read through
``runtime.loading`` (size limit, safe YAML, clear error lines).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sample_sagas
from runtime.definition import SagaDefinition, dump_yaml
from runtime.errors import SagaError
from runtime.export import FILE_SUFFIXES, FORMATS, MEDIA_TYPES, ExportError, export_bytes
from runtime.loading import load_definition, parse_definition, parse_document

DESIGNS_ENV = "SAGA_DESIGNS_DIR"
DEFAULT_DESIGNS_DIR = Path("designs")
SAMPLES_DIR = Path(sample_sagas.__file__).resolve().parent
MAX_NAME_LENGTH = 100
UPLOAD_SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class DesignNameError(SagaError):
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"design name {name!r}: {reason}")


class DesignExistsError(SagaError):
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        super().__init__(f"a design named {name!r} already exists ({path}); "
                         "confirm to overwrite it, or choose another name")


class DesignNotFoundError(SagaError):
    def __init__(self, name: str, folder: Path, kind: str = "design") -> None:
        self.name = name
        self.folder = folder
        super().__init__(f"no {kind} named {name!r} in {folder}")


def design_name(raw: str) -> str:
    """A safe file stem from what the user typed, or :class:`DesignNameError`."""
    text = raw.strip()
    for suffix in UPLOAD_SUFFIXES:
        if text.lower().endswith(suffix):
            text = text[: -len(suffix)]
            break
    if not text:
        raise DesignNameError(raw, "a name is needed")
    if "/" in text or "\\" in text or ".." in text or ":" in text or Path(text).is_absolute():
        raise DesignNameError(raw, "a name cannot contain a path (/, \\, .., :); "
                                   "designs are always saved in the designs folder")
    text = re.sub(r"\s+", "_", text)
    if not _NAME.match(text):
        bad = sorted({c for c in text if not re.match(r"[A-Za-z0-9_\-]", c)})
        raise DesignNameError(raw, f"use only letters, digits, '_' and '-' (not {' '.join(bad)})")
    if len(text) > MAX_NAME_LENGTH:
        raise DesignNameError(raw, f"at most {MAX_NAME_LENGTH} characters")
    return text


def designs_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$SAGA_DESIGNS_DIR``, else ``./designs``."""
    value = (os.environ if env is None else env).get(DESIGNS_ENV, "").strip()
    return Path(value) if value else DEFAULT_DESIGNS_DIR


@dataclass(frozen=True)
class DesignStore:
    """Saved designs: one ``<name>.yaml`` each in ``folder`` (created on first save)."""

    folder: Path

    def path_for(self, name: str) -> Path:
        stem = design_name(name)
        root = self.folder.resolve()
        path = (root / f"{stem}.yaml").resolve()
        if path.parent != root:
            raise DesignNameError(name, "it points outside the designs folder")
        return path

    def list_designs(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.yaml")
                      if p.is_file() and _NAME.match(p.stem))

    def exists(self, name: str) -> bool:
        return self.path_for(name).exists()

    def save(self, definition: SagaDefinition, name: str, *, overwrite: bool = False) -> Path:
        """Write canonical YAML; refuses to replace a file unless ``overwrite``."""
        path = self.path_for(name)
        text = dump_yaml(definition)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not overwrite:
            try:
                with open(path, "x", encoding="utf-8") as handle:
                    handle.write(text)
            except FileExistsError:
                raise DesignExistsError(design_name(name), path) from None
            return path
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def open(self, name: str) -> SagaDefinition:
        path = self.path_for(name)
        if not path.is_file():
            raise DesignNotFoundError(design_name(name), self.folder)
        return load_definition(path)


def list_samples(folder: Path = SAMPLES_DIR) -> list[str]:
    """Names of the sample definitions (``flight_booking``, ...): the folder's YAML files
    that are saga definitions (other YAML there, such as an HTTP actions file, is not)."""
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file() and _is_definition(p))


def _is_definition(path: Path) -> bool:
    try:
        data = parse_document(path.read_bytes(), source=str(path))
    except (SagaError, OSError):
        return False
    return isinstance(data, Mapping) and "saga" in data and "steps" in data


def open_sample(name: str, folder: Path = SAMPLES_DIR) -> SagaDefinition:
    if name not in list_samples(folder):
        raise DesignNotFoundError(name, folder, kind="sample")
    return load_definition(folder / f"{name}.yaml")


def open_upload(data: bytes, filename: str) -> SagaDefinition:
    """An uploaded ``.yaml``/``.yml``/``.json`` file (shape-checked; graph rules are the
    caller's: ``designer.checks``)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DesignNameError(filename, f"upload a {', '.join(UPLOAD_SUFFIXES)} file")
    return parse_definition(data, source=Path(filename).name,
                            fmt="json" if suffix == ".json" else "yaml")


@dataclass(frozen=True)
class ExportFile:
    data: bytes
    file_name: str
    mime: str


def export_file(definition: SagaDefinition, fmt: str) -> ExportFile:
    """The definition in ``fmt`` (yaml, json, dot, mermaid, svg, png) with a file name.
    SVG/PNG raise ``GraphvizNotInstalledError`` when ``dot`` is missing."""
    if fmt not in FORMATS:
        raise ExportError(fmt, f"unknown format; choose one of {', '.join(FORMATS)}")
    return ExportFile(export_bytes(definition, fmt), f"{definition.saga}{FILE_SUFFIXES[fmt]}",
                      MEDIA_TYPES[fmt])
