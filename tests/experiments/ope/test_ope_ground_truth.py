"""Ground truth: every estimator lands near the true value of a synthetic environment, and its interval covers it.

The environment: a binary context (each value with probability 1/2), three
actions with known expected rewards ``Q[context, action]``, Bernoulli rewards,
uniform logging (propensity 1/3), 20,000 rounds, a fixed seed. The target policy
deterministically takes the best action of each context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from experiments.ope import (
    DM,
    DR,
    IPS,
    SNIPS,
    EstimatorResult,
    evaluate,
    on_policy_value,
    paired_difference,
)
from policies.base import Feedback

#: Expected reward of each action (columns) in each context (rows).
Q = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.4]])
BEST = Q.argmax(axis=1)  # context 0 -> action 1, context 1 -> action 0
TRUE_VALUE = 0.5 * Q[0, 1] + 0.5 * Q[1, 0]  # 0.55
LOGGED_VALUE = Q.mean()  # 0.35: uniform logging
N_ROUNDS = 20_000
SEED = 2024
#: IPS's standard error here is about 0.008; 0.03 is more than three of them.
TOLERANCE = 0.03


@dataclass(frozen=True)
class World:
    feedback: Feedback
    context: np.ndarray
    target_probs: np.ndarray


@pytest.fixture(scope="module")
def world() -> World:
    rng = np.random.default_rng(SEED)
    context = rng.integers(0, 2, size=N_ROUNDS)
    chosen = rng.integers(0, 3, size=N_ROUNDS)
    rewards = rng.binomial(1, Q[context, chosen]).astype(float)
    feedback = Feedback(
        contexts=pl.DataFrame({"context": context}),
        actions=("no_offer", "coupon", "installment"),
        eligible=np.ones((N_ROUNDS, 3), dtype=bool),
        chosen=chosen,
        rewards=rewards,
        propensities=np.full(N_ROUNDS, 1 / 3),
    )
    target_probs = np.eye(3)[BEST[context]]
    return World(feedback, context, target_probs)


def noisy_q_hat(world: World, bias: float = 0.0) -> np.ndarray:
    """The true expected rewards plus independent noise (sd 0.1) and an optional bias."""
    rng = np.random.default_rng(SEED + 1)
    return Q[world.context] + bias + rng.normal(0.0, 0.1, size=(N_ROUNDS, 3))


def assert_near_truth(result: EstimatorResult, truth: float) -> None:
    assert abs(result.value - truth) < TOLERANCE, result
    assert result.ci_low <= truth <= result.ci_high, result
    assert result.n_rounds == N_ROUNDS


@pytest.mark.parametrize("estimator", [IPS(), SNIPS()], ids=repr)
def test_weighting_estimators_recover_the_true_value(world: World, estimator: IPS | SNIPS) -> None:
    assert_near_truth(estimator.estimate(world.feedback, world.target_probs), TRUE_VALUE)


def test_doubly_robust_with_a_noisy_reward_model_recovers_the_true_value(world: World) -> None:
    assert_near_truth(DR().estimate(world.feedback, world.target_probs, noisy_q_hat(world)), TRUE_VALUE)


def test_doubly_robust_corrects_a_biased_reward_model_where_the_direct_method_cannot(world: World) -> None:
    biased = noisy_q_hat(world, bias=0.2)
    assert_near_truth(DR().estimate(world.feedback, world.target_probs, biased), TRUE_VALUE)
    direct = DM().estimate(world.feedback, world.target_probs, biased)
    assert direct.value == pytest.approx(TRUE_VALUE + 0.2, abs=TOLERANCE)


def test_direct_method_with_the_true_model_is_the_mean_true_reward_of_the_target(world: World) -> None:
    result = DM().estimate(world.feedback, world.target_probs, Q[world.context])
    assert result.value == pytest.approx(Q[world.context, BEST[world.context]].mean(), rel=1e-12)
    assert_near_truth(result, TRUE_VALUE)


def test_evaluate_runs_each_named_estimator_in_order(world: World) -> None:
    results = evaluate(world.feedback, world.target_probs, ("ips", "snips", "dr"), q_hat=noisy_q_hat(world))
    assert [r.estimator for r in results] == ["ips", "snips", "dr"]
    for result in results:
        assert_near_truth(result, TRUE_VALUE)


def test_diagnostics_describe_uniform_logging_against_a_deterministic_target(world: World) -> None:
    diagnostics = IPS().estimate(world.feedback, world.target_probs, n_bootstrap=10).diagnostics
    assert diagnostics["max_weight"] == pytest.approx(3.0)
    assert diagnostics["mean_weight"] == pytest.approx(1.0, abs=0.05)
    assert diagnostics["match_rate"] == pytest.approx(1 / 3, abs=0.02)
    assert diagnostics["ess_ratio"] == pytest.approx(1 / 3, abs=0.02)
    assert diagnostics["effective_sample_size"] == pytest.approx(diagnostics["ess_ratio"] * N_ROUNDS)


def test_on_policy_value_recovers_the_logging_policys_value(world: World) -> None:
    result = on_policy_value(world.feedback)
    assert result.estimator == "logged"
    assert result.value == world.feedback.rewards.mean()
    assert_near_truth(result, LOGGED_VALUE)


def test_paired_difference_detects_a_better_target_and_rejects_a_worse_one(world: World) -> None:
    rewards = world.feedback.rewards
    better = paired_difference(IPS().round_rewards(world.feedback, world.target_probs), rewards)
    assert better.ci_low > 0
    assert better.ci_low <= TRUE_VALUE - LOGGED_VALUE <= better.ci_high

    always_coupon = np.tile([0.0, 1.0, 0.0], (N_ROUNDS, 1))  # worth 0.3 < 0.35
    worse = paired_difference(IPS().round_rewards(world.feedback, always_coupon), rewards)
    assert worse.ci_low <= 0
    assert worse.ci_low <= 0.5 * (Q[0, 1] + Q[1, 1]) - LOGGED_VALUE <= worse.ci_high
