"""Configurable limits (DESIGN.md "Default limits"). Pass a ``Limits`` to override."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one run or one document from exhausting the machine."""

    max_document_bytes: int = 1024 * 1024
    """A definition file larger than this is rejected before it is parsed."""
    max_steps: int = 100
    """Steps per definition."""
    max_name_length: int = 255
    """Length of saga, step and action names."""
    max_payload_bytes: int = 256 * 1024
    """JSON size of one step's input or output."""
    max_events_per_run: int = 10_000
    """Events one run may append; a run that would exceed it fails."""
    max_yaml_nodes: int = 50_000
    """Nodes of a YAML document with aliases expanded (guards against alias bombs)."""
    max_nesting_depth: int = 64
    """Nesting depth of a document."""


DEFAULT_LIMITS = Limits()
