"""Point-in-time correctness, incremental = full = direct, and the online snapshot."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.pipelines import build_features
from features.stores import OfflineStore, OnlineSnapshot
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario

AS_OF = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def run() -> SimulationResult:
    return MarketplaceSimulator(load_scenario("default").with_size(n_users=800, days=14)).run(UniformRandom(), seed=3)


def build(run: SimulationResult, events: pl.DataFrame, as_of: datetime = AS_OF) -> tuple[pl.DataFrame, pl.DataFrame]:
    features = build_features(events.lazy(), run.items.lazy(), run.users.lazy(), as_of)
    return features.users, features.items


def test_future_events_do_not_move_features(run: SimulationResult) -> None:
    users, items = build(run, run.events)
    future = run.events.filter(pl.col("ts") >= AS_OF)
    assert future.height > 0
    # rewrite the future: drop half of it, duplicate the rest with new ids and prices, shuffle types
    changed = pl.concat(
        [
            run.events.filter(pl.col("ts") < AS_OF),
            future.sample(fraction=0.5, seed=1).with_columns(
                pl.col("event_id") + "-x", pl.col("price") * 3, pl.col("type").shuffle(seed=2)
            ),
        ]
    )
    changed_users, changed_items = build(run, changed)
    assert_frame_equal(users, changed_users)
    # item stock as of then is restored from sales after it, so only stock may differ for items
    assert_frame_equal(items.drop("stock"), changed_items.drop("stock"))


def test_past_events_do_move_features(run: SimulationResult) -> None:
    users, _ = build(run, run.events)
    past = run.events.filter(pl.col("ts") < AS_OF - timedelta(days=2))
    trimmed, _ = build(run, pl.concat([past, run.events.filter(pl.col("ts") >= AS_OF)]))
    assert not users.equals(trimmed)


def test_stock_as_of_is_restored_from_later_sales(run: SimulationResult) -> None:
    _, items = build(run, run.events)
    end_stock = run.items.select("item_id", pl.col("stock").alias("stock_now"))
    later = (
        run.events.filter((pl.col("ts") >= AS_OF) & (pl.col("type") == "purchase"))
        .group_by("item_id")
        .agg(pl.col("quantity").sum().alias("sold_later"))
    )
    check = items.join(end_stock, on="item_id").join(later, on="item_id", how="left").fill_null(0)
    assert (check["stock"] == check["stock_now"] + check["sold_later"]).all()


def test_incremental_daily_build_equals_full_rebuild_and_direct_build(run: SimulationResult, tmp_path: Path) -> None:
    events, items, users = run.events.lazy(), run.items.lazy(), run.users.lazy()
    first_day = run.events["ts"].min().date()  # type: ignore[union-attr]
    end = date(2026, 3, 12)
    incremental = OfflineStore(tmp_path / "incremental")
    day = first_day + timedelta(days=1)
    while day <= end:  # events arrive a day at a time; each update sees only what has happened
        arrived = events.filter(pl.col("ts") < pl.lit(datetime.combine(day, datetime.min.time(), UTC)))
        incremental.update(arrived, items, users, until=day, since=first_day)
        day += timedelta(days=1)
    full = OfflineStore(tmp_path / "full")
    last_day = run.events["ts"].max().date()  # type: ignore[union-attr]
    full.update(events, items, users, until=last_day + timedelta(days=1), since=first_day, rebuild=True)
    inc, whole = incremental.snapshot(end), full.snapshot(end, items, users)
    direct = build_features(events, items, users, datetime.combine(end, datetime.min.time(), UTC))
    assert_frame_equal(inc.users, whole.users, check_dtypes=False)
    assert_frame_equal(inc.users, direct.users, check_dtypes=False)
    # stock as of the cut is restored from later sales, which the incremental store had not seen yet
    assert_frame_equal(inc.items.drop("stock"), direct.items.drop("stock"), check_dtypes=False)
    assert_frame_equal(whole.items, direct.items, check_dtypes=False)
    assert len(list((tmp_path / "full" / "daily" / "users").glob("date=*"))) == (last_day - first_day).days + 1


def test_online_snapshot_round_trip_and_lookup(run: SimulationResult, tmp_path: Path) -> None:
    features = build_features(run.events.lazy(), run.items.lazy(), run.users.lazy(), AS_OF)
    OnlineSnapshot(features.users, features.items, AS_OF).save(tmp_path / "online")
    online = OnlineSnapshot.load(tmp_path / "online")
    user_id = features.users["user_id"][5]
    assert online.user(user_id) == {k: v for k, v in features.users.row(5, named=True).items() if k != "user_id"}
    assert online.item("no-such-item") is None
    assert online.as_of == AS_OF


def test_online_snapshot_rejects_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="column 'user_id' has 1 duplicate id"):
        OnlineSnapshot(pl.DataFrame({"user_id": ["a", "a"]}), pl.DataFrame({"item_id": ["i"]}), AS_OF)
