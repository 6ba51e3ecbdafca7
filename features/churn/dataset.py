"""Point-in-time churn training data: one row per (customer, snapshot).

Each row holds its features as of the snapshot and whether the customer bought again within the horizon.

At each snapshot ``s`` (a moment; a date means its midnight UTC):

- **population**: users who signed up before ``s`` and made at least one purchase before ``s``: the customers
  who can churn. Users who never bought are prospects, not customers, and are left out.
- **features**: the standard user features of :func:`features.pipelines.build.build_user_features` as of ``s``
  (events strictly before ``s``), plus a few purchase-history features (:data:`HISTORY_FEATURES`).
- **label** ``churned``: 1 if the user makes no purchase in ``[s, s + horizon_days)``, else 0.
- **BG/NBD inputs** (not model features): ``bgnbd_frequency``, ``bgnbd_recency``, ``bgnbd_T``, in days from the
  user's purchase *days* before ``s`` (UTC calendar days), lifetimes' convention: the number of distinct
  purchase days after the first one, the days from the first purchase day to the last, and the days from the
  first purchase day to ``s``.

Nothing at or after ``s`` feeds a feature or a BG/NBD input; only the label looks past ``s``, and nothing at or
after ``s + horizon_days`` feeds it. Every snapshot's window must lie inside the data: ``s`` within the span of
the events and ``s + horizon_days`` no later than the last event.

Examples
--------
>>> from datetime import date, datetime, timezone
>>> import polars as pl
>>> noon = [datetime(2026, m, d, 12, tzinfo=timezone.utc) for m, d in [(1, 5), (1, 20), (3, 2), (1, 7), (4, 30)]]
>>> events = pl.DataFrame({
...     "event_id": ["e1", "e2", "e3", "e4", "e5"], "ts": noon, "user_id": ["a", "a", "a", "b", "c"],
...     "type": ["purchase"] * 5, "item_id": ["i1"] * 5, "price": [10.0] * 5, "quantity": [1] * 5,
...     "offer": [None] * 5,
... }, schema_overrides={"offer": pl.String})
>>> items = pl.DataFrame({"item_id": ["i1"], "category": ["music"], "merchant_verified": [True]})
>>> users = pl.DataFrame({"user_id": ["a", "b", "c"], "tz": ["UTC"] * 3,
...                       "signup_ts": [datetime(2026, 1, 1, tzinfo=timezone.utc)] * 3})
>>> data = churn_dataset(events, items, users, [date(2026, 2, 1)], horizon_days=60, customer_base=False)
>>> data.frame.select("user_id", "churned", "bgnbd_frequency", "bgnbd_recency", "bgnbd_T").rows()
[('a', 0, 1, 15.0, 27.0), ('b', 1, 0, 0.0, 25.0)]
>>> "days_since_last_purchase" in data.feature_columns, "bgnbd_T" in data.feature_columns
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import polars.selectors as cs

from features.churn.columns import BGNBD_COLUMNS, LABEL, SNAPSHOT
from features.churn.customer_base import with_customer_base
from features.pipelines.build import EVENT_COLUMNS, build_user_features, categories_of

#: Purchase-history features added to the pipeline's: counts beyond its 90-day windows and the recent trend.
HISTORY_FEATURES: tuple[str, ...] = (
    "purchases_all_time",
    "revenue_all_time",
    "purchase_days_all_time",
    "mean_days_between_purchase_days",
    "purchases_prev_60d",
    "purchase_rate_trend_30v60",
)
#: The columns each input frame needs (what the feature pipelines read).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": tuple(EVENT_COLUMNS),
    "items": ("item_id", "category", "merchant_verified"),
    "users": ("user_id", "signup_ts", "tz"),
}
UTC_US = pl.Datetime("us", "UTC")
DAY_S = 86_400.0


@dataclass(frozen=True)
class ChurnData:
    """Churn training rows, one per (user, snapshot).

    ``frame`` holds ``user_id``, ``snapshot``, the ``feature_columns``, ``churned`` (Int8 0/1) and the BG/NBD
    inputs :data:`BGNBD_COLUMNS`.
    """

    frame: pl.DataFrame
    feature_columns: list[str]
    horizon_days: int


def _lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _check_columns(frame: pl.LazyFrame, name: str) -> None:
    present = frame.collect_schema()
    for column in REQUIRED_COLUMNS[name]:
        if column not in present:
            raise ValueError(f"{name}: missing column {column!r}; present: {', '.join(present.names())}")
    for column in ("ts",) if name == "events" else ("signup_ts",) if name == "users" else ():
        if not isinstance(present[column], pl.Datetime):
            raise ValueError(f"{name}: column {column!r} has dtype {present[column]}, expected a UTC Datetime")


def as_utc(moment: datetime | date) -> datetime:
    """Return a snapshot as an aware UTC datetime: a date is its midnight UTC; a naive datetime is read as UTC.

    >>> as_utc(date(1997, 6, 30))
    datetime.datetime(1997, 6, 30, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def data_span(events: pl.DataFrame | pl.LazyFrame) -> tuple[datetime, datetime]:
    """Return the first and the last event's ``ts``.

    >>> from datetime import datetime, timezone
    >>> ts = [datetime(2026, 1, 2, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)]
    >>> [t.day for t in data_span(pl.DataFrame({"ts": ts}))]
    [1, 2]
    """
    first, last = _lazy(events).select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).collect().row(0)
    if first is None:
        raise ValueError("events: no rows with a timestamp, so the data span is undefined")
    return as_utc(first), as_utc(last)


def check_snapshots(
    snapshots: Sequence[datetime | date], horizon_days: int, span: tuple[datetime, datetime]
) -> list[datetime]:
    """Return the snapshots as UTC datetimes, checked.

    A :class:`ValueError` names the first one whose window leaves the data (or an empty list, a repeated
    snapshot, a horizon below one day).
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    moments = [as_utc(s) for s in snapshots]
    if not moments:
        raise ValueError("no snapshots: give at least one snapshot date")
    first, last = span
    for moment in moments:
        if moment < first:
            raise ValueError(f"snapshot {moment.isoformat()} is before the first event ({first.isoformat()})")
        if moment > last:
            raise ValueError(f"snapshot {moment.isoformat()} is after the last event ({last.isoformat()})")
        end = moment + timedelta(days=horizon_days)
        if end > last:
            raise ValueError(
                f"snapshot {moment.isoformat()} with a horizon of {horizon_days} days needs data to "
                f"{end.isoformat()}, past the last event ({last.isoformat()})"
            )
    repeated = sorted({m for m in moments if moments.count(m) > 1})
    if repeated:
        raise ValueError(f"snapshot {repeated[0].isoformat()} is given more than once")
    return sorted(moments)


def purchase_history(purchases: pl.LazyFrame, snapshot: datetime) -> pl.LazyFrame:
    r"""Per customer with a purchase before ``snapshot``: the history features and the BG/NBD inputs.

    Notes
    -----
    From the purchases strictly before the snapshot :math:`s`, with purchase days :math:`d_1 < \dots < d_{k}`
    (distinct UTC calendar days) and :math:`n_w` the purchases of the last :math:`w` days:

    - ``purchases_all_time``, ``revenue_all_time``: purchase events and their value, ever;
      ``purchase_days_all_time`` :math:`= k`;
    - ``mean_days_between_purchase_days`` :math:`= (d_k - d_1)/(k-1)`, null when :math:`k = 1`;
    - ``purchases_prev_60d`` :math:`= n_{90} - n_{30}` (ages 30 to 89 days);
    - ``purchase_rate_trend_30v60`` :math:`= n_{30}/30 - (n_{90} - n_{30})/60`, the change in purchases per
      day, positive when the customer is buying more often lately;
    - BG/NBD: :math:`x = k - 1`, :math:`t_x = d_k - d_1`, :math:`T = s - d_1` in days (:math:`d_1` at midnight).
    """
    at = pl.lit(snapshot).cast(UTC_US)
    age = (at - pl.col("ts")).dt.total_seconds() / DAY_S
    recent = pl.col("ts").filter(age <= 30).len()
    previous = pl.col("ts").filter((age > 30) & (age <= 90)).len()
    first_day = pl.col("day").min().cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    history = (
        purchases.filter(pl.col("ts") < at)
        .with_columns(day=pl.col("ts").dt.date())
        .group_by("user_id")
        .agg(
            purchases_all_time=pl.len().cast(pl.Int32),
            revenue_all_time=(pl.col("price") * pl.col("quantity")).fill_null(0.0).sum(),
            purchase_days_all_time=pl.col("day").n_unique().cast(pl.Int32),
            recent=recent,
            previous=previous,
            bgnbd_recency=(pl.col("day").max() - pl.col("day").min()).dt.total_days().cast(pl.Float64),
            bgnbd_T=(at - first_day).dt.total_seconds() / DAY_S,
        )
    )
    return history.select(
        "user_id",
        "purchases_all_time",
        "revenue_all_time",
        "purchase_days_all_time",
        mean_days_between_purchase_days=pl.when(pl.col("purchase_days_all_time") > 1).then(
            pl.col("bgnbd_recency") / (pl.col("purchase_days_all_time") - 1)
        ),
        purchases_prev_60d=pl.col("previous").cast(pl.Int32),
        purchase_rate_trend_30v60=pl.col("recent") / 30 - pl.col("previous") / 60,
        bgnbd_frequency=(pl.col("purchase_days_all_time") - 1).cast(pl.Int32),
        bgnbd_recency="bgnbd_recency",
        bgnbd_T="bgnbd_T",
    )


def churn_labels(purchases: pl.LazyFrame, snapshot: datetime, horizon_days: int) -> pl.LazyFrame:
    """Return the customers who buy in ``[snapshot, snapshot + horizon_days)``, each once, with ``churned = 0``."""
    start = pl.lit(snapshot).cast(UTC_US)
    end = pl.lit(snapshot + timedelta(days=horizon_days)).cast(UTC_US)
    window = purchases.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    return window.select("user_id").unique().with_columns(pl.lit(0, dtype=pl.Int8).alias(LABEL))


def customer_plan(
    events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, snapshot: datetime, categories: list[str]
) -> pl.LazyFrame:
    """Plan the customers of one snapshot (lazy): their features, purchase history and BG/NBD inputs, no label."""
    purchases = events.filter(pl.col("type") == "purchase")
    history = purchase_history(purchases, snapshot)  # customers only: the inner join below is the population
    features = build_user_features(events, items, users, snapshot, categories)  # users signed up before it
    # floats rounded to 9 decimals, as the context's: parallel sums may differ in the last bit between runs, and
    # a model must not split on that (CDNOW's viewed-vs-bought price gap is 0 give or take 1e-17)
    return features.join(history, on="user_id", how="inner").with_columns(
        cs.float().round(9), pl.lit(snapshot).cast(UTC_US).alias(SNAPSHOT)
    )


def snapshot_plan(
    events: pl.LazyFrame,
    items: pl.LazyFrame,
    users: pl.LazyFrame,
    snapshot: datetime,
    horizon_days: int,
    categories: list[str],
) -> pl.LazyFrame:
    """Plan the rows of one snapshot (lazy): the population's features, history, BG/NBD inputs and label."""
    purchases = events.filter(pl.col("type") == "purchase")
    return (
        customer_plan(events, items, users, snapshot, categories)
        .join(churn_labels(purchases, snapshot, horizon_days), on="user_id", how="left")
        .with_columns(pl.col(LABEL).fill_null(1).cast(pl.Int8))
    )


def _read_inputs(
    events: pl.DataFrame | pl.LazyFrame,
    items: pl.DataFrame | pl.LazyFrame,
    users: pl.DataFrame | pl.LazyFrame,
    horizon_days: int,
) -> tuple[pl.DataFrame, pl.LazyFrame, pl.LazyFrame]:
    """Check the inputs (columns, horizon, a non-empty log) and read the log once (the columns features use)."""
    frames = {"events": _lazy(events), "items": _lazy(items), "users": _lazy(users)}
    for name, given in frames.items():
        _check_columns(given, name)
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    log = frames["events"].select(EVENT_COLUMNS).collect()
    if log.height == 0:
        raise ValueError("events: no rows")
    return log, frames["items"], frames["users"]


def customer_features(
    events: pl.DataFrame | pl.LazyFrame,
    items: pl.DataFrame | pl.LazyFrame,
    users: pl.DataFrame | pl.LazyFrame,
    as_of: datetime | date,
    horizon_days: int = 60,
    customer_base: bool = True,
) -> pl.DataFrame:
    """Return the customers as of ``as_of`` with the features :func:`churn_dataset` gives (no label).

    This is what the churn model scores. ``as_of`` may lie after the last event (scoring today), not before the
    first.
    """
    log, items_lazy, users_lazy = _read_inputs(events, items, users, horizon_days)
    moment, (first, _) = as_utc(as_of), data_span(log)
    if moment < first:
        raise ValueError(f"as-of {moment.isoformat()} is before the first event ({first.isoformat()})")
    categories = categories_of(items_lazy)
    customers = customer_plan(log.lazy(), items_lazy, users_lazy, moment, categories).collect()
    if customers.height == 0:
        raise ValueError(f"as-of {moment.isoformat()} has no customers: no user signed up and purchased before it")
    return with_customer_base(customers, horizon_days) if customer_base else customers


def churn_dataset(
    events: pl.DataFrame | pl.LazyFrame,
    items: pl.DataFrame | pl.LazyFrame,
    users: pl.DataFrame | pl.LazyFrame,
    snapshots: Sequence[datetime | date],
    horizon_days: int = 60,
    customer_base: bool = True,
) -> ChurnData:
    """Churn rows for every snapshot (see the module docstring for the population, features and label).

    With ``customer_base``, the features also hold :data:`features.churn.customer_base.CUSTOMER_BASE_FEATURES`
    (BG/NBD fitted per snapshot on its customers' purchase days; it needs enough customers to converge).

    The events are read once (just the columns the features use) and every snapshot's plan is collected
    together with :func:`polars.collect_all`. Raises :class:`ValueError` naming the problem for a missing
    column, no snapshots, a horizon under one day, a snapshot or a horizon outside the data, or a snapshot
    without customers.
    """
    log, items_lazy, users_lazy = _read_inputs(events, items, users, horizon_days)
    moments = check_snapshots(snapshots, horizon_days, data_span(log))
    categories = categories_of(items_lazy)
    plans = [snapshot_plan(log.lazy(), items_lazy, users_lazy, s, horizon_days, categories) for s in moments]
    parts = pl.collect_all(plans)
    for moment, part in zip(moments, parts, strict=True):
        if part.height == 0:
            raise ValueError(
                f"snapshot {moment.isoformat()} has no customers: no user signed up and purchased before it"
            )
    frame = pl.concat(parts, how="vertical")
    if customer_base:
        frame = with_customer_base(frame, horizon_days)
    excluded = {"user_id", SNAPSHOT, LABEL, *BGNBD_COLUMNS}
    feature_columns = [c for c, dtype in frame.schema.items() if c not in excluded and dtype.is_numeric()]
    ordered = ["user_id", SNAPSHOT, *feature_columns, LABEL, *BGNBD_COLUMNS]
    return ChurnData(frame.select(ordered).sort(SNAPSHOT, "user_id"), feature_columns, horizon_days)
