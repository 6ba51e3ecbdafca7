"""The reference: the user and item features of :mod:`features.pipelines`, written plainly in pandas.

Same column names and definitions as the polars build (see ``features/pipelines``), computed the way a data
scientist would in pandas, straight from the events: one wide table of indicator columns per event (all families
side by side) summed per user over each window with ``groupby``, minima of event ages, and the top row of a
per-user hour table sorted by sessions and recency. It is the yardstick for the benchmark's speed ratio and the
check of the polars results, so where a definition has a corner the polars build resolves in a particular way,
this follows polars:

- an event's age in days is ``(as_of - ts - 1 µs) // 1 day``, so age 0 is the 24 hours before ``as_of``;
- ``account_age_days`` and ``days_listed`` use whole seconds, truncated toward zero (polars'
  ``dt.total_seconds()``), divided by 86,400;
- ``preferred_hour`` breaks ties by the most recent session (in whole days of age), then by the later hour;
  null without sessions in the last 90 days;
- a user's sessions at or after as_of minus 90 days count toward ``preferred_hour``, by local hour in the user's
  ``tz`` (UTC where unknown);
- a cart of an unknown (null) item never counts as bought (polars' joins never match nulls);
- events without a known item, category or price fall outside the category, band and verified counts.

Examples
--------
>>> from tests.benchmarks.synthetic_events import AS_OF, synthetic_frames
>>> events, items, users = (frame.to_pandas() for frame in synthetic_frames(3_000, seed=0))
>>> user_frame, item_frame = pandas_features(events, items, users, AS_OF)
>>> len(user_frame) == len(users), "views_30d" in user_frame, "price_percentile" in item_frame
(True, True, True)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from polars.testing import assert_frame_equal

from features.pipelines.daily import COUNTED_OFFERS, ENGAGEMENTS, PRICE_BANDS
from features.pipelines.item import ITEM_WINDOWS
from features.pipelines.windows import WINDOWS

US_PER_DAY = 86_400_000_000
EVENT_COLUMNS = ["ts", "user_id", "type", "item_id", "price", "quantity", "offer"]


def read_pandas(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read (events, items, users) of a :func:`~tests.benchmarks.synthetic_events.write_synthetic` folder.

    The events keep the columns the features read.
    """
    folder = Path(folder)
    events = pd.read_parquet(folder / "events", columns=EVENT_COLUMNS)
    return events, pd.read_parquet(folder / "items.parquet"), pd.read_parquet(folder / "users.parquet")


def _microseconds(delta: pd.Series) -> np.ndarray:
    return delta.to_numpy().astype("timedelta64[us]").astype(np.int64)


def _whole_days(as_of: pd.Timestamp, moments: pd.Series) -> pd.Series:
    """Whole seconds (truncated toward zero) from ``moments`` to ``as_of``, in days; NaN where unknown."""
    micros = _microseconds(as_of - moments).astype(np.float64)
    micros[moments.isna().to_numpy()] = np.nan
    return pd.Series(np.trunc(micros / 1e6) / 86_400, index=moments.index)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def _events_before(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    past = events[events["ts"] < as_of].copy()
    past["age"] = (_microseconds(as_of - past["ts"]) - 1) // US_PER_DAY
    return past


def _local_hour(ts: pd.Series, tz: pd.Series, zones: list[str]) -> pd.Series:
    hour = ts.dt.hour
    for zone in zones:
        in_zone = (tz == zone).to_numpy()
        hour.loc[in_zone] = ts[in_zone].dt.tz_convert(zone).dt.hour
    return hour


def _enriched(past: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    ev = past.merge(items[["item_id", "category", "merchant_verified"]], on="item_id", how="left")
    return ev.merge(users[["user_id", "tz"]], on="user_id", how="left")


def _indicators(ev: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """One row per event: 1/0 flags (and values) whose per-user sums are the features; plus user_id and age."""
    kind, price = ev["type"], ev["price"]
    is_ = {event: kind == event for event in ["session_start", *ENGAGEMENTS.values(), "purchase", "offer_sent"]}
    log_price = np.log(price.clip(lower=0.01))
    columns: dict[str, pd.Series] = {"sessions": is_["session_start"]}
    for name, event in ENGAGEMENTS.items():
        columns[name] = is_[event]
    columns["purchases"] = is_["purchase"]
    columns["revenue"] = (price * ev["quantity"]).where(is_["purchase"])
    columns["messages"] = is_["offer_sent"]
    columns["unverified_views"] = is_["view"] & (ev["merchant_verified"] == False)  # noqa: E712
    columns["viewed_log_price_sum"] = log_price.where(is_["view"])
    columns["bought_log_price_sum"] = log_price.where(is_["purchase"])
    columns["follows"] = (kind == "follow_merchant").astype(int) - (kind == "unfollow_merchant").astype(int)
    redeemed = kind == "offer_redeemed"
    for offer in COUNTED_OFFERS:
        columns[f"{offer}_offers"] = is_["offer_sent"] & (ev["offer"] == offer)
        columns[f"{offer}_uses"] = redeemed & (ev["offer"] == offer)
    in_category = {category: ev["category"] == category for category in categories}
    in_band = {band: (price >= low) & (price < high) for band, (low, high) in PRICE_BANDS.items()}
    for name, event in ENGAGEMENTS.items():
        for category in categories:
            columns[f"{name}_cat_{category}"] = is_[event] & in_category[category]
        for band in PRICE_BANDS:
            columns[f"{name}_band_{band}"] = is_[event] & in_band[band]
    flags = pd.DataFrame(columns)
    flags["user_id"], flags["age"] = ev["user_id"], ev["age"]
    return flags


def abandoned_carts(past: pd.DataFrame) -> pd.DataFrame:
    """One row per (user_id, item_id, age) put in the cart and not bought by the user the same day."""
    keys = ["user_id", "item_id", "age"]
    carts = past.loc[past["type"] == "cart_add", keys].drop_duplicates()
    bought = past.loc[past["type"] == "purchase", keys].drop_duplicates().dropna(subset=["item_id"])
    merged = carts.merge(bought, on=keys, how="left", indicator=True)
    return merged[merged["_merge"] == "left_only"]


def preferred_hour(ev: pd.DataFrame, zones: list[str]) -> pd.Series:
    """Return, per user, the local hour of most sessions in the last 90 days.

    Among tied hours, the one whose latest session is the most recent (smallest age in days), then the later hour.
    """
    sessions = ev[(ev["type"] == "session_start") & (ev["age"] < 90)]
    hour = _local_hour(sessions["ts"], sessions["tz"], zones).rename("hour")
    per_hour = sessions.groupby(["user_id", hour])["age"].agg(["size", "min"]).reset_index()
    ranked = per_hour.sort_values(["user_id", "size", "min", "hour"], ascending=[True, False, True, False])
    return ranked.drop_duplicates("user_id").set_index("user_id")["hour"]


def pandas_user_features(
    events: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame, as_of: datetime
) -> pd.DataFrame:
    """Build one row per user who signed up before ``as_of``, sorted by ``user_id``.

    The columns are those of ``build_user_features``.
    """
    as_of_ts = pd.Timestamp(as_of)
    categories = sorted(items["category"].dropna().unique())
    past = _events_before(events, as_of_ts)
    ev = _enriched(past, items, users)
    flags = _indicators(ev, categories)
    segments = [f"{name}_cat_{c}" for name in ENGAGEMENTS for c in categories]
    segments += [f"{name}_band_{b}" for name in ENGAGEMENTS for b in PRICE_BANDS]
    offers = [f"{offer}_{what}" for offer in COUNTED_OFFERS for what in ("offers", "uses")]
    per_window: dict[str, tuple[int, ...]] = {c: WINDOWS for c in ["sessions", *ENGAGEMENTS, "purchases", "revenue"]}
    per_window["messages"] = (7,)
    per_window.update({c: (30,) for c in segments})
    per_window.update({c: (90,) for c in [*offers, "unverified_views", "viewed_log_price_sum", "bought_log_price_sum"]})
    sums: dict[int, pd.DataFrame] = {}
    for w in sorted({w for windows in per_window.values() for w in windows}):
        columns = [c for c, windows in per_window.items() if w in windows]
        sums[w] = flags.loc[flags["age"] < w, ["user_id", *columns]].groupby("user_id").sum()
    carts = abandoned_carts(past)
    for w in (7, 30):
        sums[w]["abandoned_carts"] = carts[carts["age"] < w].groupby("user_id").size()

    out = users.loc[users["signup_ts"] < as_of_ts, ["user_id", "signup_ts"]].set_index("user_id")
    features = {f"{c}_{w}d": sums[w][c] for c in ["sessions", *ENGAGEMENTS, "purchases", "revenue"] for w in WINDOWS}
    features |= {f"abandoned_carts_{w}d": sums[w]["abandoned_carts"] for w in (7, 30)}
    features |= {"messages_7d": sums[7]["messages"]}
    features |= {f"{c}_30d": sums[30][c] for c in segments}
    features |= {
        f"{c}_90d": sums[90][c] for c in [*offers, "unverified_views", "viewed_log_price_sum", "bought_log_price_sum"]
    }
    features["follows"] = flags.groupby("user_id")["follows"].sum()
    out = out.join(pd.DataFrame(features).reindex(out.index).fillna(0))
    out["days_since_last_session"] = past[past["type"] == "session_start"].groupby("user_id")["age"].min()
    out["days_since_last_purchase"] = past[past["type"] == "purchase"].groupby("user_id")["age"].min()
    out["preferred_hour"] = preferred_hour(ev, sorted(users["tz"].dropna().unique()))
    out["account_age_days"] = _whole_days(as_of_ts, out["signup_ts"])
    viewed = _ratio(out["viewed_log_price_sum_90d"], out["views_90d"])
    bought = _ratio(out["bought_log_price_sum_90d"], out["purchases_90d"])
    out["coupon_redemption_rate"] = _ratio(out["coupon_uses_90d"], out["coupon_offers_90d"])
    out["installment_use_rate"] = _ratio(out["installment_uses_90d"], out["installment_offers_90d"])
    out["unverified_view_share"] = _ratio(out["unverified_views_90d"], out["views_90d"])
    out["mean_log_viewed_price"] = viewed
    out["mean_log_bought_price"] = bought
    out["viewed_vs_bought_log_price"] = viewed - bought
    return out.drop(columns="signup_ts").sort_index().reset_index()


def pandas_item_features(events: pd.DataFrame, items: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per item listed before ``as_of``, sorted by ``item_id``: the columns of ``build_item_features``."""
    as_of_ts = pd.Timestamp(as_of)
    past = _events_before(events, as_of_ts)
    past = past[past["item_id"].notna()]
    kind = past["type"]
    flags = pd.DataFrame({name: kind == event for name, event in ENGAGEMENTS.items()})
    flags["units_sold"] = past["quantity"].where(kind == "purchase")
    flags["item_id"], flags["age"] = past["item_id"], past["age"]
    sums = {w: flags[flags["age"] < w].groupby("item_id").sum() for w in ITEM_WINDOWS}
    windowed = pd.DataFrame({f"{c}_{w}d": sums[w][c] for c in [*ENGAGEMENTS, "units_sold"] for w in ITEM_WINDOWS})

    later = events[(events["ts"] >= as_of_ts) & (events["type"] == "purchase")]
    units_after = later.groupby("item_id")["quantity"].sum().rename("units_after")

    listed = items[items["listed_at"] < as_of_ts].set_index("item_id")
    out = listed.join(windowed).fillna({c: 0 for c in windowed.columns}).join(units_after)
    by_category = out.groupby("category", dropna=False)["price"]
    out["price_percentile"] = by_category.rank(method="max") / by_category.transform("size")
    out["conversion_rate_30d"] = _ratio(out["units_sold_30d"], out["views_30d"])
    out["stock"] = out["stock"] + out["units_after"].fillna(0)
    out["days_listed"] = _whole_days(as_of_ts, out["listed_at"])
    return out.drop(columns=["units_after", "listed_at"]).sort_index().reset_index()


def pandas_features(
    events: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(user features, item features) as of ``as_of``."""
    return pandas_user_features(events, items, users, as_of), pandas_item_features(events, items, as_of)


def first_difference(
    expected: pl.DataFrame, actual: pl.DataFrame | pd.DataFrame, key: str, rel_tol: float = 1e-9
) -> str | None:
    """Describe the first difference between ``actual`` and ``expected``, or return ``None`` if there is none.

    The two agree when ``actual`` holds the same rows and columns as ``expected`` (any order; integers, booleans
    and strings equal, floats within ``rel_tol`` relative, nulls where ``expected`` has nulls, NaN from pandas
    read as null).
    """
    if isinstance(actual, pd.DataFrame):
        actual = pl.from_pandas(actual, nan_to_null=True)
    if set(expected.columns) != set(actual.columns):
        only_expected = sorted(set(expected.columns) - set(actual.columns))
        only_actual = sorted(set(actual.columns) - set(expected.columns))
        return f"columns differ: only in polars {only_expected}, only in pandas {only_actual}"
    if expected.height != actual.height:
        return f"row counts differ: polars {expected.height}, pandas {actual.height}"
    left, right = expected.sort(key), actual.select(expected.columns).sort(key)
    if not left.get_column(key).equals(right.get_column(key)):
        return f"{key} values differ"
    for column in expected.columns:
        exact = not expected.schema[column].is_float()
        try:
            assert_frame_equal(
                left.select(column),
                right.select(column),
                check_dtypes=False,
                check_exact=exact,
                rel_tol=rel_tol,
                abs_tol=1e-12,
            )
        except AssertionError:
            a, b = left.get_column(column), right.get_column(column)
            if exact:
                differs = a.ne_missing(b.cast(a.dtype, strict=False))
            else:
                b = b.cast(pl.Float64)
                differs = (a.is_null() != b.is_null()) | ((a - b).abs() > 1e-12 + rel_tol * b.abs())
            rows = left.select(key, column).with_columns(b.alias("pandas")).filter(differs.fill_null(True))
            first = rows.row(0, named=True) if rows.height else {}
            return (
                f"column {column!r}: {rows.height} row(s) differ, first {key}={first.get(key)!r}: "
                f"polars {first.get(column)!r}, pandas {first.get('pandas')!r}"
            )
    return None
