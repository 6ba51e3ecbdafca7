"""The events a simulated world has produced, as contract frames: by UTC date, and those the platform has not seen.

Examples
--------
>>> from datetime import UTC, datetime
>>> import polars as pl
>>> origin = datetime(2026, 3, 2, tzinfo=UTC)
>>> log = EventLog()
>>> log.add(pl.DataFrame({"event_id": ["e2", "e1"], "ts": [datetime(2026, 3, 3, 9, tzinfo=UTC), origin],
...     "type": ["purchase", "view"], "item_id": ["i1", "i1"], "quantity": [1, 0]}), origin)
>>> sorted(log.by_date), log.take_until(datetime(2026, 3, 3, tzinfo=UTC))["event_id"].to_list()
([0, 1], ['e1'])
>>> log.all()["event_id"].to_list()
['e1', 'e2']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from simulators.behaviour import US_PER_DAY


@dataclass
class EventLog:
    """The events the world has produced, as contract frames: by UTC date, and those the platform has not seen."""

    by_date: dict[int, list[pl.DataFrame]] = field(default_factory=dict)
    pending: list[pl.DataFrame] = field(default_factory=list)
    purchases: list[pl.DataFrame] = field(default_factory=list)

    def add(self, frame: pl.DataFrame, origin: datetime) -> None:
        """Add a frame of events, dated by UTC days since ``origin``, to its dates and to pending."""
        if not frame.height:
            return
        self.pending.append(frame)
        self.purchases.append(frame.filter(pl.col("type") == "purchase").select("ts", "item_id", "quantity"))
        day = ((pl.col("ts") - pl.lit(origin)).dt.total_microseconds() // US_PER_DAY).alias("__day")
        parts = frame.with_columns(day).partition_by("__day", as_dict=True, include_key=False)
        for (key,), part in parts.items():
            self.by_date.setdefault(int(key), []).append(part)

    def take_until(self, end: datetime) -> pl.DataFrame:
        """Return the pending events before ``end`` and remove them from pending."""
        frame = pl.concat(self.pending) if self.pending else pl.DataFrame()
        if not frame.height:
            return frame
        self.pending = [frame.filter(pl.col("ts") >= end)]
        return frame.filter(pl.col("ts") < end)

    def date(self, day: int) -> pl.DataFrame:
        """Return the events of UTC date ``day`` (days since the origin), in the order they were added."""
        return pl.concat(self.by_date[day]) if self.by_date.get(day) else pl.DataFrame()

    def sold_since(self, moment: datetime) -> pl.DataFrame:
        """Units sold per item at or after ``moment`` (item_id, units_after)."""
        sales = pl.concat(self.purchases).filter(pl.col("ts") >= moment)
        self.purchases = [sales]
        return sales.group_by("item_id").agg(pl.col("quantity").sum().cast(pl.Int64).alias("units_after"))

    def all(self) -> pl.DataFrame:
        """Return every event in time order.

        Each date is sorted on its own and kept in place of its parts, the dates joined without a copy (so the log
        is never held twice).
        """
        for day in sorted(self.by_date):
            self.by_date[day] = [pl.concat(self.by_date[day]).sort("ts", "event_id")]
        return pl.concat([self.by_date[day][0] for day in sorted(self.by_date)], rechunk=False)
