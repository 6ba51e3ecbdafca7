"""Time windows relative to an ``as_of`` moment, shared by every pipeline.

An event's *age* is the number of whole days between it and ``as_of``: age 0 is
the last 24 hours before ``as_of``, age 1 the 24 hours before that, and so on.
A feature over a ``w``-day window sums the events of age ``< w``. When ``as_of``
is a midnight (UTC), ages are calendar days, which is what lets the offline store
keep one partition per date and build any later snapshot from them.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> as_of = datetime(2026, 3, 10, tzinfo=timezone.utc)
>>> ts = [datetime(2026, 3, 9, 23, 59, tzinfo=timezone.utc), datetime(2026, 3, 9, tzinfo=timezone.utc)]
>>> pl.DataFrame({"ts": ts}).select(age_days(as_of)).to_series().to_list()
[0, 0]
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

#: The windows (days) of windowed features.
WINDOWS: tuple[int, ...] = (1, 7, 30, 90)
#: The longest window: events older than this before ``as_of`` are never read (except all-time counts).
HORIZON_DAYS = max(WINDOWS)
US_PER_DAY = 86_400_000_000


def age_days(as_of: datetime, column: str = "ts") -> pl.Expr:
    """Whole days between ``column`` and ``as_of`` (0 for the last 24 hours).

    Events at or after ``as_of`` are filtered out before this is used.
    """
    elapsed = (pl.lit(as_of).cast(pl.Datetime("us", "UTC")) - pl.col(column)).dt.total_microseconds()
    return ((elapsed - 1) // US_PER_DAY).cast(pl.Int32).alias("age")


def before(as_of: datetime, column: str = "ts") -> pl.Expr:
    """Filter at a point in time: keep only what happened strictly before ``as_of``."""
    return pl.col(column) < pl.lit(as_of).cast(pl.Datetime("us", "UTC"))


def within(window: int) -> pl.Expr:
    """Rows of a daily frame inside the last ``window`` days."""
    return pl.col("age") < window
