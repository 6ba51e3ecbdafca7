"""The in-memory daily store: the features of a few users or items are those rows of the whole build."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.pipelines.build import categories_of, time_zones_of
from features.stores.memory import DailyFeatureStore
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


@pytest.fixture(scope="module")
def log() -> SimulationResult:
    scenario = load_scenario("default").with_size(n_users=600, days=4)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=5)


def test_the_items_asked_for_are_ranked_among_the_whole_catalogue(log: SimulationResult) -> None:
    events, items, users = log.events.lazy(), log.items.lazy(), log.users.lazy()
    store = DailyFeatureStore(categories_of(items), time_zones_of(users))
    days = log.events.get_column("ts").dt.date().unique().sort().to_list()
    for day in days:
        store.add_day(events, items, users, day)
    sold = log.events.filter(pl.col("type") == "purchase").group_by("item_id").agg(units_after=pl.len().cast(pl.Int64))
    ids = log.items.get_column("item_id")
    for as_of in (days[3], days[-1], days[-1] + timedelta(days=1)):
        whole = store.item_features(as_of, items, sold.lazy())
        for wanted in (ids.sample(40, seed=1), ids.head(3), ids.sample(ids.len(), seed=2)):
            some = store.item_features(as_of, items, sold.lazy(), wanted)
            assert_frame_equal(some, whole.filter(pl.col("item_id").is_in(wanted.implode())), check_exact=True)
