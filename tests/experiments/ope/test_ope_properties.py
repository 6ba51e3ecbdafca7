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
    ESTIMATORS,
    IPS,
    SNIPS,
    bootstrap_interval,
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
@given(logged_feedback(), st.floats(-10.0, 10.0))
def test_direct_method_with_a_constant_reward_model_is_that_constant(logged: Logged, constant: float) -> None:
    q_hat = np.full_like(logged.target_probs, constant)
    np.testing.assert_allclose(DM().round_rewards(logged.feedback, logged.target_probs, q_hat), constant, atol=1e-12)


@SETTINGS
@given(logged_feedback(), st.sampled_from(sorted(ESTIMATORS)), st.integers(0, 2**32 - 1))
def test_every_estimate_lies_within_its_interval(logged: Logged, name: str, seed: int) -> None:
    feedback, target = logged.feedback, logged.target_probs
    if name == "snips" and not (target[np.arange(feedback.n_rounds), feedback.chosen] > 0).any():
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
