"""Where the daily rules get user features: anything with ``user_features(as_of)``.

Examples
--------
>>> from datetime import UTC, datetime
>>> from tests.benchmarks.synthetic_events import synthetic_frames
>>> events, items, users = synthetic_frames(6_000, seed=0)
>>> source = EventLogFeatureSource(events, items, users)
>>> frame = source.user_features(datetime(2026, 2, 1, tzinfo=UTC))
>>> {"user_id", "preferred_hour", "days_since_last_session"} <= set(frame.columns)
True
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS
from features.pipelines.build import time_zones_of
from features.pipelines.daily import HOURS, session_hours
from features.pipelines.user import UserFeatureSpec, user_features
from features.pipelines.windows import HORIZON_DAYS
from policies.triggers.rules.base import DAY_US, to_us

#: The columns a feature source must return.
SOURCE_COLUMNS: tuple[str, ...] = ("user_id", "preferred_hour", *LIFECYCLE_INPUTS)
#: What the rules read, as the pipeline defines it: sessions over 30 days, purchases over 30 and 90, the session
#: hours of 90 days; the days since the last session come from a running last-session time (all time).
SOURCE_SPEC = UserFeatureSpec(
    windows={30: ["sessions", "purchases"], 90: ["purchases"]},
    all_time=[],
    recency={"last_session": "days_since_last_session"},
    hours=True,
)
_SESSIONS = pl.Schema({"user_id": pl.String, "us": pl.Int64, "sessions": pl.Boolean} | {h: pl.Boolean for h in HOURS})
_LAST = pl.Schema({"user_id": pl.String, "us": pl.Int64})


@runtime_checkable
class UserFeatureSource(Protocol):
    """User features as of a moment, computed only from what happened strictly before ``as_of``.

    One row per user with at least :data:`SOURCE_COLUMNS`.
    """

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        """Return one row per user with the features as of ``as_of``."""
        ...


class EventLogFeatureSource:
    """The :data:`SOURCE_COLUMNS` of :func:`features.pipelines.build_user_features` from an event log, point in time.

    Only events strictly before ``as_of`` count, through :func:`features.pipelines.user.user_features` with the
    narrow :data:`SOURCE_SPEC`: it keeps only sessions (with their local hour, found once) and purchases, reads
    only the last 90 days of them, and keeps each user's last session time as of the latest ``as_of`` (moving
    forward from there; all time, as the pipeline's recency). :meth:`extend` appends later events.
    """

    def __init__(self, events: pl.DataFrame, items: pl.DataFrame, users: pl.DataFrame) -> None:
        self.items = items
        self.users = users
        self._zones = time_zones_of(users.lazy())
        self._sessions = pl.DataFrame(schema=_SESSIONS)
        self._purchases = pl.DataFrame(schema=_LAST)
        self._parts: list[pl.DataFrame] = [events]
        self._last = pl.DataFrame(schema=_LAST)
        self._cursor: int | None = None

    def extend(self, events: pl.DataFrame) -> None:
        """Append events (later than those held) to the log."""
        self._parts.append(events)

    def add_items(self, items: pl.DataFrame) -> None:
        """Append listings to the catalogue."""
        self.items = pl.concat([self.items, items.select(self.items.columns)], how="vertical_relaxed")

    def _absorb(self) -> None:
        parts = [p for p in self._parts if p.height]
        self._parts = []
        if not parts:
            return
        new = pl.concat(
            [
                p.lazy()
                .filter(pl.col("type").is_in(["session_start", "purchase"]))
                .select("user_id", "type", pl.col("ts").cast(pl.Datetime("us", "UTC")))
                .with_columns(pl.col("ts").dt.epoch("us").alias("us"))
                for p in parts
            ]
        )
        sessions = session_hours(new, self.users.lazy(), "us", self._zones).collect()
        purchases = new.filter(pl.col("type") == "purchase").select("user_id", "us").collect()
        self._sessions = pl.concat([self._sessions, sessions.select(_SESSIONS.names()).cast(_SESSIONS)])
        self._purchases = pl.concat([self._purchases, purchases.cast(_LAST)])
        if not (self._sessions["us"].is_sorted() and self._purchases["us"].is_sorted()):
            self._sessions = self._sessions.sort("us", maintain_order=True)
            self._purchases = self._purchases.sort("us", maintain_order=True)
            self._last, self._cursor = pl.DataFrame(schema=_LAST), None

    def _last_sessions(self, upto: int) -> pl.DataFrame:
        """Each user's last session strictly before ``upto`` (microseconds)."""
        times = self._sessions["us"].to_numpy()
        if self._cursor is None or upto < self._cursor:
            self._last, self._cursor = pl.DataFrame(schema=_LAST), None
        start = 0 if self._cursor is None else int(np.searchsorted(times, self._cursor, side="left"))
        stop = int(np.searchsorted(times, upto, side="left"))
        new = self._sessions.slice(start, max(stop - start, 0))
        if new.height:
            latest = new.group_by("user_id").agg(pl.col("us").max())
            self._last = pl.concat([self._last.join(latest, on="user_id", how="anti"), latest])
        self._cursor = upto
        return self._last

    @staticmethod
    def _recent(frame: pl.DataFrame, upto: int) -> pl.LazyFrame:
        """Rows of the 90 days before ``upto`` with their age in days (as the pipeline's ``age_days``)."""
        times = frame["us"].to_numpy()
        lo, hi = np.searchsorted(times, [upto - HORIZON_DAYS * DAY_US, upto], side="left")
        age = ((upto - pl.col("us") - 1) // DAY_US).cast(pl.Int32).alias("age")
        return frame.slice(int(lo), int(hi - lo)).lazy().with_columns(age).drop("us")

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        """One row per user signed up before ``as_of``: :data:`SOURCE_COLUMNS`."""
        self._absorb()
        upto = to_us(as_of)
        purchases = self._recent(self._purchases, upto).with_columns(pl.lit(True).alias("purchases"))
        last = (
            self._last_sessions(upto)
            .lazy()
            .select(
                "user_id",
                ((upto - pl.col("us") - 1) // DAY_US).cast(pl.Int32).alias("age"),
                pl.lit(True).alias("last_session"),
            )
        )
        parts = [self._recent(self._sessions, upto), purchases, last]
        return user_features(parts, self.users.lazy(), as_of, SOURCE_SPEC).select(SOURCE_COLUMNS).collect()
