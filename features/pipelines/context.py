"""Context features at a trigger moment: local hour and weekday, channel, trigger kind, and the item's price
against what the user usually looks at.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> moments = pl.LazyFrame({
...     "user_id": ["u1"], "item_id": ["i1"], "trigger": ["cart_abandon"], "channel": ["email"],
...     "ts": [datetime(2026, 3, 2, 18, 30, tzinfo=timezone.utc)],
... })
>>> users = pl.LazyFrame({"user_id": ["u1"], "tz": ["Asia/Tokyo"]})
>>> user_features = pl.LazyFrame({"user_id": ["u1"], "mean_log_viewed_price": [4.0]})
>>> items = pl.LazyFrame({"item_id": ["i1"], "price": [109.2]})
>>> row = context_features(moments, users, user_features, items, ["Asia/Tokyo"]).collect().row(0, named=True)
>>> row["local_hour"], row["weekday"], row["trigger_kind"], round(row["log_price_vs_usual"], 2)
(3, 2, 'behaviour', 0.69)
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from features.pipelines.daily import in_local_time, local_hour

#: Trigger (sub-type) → trigger kind.
TRIGGER_KINDS: dict[str, str] = {
    "cart_abandon": "behaviour",
    "repeat_view": "behaviour",
    "low_stock": "inventory",
    "new_listing": "social",
    "lapsing": "lifecycle",
    "best_hour": "time",
}


def local_weekday(time_zones: Sequence[str]) -> pl.Expr:
    """ISO weekday (1 = Monday) of ``ts`` in the user's time zone."""
    return in_local_time("weekday", time_zones).alias("weekday")


def context_features(
    moments: pl.LazyFrame,
    users: pl.LazyFrame,
    user_features: pl.LazyFrame,
    item_features: pl.LazyFrame,
    time_zones: Sequence[str],
) -> pl.LazyFrame:
    """One row per moment (user_id, item_id, trigger, channel, ts) with its context features."""
    return (
        moments.join(users.select("user_id", "tz"), on="user_id", how="left")
        .join(user_features.select("user_id", "mean_log_viewed_price"), on="user_id", how="left")
        .join(item_features.select("item_id", "price"), on="item_id", how="left")
        .with_columns(
            local_hour(time_zones),
            local_weekday(time_zones),
            pl.col("trigger").replace_strict(TRIGGER_KINDS, default="other").alias("trigger_kind"),
            (pl.col("price").log() - pl.col("mean_log_viewed_price")).alias("log_price_vs_usual"),
        )
        .drop("tz", "mean_log_viewed_price", "price")
    )
