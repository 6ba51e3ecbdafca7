"""Invariants that hold for any logged feedback, checked with hypothesis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from experiments.ope import (
    DM,
    DR,
    DROS,
    ESTIMATORS,
    IPS,
    SNDR,
    SNIPS,
    RoundTerms,
    SwitchDR,
    bootstrap_interval,
    importance_weights,
    summarise,
    weight_diagnostics,
)
from policies.base import Feedback

SETTINGS = settings(max_examples=60, deadline=None)
#: Room for rounding: a few units in the last place of the largest magnitude involved.
ULPS = 1e-12


@dataclass(frozen=True)
class Logged:
    feedback: Feedback
    logging_probs: np.ndarray
    target_probs: np.ndarray


def _normalise(raw: np.ndarray) -> np.ndarray:
    rows = raw.sum(axis=1, keepdims=True)
    return np.where(rows > 0, raw / np.where(rows > 0, rows, 1.0), 1.0 / raw.shape[1])


@st.composite
def logged_feedback(draw: st.DrawFn) -> Logged:
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 4))
    logging = _normalise(draw(arrays(float, (n, k), elements=st.floats(0.01, 1.0))))
    target = _normalise(draw(arrays(float, (n, k), elements=st.floats(0.0, 1.0))))
    chosen = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    rewards = draw(arrays(float, n, elements=st.floats(-100.0, 100.0)))
    feedback = Feedback(
        contexts=pl.DataFrame({"x": np.arange(n)}),
        actions=tuple(f"action_{j}" for j in range(k)),
        eligible=np.ones((n, k), dtype=bool),
        chosen=chosen,
        rewards=rewards,
        propensities=logging[np.arange(n), chosen],
    )
    return Logged(feedback, logging, target)


def _scale(values: np.ndarray) -> float:
    return float(max(1.0, np.abs(values).max()))


@SETTINGS
@given(logged_feedback())
def test_snips_stays_within_the_range_of_observed_rewards(logged: Logged) -> None:
    feedback = logged.feedback
    if not (logged.target_probs[np.arange(feedback.n_rounds), feedback.chosen] > 0).any():
        return  # no overlap: SNIPS is undefined and says so (see the validation tests)
    value = SNIPS().estimate(feedback, logged.target_probs, n_bootstrap=20).value
    slack = ULPS * feedback.n_rounds * _scale(feedback.rewards)
    assert feedback.rewards.min() - slack <= value <= feedback.rewards.max() + slack


def _overlap(logged: Logged) -> bool:
    feedback = logged.feedback
    return bool((logged.target_probs[np.arange(feedback.n_rounds), feedback.chosen] > 0).any())


@SETTINGS
@given(logged_feedback(), st.floats(-10.0, 10.0))
def test_sndr_with_a_constant_reward_model_is_snips(logged: Logged, constant: float) -> None:
    """The model's value and its prediction for the logged action cancel; so SNDR stays in the reward range too."""
    if not _overlap(logged):
        return
    feedback, target = logged.feedback, logged.target_probs
    q_hat = np.full_like(target, constant)
    sndr = SNDR().estimate(feedback, target, q_hat, n_bootstrap=20).value
    snips = SNIPS().estimate(feedback, target, n_bootstrap=20).value
    assert abs(sndr - snips) <= 1e-9 * _scale(np.array([*feedback.rewards, constant]))


@SETTINGS
@given(logged_feedback())
def test_ips_of_the_logging_policy_is_the_mean_observed_reward(logged: Logged) -> None:
    feedback = logged.feedback
    value = IPS().estimate(feedback, logged.logging_probs, n_bootstrap=20).value
    assert abs(value - feedback.rewards.mean()) <= ULPS * _scale(feedback.rewards)


@SETTINGS
@given(logged_feedback())
def test_doubly_robust_with_a_zero_reward_model_is_ips(logged: Logged) -> None:
    feedback, target = logged.feedback, logged.target_probs
    zero = np.zeros_like(target)
    np.testing.assert_allclose(DR().round_rewards(feedback, target, zero), IPS().round_rewards(feedback, target))


@SETTINGS
@given(logged_feedback(), st.floats(0.0, 50.0))
def test_the_large_weight_estimators_lie_between_dm_and_dr_at_their_extremes(logged: Logged, setting: float) -> None:
    """Infinite tau or lambda is DR; zero is DM; and switch-DR is DR on the rounds whose weight is at most tau."""
    feedback, target = logged.feedback, logged.target_probs
    q_hat = np.tile(np.linspace(-1.0, 1.0, target.shape[1]), (feedback.n_rounds, 1))
    dr, dm = DR().round_rewards(feedback, target, q_hat), DM().round_rewards(feedback, target, q_hat)
    inf = float("inf")
    np.testing.assert_allclose(SwitchDR(tau=inf).round_rewards(feedback, target, q_hat), dr)
    np.testing.assert_allclose(DROS(lambda_=inf).round_rewards(feedback, target, q_hat), dr)
    np.testing.assert_allclose(DROS(lambda_=0.0).round_rewards(feedback, target, q_hat), dm)
    switched = SwitchDR(tau=setting).round_rewards(feedback, target, q_hat)
    small = importance_weights(feedback, target) <= setting
    np.testing.assert_allclose(switched, np.where(small, dr, dm))


@SETTINGS
@given(logged_feedback(), st.floats(0.01, 20.0))
def test_clipping_never_raises_ips_of_non_negative_rewards(logged: Logged, clip: float) -> None:
    feedback = logged.feedback
    rewards = np.abs(feedback.rewards)
    weights = importance_weights(feedback, logged.target_probs)
    clipped = importance_weights(feedback, logged.target_probs, clip)
    assert (clipped <= weights).all()
    assert (clipped <= clip).all()
    assert (clipped * rewards).mean() <= (weights * rewards).mean() + ULPS * _scale(weights * rewards)


@SETTINGS
@given(logged_feedback(), st.floats(-10.0, 10.0))
def test_direct_method_with_a_constant_reward_model_is_that_constant(logged: Logged, constant: float) -> None:
    q_hat = np.full_like(logged.target_probs, constant)
    np.testing.assert_allclose(DM().round_rewards(logged.feedback, logged.target_probs, q_hat), constant, atol=1e-12)


@SETTINGS
@given(logged_feedback(), st.sampled_from(sorted(ESTIMATORS)), st.integers(0, 2**32 - 1))
def test_every_estimate_lies_within_its_interval(logged: Logged, name: str, seed: int) -> None:
    feedback, target = logged.feedback, logged.target_probs
    if name in ("snips", "sndr") and not _overlap(logged):
        return
    q_hat = np.tile(np.linspace(-1.0, 1.0, target.shape[1]), (feedback.n_rounds, 1))
    result = ESTIMATORS[name]().estimate(feedback, target, q_hat, n_bootstrap=200, seed=seed)
    slack = ULPS * _scale(np.array([result.ci_low, result.ci_high, result.value]))
    assert result.ci_low - slack <= result.value <= result.ci_high + slack
    assert result.std_error >= 0


@SETTINGS
@given(
    arrays(float, st.integers(1, 60), elements=st.floats(-1e6, 1e6)),
    st.floats(0.01, 0.2),
    st.integers(100, 300),
    st.integers(0, 2**32 - 1),
)
def test_interval_contains_the_mean(contributions: np.ndarray, alpha: float, n_bootstrap: int, seed: int) -> None:
    """A percentile interval holds the mean with overwhelming probability once there are enough resamples.

    (With a handful of resamples it need not: two draws can both land above the mean.)
    """
    result = summarise(contributions, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed)
    slack = ULPS * _scale(contributions)
    assert result.ci_low - slack <= result.value <= result.ci_high + slack
    low, high, std_error = bootstrap_interval(contributions, alpha, n_bootstrap, seed)
    assert (low, high, std_error) == (result.ci_low, result.ci_high, result.std_error)


@SETTINGS
@given(
    arrays(float, st.integers(2, 60), elements=st.floats(0.0, 100.0)),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["bootstrap", "normal"]),
)
def test_the_cluster_interval_ignores_the_order_of_the_rounds(
    weights: np.ndarray, n_users: int, seed: int, interval: str
) -> None:
    """Shuffling the rounds, each keeping its user, moves no user's sums: the same units, the same resamples."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, size=weights.size)
    rewards = rng.binomial(1, 0.5, size=weights.size).astype(float)
    if not weights.sum() > 0:
        return
    terms = RoundTerms(weights * rewards, weights)
    order = rng.permutation(weights.size)
    shuffled = RoundTerms(weights[order] * rewards[order], weights[order])
    first = summarise(terms, n_bootstrap=100, seed=seed, clusters=users, interval=interval)
    second = summarise(shuffled, n_bootstrap=100, seed=seed, clusters=users[order], interval=interval)
    for a, b in ((first.ci_low, second.ci_low), (first.ci_high, second.ci_high), (first.value, second.value)):
        assert a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a)) or (np.isnan(a) and np.isnan(b))


@SETTINGS
@given(arrays(float, st.integers(1, 60), elements=st.floats(0.0, 1e6)))
def test_weight_diagnostics_are_consistent(weights: np.ndarray) -> None:
    diagnostics = weight_diagnostics(weights)
    n = weights.size
    assert 0.0 <= diagnostics["ess_ratio"] <= 1.0 + 1e-12
    assert 0.0 <= diagnostics["match_rate"] <= 1.0
    assert diagnostics["effective_sample_size"] <= n * (1 + 1e-12)
    if (weights > 0).any():
        # ESS never exceeds the number of rounds with a positive weight
        assert diagnostics["effective_sample_size"] <= (weights > 0).sum() * (1 + 1e-12)
        assert diagnostics["max_weight"] >= diagnostics["mean_weight"] * (1 - 1e-12)
    else:
        assert diagnostics["effective_sample_size"] == 0.0
