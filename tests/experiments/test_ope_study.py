"""The OPE study: its truth is the simulator's, and every estimator lands within its own intervals' reach of it.

A few seeds of a small world (the default scenario, 1,000 users x 7 days, uniform logging).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.ope import ESTIMATORS
from experiments.ope_study import (
    TARGETS,
    TRUTH_COLUMNS,
    cross_fitted_reward_model,
    evaluate_log,
    expected_rewards,
    purchase_goes_through,
    simulate_log,
    summarise_study,
)
from policies.base import Feedback
from simulators.behaviour import sell
from simulators.scenario import load_scenario
from simulators.world import World

SEEDS = (0, 1, 2, 3)
SCENARIO = load_scenario("default").with_size(n_users=1000, days=7)
#: A mean error beyond this many standard errors of the mean (the estimators' own, over the seeds) fails.
Z = 3.0
#: Why the direct method misses: its interval treats the reward model as known, so neither the model's bias
#: (it shrinks the best actions' rewards towards the mean: -0.07 on the oracle target here) nor its variance
#: is in it. Over 50 seeds of 3,000 users its 95% intervals cover the truth 8-50% of the time.
MODEL_ONLY = "the direct method's interval ignores the reward model's error"


@pytest.fixture(scope="module")
def logs() -> list[pl.DataFrame]:
    return [simulate_log(SCENARIO, seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def raw(logs: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [
        evaluate_log(log, reward_model=cross_fitted_reward_model, n_bootstrap=200, seed=seed).with_columns(
            seed=pl.lit(seed), scenario=pl.lit(SCENARIO.name)
        )
        for seed, log in zip(SEEDS, logs, strict=True)
    ]
    return pl.concat(frames)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_purchase_goes_through_is_what_the_simulator_sells(data: st.DataObject) -> None:
    """For each row, make it want a purchase (the others as drawn): the sale agrees with the prediction."""
    n = data.draw(st.integers(1, 12))
    items = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    delay = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))  # ties on purpose
    wants = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    stock = np.array(data.draw(st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    predicted = purchase_goes_through(items, delay, wants, stock[items])
    world = World.create(load_scenario("default").with_size(n_users=10), np.random.default_rng(0))
    for row in range(n):
        world.items.stock[:4] = stock
        wanting = wants.copy()
        wanting[row] = True
        sold = np.zeros(n, dtype=bool)
        sold[wanting] = sell(world, items[wanting], delay[wanting])
        assert sold[row] == predicted[row], f"row {row}"


def test_out_of_stock_rounds_earn_nothing(logs: list[pl.DataFrame]) -> None:
    for log in logs:
        out = log.filter(~pl.col("in_stock"))
        assert out.height > 0  # the world does run out of stock: the truth frame alone would overstate
        assert out.get_column("reward").abs().max() == 0
        assert not out.get_column("converted").any()


def test_the_truth_of_the_logging_policy_is_its_mean_reward(logs: list[pl.DataFrame]) -> None:
    """Realised minus expected reward of the logged actions has mean zero; the stock-blind ``q`` misses it."""
    gaps, blind_gaps = [], []
    for log in logs:
        feedback = Feedback.from_log(log.drop(TRUTH_COLUMNS))
        rows = np.arange(feedback.n_rounds)
        gaps.append(feedback.rewards - expected_rewards(log)[rows, feedback.chosen])
        blind = log.select(pl.selectors.starts_with("q_")).to_numpy()[rows, feedback.chosen]
        blind_gaps.append(feedback.rewards - blind)
    gap = np.concatenate(gaps)
    assert abs(gap.mean()) < Z * gap.std() / np.sqrt(gap.size)
    assert np.concatenate(blind_gaps).mean() < gap.mean()


def test_every_estimator_and_target_is_studied(raw: pl.DataFrame) -> None:
    assert set(raw.get_column("estimator")) == set(ESTIMATORS)
    assert set(raw.get_column("target")) == set(TARGETS)


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=MODEL_ONLY)) if name == "dm" else name
        for name in sorted(ESTIMATORS)
    ],
)
def test_every_estimator_is_within_its_intervals_reach_of_the_truth(raw: pl.DataFrame, estimator: str) -> None:
    """``|mean error| < Z * mean standard error / sqrt(seeds)`` for every target."""
    table = summarise_study(raw.filter(pl.col("estimator") == estimator))
    table = table.with_columns(tolerance=Z * pl.col("mean_se") / np.sqrt(len(SEEDS)))
    failing = table.filter(pl.col("bias").abs() >= pl.col("tolerance"))
    assert failing.is_empty(), failing.select("target", "truth", "bias", "tolerance").to_dicts()


def test_summary_counts_seeds_and_coverage_is_a_share(raw: pl.DataFrame) -> None:
    table = summarise_study(raw)
    assert table.get_column("n_seeds").to_list() == [len(SEEDS)] * table.height
    assert table.get_column("coverage").is_between(0, 1).all()
    assert (table.get_column("rmse") >= table.get_column("bias").abs()).all()
