"""The few SQL expressions that differ between SQLite and PostgreSQL (or need care on both).

- :func:`epoch_seconds`: whole seconds since 1970 of a datetime column.
- :func:`percentile_selects`: exact nearest-rank percentiles as ``ORDER BY .. LIMIT 1 OFFSET k``
  scalar subqueries (walking from whichever end is nearer, so p99 reads 1% of an index).
- :func:`ranked_percentiles`: the same values from one sort (``row_number() OVER``), for
  rows that no index orders.
- :func:`bucket_seconds`: a bucket width that cuts a time span into at most ~``target`` bars.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, String, cast, extract, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import ScalarSelect, Select

NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400, 172800, 604800)
"""Bucket widths in seconds, smallest first."""


def epoch_seconds(column: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    """Integer seconds since the Unix epoch (UTC) of a datetime column.

    SQLite stores datetimes as ISO text in UTC: ``julianday`` parses it (a little faster
    than ``strftime('%s')``), rounded to whole milliseconds before the integer division so
    that a time on a bucket boundary never falls into the bucket before. PostgreSQL:
    ``floor(extract(epoch from ..))`` (timestamptz and UTC-naive timestamps alike)."""
    if dialect == "sqlite":
        millis = cast(func.round((func.julianday(column) - 2440587.5) * 86_400_000.0), Integer)
        return millis // 1000
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    if dialect in ("mysql", "mariadb"):
        return cast(func.unix_timestamp(column), BigInteger)
    raise NotImplementedError(
        f"time buckets are not written for {dialect}; use SQLite or PostgreSQL")


class unindexed_on_sqlite(FunctionElement[str]):  # noqa: N801 - used like a function
    """``x || ''`` on SQLite, ``x`` elsewhere (see ``dashboard.queries.unindexed``)."""

    inherit_cache = True
    type = String()
    name = "unindexed_on_sqlite"


@compiles(unindexed_on_sqlite)
def _plain(element: unindexed_on_sqlite, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed_on_sqlite, "sqlite")
def _concatenated(element: unindexed_on_sqlite, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} || '')"


def nearest_rank(count: int, percentile: float) -> int:
    """1-based rank of the nearest-rank percentile: ceil(p/100 * n), at least 1."""
    if count <= 0:
        raise ValueError("no values")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile {percentile} is not in (0, 100]")
    return max(1, min(count, math.ceil(round(percentile * count / 100, 9))))


def percentile_selects(column: ColumnElement[Any], conditions: Sequence[ColumnElement[bool]],
                       count: int, percentiles: Sequence[float]) -> list[ScalarSelect[Any]]:
    """One scalar subquery per percentile over the ``count`` non-null values of ``column``
    matching ``conditions`` (the caller counted them: the ranks depend on it)."""
    selects: list[ScalarSelect[Any]] = []
    where = [*conditions, column.is_not(None)]
    for percentile in percentiles:
        rank = nearest_rank(count, percentile)
        if rank <= (count + 1) // 2:
            order, offset = column.asc(), rank - 1
        else:
            order, offset = column.desc(), count - rank
        selects.append(select(column).where(*where).order_by(order).limit(1).offset(offset)
                       .scalar_subquery())
    return selects


def ranked_percentiles(order: ColumnElement[Any], value: ColumnElement[Any],
                       conditions: Sequence[ColumnElement[bool]], counts: Mapping[Any, int],
                       percentiles: Sequence[float], *,
                       partition: ColumnElement[Any] | None = None,
                       ) -> tuple[Select[Any], dict[Any, list[int]]]:
    """The same nearest-rank values as :func:`percentile_selects` from one sort
    (``row_number() OVER (PARTITION BY .. ORDER BY ..)``), for rows no index orders.

    ``counts`` maps each partition value (``None`` without ``partition``) to its number of
    rows. Returns the query, whose rows are ``(partition value, rank, value)``, and the ranks
    wanted per partition value (one per percentile, in order)."""
    ranks = {key: [nearest_rank(n, p) for p in percentiles] for key, n in counts.items() if n}
    wanted = sorted({rank for per_key in ranks.values() for rank in per_key})
    key = partition if partition is not None else literal(None)
    ranked = (select(key.label("key"), value.label("value"),
                     func.row_number().over(partition_by=partition, order_by=order).label("rank"))
              .where(*conditions).subquery("ranked"))
    query = (select(ranked.c.key, ranked.c.rank, ranked.c.value)
             .where(ranked.c.rank.in_(wanted or [0])))
    return query, ranks


def pick_ranked(rows: Iterable[Any], ranks: Mapping[Any, list[int]]) -> dict[Any, list[Any]]:
    """The values of a :func:`ranked_percentiles` query, per partition value, in the order
    of the percentiles (``None`` where a rank is missing)."""
    found = {(key, rank): value for key, rank, value in rows}
    return {key: [found.get((key, rank)) for rank in per_key] for key, per_key in ranks.items()}


def bucket_seconds(span_seconds: float, target: int = 60) -> int:
    """The smallest nice width giving at most ``target`` buckets over the span."""
    for width in NICE_BUCKETS:
        if span_seconds / width <= target:
            return width
    return NICE_BUCKETS[-1] * max(1, math.ceil(span_seconds / NICE_BUCKETS[-1] / target))
