"""User features as of a moment, from daily aggregates: recency, frequency and monetary value over windows,
engagement by category and price band, abandoned carts, offer use, price habits, trust, timing, follows.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> daily = pl.LazyFrame({"user_id": ["u1", "u1"], "age": [0, 20], "sessions": [1, 2], "purchases": [0, 1]})
>>> users = pl.LazyFrame({"user_id": ["u1", "u2"], "signup_ts": [datetime(2026, 1, 1, tzinfo=timezone.utc)] * 2})
>>> steps = [windowed_sums(["sessions", "purchases"], (1, 30))]
>>> out = user_features(daily, users, datetime(2026, 3, 1, tzinfo=timezone.utc), steps).collect()
>>> out.select("user_id", "sessions_1d", "purchases_30d", "account_age_days").rows()
[('u1', 1, 1, 59.0), ('u2', 0, 0, 59.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import polars as pl

from features.pipelines.daily import COUNTED_OFFERS, ENGAGEMENTS, PRICE_BANDS
from features.pipelines.windows import WINDOWS, within

Aggregation = Callable[[], list[pl.Expr]]


def windowed_sums(columns: Sequence[str], windows: Sequence[int] = WINDOWS) -> Aggregation:
    """``<column>_<w>d``: the sum of a daily column over each window."""
    return lambda: [pl.col(c).filter(within(w)).sum().alias(f"{c}_{w}d") for c in columns for w in windows]


def all_time(columns: Sequence[str]) -> Aggregation:
    return lambda: [pl.col(c).sum().alias(c) for c in columns]


def days_since(column: str, name: str) -> Aggregation:
    """Age of the most recent day with any ``column``: 0 means within the last 24 hours; null if never."""
    return lambda: [pl.col("age").filter(pl.col(column) > 0).min().alias(name)]


def preferred_hour(window: int = 90) -> Aggregation:
    """The local hour of most sessions over the window (null without sessions)."""
    hours = [pl.col(f"hour_{h:02d}").filter(within(window)).sum() for h in range(24)]
    histogram = pl.concat_list(hours)
    return lambda: [
        pl.when(histogram.list.sum() > 0)
        .then(histogram.list.arg_max())
        .otherwise(None)
        .cast(pl.Int8)
        .alias("preferred_hour")
    ]


def default_aggregations(categories: Sequence[str]) -> list[Aggregation]:
    """The standard user feature set."""
    by_segment = [f"{name}_cat_{c}" for name in ENGAGEMENTS for c in categories]
    by_segment += [f"{name}_band_{b}" for name in ENGAGEMENTS for b in PRICE_BANDS]
    offers = [f"{offer}_{what}" for offer in COUNTED_OFFERS for what in ("offers", "uses")]
    return [
        windowed_sums(["sessions", *ENGAGEMENTS, "purchases", "revenue"]),
        windowed_sums(["abandoned_carts"], (7, 30)),
        windowed_sums(["messages"], (7,)),
        windowed_sums(by_segment, (30,)),
        windowed_sums([*offers, "unverified_views", "viewed_log_price_sum", "bought_log_price_sum"], (90,)),
        all_time(["follows"]),
        days_since("sessions", "days_since_last_session"),
        days_since("purchases", "days_since_last_purchase"),
        preferred_hour(),
    ]


def derived_columns() -> list[pl.Expr]:
    """Rates and price habits from the sums (null where the denominator is zero)."""

    def ratio(numerator: str, denominator: str) -> pl.Expr:
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).otherwise(None)

    viewed = ratio("viewed_log_price_sum_90d", "views_90d")
    bought = ratio("bought_log_price_sum_90d", "purchases_90d")
    return [
        ratio("coupon_uses_90d", "coupon_offers_90d").alias("coupon_redemption_rate"),
        ratio("installment_uses_90d", "installment_offers_90d").alias("installment_use_rate"),
        ratio("unverified_views_90d", "views_90d").alias("unverified_view_share"),
        viewed.alias("mean_log_viewed_price"),
        bought.alias("mean_log_bought_price"),
        (viewed - bought).alias("viewed_vs_bought_log_price"),
    ]


def user_features(
    daily: pl.LazyFrame, users: pl.LazyFrame, as_of: datetime, aggregations: Sequence[Aggregation]
) -> pl.LazyFrame:
    """One row per user in ``users`` (zeros for users without events): the aggregations over ``daily``'s
    ``age`` buckets, derived rates, and account age at ``as_of``."""
    exprs = [e for aggregation in aggregations for e in aggregation()]
    features = daily.group_by("user_id").agg(exprs)
    names = [e.meta.output_name() for e in exprs]
    counts = [n for n in names if n not in ("days_since_last_session", "days_since_last_purchase", "preferred_hour")]
    as_of_lit = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    return (
        users.select("user_id", "signup_ts")
        .join(features, on="user_id", how="left")
        .with_columns(pl.col(counts).fill_null(0))
        .with_columns(
            ((as_of_lit - pl.col("signup_ts")).dt.total_seconds() / 86_400).alias("account_age_days"),
            *[e for e in derived_columns() if all(n in names for n in e.meta.root_names())],
        )
        .drop("signup_ts")
        .sort("user_id")
    )
