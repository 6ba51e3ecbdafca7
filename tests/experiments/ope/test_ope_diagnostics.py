"""Diagnostics: the importance weights, the support of the target, and the warnings they raise."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from experiments.ope import Diagnostics, diagnose, evaluate, importance_weights, support_diagnostics, unsupported_mass
from experiments.ope import diagnostics as module
from policies.base import Feedback

N = 4000


def uniform_log(eligible: np.ndarray | None = None, propensity_error: float = 1.0) -> Feedback:
    """Uniform logging over the eligible actions of each round (three actions, all eligible by default)."""
    rng = np.random.default_rng(0)
    mask = np.ones((N, 3), dtype=bool) if eligible is None else eligible
    logging = mask / mask.sum(axis=1, keepdims=True)
    chosen = np.minimum((rng.random(N)[:, None] > logging.cumsum(axis=1)).sum(axis=1), 2)
    return Feedback(
        contexts=pl.DataFrame({"x": np.zeros(N)}),
        actions=("a", "b", "c"),
        eligible=mask,
        chosen=chosen,
        rewards=rng.binomial(1, 0.3, size=N).astype(float),
        propensities=logging[np.arange(N), chosen] * propensity_error,
    )


def test_a_target_within_the_loggers_reach_raises_no_warning() -> None:
    feedback = uniform_log()
    report = diagnose(feedback, np.tile([0.2, 0.5, 0.3], (N, 1)))
    assert isinstance(report, Diagnostics)
    assert report.warnings == []
    assert report.values["support_deficit_rate"] == 0.0
    assert report.values["support_deficit_mass"] == 0.0
    assert report.values["mean_weight"] == pytest.approx(1.0, abs=0.05)


def test_the_support_deficit_counts_rounds_and_mass_on_ineligible_actions() -> None:
    eligible = np.ones((N, 3), dtype=bool)
    eligible[: N // 4, 2] = False  # a quarter of the rounds could not take c
    feedback = uniform_log(eligible)
    target = np.tile([0.2, 0.5, 0.3], (N, 1))
    figures = support_diagnostics(feedback, target)
    assert figures == {"support_deficit_rate": 0.25, "support_deficit_mass": pytest.approx(0.25 * 0.3)}
    np.testing.assert_allclose(unsupported_mass(feedback, target), np.where(np.arange(N) < N // 4, 0.3, 0.0))
    report = diagnose(feedback, target)
    assert (
        "support: the target puts mass on actions the logger never takes in 25.0% of rounds (mean mass 0.075); "
        "IPS-type estimates are biased there"
    ) in report.warnings


def test_logging_probabilities_of_zero_are_outside_the_support_too() -> None:
    feedback = uniform_log()
    logging = np.tile([0.5, 0.5, 0.0], (N, 1))  # the logger never took c, though it was eligible
    target = np.tile([0.0, 0.9, 0.1], (N, 1))
    assert support_diagnostics(feedback, target) == {"support_deficit_rate": 0.0, "support_deficit_mass": 0.0}
    figures = support_diagnostics(feedback, target, logging)
    assert figures == {"support_deficit_rate": 1.0, "support_deficit_mass": pytest.approx(0.1)}


def test_a_vanishing_probability_is_not_a_deficit_but_still_counts_as_mass() -> None:
    eligible = np.ones((N, 3), dtype=bool)
    eligible[:, 2] = False
    feedback = uniform_log(eligible)
    target = np.tile([0.5, 0.5 - 1e-13, 1e-13], (N, 1))
    figures = support_diagnostics(feedback, target)
    assert figures["support_deficit_rate"] == 0.0
    assert figures["support_deficit_mass"] == pytest.approx(1e-13)


def test_few_effective_rounds_and_huge_weights_are_warned_about() -> None:
    feedback = uniform_log()
    rare = np.tile([1.0, 0.0, 0.0], (N, 1))
    propensities = np.where(np.arange(N) < 5, 1e-3, feedback.propensities)  # five rounds logged at 1/1000
    skewed = Feedback(
        feedback.contexts, feedback.actions, feedback.eligible, feedback.chosen, feedback.rewards, propensities
    )
    rare[5:] = np.eye(3)[(feedback.chosen[5:] + 1) % 3]  # elsewhere the target never takes the logged action
    rare[:5] = np.eye(3)[feedback.chosen[:5]]
    report = diagnose(skewed, rare)
    assert report.values["max_weight"] == pytest.approx(1000.0)
    assert report.values["effective_sample_size"] == pytest.approx(5.0)
    assert any(w.startswith("effective sample size: 5 of 4,000 rounds (0.12%, below 1%)") for w in report.warnings)
    assert any(w.startswith("max weight: 1000 exceeds 100") for w in report.warnings)


def test_a_mean_weight_far_from_one_is_warned_about() -> None:
    feedback = uniform_log(propensity_error=0.5)  # propensities logged at half their value: weights doubled
    report = diagnose(feedback, np.tile([0.2, 0.5, 0.3], (N, 1)))
    assert report.values["mean_weight"] == pytest.approx(2.0, abs=0.1)
    assert any(w.startswith("mean weight: ") and "from 1" in w for w in report.warnings)


def test_the_thresholds_are_the_module_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    feedback = uniform_log()
    target = np.tile([0.2, 0.5, 0.3], (N, 1))
    assert diagnose(feedback, target).warnings == []
    monkeypatch.setattr(module, "MAX_WEIGHT", 1.0)
    monkeypatch.setattr(module, "MIN_ESS_RATIO", 0.99)
    warnings = diagnose(feedback, target).warnings
    assert [w.split(":")[0] for w in warnings] == ["effective sample size", "max weight"]


def test_the_weights_are_exposed_for_a_histogram() -> None:
    feedback = uniform_log()
    target = np.tile([0.2, 0.5, 0.3], (N, 1))
    report = diagnose(feedback, target)
    np.testing.assert_array_equal(report.weights, importance_weights(feedback, target))
    assert report.values["max_weight"] == report.weights.max()


def test_every_estimate_carries_the_support_figures() -> None:
    eligible = np.ones((N, 3), dtype=bool)
    eligible[::2, 0] = False
    feedback = uniform_log(eligible)
    (result,) = evaluate(feedback, np.tile([0.2, 0.5, 0.3], (N, 1)), ("snips",), n_bootstrap=50)
    assert result.diagnostics["support_deficit_rate"] == 0.5
    assert result.diagnostics["support_deficit_mass"] == pytest.approx(0.1)
