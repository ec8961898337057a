"""Time for the engine: wall time for event timestamps, a monotonic clock for durations, and
sleeping for backoff. Tests pass a :class:`ManualClock` so retries never really wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall time, timezone-aware UTC."""

    def time(self) -> float:
        """Wall time as seconds since the epoch (``now()`` as a float: events are stamped
        with it, about a quarter of the cost of a datetime)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks. ``now``, ``time`` and ``monotonic`` are the C functions themselves
    (bound at construction): the engine reads the time a dozen times per saga."""

    def __init__(self) -> None:
        self.now: Callable[[], datetime] = partial(datetime.now, UTC)
        self.time: Callable[[], float] = time.time
        self.monotonic: Callable[[], float] = time.monotonic

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ManualClock:
    """A clock that only moves when slept on: ``sleep`` records the wait, advances time at
    once and yields to the loop. ``sleeps`` lists every wait requested, in order."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def time(self) -> float:
        return self.now().timestamp()

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._elapsed += max(seconds, 0.0)
        await asyncio.sleep(0)
