"""The in-memory daily store: its features are the batch build's.

For every user and item or just a few, as of midnights taken in any order; the features of a few users or items
are those rows of the whole build.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.pipelines import build_features
from features.pipelines.build import categories_of, events_before, time_zones_of
from features.pipelines.context import CONTEXT_USER_SPEC
from features.pipelines.daily import user_event_flags
from features.pipelines.user import user_features
from features.stores.memory import DailyFeatureStore
from features.stores.offline import midnight
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


@pytest.fixture(scope="module")
def log() -> SimulationResult:
    scenario = load_scenario("default").with_size(n_users=600, days=4)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=5)


def _days(log: SimulationResult) -> list[date]:
    return log.events.get_column("ts").dt.date().unique().sort().to_list()


def _sold_after(log: SimulationResult, as_of: date) -> pl.LazyFrame:
    later = log.events.filter((pl.col("ts") >= midnight(as_of)) & (pl.col("type") == "purchase"))
    return later.group_by("item_id").agg(pl.col("quantity").sum().cast(pl.Int64).alias("units_after")).lazy()


def _store(log: SimulationResult, *specs: object) -> DailyFeatureStore:
    items, users = log.items.lazy(), log.users.lazy()
    store = DailyFeatureStore(categories_of(items), time_zones_of(users), specs=specs)  # type: ignore[arg-type]
    for day in _days(log):
        store.add_day(log.events.lazy(), items, users, day)
    return store


def test_the_items_asked_for_are_ranked_among_the_whole_catalogue(log: SimulationResult) -> None:
    items = log.items.lazy()
    store, days = _store(log), _days(log)
    sold = log.events.filter(pl.col("type") == "purchase").group_by("item_id").agg(units_after=pl.len().cast(pl.Int64))
    ids = log.items.get_column("item_id")
    for as_of in (days[3], days[-1], days[-1] + timedelta(days=1)):
        whole = store.item_features(as_of, items, sold.lazy())
        for wanted in (ids.sample(40, seed=1), ids.head(3), ids.sample(ids.len(), seed=2)):
            some = store.item_features(as_of, items, sold.lazy(), wanted)
            assert_frame_equal(some, whole.filter(pl.col("item_id").is_in(wanted.implode())), check_exact=True)


def test_the_store_is_the_batch_build_whatever_the_order_of_midnights(log: SimulationResult) -> None:
    events, items, users = log.events.lazy(), log.items.lazy(), log.users.lazy()
    store, days = _store(log), _days(log)
    users_asked = log.users.get_column("user_id").sample(50, seed=3)
    items_asked = log.items.get_column("item_id").sample(60, seed=4)
    for step, as_of in enumerate([days[2], days[5], days[-1] + timedelta(days=1), days[4], days[4], days[0]]):
        if step == 3:  # a day added again: its sums are read again
            store.add_day(events, items, users, days[1])
        built = build_features(events, items, users, midnight(as_of))
        # sums of floats differ in their last bits with the order of addition: the rest is exact
        assert_frame_equal(store.user_features(as_of, users), built.users, check_exact=False, rel_tol=1e-12)
        some = store.user_features(as_of, users, users_asked)
        expected = built.users.filter(pl.col("user_id").is_in(users_asked.implode()))
        assert_frame_equal(some, expected, check_exact=False, rel_tol=1e-12)
        sold = _sold_after(log, as_of)
        assert_frame_equal(store.item_features(as_of, items, sold), built.items, check_exact=True)
        some_items = store.item_features(as_of, items, sold, items_asked)
        expected_items = built.items.filter(pl.col("item_id").is_in(items_asked.implode()))
        assert_frame_equal(some_items, expected_items, check_exact=True)


def test_a_store_of_a_spec_keeps_and_gives_its_features(log: SimulationResult) -> None:
    events, items, users = log.events.lazy(), log.items.lazy(), log.users.lazy()
    store, days = _store(log, CONTEXT_USER_SPEC), _days(log)
    kept = {c for frame in store.daily_users().values() for c in frame.columns}
    assert kept == {"user_id", "date", *CONTEXT_USER_SPEC.columns()}
    asked = log.users.get_column("user_id").sample(80, seed=5)
    for as_of in (days[-1], days[3]):
        at = midnight(as_of)
        flags = user_event_flags(
            events_before(events, at), items, users, "age", categories_of(items), time_zones_of(users)
        )
        expected = user_features(flags, users, at, CONTEXT_USER_SPEC).collect()
        expected = expected.filter(pl.col("user_id").is_in(asked.implode()))
        assert_frame_equal(store.user_features(as_of, users, asked), expected, check_exact=False, rel_tol=1e-12)


def test_a_catalogue_that_changes_is_ranked_again(log: SimulationResult) -> None:
    store, days = _store(log), _days(log)
    as_of = days[-1]
    listed = log.items.filter(pl.col("listed_at") < midnight(as_of))
    asked = listed.get_column("item_id").sample(30, seed=6)
    for catalogue in (log.items, log.items.with_columns(pl.col("price") * 1.5), log.items.reverse()):
        whole = store.item_features(as_of, catalogue.lazy())
        some = store.item_features(as_of, catalogue.lazy(), item_ids=asked)
        assert_frame_equal(some, whole.filter(pl.col("item_id").is_in(asked.implode())), check_exact=True)
