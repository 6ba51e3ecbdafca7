"""The engine's rolling tick features equal the daily store's, tick after tick and whatever the order of ticks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.pipelines.daily import HOURS
from features.pipelines.user import UserFeatureSpec
from features.stores.memory import DailyFeatureStore
from policies.bandits.baselines import UniformRandom
from simulators.embedded_platform import TICK_SPEC, StoreFeatureSource
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
from simulators.tick_features import RollingUserFeatures

WIDE = UserFeatureSpec(
    windows={1: ["sessions"], 3: ["sessions", "purchases"], 7: ["hour_05"]},
    all_time=["purchases"],
    recency={"sessions": "days_since_last_session", "purchases": "days_since_last_purchase"},
    hours=True,
)


def test_every_tick_of_a_simulation_is_the_stores(monkeypatch: object) -> None:
    ticks: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    rolling = StoreFeatureSource.user_features

    def both(source: StoreFeatureSource, as_of: datetime) -> pl.DataFrame:
        built = rolling(source, as_of)
        ticks.append((built, source.store.user_features(as_of.date(), source.users.lazy(), spec=TICK_SPEC)))
        return built

    StoreFeatureSource.user_features = both  # type: ignore[method-assign]
    try:
        MarketplaceSimulator(load_scenario("default").with_size(n_users=1500, days=5)).run(UniformRandom(), seed=2)
    finally:
        StoreFeatureSource.user_features = rolling  # type: ignore[method-assign]
    after_warm_up = [(a, b) for a, b in ticks if a.height]
    assert len(after_warm_up) >= 5
    for built, expected in after_warm_up:
        assert_frame_equal(built, expected, check_exact=True)


def _store(n_days: int, seed: int) -> tuple[DailyFeatureStore, pl.DataFrame, list[date]]:
    """Build a store of random daily counts for five users (one signs up late), one frame per day."""
    rng = np.random.default_rng(seed)
    first = date(2026, 1, 1)
    ids = [f"u{i}" for i in range(5)]
    signup = [datetime(2025, 6, 1, tzinfo=UTC)] * 4 + [datetime(2026, 1, 10, tzinfo=UTC)]
    users = pl.DataFrame({"user_id": ids, "signup_ts": signup})
    store = DailyFeatureStore([], ["UTC"], specs=(WIDE,))
    days = [first + timedelta(days=k) for k in range(n_days)]
    for day in days:
        active = [u for u in ids if rng.random() < 0.6] + (["ghost"] if rng.random() < 0.3 else [])
        counts = {c: rng.integers(0, 3, len(active)) for c in ("sessions", "purchases", *HOURS)}
        frame = pl.DataFrame({"user_id": active, "date": [day] * len(active), **counts})
        store._users[day] = frame.with_columns(pl.exclude("user_id", "date").cast(pl.Int32))
    return store, users, days


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(-2, 12), min_size=1, max_size=8), st.booleans())
def test_any_order_of_ticks_and_a_replaced_day(seed: int, offsets: list[int], replace: bool) -> None:
    store, users, days = _store(10, seed)
    rolling = RollingUserFeatures(store, users, WIDE)
    for k, offset in enumerate(offsets):
        as_of = days[0] + timedelta(days=offset)
        if replace and k == 1:  # a day added again: its sums are replaced
            store._users[days[2]] = store._users[days[2]].with_columns(pl.col("sessions") + 1)
        expected = store.user_features(as_of, users.lazy(), spec=WIDE)
        assert_frame_equal(rolling.user_features(as_of), expected, check_exact=True)


def test_value_sums_are_left_to_the_store() -> None:
    spec = UserFeatureSpec(windows={7: ["revenue"]}, all_time=[], recency={}, hours=False)
    store = DailyFeatureStore([], ["UTC"], specs=(spec,))
    users = pl.DataFrame(schema={"user_id": pl.String, "signup_ts": pl.Datetime("us", "UTC")})
    assert not RollingUserFeatures(store, users, spec).supported


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_days_leave_the_ninety_day_windows(seed: int) -> None:
    """Ticks past the 90-day windows (purchases, session hours) take days out of the sums.

    Latest sessions leave their recency, and the preferred hour follows.
    """
    store, users, days = _store(100, seed)
    rolling = RollingUserFeatures(store, users, WIDE)
    for offset in [*range(86, 95), 99, 100]:
        as_of = days[0] + timedelta(days=offset)
        expected = store.user_features(as_of, users.lazy(), spec=WIDE)
        assert_frame_equal(rolling.user_features(as_of), expected, check_exact=True)
