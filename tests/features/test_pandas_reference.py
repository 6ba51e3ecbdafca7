"""The polars feature build equals the plain pandas reference (tests/benchmarks/pandas_features.py).

On synthetic events that hold the awkward cases: tied peak hours, zones with daylight saving and a half-hour
zone, users without a zone or events, prices on band edges and tied within a category, users who sign up and
items listed after as_of, purchases after it.
"""

from __future__ import annotations

import polars as pl
import pytest

from features.pipelines import build_features
from features.schemas import EVENTS, ITEMS, USERS
from features.validation import validate
from tests.benchmarks.pandas_features import first_difference, pandas_features
from tests.benchmarks.synthetic_events import AS_OF, synthetic_frames


@pytest.fixture(scope="module")
def both() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    events, items, users = synthetic_frames(200_000, seed=1)
    built = build_features(events.lazy(), items.lazy(), users.lazy(), AS_OF)
    user_frame, item_frame = pandas_features(events.to_pandas(), items.to_pandas(), users.to_pandas(), AS_OF)
    return built.users, built.items, pl.from_pandas(user_frame), pl.from_pandas(item_frame)


def test_user_features_equal_the_pandas_reference(both: tuple[pl.DataFrame, ...]) -> None:
    polars_users, _, pandas_users, _ = both
    assert first_difference(polars_users, pandas_users, "user_id") is None


def test_item_features_equal_the_pandas_reference(both: tuple[pl.DataFrame, ...]) -> None:
    _, polars_items, _, pandas_items = both
    assert first_difference(polars_items, pandas_items, "item_id") is None


def test_the_data_exercises_the_features(both: tuple[pl.DataFrame, ...]) -> None:
    users, items, _, _ = both
    assert users.height == 3_321  # 12 of the 3,333 users sign up after as_of
    assert items.height > 6_000
    summary = users.select(
        (pl.col("abandoned_carts_30d") > 0).sum().alias("abandoning"),
        (pl.col("abandoned_carts_30d") < pl.col("cart_adds_30d")).sum().alias("buying_from_the_cart"),
        pl.col("preferred_hour").n_unique().alias("hours"),
        pl.col("preferred_hour").null_count().alias("no_sessions"),
        pl.col("coupon_redemption_rate").is_not_null().sum().alias("with_coupons"),
        (pl.col("follows") < 0).sum().alias("net_unfollows"),
    ).row(0, named=True)
    assert all(value > 0 for value in summary.values()), summary
    assert items.select((pl.col("conversion_rate_30d") > 0).sum()).item() > 0


def test_synthetic_data_meets_the_contracts() -> None:
    events, items, users = synthetic_frames(20_000, seed=2)
    validate(events, EVENTS, "events", unique="event_id", not_null=["ts", "user_id", "type"])
    validate(items, ITEMS, "items", unique="item_id", not_null=["category", "price", "listed_at"])
    validate(users, USERS, "users", unique="user_id", not_null=["signup_ts"])
    assert events.schema == EVENTS
    assert items.schema == ITEMS
    assert users.schema == USERS


def test_a_difference_is_reported() -> None:
    expected = pl.DataFrame({"user_id": ["a", "b"], "n": [1, 2], "x": [0.5, None]})
    assert first_difference(expected, expected.reverse(), "user_id") is None
    assert "column 'n'" in str(first_difference(expected, expected.with_columns(pl.lit(3).alias("n")), "user_id"))
    nudged = expected.with_columns(pl.col("x") * (1 + 1e-6))
    assert "column 'x'" in str(first_difference(expected, nudged, "user_id"))
    assert "columns differ" in str(first_difference(expected, expected.drop("x"), "user_id"))


def test_users_who_sign_up_after_as_of_have_no_features() -> None:
    _, items, users = synthetic_frames(20_000, seed=1)
    events = pl.DataFrame(schema=EVENTS)
    built = build_features(events.lazy(), items.lazy(), users.lazy(), AS_OF)
    existing = users.filter(pl.col("signup_ts") < AS_OF)
    assert 0 < existing.height < users.height
    assert built.users.get_column("user_id").to_list() == sorted(existing.get_column("user_id").to_list())
    assert built.users.get_column("account_age_days").min() > 0
