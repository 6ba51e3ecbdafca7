"""One context definition: what a simulated decision logged is what the pipelines rebuild from the events."""

from __future__ import annotations

from datetime import UTC, datetime, time

import polars as pl
import pytest

from features.pipelines import build_features
from features.pipelines.build import time_zones_of
from features.pipelines.context import CONTEXT, context_features
from policies.bandits.baselines import UniformRandom
from policies.triggers.config import load_trigger_config
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


@pytest.fixture(scope="module")
def month() -> SimulationResult:
    scenario = load_scenario("default").with_size(n_users=3000, days=12)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=21)


def test_logged_context_equals_the_pipelines_rebuild_as_of_the_decision(month: SimulationResult) -> None:
    sample = month.decisions.sample(400, seed=0).with_columns(day=pl.col("ts").dt.date())
    thresholds = load_trigger_config().rules.lifecycle.stages
    events, items, users = month.events.lazy(), month.items.lazy(), month.users.lazy()
    rebuilt = []
    for (day,), decided in sample.partition_by("day", as_dict=True).items():
        as_of = datetime.combine(day, time(0), tzinfo=UTC)  # type: ignore[arg-type]
        features = build_features(events, items, users, as_of)
        moments = decided.select("decision_id", "user_id", "item_id", "trigger", "channel", "send_at")
        rebuilt.append(
            context_features(
                moments.lazy(),
                users,
                features.users.lazy(),
                features.items.lazy(),
                time_zones_of(users),
                thresholds,
                catalogue=items,
            ).collect()
        )
    expected = pl.concat(rebuilt).sort("decision_id").select("decision_id", *CONTEXT.names())
    logged = sample.sort("decision_id").select("decision_id", *CONTEXT.names())
    assert expected.height == 400
    assert sample["day"].n_unique() > 5
    for column in CONTEXT.names():
        assert logged[column].equals(expected[column]), column


def test_contexts_hold_no_simulator_secret(month: SimulationResult) -> None:
    secrets = {"price_sensitivity", "liquidity_constraint", "trust_concern", "baseline_logit", "mobile", "churned"}
    assert not secrets & set(month.decisions.columns)
    assert set(CONTEXT.names()) <= set(month.decisions.columns)
