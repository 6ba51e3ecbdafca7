"""Local time per user: UTC instants to wall-clock time in each row's IANA zone and back, and quiet hours.

Times travel as integer microseconds since the Unix epoch (UTC instants, or naive local wall-clock times), so
that the per-zone conversions run once per zone with polars (chrono-tz) rather than once per row.

Examples
--------
>>> import numpy as np
>>> from datetime import datetime, UTC
>>> at = np.array([to_us(datetime(2026, 3, 4, 23, 30, tzinfo=UTC))])
>>> fmt_us(defer_quiet_hours(at, np.array(["Europe/Paris"]), 22, 8)[0][0])
'2026-03-05 07:00 UTC'
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def fmt_us(us: int) -> str:
    """Write a UTC instant in microseconds as ``2026-03-04 20:00 UTC``."""
    return (_EPOCH + timedelta(microseconds=int(us))).strftime("%Y-%m-%d %H:%M UTC")


def fmt_day(day: int) -> str:
    """Write a local calendar day (days since 1970-01-01) as ``2026-03-04``."""
    return (_EPOCH_DAY + timedelta(days=int(day))).isoformat()


#: Zones, one per row: IANA names as a numpy array or a polars Series (no round trip through numpy strings).
Zones = np.ndarray | pl.Series


def _by_zone(zones: Zones) -> list[tuple[str, np.ndarray]]:
    if len(zones) == 1:  # one moment (the endpoint): no grouping frame
        return [(str(zones[0]), np.zeros(1, dtype=np.int64))]
    names = zones if isinstance(zones, pl.Series) else pl.Series(zones, dtype=pl.String)
    groups = names.to_frame("zone").with_row_index().group_by("zone").agg("index")
    return [
        (zone, index.to_numpy().astype(np.int64))
        for zone, index in zip(groups.get_column("zone").to_list(), groups.get_column("index"), strict=True)
    ]


def local_wall_us(utc_us: np.ndarray, zones: Zones) -> np.ndarray:
    """Return the local wall-clock time (naive, in microseconds) of each UTC instant in its row's zone."""
    out = np.empty(len(utc_us), dtype=np.int64)
    for zone, index in _by_zone(zones):
        wall = pl.col("t").cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(zone).dt.replace_time_zone(None)
        out[index] = _one_query(utc_us[index], wall.cast(pl.Int64))[0]
    return out


def to_utc_us(wall_us: np.ndarray, zones: Zones) -> np.ndarray:
    """Return the UTC instant of each local wall-clock time.

    The earlier one when the clock falls back, and for a time the clock skips (spring forward) the instant it maps to
    with the offset before the jump, which is the first valid instant after the gap when the wall time is the start of
    the gap.
    """
    return _to_utc(wall_us, zones)[0]


def _to_utc(wall_us: np.ndarray, zones: Zones) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_utc_us`, and whether each wall time exists (its instant reads back as that wall time)."""
    out, exists = np.empty(len(wall_us), dtype=np.int64), np.empty(len(wall_us), dtype=bool)
    shift = 3 * US_PER_HOUR  # in a gap: use the offset three hours earlier, before the jump
    for zone, index in _by_zone(zones):
        at = _replace(pl.col("t"), zone)
        utc = pl.coalesce(at, _replace(pl.col("t") - shift, zone) + shift)
        out[index], exists[index] = _one_query(wall_us[index], utc, at.is_not_null())
    return out, exists


def _one_query(values: np.ndarray, *exprs: pl.Expr) -> list[np.ndarray]:
    """Compute ``exprs`` (row by row) over the column ``t`` holding ``values`` in one query over the distinct values.

    A few µs per row, ~40 µs per call; sends share a few times (the hours quiet hours defer to, say). Returns one
    array per expression.
    """
    distinct, back = np.unique(values, return_inverse=True)
    frame = pl.DataFrame({"t": pl.Series(distinct, dtype=pl.Int64)})
    return [column.to_numpy()[back] for column in frame.select(e.alias(f"e{i}") for i, e in enumerate(exprs))]


def _replace(wall: pl.Expr, zone: str) -> pl.Expr:
    aware = wall.cast(pl.Datetime("us")).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return aware.dt.convert_time_zone("UTC").cast(pl.Int64)


def in_quiet_hours(time_of_day_us: np.ndarray, start: int, end: int) -> np.ndarray:
    """Whether a local time of day lies in ``[start, end)`` hours; the window spans midnight when start > end."""
    lo, hi = start * US_PER_HOUR, end * US_PER_HOUR
    if start < end:
        return (time_of_day_us >= lo) & (time_of_day_us < hi)
    if start > end:
        return (time_of_day_us >= lo) | (time_of_day_us < hi)
    return np.zeros(len(time_of_day_us), dtype=bool)


def defer_quiet_hours(utc_us: np.ndarray, zones: Zones, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Each send moved out of local quiet hours to the next local ``end`` hour, and its local calendar day.

    Returns the (possibly deferred) UTC send times and the local day (days since 1970-01-01) of each. A
    deferred time whose wall time the clock skips is checked again (a skipped hour can land it back inside),
    at most four times. One whose wall time exists reads back as that wall time, the ``end`` hour, which is
    never inside ``[start, end)``: it is settled with that day without reading it again.
    """
    out = np.asarray(utc_us, dtype=np.int64).copy()
    day = np.empty(len(out), dtype=np.int64)
    moved = np.arange(len(out))  # the rows whose local time is (re)read
    for _ in range(4):
        day[moved], time_of_day = np.divmod(local_wall_us(out[moved], zones[moved]), US_PER_DAY)
        inside = in_quiet_hours(time_of_day, start, end)
        if not inside.any():
            return out, day
        next_day = (start > end) & (time_of_day >= start * US_PER_HOUR)
        target = (day[moved] + next_day)[inside]
        moved = moved[inside]
        out[moved], exists = _to_utc(target * US_PER_DAY + end * US_PER_HOUR, zones[moved])
        day[moved[exists]] = target[exists]
        moved = moved[~exists]
        if not len(moved):
            return out, day
    day[moved] = np.floor_divide(local_wall_us(out[moved], zones[moved]), US_PER_DAY)
    return out, day


@lru_cache(maxsize=4096)
def defer_one(utc_us: int, zone: str, start: int, end: int) -> tuple[int, int]:
    """Return :func:`defer_quiet_hours` for one send: ``(send_us, local_day)``, remembered for the last 4,096 sends.

    The memory is for the endpoint, which asks twice per request: once to plan the context, once in the guardrails.

    The same steps, one send at a time with the standard library's zone database (``zoneinfo``) instead of a
    polars query (~1 µs against ~150 µs): ``fold=0`` reads an ambiguous wall time as its earlier instant and a
    skipped one with the offset before the jump, as :func:`to_utc_us` does. A test holds the two equal over
    random sends, zones and quiet hours across clock changes.

    Examples
    --------
    >>> defer_one(0, "Asia/Kolkata", 22, 8)  # 05:30 in Kolkata on 1 January 1970: moved to 08:00
    (9000000000, 0)
    """
    tz = ZoneInfo(zone)
    out = utc_us
    for _ in range(4):
        day, time_of_day = divmod(_wall_one(out, tz), US_PER_DAY)
        if not in_quiet_hours(np.array([time_of_day]), start, end)[0]:
            return out, day
        target = day + int(start > end and time_of_day >= start * US_PER_HOUR)
        out, exists = _utc_one(target * US_PER_DAY + end * US_PER_HOUR, tz)
        if exists:
            return out, target
    return out, _wall_one(out, tz) // US_PER_DAY


_NAIVE_EPOCH = datetime(1970, 1, 1)


def _wall_one(utc_us: int, tz: ZoneInfo) -> int:
    """:func:`local_wall_us` of one instant."""
    local = (_EPOCH + timedelta(microseconds=utc_us)).astimezone(tz).replace(tzinfo=None)
    return (local - _NAIVE_EPOCH) // _MICROSECOND


def _utc_one(wall_us: int, tz: ZoneInfo) -> tuple[int, bool]:
    """:func:`_to_utc` of one wall time: its instant, and whether it exists."""
    instant = (_NAIVE_EPOCH + timedelta(microseconds=wall_us)).replace(tzinfo=tz, fold=0)
    utc_us = (instant - _EPOCH) // _MICROSECOND
    return utc_us, _wall_one(utc_us, tz) == wall_us


_MICROSECOND = timedelta(microseconds=1)
