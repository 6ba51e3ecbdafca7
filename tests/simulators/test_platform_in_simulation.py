"""The platform's trigger engine and guardrails inside a simulated month, seen through the run's logs."""

from __future__ import annotations

import polars as pl
import pytest

from features.schemas import TRIGGER_KINDS
from policies.bandits.baselines import UniformRandom
from policies.triggers.config import load_trigger_config
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario

SETTINGS = load_trigger_config().guardrails


@pytest.fixture(scope="module")
def month() -> SimulationResult:
    scenario = load_scenario("default").with_size(n_users=4000, days=21)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=4)


def sent(month: SimulationResult) -> pl.DataFrame:
    """Return the messages the platform delivered, with their local time in the user's time zone (DST-aware).

    Past campaigns before the first decision are the world's history.
    """
    start = month.decisions["ts"].min()
    frame = month.events.filter((pl.col("type") == "offer_sent") & (pl.col("ts") >= start)).join(
        month.users.select("user_id", "tz"), on="user_id"
    )
    local = [
        part.with_columns(local=pl.col("ts").dt.convert_time_zone(tz).dt.replace_time_zone(None))
        for (tz,), part in frame.partition_by("tz", as_dict=True).items()
    ]
    return pl.concat(local)


def test_every_trigger_kind_reaches_a_policy(month: SimulationResult) -> None:
    kinds = set(month.decisions["trigger_kind"].unique().to_list())
    assert kinds == set(TRIGGER_KINDS.values())
    assert month.decisions["reason"].null_count() == 0


def test_moments_carry_ids_and_reasons_and_fire_once(month: SimulationResult) -> None:
    assert month.decisions["moment_id"].n_unique() == month.decisions.height
    assert month.suppressions.height > 0
    assert month.suppressions["why"].null_count() == 0
    assert set(month.suppressions["suppressed_by"].unique()) <= {
        "duplicate",
        "opted_out",
        "no_consent",
        "cooldown_trigger",
        "cooldown_item",
        "priority",
        "cap_day",
        "cap_week",
    }


def test_unsubscribed_channels_are_never_used_again(month: SimulationResult) -> None:
    unsubscribes = month.events.filter(pl.col("type") == "unsubscribe").select(
        "user_id", "channel", pl.col("ts").alias("left_at")
    )
    assert unsubscribes.height > 0
    later = sent(month).join(unsubscribes, on=["user_id", "channel"]).filter(pl.col("ts") > pl.col("left_at"))
    assert later.height == 0


def test_consent_is_checked_again_at_delivery(month: SimulationResult) -> None:
    log = month.bandit_log()
    undelivered = log.filter((pl.col("action") != "no_offer") & ~pl.col("delivered"))
    messaged = log.filter(pl.col("action") != "no_offer")
    # some decisions lost their channel between the decision and the send, and none of those was sent
    assert messaged.filter(pl.col("delivered")).height + undelivered.height == messaged.height
    assert sent(month).height == messaged.filter(pl.col("delivered")).height


def test_holdout_users_are_never_messaged(month: SimulationResult) -> None:
    holdout = month.users.filter(pl.col("holdout"))["user_id"]
    assert holdout.len() > 0
    assert sent(month).filter(pl.col("user_id").is_in(holdout.implode())).height == 0
    assert month.decisions.filter(pl.col("user_id").is_in(holdout.implode())).height == 0
    assert month.holdout.height > 0
    assert set(month.holdout["user_id"].to_list()) <= set(holdout.to_list())


def test_nothing_is_sent_in_quiet_hours(month: SimulationResult) -> None:
    q = SETTINGS.quiet_hours
    hour = pl.col("local").dt.hour()
    quiet = (hour >= q.start) | (hour < q.end) if q.start > q.end else hour.is_between(q.start, q.end - 1)
    assert sent(month).filter(quiet).height == 0


def test_caps_per_channel_per_local_day_and_week(month: SimulationResult) -> None:
    decided = month.decisions.join(month.users.select("user_id", "tz"), on="user_id")
    local = pl.concat(
        part.with_columns(day=pl.col("send_at").dt.convert_time_zone(tz).dt.date())
        for (tz,), part in decided.partition_by("tz", as_dict=True).items()
    )
    per_day = local.group_by("user_id", "channel", "day").len()
    for channel, cap in SETTINGS.caps.items():
        assert (per_day.filter(pl.col("channel") == channel)["len"] <= cap.per_day).all(), channel
    weekly = (
        month.decisions.sort("send_at")
        .rolling("send_at", period="7d", group_by=["user_id", "channel"])
        .agg(pl.len().alias("n"))
    )
    for channel, cap in SETTINGS.caps.items():
        assert (weekly.filter(pl.col("channel") == channel)["n"] <= cap.per_week).all(), channel


def test_messages_are_opened_more_at_the_users_best_hour(month: SimulationResult) -> None:
    timed = month.decisions.filter(pl.col("trigger") == "best_hour").join(month.truth, on="decision_id")
    assert timed.height > 0
    assert timed["p_open"].mean() > 1.2 * timed["p_open_random_hour"].mean()  # type: ignore[operator]
