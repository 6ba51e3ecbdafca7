"""What a policy sees at a trigger moment: the one context definition.

A context is built from three things and nothing else:

- the moment's own fields: the trigger and its kind, the channel, the local hour and weekday of the send;
- the user's point-in-time features (:mod:`features.pipelines.user`), with the churn risk, purchase trend and
  lifecycle stage of :mod:`features.lifecycle` (:func:`~features.lifecycle.with_lifecycle`, as the trigger
  engine stages users) and the user's region (time zone). A ``churn_risk`` column in the user features (a
  churn model's daily scores) is the risk; without one, the rule's;
- the item's point-in-time features (:mod:`features.pipelines.item`), and how its price compares with what the
  user usually looks at.

:data:`CONTEXT` declares every column and its type. The simulator, the batch pipelines and the endpoint all call
:func:`context_features`, so a policy trained on simulated logs is served exactly what it learned from. Features
are those of the latest daily snapshot before the moment: as of midnight (UTC) of the moment's day, which is what
the online store serves that day.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> moments = pl.LazyFrame({
...     "user_id": ["u1"], "item_id": ["i1"], "trigger": ["cart_abandon"], "channel": ["email"],
...     "send_at": [datetime(2026, 3, 2, 18, 30, tzinfo=timezone.utc)],
... })
>>> users = pl.LazyFrame({"user_id": ["u1"], "tz": ["Asia/Tokyo"]})
>>> user_features = pl.LazyFrame({"user_id": ["u1"], "mean_log_viewed_price": [4.0], "account_age_days": [3.0]})
>>> items = pl.LazyFrame({"item_id": ["i1"], "price": [109.2]})
>>> row = context_features(moments, users, user_features, items, ["Asia/Tokyo"]).collect().row(0, named=True)
>>> row["local_hour"], row["weekday"], row["trigger_kind"], round(row["log_price_vs_usual"], 2), row["region"]
(3, 2, 'behaviour', 0.69, 'Asia/Tokyo')
>>> row["lifecycle_stage"], round(row["churn_risk"], 3), row["purchases_90d"] is None
('new', 0.095, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from features.lifecycle import LifecycleThresholds, with_lifecycle
from features.pipelines.daily import COUNTED_OFFERS, in_local_time
from features.pipelines.user import UserFeatureSpec
from features.schemas import TRIGGER_KINDS, schema_of

#: The moment's own fields.
MOMENT_CONTEXT = schema_of(
    {
        "trigger": pl.String,
        "trigger_kind": pl.String,
        "channel": pl.String,
        "local_hour": pl.Int8,
        "weekday": pl.Int8,
    }
)
#: The user's point-in-time features a policy sees (``region`` and the lifecycle columns derived here).
USER_CONTEXT = schema_of(
    {
        "region": pl.String,
        "account_age_days": pl.Float64,
        "lifecycle_stage": pl.String,
        "churn_risk": pl.Float64,
        "purchase_trend": pl.Float64,
        "days_since_last_session": pl.Int32,
        "sessions_30d": pl.Int32,
        "views_30d": pl.Int32,
        "purchases_90d": pl.Int32,
        "abandoned_carts_7d": pl.Int32,
        "messages_7d": pl.Int32,
        "coupon_redemption_rate": pl.Float64,
        "installment_use_rate": pl.Float64,
        "unverified_view_share": pl.Float64,
        "viewed_vs_bought_log_price": pl.Float64,
    }
)
#: The item's point-in-time features a policy sees, and the price against the user's usual.
ITEM_CONTEXT = schema_of(
    {
        "category": pl.String,
        "price": pl.Float64,
        "price_percentile": pl.Float64,
        "merchant_verified": pl.Boolean,
        "merchant_rating": pl.Float64,
        "authenticated": pl.Boolean,
        "stock": pl.Int64,
        "days_listed": pl.Float64,
        "log_price_vs_usual": pl.Float64,
    }
)
#: Item attributes fixed at listing: read from the catalogue, so a listing newer than the snapshot has them too.
ITEM_ATTRIBUTES: tuple[str, ...] = ("category", "price", "merchant_verified", "merchant_rating", "authenticated")
#: The context a policy sees at a moment, column by column: the one definition.
CONTEXT = schema_of({**MOMENT_CONTEXT, **USER_CONTEXT, **ITEM_CONTEXT})
#: User feature columns the context reads (beyond those it shows, the last 30 days' purchases for the trend and
#: the usual viewed price); ``churn_risk`` is optional (null: the rule's).
USER_INPUTS: tuple[str, ...] = (
    *(c for c in USER_CONTEXT if c not in ("region", "lifecycle_stage", "purchase_trend")),
    "purchases_30d",
    "mean_log_viewed_price",
)
ITEM_INPUTS: tuple[str, ...] = tuple(c for c in ITEM_CONTEXT if c not in ("log_price_vs_usual", *ITEM_ATTRIBUTES))
#: The user feature sums the context reads, and no others: a build with this spec gives :data:`USER_INPUTS` with
#: the values of the full feature set (sums decompose), at a fraction of the cost.
CONTEXT_USER_SPEC = UserFeatureSpec(
    windows={
        7: ["abandoned_carts", "messages"],
        30: ["sessions", "views", "purchases"],
        90: [
            "purchases",
            "views",
            *(f"{offer}_{what}" for offer in COUNTED_OFFERS for what in ("offers", "uses")),
            "unverified_views",
            "viewed_log_price_sum",
            "bought_log_price_sum",
        ],
    },
    all_time=[],
    recency={"sessions": "days_since_last_session"},
    hours=False,
)


def local_weekday(time_zones: Sequence[str]) -> pl.Expr:
    """ISO weekday (1 = Monday) of ``ts`` in the user's time zone."""
    return in_local_time("weekday", time_zones).alias("weekday")


def _with_columns(frame: pl.LazyFrame, key: str, wanted: Sequence[str]) -> pl.LazyFrame:
    """Reduce ``frame`` to ``key`` and ``wanted``.

    A wanted column it lacks is null (a policy reads null as unknown).
    """
    have = frame.collect_schema().names()
    return frame.select(key, *(pl.col(c) if c in have else pl.lit(None).alias(c) for c in wanted))


def _typed(column: str, dtype: pl.DataType) -> pl.Expr:
    """Cast a context column to its declared type; floats are rounded to 9 decimals.

    Parallel sums of floats differ in the last bits from run to run, and a context must not.
    """
    expr = pl.col(column).cast(dtype)
    return expr.round(9) if dtype == pl.Float64 else expr


def item_inputs(item_features: pl.LazyFrame, catalogue: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per item: ``item_id``, its :data:`ITEM_ATTRIBUTES` and its other features.

    The attributes come from the ``catalogue`` when given, else from ``item_features``; the other features
    (:data:`ITEM_INPUTS`) from ``item_features``. An item in only one of the two has nulls for the other's
    columns.
    """
    attributes = _with_columns(catalogue if catalogue is not None else item_features, "item_id", ITEM_ATTRIBUTES)
    features = _with_columns(item_features, "item_id", ITEM_INPUTS)
    return attributes.join(features, on="item_id", how="full", coalesce=True, maintain_order="left")


def user_side(user_features: pl.LazyFrame, thresholds: LifecycleThresholds | None = None) -> pl.LazyFrame:
    """One row per user of ``user_features``: the values :func:`context_features` gives a moment of that user.

    The row holds ``user_id``, the user's :data:`USER_CONTEXT` columns but ``region`` (a users-table column),
    typed, and the raw ``mean_log_viewed_price`` that :func:`price_vs_usual` reads.

    Examples
    --------
    >>> side = user_side(pl.LazyFrame({"user_id": ["u1"], "account_age_days": [3.0]})).collect()
    >>> side.row(0, named=True)["lifecycle_stage"], side.columns[:3]
    ('new', ['user_id', 'account_age_days', 'lifecycle_stage'])
    """
    staged = with_lifecycle(_with_columns(user_features, "user_id", USER_INPUTS), thresholds or LifecycleThresholds())
    shown = (_typed(c, t) for c, t in USER_CONTEXT.items() if c != "region")
    return staged.select("user_id", *shown, "mean_log_viewed_price")


def item_side(item_features: pl.LazyFrame, catalogue: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per item: the values :func:`context_features` gives a moment about that item.

    The row holds ``item_id``, the item's :data:`ITEM_CONTEXT` columns but ``log_price_vs_usual`` (which needs
    the user), typed, and the raw ``log_price`` that :func:`price_vs_usual` reads.

    Examples
    --------
    >>> side = item_side(pl.LazyFrame({"item_id": ["i1"], "price": [109.2], "stock": [2]})).collect()
    >>> row = side.row(0, named=True)
    >>> row["price"], row["stock"], round(row["log_price"], 4), row["category"]
    (109.2, 2, 4.6932, None)
    """
    shown = (_typed(c, t) for c, t in ITEM_CONTEXT.items() if c != "log_price_vs_usual")
    return item_inputs(item_features, catalogue).select("item_id", *shown, pl.col("price").log().alias("log_price"))


def price_vs_usual(log_price: float | None, mean_log_viewed_price: float | None) -> float | None:
    """Return ``log_price_vs_usual`` of one moment: the value :func:`context_features` computes with polars.

    It is computed from :func:`item_side`'s ``log_price`` and :func:`user_side`'s ``mean_log_viewed_price``,
    rounded as polars rounds (to 9 decimals, halves to even on the scaled value; the test of the one-row path
    checks it).

    Examples
    --------
    >>> price_vs_usual(4.6932, 4.0), price_vs_usual(None, 4.0)
    (0.6932, None)
    """
    if log_price is None or mean_log_viewed_price is None:
        return None
    difference = log_price - mean_log_viewed_price
    return difference if not math.isfinite(difference) else round(difference * 1e9) / 1e9


def local_fields(send_at: datetime, tz: str | None) -> tuple[int, int]:
    """Return ``(local_hour, weekday)`` of a send time in the user's time zone (UTC when unknown).

    It is what :func:`in_local_time` gives one moment.

    Examples
    --------
    >>> from datetime import UTC
    >>> local_fields(datetime(2026, 3, 2, 18, 30, tzinfo=UTC), "Asia/Tokyo")
    (3, 2)
    """
    local = send_at.astimezone(ZoneInfo(tz) if tz is not None else UTC)
    return local.hour, local.isoweekday()


def context_features(
    moments: pl.LazyFrame,
    users: pl.LazyFrame,
    user_features: pl.LazyFrame,
    item_features: pl.LazyFrame,
    time_zones: Sequence[str],
    thresholds: LifecycleThresholds | None = None,
    catalogue: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Add every :data:`CONTEXT` column to the moments, in order, after their own columns.

    The moments have ``user_id``, ``item_id``, ``trigger``, ``channel``, ``send_at``; any other columns are
    kept as they are.

    The item's :data:`ITEM_ATTRIBUTES` come from the ``catalogue`` (the items table) when given, else from
    ``item_features``; its other features from ``item_features`` (null for a listing newer than them).
    """
    thresholds = thresholds or LifecycleThresholds()
    own = [c for c in moments.collect_schema().names() if c not in CONTEXT]
    moment_ts = "__moment_ts"  # the local fields are read from ``ts``: the send time stands in for a moment
    user_part = _with_columns(user_features, "user_id", USER_INPUTS)
    return (
        moments.rename({"ts": moment_ts} if "ts" in own else {})
        .join(users.select("user_id", "tz"), on="user_id", how="left", maintain_order="left")
        .join(user_part, on="user_id", how="left", maintain_order="left")
        .join(item_inputs(item_features, catalogue), on="item_id", how="left", maintain_order="left")
        .with_columns(pl.col("send_at").alias("ts"))
        .with_columns(
            in_local_time("hour", time_zones).alias("local_hour"),
            local_weekday(time_zones),
            pl.col("trigger").replace_strict(TRIGGER_KINDS, default="other").alias("trigger_kind"),
            pl.col("tz").alias("region"),
            (pl.col("price").log() - pl.col("mean_log_viewed_price")).alias("log_price_vs_usual"),
        )
        .pipe(with_lifecycle, thresholds)
        .drop("ts")
        .rename({moment_ts: "ts"} if "ts" in own else {})
        .select(*own, *(_typed(c, t) for c, t in CONTEXT.items()))
    )
