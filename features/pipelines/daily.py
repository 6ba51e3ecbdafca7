"""Daily aggregates: the decomposable counts and sums every windowed feature is built from.

One row per user (or item) per day bucket. The bucket column is ``age`` (days
before an ``as_of``) for a direct build, or ``date`` for the offline store; the
steps are the same. Everything here is a sum, so any window is a sum of buckets
and an incremental daily build equals a full rebuild.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> t = datetime(2026, 3, 2, 20, tzinfo=timezone.utc)
>>> events = pl.LazyFrame({
...     "ts": [t, t], "user_id": ["u1", "u1"], "type": ["view", "purchase"], "item_id": ["i1", "i1"],
...     "price": [80.0, 80.0], "quantity": [0, 1], "offer": [None, None], "age": [0, 0],
... }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "offer": pl.String})
>>> items = pl.LazyFrame({"item_id": ["i1"], "category": ["bags"], "merchant_verified": [False]})
>>> users = pl.LazyFrame({"user_id": ["u1"], "tz": ["Europe/Berlin"]})
>>> daily = user_daily(events, items, users, key="age", categories=["bags"]).collect()
>>> daily.select("views", "purchases", "revenue", "unverified_views", "views_cat_bags", "views_band_mid").row(0)
(1, 1, 80.0, 1, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

#: Price bands (upper bounds, exclusive) for counts by band.
PRICE_BANDS: dict[str, tuple[float, float]] = {"low": (0.0, 50.0), "mid": (50.0, 150.0), "high": (150.0, float("inf"))}
#: Offers whose use is counted per user.
COUNTED_OFFERS = ("coupon", "installment")
ENGAGEMENTS = {"views": "view", "favorites": "favorite", "cart_adds": "cart_add"}


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int32).sum()


def in_local_time(field: str, time_zones: Sequence[str]) -> pl.Expr:
    """A ``dt`` field of ``ts`` (``"hour"``, ``"weekday"``) in the user's time zone (``tz`` column; UTC if unknown)."""
    expr: pl.Expr = getattr(pl.col("ts").dt, field)()
    for zone in time_zones:
        local = getattr(pl.col("ts").dt.convert_time_zone(zone).dt, field)()
        expr = pl.when(pl.col("tz") == zone).then(local).otherwise(expr)
    return expr.cast(pl.Int8)


def local_hour(time_zones: Sequence[str]) -> pl.Expr:
    """The event's hour in its user's time zone."""
    return in_local_time("hour", time_zones).alias("local_hour")


def user_daily(
    events: pl.LazyFrame,
    items: pl.LazyFrame,
    users: pl.LazyFrame,
    key: str,
    categories: Sequence[str],
    time_zones: Sequence[str] = (),
) -> pl.LazyFrame:
    """Per (user, bucket): engagement counts (also by category and price band), purchases and revenue,
    abandoned carts, offers received and used, price sums, unverified views, follows, sessions by local hour."""
    enriched = (
        events.join(items.select("item_id", "category", "merchant_verified"), on="item_id", how="left")
        .join(users.select("user_id", "tz"), on="user_id", how="left")
        .with_columns(local_hour(time_zones))
    )
    kind = pl.col("type")
    log_price = pl.col("price").clip(lower_bound=0.01).log()
    aggregations: list[pl.Expr] = [
        _count(kind == "session_start").alias("sessions"),
        *(_count(kind == event).alias(name) for name, event in ENGAGEMENTS.items()),
        _count(kind == "purchase").alias("purchases"),
        (pl.col("price") * pl.col("quantity")).filter(kind == "purchase").sum().alias("revenue"),
        _count(kind == "offer_sent").alias("messages"),
        _count((kind == "view") & (pl.col("merchant_verified") == False)).alias("unverified_views"),  # noqa: E712
        log_price.filter(kind == "view").sum().alias("viewed_log_price_sum"),
        log_price.filter(kind == "purchase").sum().alias("bought_log_price_sum"),
        (_count(kind == "follow_merchant") - _count(kind == "unfollow_merchant")).alias("follows"),
    ]
    for offer in COUNTED_OFFERS:
        aggregations.append(_count((kind == "offer_sent") & (pl.col("offer") == offer)).alias(f"{offer}_offers"))
        aggregations.append(_count((kind == "offer_redeemed") & (pl.col("offer") == offer)).alias(f"{offer}_uses"))
    for name, event in ENGAGEMENTS.items():
        for category in categories:
            aggregations.append(
                _count((kind == event) & (pl.col("category") == category)).alias(f"{name}_cat_{category}")
            )
        for band, (low, high) in PRICE_BANDS.items():
            in_band = (pl.col("price") >= low) & (pl.col("price") < high)
            aggregations.append(_count((kind == event) & in_band).alias(f"{name}_band_{band}"))
    for hour in range(24):
        aggregations.append(
            _count((kind == "session_start") & (pl.col("local_hour") == hour)).alias(f"hour_{hour:02d}")
        )
    counts = enriched.group_by("user_id", key).agg(aggregations)
    return counts.join(abandoned_carts(events, key), on=["user_id", key], how="left").with_columns(
        pl.col("abandoned_carts").fill_null(0)
    )


def abandoned_carts(events: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Per (user, bucket): items put in the cart and not bought by that user in the same bucket."""
    carts = events.filter(pl.col("type") == "cart_add").select("user_id", "item_id", key).unique()
    bought = events.filter(pl.col("type") == "purchase").select("user_id", "item_id", key).unique()
    left = carts.join(bought, on=["user_id", "item_id", key], how="anti")
    return left.group_by("user_id", key).agg(pl.len().cast(pl.Int32).alias("abandoned_carts"))


def item_daily(events: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Per (item, bucket): views, favourites, cart adds, units purchased."""
    kind = pl.col("type")
    return (
        events.filter(pl.col("item_id").is_not_null())
        .group_by("item_id", key)
        .agg(
            *(_count(kind == event).alias(name) for name, event in ENGAGEMENTS.items()),
            pl.col("quantity").filter(kind == "purchase").sum().cast(pl.Int64).alias("units_sold"),
        )
    )
