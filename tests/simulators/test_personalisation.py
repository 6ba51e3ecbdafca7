"""Personalisation matters in the default scenario: no single offer is best everywhere."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario

#: large simulations to show the personalisation margin: skipped by `make quick`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run() -> SimulationResult:
    return MarketplaceSimulator(load_scenario("default")).run(UniformRandom(), seed=0)


def test_oracle_beats_the_best_fixed_action_by_15_percent(default_run: SimulationResult) -> None:
    summary = default_run.summary()
    assert summary["oracle_value"] >= 1.15 * summary["best_fixed_value"], summary


def test_no_single_action_is_best_for_every_segment(default_run: SimulationResult) -> None:
    q = default_run.truth_matrix()
    fixed = np.where(np.isnan(q), q[:, :1], q)  # an ineligible action falls back to no offer
    segments = default_run.decisions.select(
        high_price=pl.col("price") >= 150,
        coupon_user=pl.col("coupon_redemption_rate") >= 0.4,
        unverified=~pl.col("merchant_verified"),
    ).with_columns(**{a: pl.Series(fixed[:, i]) for i, a in enumerate(ACTIONS)})
    means = segments.group_by("high_price", "coupon_user", "unverified").agg(pl.col(a).mean() for a in ACTIONS)
    best = {ACTIONS[int(np.argmax(row))] for row in means.select(ACTIONS).rows()}
    assert len(best) >= 3, means


def test_each_offer_is_the_oracles_choice_somewhere(default_run: SimulationResult) -> None:
    choice = np.bincount(np.nanargmax(default_run.truth_matrix(), axis=1), minlength=len(ACTIONS))
    shares = choice / choice.sum()
    assert (shares > 0.05).all(), dict(zip(ACTIONS, shares, strict=True))
