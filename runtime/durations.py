"""Durations as ``timedelta``, written in documents as ``500ms``, ``30s``, ``2m``, ``1h30m``.

A bare number is seconds. :func:`format_duration` writes the canonical form, so
``parse_duration(format_duration(d)) == d`` for every non-negative duration.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}


def parse_duration(value: Any) -> timedelta:
    """Parse ``1h30m``, ``250ms``, ``1.5s`` or a number of seconds; raise ValueError otherwise."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s'")
    elif isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a duration must be a finite number of seconds")
        try:
            result = timedelta(seconds=value)
        except OverflowError:
            raise ValueError("a duration is at most 7 days") from None
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not text or len(text) > 40:
            raise ValueError(f"{value[:40]!r} is not a duration; write e.g. '500ms', '30s', '2m'")
        pos, total_ms = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            total_ms += float(match.group(1)) * _UNITS_MS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(f"{value!r} is not a duration; write e.g. '500ms', '30s', '2m'")
        try:
            result = timedelta(milliseconds=total_ms)
        except OverflowError:
            raise ValueError("a duration is at most 7 days") from None
    else:
        raise ValueError("a duration is a number of seconds or a string like '30s'")
    if result < timedelta(0):
        raise ValueError("a duration cannot be negative")
    if result > timedelta(days=7):
        raise ValueError("a duration is at most 7 days")
    return result


def format_duration(value: timedelta) -> str:
    """Canonical text: the largest exact units, e.g. ``1h30m``, ``90s`` -> ``1m30s``, ``1500ms``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms % 1000:
        return f"{total_ms}ms"
    parts = []
    seconds = total_ms // 1000
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ms|h|m|s))+$",
                    "description": "seconds, or text like '500ms', '30s', '2m', '1h30m'"}),
]
