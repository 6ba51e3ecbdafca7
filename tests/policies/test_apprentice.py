"""Apprentice mode: acts as the incumbent with the floor, hands over only when the learner is estimated better.

It keeps its state through save and load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from policies.bandits.apprentice import ApprenticePolicy, HandoverDecision
from policies.bandits.rules import RuleBasedPolicy
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.base import Feedback, load_policy
from policies.sampling import with_floor

ACTIONS = ("no_offer", "coupon", "installment", "trust_badge")
#: Mean reward of each action when coupons pay best for everyone (the rules rarely show one).
COUPON_WORLD = np.array([0.0, 1.0, 0.2, 0.1])


def contexts(n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Buyers who rarely redeem coupons: the rules show installments, trust badges or nothing."""
    return pl.DataFrame(
        {
            "coupon_redemption_rate": rng.uniform(0, 0.4, n),
            "installment_use_rate": rng.uniform(0, 1, n),
            "account_age_days": rng.integers(30, 900, n),
            "merchant_verified": rng.random(n) < 0.9,
            "user_id": rng.integers(0, n // 4, n).astype(str),
        }
    )


def coupon_world(frame: pl.DataFrame) -> np.ndarray:
    return np.tile(COUPON_WORLD, (frame.height, 1))


def rules_world(frame: pl.DataFrame) -> np.ndarray:
    """Return mean rewards where the rules' choice pays 1, every other action 0: the incumbent is the best policy."""
    best = RuleBasedPolicy().probabilities(frame, ACTIONS).argmax(axis=1)
    return (np.arange(len(ACTIONS)) == best[:, None]).astype(float)


def day(
    policy: ApprenticePolicy, world: Callable[[pl.DataFrame], np.ndarray], n: int, rng: np.random.Generator
) -> Feedback:
    """One day logged by ``policy``: rewards are the world's means plus noise."""
    frame = contexts(n, rng)
    eligible = np.ones((n, len(ACTIONS)), dtype=bool)
    chosen, propensities = policy.act(frame.drop("user_id"), ACTIONS, rng, eligible)
    rewards = rng.normal(world(frame)[np.arange(n), chosen], 0.3)
    return Feedback(frame, ACTIONS, eligible, chosen, rewards, propensities)


def features(feedback: Feedback) -> Feedback:
    """Drop the user id column from the feedback (an id, not a feature)."""
    return Feedback(
        feedback.contexts.drop("user_id"),
        feedback.actions,
        feedback.eligible,
        feedback.chosen,
        feedback.rewards,
        feedback.propensities,
    )


def apprentice(estimator: str = "snips", floor: float = 0.05, margin: float = 0.0) -> ApprenticePolicy:
    """Rules, and VW seeded 1, compared by ``estimator`` with 300 resamples."""
    learner = VowpalWabbitPolicy(config=VWConfig(seed=1))
    return ApprenticePolicy(
        RuleBasedPolicy(), learner, floor=floor, estimator=estimator, margin=margin, n_bootstrap=300, seed=2
    )


def test_before_the_handover_it_acts_as_the_incumbent_with_the_floor() -> None:
    rng = np.random.default_rng(0)
    policy = apprentice(floor=0.1)
    policy.learn(features(day(policy, coupon_world, 1000, rng)))  # the learner learns, the apprentice still follows
    frame = contexts(300, rng).drop("user_id")
    eligible = rng.random((300, len(ACTIONS))) < 0.7
    eligible[:, 0] = True
    expected = with_floor(RuleBasedPolicy().probabilities(frame, ACTIONS, eligible), eligible, 0.1)
    probs = policy.probabilities(frame, ACTIONS, eligible)
    assert np.array_equal(probs, expected)
    assert (probs[eligible] >= np.minimum(0.1, 1 / eligible.sum(axis=1, keepdims=True)).repeat(4, 1)[eligible]).all()
    assert not policy.handed_over_
    assert policy.acting is policy.incumbent


@pytest.mark.parametrize("estimator", ["snips", "dr"])
def test_it_hands_over_when_the_learner_is_clearly_better(estimator: str) -> None:
    rng = np.random.default_rng(1)
    policy = apprentice(estimator, floor=0.1)
    policy.learn(features(day(policy, coupon_world, 2000, rng)))
    held_out = day(policy, coupon_world, 2000, rng)  # logged by the apprentice, not yet learned from
    decision = policy.maybe_hand_over(features(held_out), clusters=held_out.contexts["user_id"].to_numpy())
    # truth: the floored learner shows a coupon ~2/3 of the time, the floored rules ~1/10 of the time
    assert decision.hand_over
    assert policy.handed_over_
    assert 0.3 < decision.ci_low <= decision.value <= decision.ci_high < 0.8, decision
    assert decision.estimator == estimator
    assert decision.clustered_by_user
    assert decision.n_rounds == 2000
    assert decision.rounds_learned == 2000
    assert policy.decisions_ == [decision]
    # from now on it acts as the learner, with the floor
    frame = held_out.contexts.drop("user_id")
    learner_probs = with_floor(policy.learner.probabilities(frame, ACTIONS), np.ones((2000, 4), bool), 0.1)
    assert np.array_equal(policy.probabilities(frame, ACTIONS), learner_probs)
    assert policy.probabilities(frame, ACTIONS)[:, 1].mean() > 0.6


def test_it_does_not_hand_over_when_the_learner_is_worse() -> None:
    rng = np.random.default_rng(2)
    policy = apprentice("dr", floor=0.1)
    policy.learn(features(day(policy, rules_world, 300, rng)))
    held_out = day(policy, rules_world, 2000, rng)
    decision = policy.maybe_hand_over(features(held_out))
    assert not decision.hand_over
    assert not policy.handed_over_
    assert decision.ci_high < 0, decision  # clearly worse: the rules are the best policy of this world
    assert policy.acting is policy.incumbent


def test_a_margin_holds_back_a_small_gain() -> None:
    rng = np.random.default_rng(1)
    policy = apprentice("snips", floor=0.1, margin=5.0)
    policy.learn(features(day(policy, coupon_world, 2000, rng)))
    decision = policy.maybe_hand_over(features(day(policy, coupon_world, 2000, rng)))
    assert decision.ci_low > 0
    assert decision.margin == 5.0
    assert not decision.hand_over
    assert not policy.handed_over_


def test_save_and_load_keep_the_handover_the_decisions_and_the_learner(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    policy = apprentice("snips", floor=0.1)
    policy.learn(features(day(policy, coupon_world, 2000, rng)))
    policy.maybe_hand_over(features(day(policy, coupon_world, 2000, rng)))
    policy.save(tmp_path / "saved")
    loaded = load_policy(tmp_path / "saved")
    assert isinstance(loaded, ApprenticePolicy)
    assert loaded.handed_over_
    assert loaded.decisions_ == policy.decisions_
    assert isinstance(loaded.decisions_[0], HandoverDecision)
    assert loaded.params() == policy.params()
    assert isinstance(loaded.learner, VowpalWabbitPolicy)
    assert loaded.learner.feature_names_ is not None
    frame = contexts(200, rng).drop("user_id")
    assert np.array_equal(loaded.probabilities(frame, ACTIONS), policy.probabilities(frame, ACTIONS))
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["incumbent", "learner", "policy.json"]


def test_a_fresh_apprentice_saves_and_loads(tmp_path: Path) -> None:
    policy = ApprenticePolicy.example()
    policy.save(tmp_path / "fresh")
    loaded = load_policy(tmp_path / "fresh")
    assert isinstance(loaded, ApprenticePolicy)
    assert not loaded.handed_over_
    assert loaded.decisions_ == []
    assert loaded.params() == policy.params()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"floor": 0.0}, r"apprentice: floor must lie in \(0, 1\] so that the learner sees every action; got 0.0"),
        ({"floor": 1.5}, r"apprentice: floor must lie in \(0, 1\] .*got 1.5"),
        ({"margin": -0.1}, r"apprentice: margin must be a finite number >= 0; got -0.1"),
        ({"margin": float("nan")}, r"apprentice: margin must be a finite number >= 0; got nan"),
        ({"estimator": "magic"}, r"unknown estimator 'magic'; known: \['dm', 'dr', "),
        ({"alpha": 1.5}, r"alpha must lie in \(0, 1\); got 1.5"),
        ({"n_bootstrap": 0}, r"n_bootstrap must be a positive integer; got 0"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ApprenticePolicy(**settings)  # type: ignore[arg-type]


def test_clusters_of_the_wrong_length_are_named() -> None:
    rng = np.random.default_rng(3)
    policy = apprentice()
    feedback = features(day(policy, coupon_world, 100, rng))
    with pytest.raises(ValueError, match=r"apprentice: clusters has shape \(3,\), expected \(100,\)"):
        policy.maybe_hand_over(feedback, clusters=np.array(["a", "b", "c"]))
