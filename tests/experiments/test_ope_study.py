"""The OPE study: its truth is the simulator's, and every estimator lands within its own intervals' reach of it.

A few seeds of a small world (the default scenario, 1,000 users x 7 days, uniform logging).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from experiments.ope import ESTIMATORS
from experiments.ope_study import (
    TARGETS,
    TRUTH_COLUMNS,
    cross_fitted_reward_model,
    evaluate_log,
    expected_rewards,
    simulate_log,
    summarise_study,
)
from features.schemas import ACTIONS
from simulators.scenario import load_scenario

#: the estimators against the truth over several simulations: skipped by `make quick`
pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2, 3)
SCENARIO = load_scenario("default").with_size(n_users=1000, days=7)
#: A mean error beyond this many standard errors of the mean (the estimators' own, over the seeds) fails.
Z = 3.0
#: Why the direct method misses: its interval treats the reward model as known, so neither the model's bias
#: (it shrinks the best actions' rewards towards the mean: -0.07 on the oracle target here) nor its variance
#: is in it. Over 50 seeds of 3,000 users its 95% intervals cover the truth 8-50% of the time.
MODEL_ONLY = frozenset({"dm"})


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


def test_the_study_reads_the_simulators_truth(logs: list[pl.DataFrame]) -> None:
    """``mu`` is the simulator's one definition.

    Its checks (zero reward out of stock, the logger's mean reward) live in ``tests/simulators/test_truth.py``.
    """
    for log in logs:
        assert set(TRUTH_COLUMNS) <= set(log.columns)
        mu = expected_rewards(log)
        assert mu.shape == (log.height, len(ACTIONS))
        out = ~log.get_column("in_stock").to_numpy()
        assert out.any()
        assert (np.nan_to_num(mu[out]) == 0).all()


def test_every_estimator_and_target_is_studied(raw: pl.DataFrame) -> None:
    assert set(raw.get_column("estimator")) == set(ESTIMATORS)
    assert set(raw.get_column("target")) == set(TARGETS)


def errors_beyond_reach(raw: pl.DataFrame, estimator: str) -> pl.DataFrame:
    """Return the targets where ``|mean error| >= Z * mean standard error / sqrt(seeds)`` for ``estimator``."""
    table = summarise_study(raw.filter(pl.col("estimator") == estimator))
    table = table.with_columns(tolerance=Z * pl.col("mean_se") / np.sqrt(len(SEEDS)))
    return table.filter(pl.col("bias").abs() >= pl.col("tolerance"))


@pytest.mark.parametrize("estimator", sorted(set(ESTIMATORS) - MODEL_ONLY))
def test_every_weighting_estimator_is_within_its_intervals_reach_of_the_truth(
    raw: pl.DataFrame, estimator: str
) -> None:
    failing = errors_beyond_reach(raw, estimator)
    assert failing.is_empty(), failing.select("target", "truth", "bias", "tolerance").to_dicts()


def test_the_direct_methods_interval_misses_its_models_bias(raw: pl.DataFrame) -> None:
    """DM's interval treats the reward model as known, so its error on the oracle target lies beyond its reach.

    On the oracle target the model shrinks the best actions towards the mean: why DM is no headline.
    """
    missed = errors_beyond_reach(raw, "dm")
    assert "oracle-eps" in missed.get_column("target").to_list()
    assert (missed.filter(pl.col("target") == "oracle-eps").get_column("bias") < 0).all()


def test_summary_counts_seeds_and_coverage_is_a_share(raw: pl.DataFrame) -> None:
    table = summarise_study(raw)
    assert table.get_column("n_seeds").to_list() == [len(SEEDS)] * table.height
    assert table.get_column("coverage").is_between(0, 1).all()
    assert (table.get_column("rmse") >= table.get_column("bias").abs()).all()
