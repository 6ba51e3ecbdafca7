"""What every registered estimator must do, whatever its maths."""

from __future__ import annotations

import json
import pickle
from dataclasses import fields

import numpy as np
import polars as pl
import pytest

from experiments.ope import (
    ESTIMATORS,
    Estimator,
    EstimatorResult,
    RoundTerms,
    WeightingEstimator,
    estimate_all,
    evaluate,
    importance_weights,
    make_estimator,
    on_policy_value,
)
from policies.base import Feedback

N = 300
DIAGNOSTICS = {
    "effective_sample_size",
    "ess_ratio",
    "max_weight",
    "mean_weight",
    "match_rate",
    "support_deficit_rate",
    "support_deficit_mass",
}


def _feedback() -> Feedback:
    rng = np.random.default_rng(11)
    logging = rng.dirichlet(np.ones(3), size=N)
    chosen = np.minimum((rng.random(N)[:, None] > logging.cumsum(axis=1)).sum(axis=1), 2)
    return Feedback(
        contexts=pl.DataFrame({"x": rng.normal(size=N)}),
        actions=("no_offer", "coupon", "installment"),
        eligible=np.ones((N, 3), dtype=bool),
        chosen=chosen,
        rewards=rng.binomial(1, 0.4, size=N).astype(float),
        propensities=logging[np.arange(N), chosen],
    )


FEEDBACK = _feedback()
TARGET = np.random.default_rng(12).dirichlet(np.ones(3), size=N)
Q_HAT = np.random.default_rng(13).uniform(size=(N, 3))
USERS = np.random.default_rng(14).integers(0, 40, size=N)

every_estimator = pytest.mark.parametrize("cls", list(ESTIMATORS.values()), ids=list(ESTIMATORS))
weighting = [cls for cls in ESTIMATORS.values() if issubclass(cls, WeightingEstimator)]
every_weighting_estimator = pytest.mark.parametrize("cls", weighting, ids=[cls.name for cls in weighting])


def test_the_registry_holds_the_seven_estimators_by_name() -> None:
    assert sorted(ESTIMATORS) == ["dm", "dr", "dr-os", "ips", "sndr", "snips", "switch-dr"]
    assert all(cls.name == name for name, cls in ESTIMATORS.items())
    assert all(make_estimator(name) == cls() for name, cls in ESTIMATORS.items())


@every_estimator
def test_round_terms_give_float_arrays_of_one_term_per_round(cls: type[Estimator]) -> None:
    terms = cls().round_terms(FEEDBACK, TARGET, Q_HAT)
    assert isinstance(terms, RoundTerms)
    for part in (terms.numerator, terms.denominator, terms.offset):
        if part is not None:
            assert part.shape == (N,)
            assert part.dtype == np.float64
            assert np.isfinite(part).all()


@every_estimator
def test_the_estimate_is_the_ratio_of_the_terms_and_the_mean_of_the_round_rewards(cls: type[Estimator]) -> None:
    estimator = cls()
    result = estimator.estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100)
    assert result.estimator == cls.name
    assert result.value == pytest.approx(estimator.round_terms(FEEDBACK, TARGET, Q_HAT).value(), rel=1e-12)
    assert result.value == pytest.approx(estimator.round_rewards(FEEDBACK, TARGET, Q_HAT).mean(), rel=1e-12)
    assert result.n_rounds == N


@every_estimator
@pytest.mark.parametrize("interval", ["bootstrap", "normal"])
@pytest.mark.parametrize("clusters", [None, USERS], ids=["by-round", "by-user"])
def test_the_interval_contains_the_estimate(cls: type[Estimator], interval: str, clusters: np.ndarray | None) -> None:
    result = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=300, interval=interval, clusters=clusters)
    assert result.ci_low <= result.value <= result.ci_high
    assert result.std_error > 0


@every_estimator
def test_estimating_is_reproducible_and_leaves_its_inputs_alone(cls: type[Estimator]) -> None:
    target, q_hat, rewards = TARGET.copy(), Q_HAT.copy(), FEEDBACK.rewards.copy()
    first = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100, seed=3)
    second = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100, seed=3)
    other_seed = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100, seed=4)
    assert first == second
    assert (first.ci_low, first.ci_high) != (other_seed.ci_low, other_seed.ci_high)
    np.testing.assert_array_equal(TARGET, target)
    np.testing.assert_array_equal(Q_HAT, q_hat)
    np.testing.assert_array_equal(FEEDBACK.rewards, rewards)


@every_estimator
def test_round_rewards_can_be_changed_without_touching_the_estimator_or_its_inputs(cls: type[Estimator]) -> None:
    contributions = cls().round_rewards(FEEDBACK, TARGET, Q_HAT)
    before = cls().round_rewards(FEEDBACK, TARGET, Q_HAT)
    contributions[:] = np.nan
    np.testing.assert_array_equal(cls().round_rewards(FEEDBACK, TARGET, Q_HAT), before)


@every_estimator
def test_estimators_and_results_pickle_and_show_their_settings(cls: type[Estimator]) -> None:
    estimator = pickle.loads(pickle.dumps(cls()))
    assert estimator == cls()
    settings = ", ".join(f"{f.name}={getattr(estimator, f.name)!r}" for f in fields(estimator))
    assert repr(estimator) == f"{cls.__name__}({settings})"
    result = estimator.estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=50)
    assert pickle.loads(pickle.dumps(result)) == result


@every_estimator
def test_results_are_plain_json_ready_records(cls: type[Estimator]) -> None:
    result = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=50)
    record = result.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"estimator", "value", "ci_low", "ci_high", "std_error", "n_rounds", "diagnostics"}
    assert all(type(record[key]) is float for key in ("value", "ci_low", "ci_high", "std_error"))
    assert type(record["n_rounds"]) is int
    assert set(record["diagnostics"]) == DIAGNOSTICS
    assert EstimatorResult(**record) == result


@every_weighting_estimator
@pytest.mark.parametrize("clip", [0.5, 1.0, 2.0, 5.0])
def test_clipping_never_increases_a_weight(cls: type[WeightingEstimator], clip: float) -> None:
    raw = cls().weights(FEEDBACK, TARGET)
    clipped = cls(clip=clip).weights(FEEDBACK, TARGET)  # type: ignore[call-arg]
    assert (clipped <= raw).all()
    assert clipped.max() <= clip
    np.testing.assert_array_equal(clipped[raw <= clip], raw[raw <= clip])
    assert make_estimator(cls.name, clip=clip) == cls(clip=clip)  # type: ignore[call-arg]


@every_weighting_estimator
def test_a_clip_above_every_weight_changes_nothing(cls: type[WeightingEstimator]) -> None:
    top = float(importance_weights(FEEDBACK, TARGET).max())
    unclipped = cls().round_terms(FEEDBACK, TARGET, Q_HAT).value()
    assert cls(clip=top).round_terms(FEEDBACK, TARGET, Q_HAT).value() == unclipped  # type: ignore[call-arg]


def test_evaluate_shares_one_resample_plan_between_estimators() -> None:
    names = tuple(ESTIMATORS)
    together = evaluate(FEEDBACK, TARGET, names, Q_HAT, n_bootstrap=200, seed=5, clusters=USERS)
    for name, result in zip(names, together, strict=True):
        alone = make_estimator(name).estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=200, seed=5, clusters=USERS)
        assert result.estimator == name
        assert (result.value, result.ci_low, result.ci_high, result.std_error) == pytest.approx(
            (alone.value, alone.ci_low, alone.ci_high, alone.std_error), rel=1e-12
        )
    estimators = [make_estimator(name) for name in names]
    assert together == estimate_all(estimators, FEEDBACK, TARGET, Q_HAT, n_bootstrap=200, seed=5, clusters=USERS)


def test_evaluate_passes_clip_to_the_estimators_that_weight() -> None:
    clipped = evaluate(FEEDBACK, TARGET, ("dm", "ips"), Q_HAT, n_bootstrap=50, clip=1.0)
    assert clipped[0] == evaluate(FEEDBACK, TARGET, ("dm",), Q_HAT, n_bootstrap=50)[0]
    assert clipped[1].value == pytest.approx(
        (np.minimum(importance_weights(FEEDBACK, TARGET), 1.0) * FEEDBACK.rewards).mean()
    )


def test_the_logged_value_carries_the_same_diagnostics() -> None:
    logged = on_policy_value(FEEDBACK, n_bootstrap=50)
    assert logged.diagnostics == {
        "effective_sample_size": float(N),
        "ess_ratio": 1.0,
        "max_weight": 1.0,
        "mean_weight": 1.0,
        "match_rate": 1.0,
        "support_deficit_rate": 0.0,
        "support_deficit_mass": 0.0,
    }
