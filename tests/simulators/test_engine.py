"""The built-in trigger engine, guardrails and channels, seen through a run's logs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
from simulators.triggers import TRIGGER_KIND
from simulators.world import TIME_ZONES


@pytest.fixture(scope="module")
def month() -> SimulationResult:
    scenario = load_scenario("default").with_size(n_users=4000, days=21)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=4)


def test_every_trigger_kind_produces_moments(month: SimulationResult) -> None:
    kinds = set(month.decisions["trigger_kind"].unique().to_list())
    assert kinds == set(TRIGGER_KIND.values())
    assert set(month.decisions["trigger"].unique().to_list()) == set(TRIGGER_KIND)


def test_unsubscribed_channels_are_never_used_again(month: SimulationResult) -> None:
    unsubscribes = month.events.filter(pl.col("type") == "unsubscribe").select(
        "user_id", "channel", pl.col("ts").alias("left_at")
    )
    assert unsubscribes.height > 0
    later = (
        month.events.filter(pl.col("type") == "offer_sent")
        .join(unsubscribes, on=["user_id", "channel"])
        .filter(pl.col("ts") > pl.col("left_at"))
    )
    assert later.height == 0


def test_holdout_users_are_never_messaged(month: SimulationResult) -> None:
    holdout = month.users.filter(pl.col("holdout"))["user_id"]
    sent = month.events.filter(pl.col("type") == "offer_sent")
    assert holdout.len() > 0 and sent.height > 0
    assert sent.filter(pl.col("user_id").is_in(holdout.implode())).height == 0
    assert month.decisions.filter(pl.col("user_id").is_in(holdout.implode())).height == 0
    assert month.holdout.height > 0 and set(month.holdout["user_id"].to_list()) <= set(holdout.to_list())


def test_nothing_is_sent_in_quiet_hours(month: SimulationResult) -> None:
    offsets = pl.DataFrame({"tz": list(TIME_ZONES), "offset": list(TIME_ZONES.values())})
    sent = (
        month.events.filter(pl.col("type") == "offer_sent")
        .join(month.users.select("user_id", "tz"), on="user_id")
        .join(offsets, on="tz")
        .with_columns(local_hour=((pl.col("ts").dt.hour() + pl.col("offset")) % 24))
    )
    assert sent.filter((pl.col("local_hour") >= 22) | (pl.col("local_hour") < 8)).height == 0


def test_frequency_cap_and_one_decision_per_user_per_day(month: SimulationResult) -> None:
    days = month.decisions.select("user_id", day=pl.col("decision_id").str.slice(1, 4).cast(pl.Int64))
    assert days.group_by("user_id", "day").len()["len"].max() == 1
    cap = load_scenario("default").messaging.max_per_week
    for _, group in days.group_by("user_id"):
        sorted_days = np.sort(group["day"].to_numpy())
        if len(sorted_days) > cap:
            assert (sorted_days[cap:] - sorted_days[:-cap] >= 7).all()


def test_messages_are_opened_more_at_the_users_best_hour(month: SimulationResult) -> None:
    timed = month.decisions.filter(pl.col("trigger") == "best_hour").join(month.truth, on="decision_id")
    assert timed["p_open"].mean() > 1.2 * timed["p_open_random_hour"].mean()  # type: ignore[operator]


def test_no_offer_sends_nothing(month: SimulationResult) -> None:
    sent = month.events.filter(pl.col("type") == "offer_sent").height
    assert sent == month.decisions.filter(pl.col("action") != "no_offer").height
