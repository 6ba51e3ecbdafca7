"""Per-event indicators, and the daily aggregates the offline store keeps of them.

Every user feature is a sum of per-event indicators (0/1 flags and a few values) over a window of event ages,
or the smallest age at which an indicator is set. :func:`user_event_flags` gives those indicators in families
(each holding only the events that can feed it); a direct build sums them over each window straight away, and
:func:`user_daily` sums them per (user, day) for the offline store. Sums decompose, so both give the same
features and an incremental daily build equals a full rebuild.

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
>>> families = user_event_flags(events, items, users, key="age", categories=["bags"])
>>> daily = user_daily(families, key="age").collect()
>>> daily.select("views", "purchases", "revenue", "unverified_views", "views_cat_bags", "views_band_mid").row(0)
(1, 1, 80.0, 1, 1, 1)
>>> [sorted(family.collect_schema().names())[:3] for family in families][:2]
[['age', 'cart_adds', 'cart_adds_band_high'], ['age', 'bought_log_price_sum', 'purchases']]
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

#: Price bands (upper bounds, exclusive) for counts by band.
PRICE_BANDS: dict[str, tuple[float, float]] = {"low": (0.0, 50.0), "mid": (50.0, 150.0), "high": (150.0, float("inf"))}
#: Offers whose use is counted per user.
COUNTED_OFFERS = ("coupon", "installment")
ENGAGEMENTS = {"views": "view", "favorites": "favorite", "cart_adds": "cart_add"}
HOURS = [f"hour_{h:02d}" for h in range(24)]
#: Sums that are not counts (everything else in a daily frame is a count).
VALUE_SUMS = ("revenue", "viewed_log_price_sum", "bought_log_price_sum")


def in_local_time(field: str, time_zones: Sequence[str]) -> pl.Expr:
    """Return a ``dt`` field of ``ts`` (``"hour"``, ``"weekday"``) in the user's time zone (``tz``; UTC if unknown)."""
    expr: pl.Expr = getattr(pl.col("ts").dt, field)()
    for zone in time_zones:
        local = getattr(pl.col("ts").dt.convert_time_zone(zone).dt, field)()
        expr = pl.when(pl.col("tz") == zone).then(local).otherwise(expr)
    return expr.cast(pl.Int8)


def local_hour(time_zones: Sequence[str]) -> pl.Expr:
    """Return the event's hour in its user's time zone."""
    return in_local_time("hour", time_zones).alias("local_hour")


def _flag(condition: pl.Expr, name: str) -> pl.Expr:
    return condition.fill_null(False).alias(name)


def user_event_flags(
    events: pl.LazyFrame,
    items: pl.LazyFrame,
    users: pl.LazyFrame,
    key: str,
    categories: Sequence[str],
    time_zones: Sequence[str] = (),
    day: str | None = None,
) -> list[pl.LazyFrame]:
    """Return the per-event indicators of the user features, one frame per family of events.

    Each frame has ``user_id``, ``key`` and its own indicator columns (booleans, ``follows`` ±1, and the value
    sums of :data:`VALUE_SUMS`). The families:

    engagements (counts, also by category and price band; unverified views; viewed log price), purchases
    (revenue, bought log price), messages and follows (offers received and used), sessions (by local hour),
    abandoned carts (one row per item put in the cart on a ``day`` and not bought that day).
    """
    kind = pl.col("type")
    keys = ["user_id", key]
    log_price = pl.col("price").clip(lower_bound=0.01).log()
    engagement_flags = [_flag(kind == event, name) for name, event in ENGAGEMENTS.items()]
    for name, event in ENGAGEMENTS.items():
        for category in categories:
            engagement_flags.append(_flag((kind == event) & (pl.col("category") == category), f"{name}_cat_{category}"))
        for band, (low, high) in PRICE_BANDS.items():
            in_band = (pl.col("price") >= low) & (pl.col("price") < high)
            engagement_flags.append(_flag((kind == event) & in_band, f"{name}_band_{band}"))
    engagement_flags.append(_flag((kind == "view") & ~pl.col("merchant_verified"), "unverified_views"))
    engagements = (
        events.filter(kind.is_in(list(ENGAGEMENTS.values())))
        .join(items.select("item_id", "category", "merchant_verified"), on="item_id", how="left")
        .select(
            *keys,
            *engagement_flags,
            pl.when(kind == "view").then(log_price).otherwise(0.0).alias("viewed_log_price_sum"),
        )
    )
    purchases = events.filter(kind == "purchase").select(
        *keys,
        pl.lit(True).alias("purchases"),
        (pl.col("price") * pl.col("quantity")).fill_null(0.0).alias("revenue"),
        log_price.fill_null(0.0).alias("bought_log_price_sum"),
    )
    messaging_flags = [
        _flag(kind == "offer_sent", "messages"),
        ((kind == "follow_merchant").cast(pl.Int8) - (kind == "unfollow_merchant").cast(pl.Int8)).alias("follows"),
    ]
    for offer in COUNTED_OFFERS:
        messaging_flags.append(_flag((kind == "offer_sent") & (pl.col("offer") == offer), f"{offer}_offers"))
        messaging_flags.append(_flag((kind == "offer_redeemed") & (pl.col("offer") == offer), f"{offer}_uses"))
    messaging = events.filter(
        kind.is_in(["offer_sent", "offer_redeemed", "follow_merchant", "unfollow_merchant"])
    ).select(*keys, *messaging_flags)
    return [
        engagements,
        purchases,
        messaging,
        session_hours(events, users, key, time_zones),
        abandoned_carts(events, key, day),
    ]


def session_hours(events: pl.LazyFrame, users: pl.LazyFrame, key: str, time_zones: Sequence[str]) -> pl.LazyFrame:
    """One row per session start: ``sessions`` and a flag for its local hour (``hour_00`` … ``hour_23``)."""
    sessions = (
        events.filter(pl.col("type") == "session_start")
        .select("user_id", key, "ts")
        .join(users.select("user_id", "tz"), on="user_id", how="left")
        .with_columns(local_hour(time_zones))
    )
    flags = [_flag(pl.col("local_hour") == hour, name) for hour, name in enumerate(HOURS)]
    return sessions.select("user_id", key, pl.lit(True).alias("sessions"), *flags)


def abandoned_carts(events: pl.LazyFrame, key: str, day: str | None = None) -> pl.LazyFrame:
    """One row per item a user put in the cart on a day and did not buy that day (``abandoned_carts``, true).

    ``day`` is the column that says which day an event belongs to (default: ``key`` itself, when ``key``
    is the day or the age in days).
    """
    day = day or key
    columns = list(dict.fromkeys(["user_id", "item_id", day, key]))
    carts = events.filter(pl.col("type") == "cart_add").select(columns).unique()
    bought = events.filter(pl.col("type") == "purchase").select("user_id", "item_id", day).unique()
    left = carts.join(bought, on=["user_id", "item_id", day], how="anti")
    return left.select("user_id", key, pl.lit(True).alias("abandoned_carts"))


def user_daily(families: Sequence[pl.LazyFrame], key: str) -> pl.LazyFrame:
    """Per (user, ``key``): the sums of every indicator of the :func:`user_event_flags` ``families``.

    Counts are ``Int32``, zero where a family has no events.
    """
    keys = ["user_id", key]
    partial = [family.group_by(keys).agg(pl.all().sum()) for family in families]
    stacked = pl.concat(partial, how="diagonal_relaxed").group_by(keys).agg(pl.all().sum())
    names = stacked.collect_schema().names()
    counts = [pl.col(name) for name in names if name not in (*keys, *VALUE_SUMS)]
    values = [name for name in names if name in VALUE_SUMS]
    return stacked.with_columns(*(count.fill_null(0).cast(pl.Int32) for count in counts), pl.col(values).fill_null(0.0))


def item_event_flags(events: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """One row per event on an item: engagement flags and ``units_sold``, with ``item_id`` and ``key``."""
    kind = pl.col("type")
    flags = [_flag(kind == event, name) for name, event in ENGAGEMENTS.items()]
    units = pl.when(kind == "purchase").then(pl.col("quantity")).otherwise(0).cast(pl.Int64).alias("units_sold")
    return events.filter(pl.col("item_id").is_not_null()).select("item_id", key, *flags, units)


def item_daily(events: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Per (item, ``key``): views, favourites, cart adds, units purchased."""
    return (
        item_event_flags(events, key)
        .group_by("item_id", key)
        .agg(pl.col(*ENGAGEMENTS, "units_sold").sum())
        .with_columns(pl.col(*ENGAGEMENTS).cast(pl.Int32))
    )
