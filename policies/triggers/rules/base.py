"""What every rule shares: microsecond time, the moment record, send times at a user's best local hour, slots.

Time inside the engine is an integer count of microseconds since the Unix epoch (UTC), the unit of the
contract's ``ts`` columns, so batch and streaming compare the same numbers.

Examples
--------
>>> from datetime import UTC, datetime
>>> t = to_us(datetime(2026, 3, 1, 18, 30, tzinfo=UTC))
>>> from_us(next_local_hour(t, 20, "Europe/Berlin"))  # 19:30 Berlin -> 20:00 Berlin
datetime.datetime(2026, 3, 1, 19, 0, tzinfo=datetime.timezone.utc)
>>> slot("u0000001", 7) == slot("u0000001", 7)
True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
MINUTE_US = 60_000_000


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch of a time-zone-aware datetime (exact, no float rounding)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts} has no time zone; expected UTC")
    return (ts - EPOCH) // US


def from_us(us: int) -> datetime:
    """Return the UTC datetime of a count of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=int(us))


def day_of(us: int) -> str:
    """Return the UTC date of a time, as ``YYYY-MM-DD`` (the tick part of daily moment ids)."""
    return from_us(us).date().isoformat()


def slot(user_id: str, cadence_days: int) -> int:
    """Return a user's stable slot in ``range(cadence_days)``: the day (number mod cadence) on which they are due."""
    return zlib.crc32(user_id.encode()) % cadence_days


@lru_cache(maxsize=1024)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def next_local_hour(ts_us: int, hour: int, tz: str | None) -> int:
    """Return the first time at or after ``ts_us`` at which it is ``hour``:00 in time zone ``tz`` (UTC when None)."""
    zone = _zone(tz) if tz else UTC
    when = from_us(ts_us)
    local = when.astimezone(zone)
    candidate = datetime(local.year, local.month, local.day, hour, tzinfo=zone)
    if candidate < when:
        day = local.date() + timedelta(days=1)
        candidate = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    return to_us(candidate.astimezone(UTC))


#: Up to this many distinct (time, hour, zone) rows, :func:`next_local_hours` computes each one by
#: :func:`next_local_hour` (a few microseconds each); more, per time zone with polars (a few milliseconds at once).
_ONE_BY_ONE = 1_000


def next_local_hours(ts: pl.Series, hour: pl.Series, tz: pl.Series) -> pl.Series:
    """Return :func:`next_local_hour` of each row (``Int64`` microseconds), computed once per distinct row.

    One by one when there are few distinct rows, else vectorised per time zone.

    Local hours that do not exist (a daylight-saving gap) on the day or the day after fall back to
    :func:`next_local_hour` row by row, so the result is always the same as it.

    Examples
    --------
    >>> ts = pl.Series([to_us(datetime(2026, 3, 1, 18, 30, tzinfo=UTC))] * 2)
    >>> out = next_local_hours(ts, pl.Series([20, 20]), pl.Series(["Europe/Berlin", None]))
    >>> [from_us(t).hour for t in out.to_list()]
    [19, 20]
    """
    rows = pl.DataFrame({"ts": ts, "hour": hour, "tz": tz}, schema={"ts": pl.Int64, "hour": pl.Int64, "tz": pl.String})
    frame = rows.unique(maintain_order=True)  # moments of a tick share ts, hour and zone
    if frame.height <= _ONE_BY_ONE:
        exact = [next_local_hour(t, h, z) for t, h, z in frame.iter_rows()]
        out = frame.with_columns(pl.Series("send", exact, dtype=pl.Int64))
    else:
        out = by_zone(frame)
    if out.height < rows.height:
        keys = ["ts", "hour", "tz"]
        out = rows.join(out.select(*keys, "send"), on=keys, how="left", nulls_equal=True, maintain_order="left")
    return out["send"].cast(pl.Int64).alias("send_at")


def by_zone(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (``ts, hour, tz``) with ``send``, :func:`next_local_hour` of each, vectorised per time zone.

    Examples
    --------
    >>> rows = pl.DataFrame({"ts": [to_us(datetime(2026, 3, 1, 18, 30, tzinfo=UTC))], "hour": [20], "tz": ["UTC"]})
    >>> from_us(by_zone(rows)["send"][0]).hour
    20
    """
    frame = rows.with_row_index("row")
    parts = []
    for (zone,), part in frame.group_by("tz"):
        name = str(zone) if zone else "UTC"
        day = pl.col("ts").cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(name).dt.replace_time_zone(None)
        day = day.dt.truncate("1d")

        def at(start: pl.Expr, zone_name: str = name) -> pl.Expr:
            local = start + pl.duration(hours=pl.col("hour"))
            aware = local.dt.replace_time_zone(zone_name, ambiguous="earliest", non_existent="null")
            return aware.dt.convert_time_zone("UTC").dt.epoch("us")

        today, tomorrow = at(day), at(day.dt.offset_by("1d"))
        send = pl.when(today.is_null() | tomorrow.is_null()).then(None).when(today >= pl.col("ts"))
        parts.append(part.select("row", "ts", "hour", "tz", send.then(today).otherwise(tomorrow).alias("send")))
    out = pl.concat(parts).sort("row") if parts else frame.with_columns(pl.lit(None, pl.Int64).alias("send"))
    gaps = out.filter(pl.col("send").is_null())
    if gaps.height:
        exact = [next_local_hour(t, h, z) for t, h, z in gaps.select("ts", "hour", "tz").iter_rows()]
        fixed = gaps.select("row", pl.Series("fixed", exact, dtype=pl.Int64))
        out = out.join(fixed, on="row", how="left").with_columns(pl.coalesce("send", "fixed").alias("send"))
    return out.drop("row", "fixed", strict=False)


@dataclass(frozen=True, slots=True)
class Moment:
    """One trigger moment before its send time is set (see :class:`policies.triggers.engine.TriggerEngine`)."""

    moment_id: str
    ts: int
    user_id: str
    item_id: str | None
    trigger: str
    reason: str


def group_start(*keys: str) -> pl.Expr:
    """Tell, on a frame sorted by ``keys``, whether each row starts a new group.

    A vectorised stand-in for ``over``, which is slow with many small groups.

    Examples
    --------
    >>> frame = pl.DataFrame({"k": ["a", "a", "b"], "ts": [1, 2, 3]})
    >>> frame.select(group_start("k"))["k"].to_list()
    [True, False, True]
    """
    starts = [pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys]
    first = pl.int_range(pl.len()) == 0
    return pl.any_horizontal(first, *starts).alias(keys[0])


def hours_text(us: int) -> str:
    """Write a duration in words: ``"45 min"``, ``"2 h"``, ``"3 days"``."""
    minutes = us // MINUTE_US
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def number_text(value: float) -> str:
    """Write a window length without a needless decimal: ``24.0 -> "24"``, ``1.5 -> "1.5"``."""
    return f"{value:g}"
