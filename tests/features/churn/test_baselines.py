from __future__ import annotations

import math
import re
import warnings
from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime

from features.churn.baselines import (
    BGNBD,
    BGNBDParams,
    RecencyBaseline,
    log_likelihood,
    probability_no_purchase,
    rfm_arrays,
    simulate_bgnbd,
)
from features.churn.baselines import _gradient as gradient
from features.churn.dataset import ChurnData, churn_dataset

TRAIN, TEST, HORIZON = date(1997, 6, 30), date(1997, 12, 31), 181  # the CDNOW protocol
PARAMS = BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5)


@pytest.fixture(scope="module")
def cdnow() -> ChurnData:
    pytest.importorskip("lifetimes")
    from features.adapters.cdnow import load_cdnow

    data = load_cdnow()
    return churn_dataset(data.events, data.items, data.users, [TRAIN, TEST], HORIZON, customer_base=False)


def _snapshot(data: ChurnData, day: date) -> pl.DataFrame:
    return data.frame.filter(pl.col("snapshot").dt.date() == day)


def test_bgnbd_fit_agrees_with_lifetimes_on_cdnow(cdnow: ChurnData) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    train = _snapshot(cdnow, TRAIN)
    x, t_x, T = rfm_arrays(train)
    theirs = lifetimes.BetaGeoFitter().fit(x, t_x, T)  # plain arrays: its pandas-free path
    their_params = BGNBDParams(*(float(theirs.params_[k]) for k in ("r", "alpha", "a", "b")))
    mine = BGNBD().fit(train)
    np.testing.assert_allclose(mine.params_, their_params, rtol=1e-4)

    # the log-likelihood by lifetimes' own function (unscaled time) at both fits, and ours against it
    def theirs_ll(params: BGNBDParams) -> float:
        nll = theirs._negative_log_likelihood(np.log(np.array(params)), x, t_x, T, np.ones_like(x), 0.0)
        return -float(nll) * len(x)

    assert mine.log_likelihood_ == pytest.approx(theirs_ll(their_params), rel=1e-6)
    assert mine.log_likelihood_ == pytest.approx(theirs_ll(mine.params_), rel=1e-12)
    assert mine.log_likelihood_ >= theirs_ll(their_params) - 1e-6 * abs(mine.log_likelihood_)
    assert mine.n_customers_ == train.height == 23_570

    # closed forms against lifetimes' at the same parameters
    same = BGNBD.from_params(their_params)
    np.testing.assert_allclose(same.probability_alive(train), theirs.conditional_probability_alive(x, t_x, T), 1e-10)
    expected = theirs.conditional_expected_number_of_purchases_up_to_time(HORIZON, x, t_x, T)
    np.testing.assert_allclose(same.expected_purchases(train, HORIZON), expected, rtol=1e-9)


def test_bgnbd_predict_proba_on_cdnow_is_a_probability(cdnow: ChurnData) -> None:
    model = BGNBD().fit(_snapshot(cdnow, TRAIN))
    test = _snapshot(cdnow, TEST)
    p = model.predict_proba(test, HORIZON)
    assert p.shape == (test.height,)
    assert ((p >= 0) & (p <= 1)).all()
    # the longer the horizon, the likelier a purchase
    assert (model.predict_proba(test, 2 * HORIZON) <= p + 1e-15).all()
    # and bought-lately customers are likelier to buy than lapsed ones
    recent = test["days_since_last_purchase"].to_numpy() < 30
    assert p[recent].mean() < p[~recent].mean()


def _integrated_p0(params: BGNBDParams, x: int, t_x: float, T: float, t: float) -> float:
    """P(no purchase in (T, T+t] | x, t_x, T) by integrating the individual likelihoods over the priors."""
    r, alpha, a, b = params
    log_norm = r * math.log(alpha) - math.lgamma(r) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)

    def density_times_likelihood(p: float, rate: float, extra: float) -> float:
        log_density = log_norm + (r - 1) * math.log(rate) - alpha * rate + (a - 1) * math.log(p)
        log_density += (b - 1) * math.log1p(-p)
        alive = (1 - p) ** x * rate**x * math.exp(-rate * (T + extra))
        gone = p * (1 - p) ** (x - 1) * rate**x * math.exp(-rate * t_x) if x > 0 else 0.0
        return math.exp(log_density) * (alive + gone)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        both = [
            integrate.dblquad(density_times_likelihood, 0, np.inf, 0, 1, args=(extra,), epsabs=0, epsrel=1e-10)[0]
            for extra in (t, 0.0)
        ]
    return both[0] / both[1]


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 100.0), (2, 30.0, 100.0), (5, 90.0, 100.0), (1, 5.0, 200.0)])
def test_bgnbd_no_purchase_probability_equals_numerical_integration(x: int, t_x: float, T: float) -> None:
    closed = probability_no_purchase(PARAMS, np.array([x]), np.array([t_x]), np.array([T]), 60.0)[0]
    assert closed == pytest.approx(_integrated_p0(PARAMS, x, t_x, T, 60.0), rel=1e-7)


def test_bgnbd_no_purchase_probability_matches_a_simulation() -> None:
    T = np.random.default_rng(7).uniform(90.0, 365.0, 100_000)
    sample = simulate_bgnbd(PARAMS, T, horizon_days=HORIZON, seed=3)
    predicted = BGNBD.from_params(PARAMS).predict_proba(sample, HORIZON)
    observed = (sample["future_purchases"] == 0).to_numpy()
    x = sample["bgnbd_frequency"].to_numpy()
    # E[1{no purchase} | x, t_x, T] is the prediction, so they agree on average within any group of histories
    for group in (x >= 0, x == 0, x == 1, (x >= 2) & (x <= 4), x >= 5):
        error = np.sqrt((predicted[group] * (1 - predicted[group])).sum()) / group.sum()
        assert abs(observed[group].mean() - predicted[group].mean()) < 4 * error, group.sum()


def test_bgnbd_recovers_simulated_parameters() -> None:
    sample = simulate_bgnbd(PARAMS, np.random.default_rng(1).uniform(60.0, 365.0, 40_000), 1.0, seed=2)
    np.testing.assert_allclose(BGNBD().fit(sample).params_, PARAMS, rtol=0.1)


def test_bgnbd_gradient_is_the_log_likelihood_s() -> None:
    sample = simulate_bgnbd(PARAMS, np.full(500, 200.0), 1.0, seed=5)
    x, t_x, T = rfm_arrays(sample)
    at = np.log([0.4, 6.0, 1.3, 1.7])

    def total(log_params: np.ndarray) -> float:
        return float(log_likelihood(BGNBDParams(*np.exp(log_params)), x, t_x, T).sum())

    analytic = gradient(BGNBDParams(*np.exp(at)), x, t_x, T).sum(axis=0)
    np.testing.assert_allclose(analytic, approx_fprime(at, total, 1e-7), rtol=1e-4)


def test_simulation_and_fit_are_reproducible() -> None:
    first = simulate_bgnbd(PARAMS, np.full(300, 100.0), 30.0, seed=4)
    assert first.equals(simulate_bgnbd(PARAMS, np.full(300, 100.0), 30.0, seed=4))
    assert not first.equals(simulate_bgnbd(PARAMS, np.full(300, 100.0), 30.0, seed=5))
    assert BGNBD().fit(first).params_ == BGNBD().fit(first).params_


def test_recency_baseline_on_cdnow(cdnow: ChurnData) -> None:
    baseline = RecencyBaseline().fit(_snapshot(cdnow, TRAIN))
    test = _snapshot(cdnow, TEST).sort("days_since_last_purchase")
    p = baseline.predict_proba(test)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p) >= -1e-12).all()  # the longer since the last purchase, the likelier churn


BAD = [
    ("bgnbd", pl.DataFrame({"bgnbd_frequency": [1], "bgnbd_recency": [2.0]}), "BG/NBD: missing column 'bgnbd_T'"),
    (
        "bgnbd",
        pl.DataFrame({"bgnbd_frequency": [1], "bgnbd_recency": [20.0], "bgnbd_T": [10.0]}),
        "BG/NBD: need 0 <= 'bgnbd_recency' <= 'bgnbd_T' on every row",
    ),
    (
        "bgnbd",
        pl.DataFrame({"bgnbd_frequency": [1.5], "bgnbd_recency": [2.0], "bgnbd_T": [10.0]}),
        "BG/NBD: 'bgnbd_frequency' must hold non-negative whole numbers",
    ),
    (
        "bgnbd",
        pl.DataFrame({"bgnbd_frequency": [None, 1], "bgnbd_recency": [2.0, 2.0], "bgnbd_T": [10.0, 10.0]}),
        "BG/NBD: column 'bgnbd_frequency' has 1 null or non-finite values",
    ),
    (
        "recency",
        pl.DataFrame({"days": [1, 2], "churned": [0, 1]}),
        "recency baseline: missing column 'days_since_last_purchase'",
    ),
    (
        "recency",
        pl.DataFrame({"days_since_last_purchase": [1, 2], "churned": [1, 1]}),
        "recency baseline: 'churned' needs both classes to fit",
    ),
]


@pytest.mark.parametrize(("which", "frame", "message"), BAD)
def test_bad_input_names_the_problem(which: str, frame: pl.DataFrame, message: str) -> None:
    model = BGNBD() if which == "bgnbd" else RecencyBaseline()
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(frame)


def test_bgnbd_horizon_must_be_positive() -> None:
    frame = pl.DataFrame({"bgnbd_frequency": [1], "bgnbd_recency": [2.0], "bgnbd_T": [10.0]})
    with pytest.raises(ValueError, match="horizon_days must be positive, got 0"):
        BGNBD.from_params(PARAMS).predict_proba(frame, 0)
