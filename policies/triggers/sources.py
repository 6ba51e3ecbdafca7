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

import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS
from features.pipelines import build_user_features

#: The columns a feature source must return.
SOURCE_COLUMNS: tuple[str, ...] = ("user_id", "preferred_hour", *LIFECYCLE_INPUTS)


@runtime_checkable
class UserFeatureSource(Protocol):
    """User features as of a moment: one row per user with at least :data:`SOURCE_COLUMNS`, computed only from
    what happened strictly before ``as_of``."""

    def user_features(self, as_of: datetime) -> pl.DataFrame: ...


class EventLogFeatureSource:
    """User features from an event log through :func:`features.pipelines.build_user_features`, point in time
    (the pipeline reads only events strictly before ``as_of``). :meth:`extend` appends later events."""

    def __init__(self, events: pl.DataFrame, items: pl.DataFrame, users: pl.DataFrame) -> None:
        self.events = events
        self.items = items
        self.users = users
        self._parts: list[pl.DataFrame] = []

    def extend(self, events: pl.DataFrame) -> None:
        """Append events (later than those held) to the log."""
        self._parts.append(events)

    def add_items(self, items: pl.DataFrame) -> None:
        """Append listings to the catalogue."""
        self.items = pl.concat([self.items, items.select(self.items.columns)], how="vertical_relaxed")

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        if self._parts:
            self.events = pl.concat([self.events, *self._parts], how="diagonal_relaxed")
            self._parts = []
        return build_user_features(self.events.lazy(), self.items.lazy(), self.users.lazy(), as_of).collect()
