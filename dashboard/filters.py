"""What the Monitor shows: a filter over runs, and its round trip through URL query params.

    flt = MonitorFilter(saga="flight_booking", window="1h")
    flt.resolved(now)                        # window -> since (aware UTC)

Every query filters *runs* (saga, version, start time, status, origin, batch); event
queries look only at the events of those runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from runtime.store.tables import Origin, RunStatus

WINDOWS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
"""Time windows the page offers, ending now."""

WINDOW_LABELS = {"15m": "last 15 minutes", "1h": "last hour", "6h": "last 6 hours",
                 "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days",
                 "all": "all time"}

STATUSES = tuple(status.value for status in RunStatus)
ORIGINS = tuple(origin.value for origin in Origin)


def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC (the log's columns refuse naive datetimes; naive ones are taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class MonitorFilter:
    """Which runs the Monitor looks at. Empty fields do not filter."""

    saga: str | None = None
    """the definition's saga name"""
    definition_hash: str | None = None
    """one version of the saga (``definition.hash``)"""
    since: datetime | None = None
    """runs started at or after this (UTC)"""
    until: datetime | None = None
    """runs started before this (UTC)"""
    statuses: tuple[str, ...] = ()
    """run statuses to keep (``RunStatus`` values)"""
    origins: tuple[str, ...] = ()
    """``real``, ``simulated``, ``test``"""
    batch: str | None = None
    """the batch id one ``saga run`` / Run page click started"""
    window: str | None = field(default=None, compare=False)
    """a key of :data:`WINDOWS`: ``since`` = now - window when resolved by :meth:`resolved`"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", as_utc(self.since))
        object.__setattr__(self, "until", as_utc(self.until))
        object.__setattr__(self, "statuses", tuple(self.statuses))
        object.__setattr__(self, "origins", tuple(self.origins))
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise ValueError(f"unknown run status {unknown[0]!r}: use one of {', '.join(STATUSES)}")
        unknown = [o for o in self.origins if o not in ORIGINS]
        if unknown:
            raise ValueError(f"unknown origin {unknown[0]!r}: use one of {', '.join(ORIGINS)}")
        if self.window is not None and self.window not in WINDOWS:
            raise ValueError(
                f"unknown time window {self.window!r}: use one of {', '.join(WINDOWS)}")

    def resolved(self, now: datetime) -> MonitorFilter:
        """The same filter with ``window`` turned into ``since`` (relative to ``now``)."""
        span = WINDOWS.get(self.window or "all")
        if span is None:
            return self
        moment = as_utc(now)
        assert moment is not None
        return replace(self, since=moment - span)

    @property
    def is_empty(self) -> bool:
        return not (self.saga or self.definition_hash or self.since or self.until
                    or self.statuses or self.origins or self.batch)
