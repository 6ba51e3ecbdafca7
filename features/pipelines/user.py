"""User features as of a moment, from per-event indicators or daily aggregates.

Recency, frequency and monetary value over windows, engagement by category and price band, abandoned carts, offer
use, price habits, trust, timing, follows.

Each window of each family of indicators is one filter and one plain ``group_by().sum()`` of just the columns
that window needs, so the plan stays vectorised and streamable; the sums are then joined on ``user_id``.

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> daily = pl.LazyFrame({"user_id": ["u1", "u1"], "age": [0, 20], "sessions": [1, 2], "purchases": [0, 1]})
>>> users = pl.LazyFrame({"user_id": ["u1", "u2"], "signup_ts": [datetime(2026, 1, 1, tzinfo=timezone.utc)] * 2})
>>> spec = UserFeatureSpec(windows={1: ["sessions"], 30: ["purchases"]}, all_time=[], recency={}, hours=False)
>>> out = user_features(daily, users, datetime(2026, 3, 1, tzinfo=timezone.utc), spec).collect()
>>> out.select("user_id", "sessions_1d", "purchases_30d", "account_age_days").rows()
[('u1', 1, 1, 59.0), ('u2', 0, 0, 59.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from features.pipelines.daily import COUNTED_OFFERS, ENGAGEMENTS, HOURS, PRICE_BANDS, VALUE_SUMS
from features.pipelines.windows import WINDOWS, within

HOUR_WINDOW = 90


@dataclass(frozen=True)
class UserFeatureSpec:
    """Which daily columns are summed over which windows, summed over all time, and dated by recency."""

    windows: dict[int, list[str]]
    all_time: list[str]
    recency: dict[str, str]  # daily column -> feature name of the days since its last non-zero day
    hours: bool = True  # preferred_hour from the 90-day histogram of session hours

    def columns(self) -> set[str]:
        """Return the daily columns this spec reads."""
        summed = {c for columns in self.windows.values() for c in columns}
        return summed | set(self.all_time) | set(self.recency) | (set(HOURS) if self.hours else set())


def default_aggregations(categories: Sequence[str]) -> UserFeatureSpec:
    """Return the standard user feature set."""
    by_segment = [f"{name}_cat_{c}" for name in ENGAGEMENTS for c in categories]
    by_segment += [f"{name}_band_{b}" for name in ENGAGEMENTS for b in PRICE_BANDS]
    offers = [f"{offer}_{what}" for offer in COUNTED_OFFERS for what in ("offers", "uses")]
    base = ["sessions", *ENGAGEMENTS, "purchases", "revenue"]
    windows: dict[int, list[str]] = {w: list(base) for w in WINDOWS}
    windows[7] += ["abandoned_carts", "messages"]
    windows[30] += ["abandoned_carts", *by_segment]
    windows[90] += [*offers, "unverified_views", "viewed_log_price_sum", "bought_log_price_sum"]
    recency = {"sessions": "days_since_last_session", "purchases": "days_since_last_purchase"}
    return UserFeatureSpec(windows=windows, all_time=["follows"], recency=recency)


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


def last_column(hour: str) -> str:
    """Return the column of the age of the latest session at ``hour`` (see :func:`last_session_at`)."""
    return f"{hour}_last"


def last_session_at(hours: Sequence[str]) -> list[pl.Expr]:
    """Return the aggregations: per local hour, the age of the user's latest session at that hour (null if none)."""
    return [pl.when(pl.col(h).cast(pl.Boolean)).then(pl.col("age")).min().alias(last_column(h)) for h in hours]


def preferred_hour() -> pl.Expr:
    """Return the local hour of most sessions over the last 90 days; null without sessions.

    Among tied hours, the one with the most recent session (by day), then the later hour.

    Many users have a few sessions and tie: taking the first maximum would pull the feature towards midnight.
    One integer key per hour orders (sessions, recency, hour); the hour of the largest key is the answer.

    Examples
    --------
    >>> import polars as pl
    >>> counts = {f"{h}_90d": [0, 0] for h in HOURS} | {f"{h}_last": [None, None] for h in HOURS}
    >>> counts |= {"hour_09_90d": [2, 1], "hour_09_last": [5, 5], "hour_20_90d": [1, 1], "hour_20_last": [0, 1]}
    >>> pl.DataFrame(counts).select(preferred_hour()).to_series().to_list()  # most sessions; then most recent
    [9, 20]
    """
    span = HOUR_WINDOW * 24  # recency and hour together never outweigh one more session
    keys = [
        pl.col(f"{h}_{HOUR_WINDOW}d").cast(pl.Int64) * span
        + (HOUR_WINDOW - 1 - pl.col(last_column(h)).cast(pl.Int64).fill_null(HOUR_WINDOW - 1)) * 24
        + hour
        for hour, h in enumerate(HOURS)
    ]
    sessions = pl.sum_horizontal([pl.col(f"{h}_{HOUR_WINDOW}d") for h in HOURS])
    # keys differ in their last term (the hour, below 24) and the rest is a multiple of 24: the largest key, modulo
    # 24, is its hour (row-wise maxima: many times faster than building a list per row and taking its arg-max)
    return (
        pl.when(sessions > 0).then(pl.max_horizontal(keys) % 24).otherwise(None).cast(pl.Int8).alias("preferred_hour")
    )


def _sums(
    part: pl.LazyFrame, names: set[str], windows: dict[int, list[str]], spec: UserFeatureSpec
) -> list[pl.LazyFrame]:
    """Per user, the window sums, all-time sums and recencies of the columns ``part`` holds (``names``)."""
    sums = []
    for w, columns in windows.items():
        mine = [c for c in columns if c in names]
        if mine:
            latest = last_session_at([h for h in HOURS if h in mine]) if spec.hours and w == HOUR_WINDOW else []
            aggregations = [pl.col(mine).sum().name.suffix(f"_{w}d"), *latest]
            sums.append(part.filter(within(w)).group_by("user_id").agg(aggregations))
    all_time = [c for c in spec.all_time if c in names]
    if all_time:
        sums.append(part.group_by("user_id").agg(pl.col(all_time).sum()))
    for column, name in spec.recency.items():
        if column in names:
            seen = part.filter(pl.col(column).cast(pl.Float64) > 0)
            sums.append(seen.group_by("user_id").agg(pl.col("age").min().alias(name)))
    return sums


def spec_windows(spec: UserFeatureSpec) -> dict[int, list[str]]:
    """Return the daily columns summed over each window: the spec's, and the session hours over :data:`HOUR_WINDOW`."""
    windows = {w: list(columns) for w, columns in spec.windows.items()}
    if spec.hours:
        windows.setdefault(HOUR_WINDOW, []).extend(HOURS)
    return windows


def require_columns(held: set[str], spec: UserFeatureSpec) -> None:
    """Raise if the daily columns ``held`` lack one that ``spec`` sums."""
    windows = spec_windows(spec)
    wanted = {*(c for columns in windows.values() for c in columns), *spec.all_time, *spec.recency}
    missing = wanted - held
    if missing:
        raise ValueError(f"daily: missing column(s) {sorted(missing)} that the feature spec sums")


def user_features(
    daily: pl.LazyFrame | Sequence[pl.LazyFrame],
    users: pl.LazyFrame,
    as_of: datetime,
    spec: UserFeatureSpec,
) -> pl.LazyFrame:
    """One row per user in ``users`` who signed up before ``as_of`` (zeros for users without events).

    Window sums over the ``age`` of ``daily``, all-time sums, recency (the smallest age with a non-zero value),
    preferred hour, derived rates, and account age at ``as_of``.

    ``daily`` is one frame or several (each with ``user_id``, ``age`` and some of the spec's columns): daily
    aggregates, or per-event indicators with their exact ages, since sums decompose.
    """
    parts = [daily] if isinstance(daily, pl.LazyFrame) else list(daily)
    windows = spec_windows(spec)
    held_columns = [set(part.collect_schema().names()) for part in parts]
    require_columns(set().union(*held_columns), spec)
    as_of_lit = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    frame = users.filter(pl.col("signup_ts") < as_of_lit).select("user_id", "signup_ts")  # who existed then
    for part, held in zip(parts, held_columns, strict=True):
        for sums in _sums(part, held, windows, spec):
            frame = frame.join(sums, on="user_id", how="left")
    return finish_user_features(frame, as_of, spec)


def finish_user_features(frame: pl.LazyFrame, as_of: datetime, spec: UserFeatureSpec) -> pl.LazyFrame:
    """Build the feature frame from the raw sums.

    ``frame`` has ``user_id``, ``signup_ts``, a column ``{c}_{w}d`` per window sum of :func:`spec_windows`, the all-time
    sums, the recencies (named as in ``spec.recency``) and, with hours, ``{hour}_last`` (the age of the latest session
    at that hour in the last 90 days), null where a user has none; sums become zeros of their type, and the derived
    rates, preferred hour and account age are added.

    :func:`user_features` builds ``frame`` from daily rows; a store that keeps running sums builds it too.
    """
    windows = spec_windows(spec)
    as_of_lit = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    counts = [f"{c}_{w}d" for w, columns in windows.items() for c in columns] + list(spec.all_time)
    names = set(counts)
    derived = [e for e in derived_columns() if all(n in names for n in e.meta.root_names())]
    integer = [c for c in counts if not c.startswith(VALUE_SUMS)]
    frame = frame.with_columns(
        pl.col(integer).fill_null(0).cast(pl.Int32), pl.col(sorted(names - set(integer))).fill_null(0.0)
    ).with_columns(
        ((as_of_lit - pl.col("signup_ts")).dt.total_seconds() / 86_400).alias("account_age_days"),
        *derived,
        *([preferred_hour()] if spec.hours else []),
    )
    hours = {f"{h}_{HOUR_WINDOW}d" for h in HOURS} if spec.hours else set()  # only for preferred_hour
    order = [
        "user_id",
        *(c for c in counts if c not in hours),
        *(pl.col(name).cast(pl.Int32) for name in spec.recency.values()),
        "account_age_days",
        *(e.meta.output_name() for e in derived),
        *(["preferred_hour"] if spec.hours else []),
    ]
    return frame.select(order).sort("user_id")
