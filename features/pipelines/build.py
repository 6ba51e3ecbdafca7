"""Build user and item features as of a moment, straight from events, items and users.

Every step is a ``LazyFrame -> LazyFrame`` function; nothing is collected until
the end, so polars plans the whole build (and streams it where it can).

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> utc = timezone.utc
>>> events = pl.LazyFrame({
...     "event_id": ["e1", "e2", "e3"], "user_id": ["u1", "u1", "u1"], "type": ["view", "purchase", "view"],
...     "ts": [datetime(2026, 3, 1, 9, tzinfo=utc), datetime(2026, 3, 1, 10, tzinfo=utc), datetime(2026, 3, 9)],
...     "item_id": ["i1", "i1", "i1"], "merchant_id": ["m1"] * 3, "price": [40.0] * 3, "quantity": [0, 1, 0],
...     "channel": [None] * 3, "offer": [None] * 3,
... }, schema_overrides={"channel": pl.String, "offer": pl.String, "ts": pl.Datetime("us", "UTC")})
>>> items = pl.LazyFrame({
...     "item_id": ["i1"], "merchant_id": ["m1"], "category": ["bags"], "price": [40.0], "stock": [2],
...     "listed_at": [datetime(2026, 2, 1, tzinfo=utc)], "merchant_verified": [True], "merchant_rating": [4.8],
...     "authenticated": [True],
... })
>>> users = pl.LazyFrame({"user_id": ["u1"], "signup_ts": [datetime(2026, 1, 1, tzinfo=utc)], "tz": ["Europe/Berlin"]})
>>> built = build_features(events, items, users, datetime(2026, 3, 5, tzinfo=utc))
>>> built.users.select("views_7d", "purchases_7d", "revenue_7d", "preferred_hour").row(0)
(1, 1, 40.0, None)
>>> built.items.select("views_7d", "units_sold_7d", "stock").row(0)
(1, 1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from features.pipelines.daily import item_event_flags, user_event_flags
from features.pipelines.item import ITEM_WINDOWS, item_features
from features.pipelines.user import default_aggregations, user_features
from features.pipelines.windows import age_days, before

#: The event columns the features read.
EVENT_COLUMNS = ["ts", "user_id", "type", "item_id", "price", "quantity", "offer"]


@dataclass(frozen=True)
class FeatureSet:
    """User and item features as of one moment."""

    as_of: datetime
    users: pl.DataFrame
    items: pl.DataFrame


def categories_of(items: pl.LazyFrame) -> list[str]:
    """Return the item categories of ``items``, sorted, without null."""
    return sorted(items.select(pl.col("category").unique()).collect().to_series().drop_nulls().to_list())


def time_zones_of(users: pl.LazyFrame) -> list[str]:
    """Return the time zones (``tz`` column) of ``users``, sorted, without null; none without the column."""
    if "tz" not in users.collect_schema().names():
        return []
    return sorted(users.select(pl.col("tz").unique()).collect().to_series().drop_nulls().to_list())


def events_before(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Cut the events at a point in time: those strictly before ``as_of``, with their age in days."""
    return events.filter(before(as_of)).with_columns(age_days(as_of))


def build_user_features(
    events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, as_of: datetime, categories: list[str] | None = None
) -> pl.LazyFrame:
    """Plan the user features (lazy) as of ``as_of``: the per-event indicators summed over each window."""
    categories = categories if categories is not None else categories_of(items)
    before = events_before(events, as_of)
    families = user_event_flags(before, items, users, "age", categories, time_zones_of(users))
    return user_features(families, users, as_of, default_aggregations(categories))


def build_item_features(events: pl.LazyFrame, items: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Plan the item features (lazy) as of ``as_of``."""
    recent = events_before(events, as_of).filter(pl.col("age") < max(ITEM_WINDOWS))
    sold_after = (
        events.filter(~before(as_of) & (pl.col("type") == "purchase"))
        .group_by("item_id")
        .agg(pl.col("quantity").sum().cast(pl.Int64).alias("units_after"))
    )
    return item_features(item_event_flags(recent, "age"), items, sold_after, as_of)


def build_features(
    events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, as_of: datetime, partitions: int = 1
) -> FeatureSet:
    """Collect user and item features as of ``as_of``.

    With ``partitions == 1`` the events are read into memory once and every branch of the plan works on them.
    With ``partitions > 1`` the users are split by a hash of ``user_id`` and each share is built on its own
    (the events are scanned once per share, never held whole), so peak memory falls with the number of shares:
    the way to build from logs larger than memory. The result is the same.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    categories = categories_of(items)
    if partitions == 1:
        # read the log once (just the columns features use): every family of indicators is a separate branch
        events = events.select(EVENT_COLUMNS).collect().lazy()
    item_plan = build_item_features(events, items, as_of)
    if partitions == 1:
        user_frame, item_frame = pl.collect_all(
            [build_user_features(events, items, users, as_of, categories), item_plan]
        )
        return FeatureSet(as_of, user_frame, item_frame)
    shares = []
    for share in range(partitions):
        mine = pl.col("user_id").hash(seed=0) % partitions == share
        shares.append(build_user_features(events.filter(mine), items, users.filter(mine), as_of, categories).collect())
    user_frame = pl.concat(shares).sort("user_id")
    return FeatureSet(as_of, user_frame, item_plan.collect())
