"""Ground truth: every estimator lands near the true value of a synthetic environment, and its interval covers it.

The environment: a binary context (each value with probability 1/2), three
actions with known expected rewards ``Q[context, action]``, Bernoulli rewards,
uniform logging (propensity 1/3), 20,000 rounds, a fixed seed. The target policy
deterministically takes the best action of each context.

First, though, every estimator on the four-round toy log, computed by hand
(see :func:`experiments.ope.toy.toy_log`: weights 0, 4, 2, 0; rewards 1, 0, 1,
0.5; the model values the target at 0.4 and errs by 0.2, -0.4, 0.6, -0.3 on the
logged actions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from experiments.ope import (
    DM,
    DR,
    DROS,
    ESTIMATORS,
    IPS,
    SNDR,
    SNIPS,
    Estimator,
    EstimatorResult,
    SwitchDR,
    evaluate,
    make_estimator,
    on_policy_value,
    paired_difference,
)
from experiments.ope.toy import toy_log
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


BY_HAND = [
    pytest.param(DM(), 0.4, id="dm: the model's 0.4"),
    pytest.param(IPS(), (0 + 0 + 2 * 1 + 0) / 4, id="ips"),
    pytest.param(IPS(clip=1.5), (0 + 0 + 1.5 * 1 + 0) / 4, id="ips clipped at 1.5"),
    pytest.param(SNIPS(), 2 / (4 + 2), id="snips"),
    pytest.param(SNIPS(clip=3.0), 2 / (3 + 2), id="snips clipped at 3"),
    pytest.param(DR(), (0.4 + (0.4 - 4 * 0.4) + (0.4 + 2 * 0.6) + 0.4) / 4, id="dr"),
    pytest.param(DR(clip=1.0), (0.4 + (0.4 - 0.4) + (0.4 + 0.6) + 0.4) / 4, id="dr clipped at 1"),
    pytest.param(SNDR(), 0.4 + (-4 * 0.4 + 2 * 0.6) / (4 + 2), id="sndr"),
    pytest.param(SwitchDR(tau=3.0), (0.4 + 0.4 + (0.4 + 2 * 0.6) + 0.4) / 4, id="switch-dr: weight 4 switched"),
    pytest.param(SwitchDR(tau=1.0), 0.4, id="switch-dr: every weight switched, dm"),
    pytest.param(SwitchDR(), 0.3, id="switch-dr: no weight above 10, dr"),
    pytest.param(DROS(lambda_=4.0), (0.4 + (0.4 - 0.8 * 0.4) + (0.4 + 1.0 * 0.6) + 0.4) / 4, id="dr-os"),
    pytest.param(DROS(lambda_=float("inf")), 0.3, id="dr-os: no shrinkage, dr"),
    pytest.param(DROS(lambda_=0.0), 0.4, id="dr-os: all shrunk, dm"),
]


@pytest.mark.parametrize(("estimator", "by_hand"), BY_HAND)
def test_every_estimator_on_the_toy_log_matches_the_hand_computation(estimator: Estimator, by_hand: float) -> None:
    log = toy_log()
    assert estimator.round_terms(log.feedback, log.target_probs, log.q_hat).value() == pytest.approx(by_hand)
    result = estimator.estimate(log.feedback, log.target_probs, log.q_hat, n_bootstrap=50)
    assert result.value == pytest.approx(by_hand)


def test_the_hand_computations_cover_every_registered_estimator() -> None:
    assert {param.values[0].name for param in BY_HAND} == set(ESTIMATORS)  # type: ignore[union-attr]


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
    """Return the true expected rewards plus independent noise (sd 0.1) and an optional bias."""
    rng = np.random.default_rng(SEED + 1)
    return Q[world.context] + bias + rng.normal(0.0, 0.1, size=(N_ROUNDS, 3))


def assert_near_truth(result: EstimatorResult, truth: float) -> None:
    assert abs(result.value - truth) < TOLERANCE, result
    assert result.ci_low <= truth <= result.ci_high, result
    assert result.n_rounds == N_ROUNDS


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("interval", ["bootstrap", "normal"])
def test_every_estimator_with_an_unbiased_reward_model_recovers_the_true_value(
    world: World, name: str, interval: str
) -> None:
    result = make_estimator(name).estimate(world.feedback, world.target_probs, noisy_q_hat(world), interval=interval)
    assert_near_truth(result, TRUE_VALUE)


@pytest.mark.parametrize("name", ["dr", "sndr", "switch-dr", "dr-os"])
def test_the_doubly_robust_family_corrects_a_biased_reward_model(world: World, name: str) -> None:
    """The weights here are 3 at most: below switch-DR's threshold, and barely shrunk by DR-OS (3 -> 2.97)."""
    biased = noisy_q_hat(world, bias=0.2)
    assert_near_truth(make_estimator(name).estimate(world.feedback, world.target_probs, biased), TRUE_VALUE)


def test_the_direct_method_keeps_the_bias_of_its_model(world: World) -> None:
    direct = DM().estimate(world.feedback, world.target_probs, noisy_q_hat(world, bias=0.2))
    assert direct.value == pytest.approx(TRUE_VALUE + 0.2, abs=TOLERANCE)


def test_switching_every_weight_to_the_model_is_the_direct_method(world: World) -> None:
    biased = noisy_q_hat(world, bias=0.2)
    switched = SwitchDR(tau=2.0).estimate(world.feedback, world.target_probs, biased, n_bootstrap=10)
    direct = DM().estimate(world.feedback, world.target_probs, biased, n_bootstrap=10)
    assert switched.value == pytest.approx(direct.value, rel=1e-12)


def test_direct_method_with_the_true_model_is_the_mean_true_reward_of_the_target(world: World) -> None:
    result = DM().estimate(world.feedback, world.target_probs, Q[world.context])
    assert result.value == pytest.approx(Q[world.context, BEST[world.context]].mean(), rel=1e-12)
    assert_near_truth(result, TRUE_VALUE)


def test_evaluate_runs_each_named_estimator_in_order(world: World) -> None:
    names = ("ips", "snips", "dr", "sndr")
    results = evaluate(world.feedback, world.target_probs, names, q_hat=noisy_q_hat(world))
    assert [r.estimator for r in results] == list(names)
    for result in results:
        assert_near_truth(result, TRUE_VALUE)


def test_diagnostics_describe_uniform_logging_against_a_deterministic_target(world: World) -> None:
    diagnostics = IPS().estimate(world.feedback, world.target_probs, n_bootstrap=10).diagnostics
    assert diagnostics["max_weight"] == pytest.approx(3.0)
    assert diagnostics["mean_weight"] == pytest.approx(1.0, abs=0.05)
    assert diagnostics["match_rate"] == pytest.approx(1 / 3, abs=0.02)
    assert diagnostics["ess_ratio"] == pytest.approx(1 / 3, abs=0.02)
    assert diagnostics["effective_sample_size"] == pytest.approx(diagnostics["ess_ratio"] * N_ROUNDS)
    assert diagnostics["support_deficit_rate"] == 0.0


def test_on_policy_value_recovers_the_logging_policys_value(world: World) -> None:
    result = on_policy_value(world.feedback)
    assert result.estimator == "logged"
    assert result.value == world.feedback.rewards.mean()
    assert_near_truth(result, LOGGED_VALUE)


def test_paired_difference_detects_a_better_target_and_rejects_a_worse_one(world: World) -> None:
    rewards = world.feedback.rewards
    better = paired_difference(IPS().round_terms(world.feedback, world.target_probs), rewards)
    assert better.ci_low > 0
    assert better.ci_low <= TRUE_VALUE - LOGGED_VALUE <= better.ci_high

    always_coupon = np.tile([0.0, 1.0, 0.0], (N_ROUNDS, 1))  # worth 0.3 < 0.35
    worse = paired_difference(IPS().round_terms(world.feedback, always_coupon), rewards)
    assert worse.ci_low <= 0
    assert worse.ci_low <= 0.5 * (Q[0, 1] + Q[1, 1]) - LOGGED_VALUE <= worse.ci_high
