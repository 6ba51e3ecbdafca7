"""What every registered estimator must do, whatever its maths."""

from __future__ import annotations

import json
import pickle

import numpy as np
import polars as pl
import pytest

from experiments.ope import ESTIMATORS, Estimator, EstimatorResult, on_policy_value
from policies.base import Feedback

N = 300


def _feedback() -> Feedback:
    rng = np.random.default_rng(11)
    logging = rng.dirichlet(np.ones(3), size=N)
    chosen = (rng.random(N)[:, None] > logging.cumsum(axis=1)).sum(axis=1)
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

every_estimator = pytest.mark.parametrize("cls", list(ESTIMATORS.values()), ids=list(ESTIMATORS))


def test_the_registry_holds_the_four_estimators_by_name() -> None:
    assert sorted(ESTIMATORS) == ["dm", "dr", "ips", "snips"]
    assert all(cls.name == name for name, cls in ESTIMATORS.items())


@every_estimator
def test_round_rewards_give_one_float_per_round(cls: type[Estimator]) -> None:
    contributions = cls().round_rewards(FEEDBACK, TARGET, Q_HAT)
    assert contributions.shape == (N,)
    assert contributions.dtype == np.float64
    assert np.isfinite(contributions).all()


@every_estimator
def test_the_estimate_is_the_mean_of_the_round_rewards(cls: type[Estimator]) -> None:
    result = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100)
    assert result.estimator == cls.name
    assert result.value == pytest.approx(cls().round_rewards(FEEDBACK, TARGET, Q_HAT).mean(), rel=1e-12)
    assert result.n_rounds == N


@every_estimator
def test_estimating_is_reproducible_and_leaves_its_inputs_alone(cls: type[Estimator]) -> None:
    target, q_hat, rewards = TARGET.copy(), Q_HAT.copy(), FEEDBACK.rewards.copy()
    first = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100, seed=3)
    second = cls().estimate(FEEDBACK, TARGET, Q_HAT, n_bootstrap=100, seed=3)
    assert first == second
    np.testing.assert_array_equal(TARGET, target)
    np.testing.assert_array_equal(Q_HAT, q_hat)
    np.testing.assert_array_equal(FEEDBACK.rewards, rewards)


@every_estimator
def test_estimators_and_results_pickle(cls: type[Estimator]) -> None:
    estimator = pickle.loads(pickle.dumps(cls()))
    assert repr(estimator) == f"{cls.__name__}()"
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
    assert set(record["diagnostics"]) == {
        "effective_sample_size",
        "ess_ratio",
        "max_weight",
        "mean_weight",
        "match_rate",
    }
    assert EstimatorResult(**record) == result


def test_the_logged_value_carries_the_same_diagnostics() -> None:
    logged = on_policy_value(FEEDBACK, n_bootstrap=50)
    assert logged.diagnostics == {
        "effective_sample_size": float(N),
        "ess_ratio": 1.0,
        "max_weight": 1.0,
        "mean_weight": 1.0,
        "match_rate": 1.0,
    }
