"""Two churn baselines the churn model must beat: a logistic regression on recency, and the BG/NBD model.

Both read a :class:`features.churn.dataset.ChurnData` frame and give ``predict_proba(frame) -> P(churned)``:

- :class:`RecencyBaseline`: a logistic regression of ``churned`` on the days since the last purchase (and its
  ``log1p``), fitted on the training snapshot(s): what a careful analyst does in an afternoon.
- :class:`BGNBD`: the beta-geometric / negative binomial distribution model of Fader, Hardie & Lee (2005),
  fitted by maximum likelihood on the BG/NBD columns (frequency, recency, age) and asked for the probability of
  no purchase within the horizon. It reads no label: it is fitted on the purchase histories alone.

Examples
--------
>>> import numpy as np, polars as pl
>>> true = BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
>>> history = simulate_bgnbd(true, T=np.full(5000, 100.0), horizon_days=50, seed=0)
>>> model = BGNBD().fit(history)
>>> [round(v, 2) for v in model.params_]
[0.25, 4.19, 0.9, 2.88]
>>> p = model.predict_proba(history, horizon_days=50)
>>> round(float(p.mean()), 3), round(float((history["future_purchases"] == 0).mean()), 3)
(0.808, 0.805)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features.churn.columns import BGNBD_COLUMNS, LABEL

RECENCY = "days_since_last_purchase"


def _column(frame: pl.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise ValueError(f"{what}: missing column {name!r}")
    values = frame[name].cast(pl.Float64).to_numpy()
    if not np.isfinite(values).all():
        raise ValueError(f"{what}: column {name!r} has {int((~np.isfinite(values)).sum())} null or non-finite values")
    return values


class RecencyBaseline:
    """Logistic regression of ``churned`` on the days since the last purchase ``d``.

    Inputs ``d`` and ``log1p(d)``, standardised (scikit-learn's default L2 penalty, ``C=1``, is negligible at
    these sizes).

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> days = rng.integers(0, 365, 2000)
    >>> churned = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(days - 120) / 30))).astype(np.int8)
    >>> frame = pl.DataFrame({"days_since_last_purchase": days, "churned": churned})
    >>> baseline = RecencyBaseline().fit(frame)
    >>> baseline.predict_proba(pl.DataFrame({"days_since_last_purchase": [0, 120, 364]})).round(2).tolist()
    [0.01, 0.52, 1.0]
    """

    def __init__(self, column: str = RECENCY) -> None:
        self.column = column

    def _inputs(self, frame: pl.DataFrame) -> np.ndarray:
        days = _column(frame, self.column, "recency baseline")
        if (days < 0).any():
            raise ValueError(f"recency baseline: column {self.column!r} has negative values")
        return np.column_stack([days, np.log1p(days)])

    def fit(self, frame: pl.DataFrame) -> RecencyBaseline:
        """Fit on a frame with the recency column and ``churned``."""
        y = _column(frame, LABEL, "recency baseline")
        if len(np.unique(y)) < 2:
            raise ValueError(f"recency baseline: {LABEL!r} needs both classes to fit, got only {np.unique(y)}")
        self.model_: Pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(self._inputs(frame), y)
        return self

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """P(churned) for each row."""
        return np.asarray(self.model_.predict_proba(self._inputs(frame))[:, 1])


class BGNBDParams(NamedTuple):
    """BG/NBD parameters; time in days.

    Purchase rates λ ~ Gamma(shape ``r``, rate ``alpha``), dropout probabilities p ~ Beta(``a``, ``b``).
    """

    r: float
    alpha: float
    a: float
    b: float


def rfm_arrays(frame: pl.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return the BG/NBD inputs ``(x, t_x, T)`` of a frame (:data:`features.churn.dataset.BGNBD_COLUMNS`), checked."""
    x, t_x, T = (_column(frame, name, "BG/NBD") for name in BGNBD_COLUMNS)
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError(f"BG/NBD: {BGNBD_COLUMNS[0]!r} must hold non-negative whole numbers")
    if (t_x < 0).any() or (t_x > T).any():
        raise ValueError(f"BG/NBD: need 0 <= {BGNBD_COLUMNS[1]!r} <= {BGNBD_COLUMNS[2]!r} on every row")
    return x, t_x, T


def _log_terms(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per customer: the constant part of the log-likelihood and the two log terms of the mixture.

    The two terms: alive at ``T``; dropped out after the last purchase (``-inf`` when ``x = 0``).
    """
    r, alpha, a, b = params
    repeat = x > 0
    constant = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    b_before = np.where(repeat, b + x - 1, 1.0)  # b + x - 1 is only read where x > 0
    dropped = np.where(repeat, betaln(a + 1, b_before) - (r + x) * np.log(alpha + t_x), -np.inf)
    return constant, alive, dropped


def log_likelihood(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each customer's BG/NBD log-likelihood (see :class:`BGNBD`, Notes)."""
    constant, alive, dropped = _log_terms(params, x, t_x, T)
    return constant + np.logaddexp(alive, dropped)


def _gradient(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return the gradient d log-likelihood / d (log r, log alpha, log a, log b), one row per customer."""
    r, alpha, a, b = params
    _, alive, dropped = _log_terms(params, x, t_x, T)
    total = np.logaddexp(alive, dropped)
    w1, w2 = np.exp(alive - total), np.exp(dropped - total)  # posterior weights of the two terms
    psi_abx = digamma(a + b + x)
    psi_b_before = digamma(np.where(x > 0, b + x - 1, 1.0))
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a) + w1 * (digamma(a) - psi_abx) + w2 * (digamma(a + 1) - psi_abx)
    d_b = digamma(a + b) - digamma(b) + w1 * (digamma(b + x) - psi_abx) + w2 * (psi_b_before - psi_abx)
    return np.column_stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def probability_alive(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> NDArray[np.float64]:
    """P(alive at T | x, t_x, T)."""
    _, alive, dropped = _log_terms(params, x, t_x, T)
    return np.exp(alive - np.logaddexp(alive, dropped))


def probability_no_purchase(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64], t: float
) -> NDArray[np.float64]:
    """P(no purchase in (T, T + t] | x, t_x, T)."""
    r, alpha, _, _ = params
    buys_if_alive = -np.expm1(-(r + x) * np.log1p(t / (alpha + T)))  # 1 - ((α+T)/(α+T+t))^(r+x)
    return 1.0 - probability_alive(params, x, t_x, T) * buys_if_alive


def expected_purchases(
    params: BGNBDParams, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64], t: float
) -> NDArray[np.float64]:
    """E[purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10; undefined at ``a = 1``)."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    gauss = hyp2f1(r + x, b + x, a + b + x - 1, z)
    tail: NDArray[np.float64] = 1.0 - np.exp((r + x) * np.log((alpha + T) / (alpha + T + t))) * gauss
    return (a + b + x - 1) / (a - 1) * tail * probability_alive(params, x, t_x, T)


class BGNBD:
    r"""The BG/NBD model (Fader, Hardie & Lee 2005), fitted by maximum likelihood on ``(x, t_x, T)``.

    Parameters
    ----------
    tol
        Gradient tolerance of the optimiser (L-BFGS-B on the log-parameters, mean log-likelihood per customer).

    Notes
    -----
    While alive, a customer buys at rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` (a Poisson process);
    after each repeat purchase they drop out for good with probability :math:`p \sim \mathrm{Beta}(a, b)`.
    A customer's history up to age :math:`T` (days since the first purchase) is :math:`x` repeat purchases, the
    last at :math:`t_x`. Given :math:`\lambda, p`,

    .. math::
        L(\lambda, p) = \underbrace{(1-p)^x \lambda^x e^{-\lambda T}}_{\text{alive at } T}
        + \delta_{x>0}\, \underbrace{p (1-p)^{x-1} \lambda^x e^{-\lambda t_x}}_{\text{gone after } t_x},

    and integrating over the mixing distributions (FHL 2005, eq. 6)

    .. math::
        \ln L = \ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha - \ln B(a,b)
        + \ln\Big(\underbrace{\frac{B(a, b+x)}{(\alpha+T)^{r+x}}}_{A_1}
        + \delta_{x>0} \underbrace{\frac{B(a+1, b+x-1)}{(\alpha+t_x)^{r+x}}}_{A_2}\Big),

    computed with ``gammaln``, ``betaln`` and ``logaddexp``; the fit maximises the sum over customers (distinct
    ``(x, t_x, T)`` are weighted by their count) with the analytic gradient. :math:`P(\text{alive} \mid x,
    t_x, T) = A_1/(A_1+A_2)`.

    **No purchase within the horizon.** Zero purchases in :math:`(T, T+t]` happen if the customer is gone, or
    alive and the Poisson process stays silent for :math:`t`:

    .. math::
        L_0(\lambda, p) = (1-p)^x \lambda^x e^{-\lambda (T+t)} + \delta_{x>0}\, p(1-p)^{x-1}\lambda^x
        e^{-\lambda t_x}.

    Integrating, the first term becomes :math:`A_1 \left(\frac{\alpha+T}{\alpha+T+t}\right)^{r+x}` and the
    second stays :math:`A_2`, so, dividing by the marginal likelihood,

    .. math::
        P(Y(T, T+t] = 0 \mid x, t_x, T)
        = 1 - P(\text{alive} \mid x, t_x, T)\Big(1 - \big(\tfrac{\alpha+T}{\alpha+T+t}\big)^{r+x}\Big):

    given alive, :math:`\lambda` is :math:`\mathrm{Gamma}(r+x, \alpha+T)` a posteriori and
    :math:`E[e^{-\lambda t}] = ((\alpha+T)/(\alpha+T+t))^{r+x}`. lifetimes 0.11.3 has no conditional
    probability of :math:`n` purchases, so the tests check this against numerical integration of
    :math:`L_0` and :math:`L` over the priors and against a simulation of the process.

    Examples
    --------
    >>> import polars as pl
    >>> model = BGNBD.from_params(BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5))
    >>> frame = pl.DataFrame({"bgnbd_frequency": [0, 5, 5], "bgnbd_recency": [0.0, 20.0, 200.0],
    ...                       "bgnbd_T": [100.0, 210.0, 210.0]})
    >>> model.predict_proba(frame, horizon_days=60).round(3).tolist()  # one-timer; gone quiet; buying lately
    [0.892, 1.0, 0.372]
    >>> model.probability_alive(frame).round(3).tolist()
    [1.0, 0.0, 0.863]
    """

    def __init__(self, tol: float = 1e-9) -> None:
        self.tol = tol

    @classmethod
    def from_params(cls, params: BGNBDParams) -> BGNBD:
        """Build a model with the given parameters, not fitted."""
        model = cls()
        model.params_ = BGNBDParams(*(float(v) for v in params))
        return model

    def fit(self, frame: pl.DataFrame) -> BGNBD:
        """Fit by maximum likelihood on the BG/NBD columns of ``frame``.

        Sets ``params_``, ``log_likelihood_`` (the total over customers) and ``n_customers_``.
        """
        x, t_x, T = rfm_arrays(frame)
        if len(x) == 0:
            raise ValueError("BG/NBD: no rows to fit")
        patterns, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        px, pt_x, pT = patterns.T
        share = weights / weights.sum()

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = BGNBDParams(*np.exp(log_params))
            value = -float(share @ log_likelihood(params, px, pt_x, pT))
            return value, -(share @ _gradient(params, px, pt_x, pT))

        start = np.log([1.0, max(float(T.mean()), 1.0), 1.0, 1.0])
        result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"gtol": self.tol, "ftol": 0.0})
        if not np.isfinite(result.fun) or np.abs(result.jac).max() > 1e-5:
            raise RuntimeError(f"BG/NBD: the fit did not converge ({result.message}; gradient {result.jac})")
        self.params_ = BGNBDParams(*(float(v) for v in np.exp(result.x)))
        self.log_likelihood_ = float(weights @ log_likelihood(self.params_, px, pt_x, pT))
        self.n_customers_ = int(weights.sum())
        return self

    def probability_alive(self, frame: pl.DataFrame) -> np.ndarray:
        """P(alive at T | x, t_x, T) per row."""
        return probability_alive(self.params_, *rfm_arrays(frame))

    def expected_purchases(self, frame: pl.DataFrame, t: float) -> np.ndarray:
        """Return the expected purchases in the next ``t`` days per row."""
        return expected_purchases(self.params_, *rfm_arrays(frame), t)

    def predict_proba(self, frame: pl.DataFrame, horizon_days: float) -> np.ndarray:
        """P(no purchase in the next ``horizon_days``) per row: the BG/NBD probability of churn."""
        if horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive, got {horizon_days}")
        return probability_no_purchase(self.params_, *rfm_arrays(frame), horizon_days)


def simulate_bgnbd(params: BGNBDParams, T: np.ndarray, horizon_days: float, seed: int) -> pl.DataFrame:
    """Simulate the BG/NBD process for customers of ages ``T`` (days since their first purchase).

    Returns the BG/NBD columns up to ``T`` and ``future_purchases`` in ``(T, T + horizon_days]``.

    Each customer draws λ and p from the mixing distributions and buys at the times of a Poisson process of
    rate λ, dropping out after each repeat purchase with probability p.

    >>> simulate_bgnbd(BGNBDParams(0.25, 4.0, 0.8, 2.5), T=np.full(3, 100.0), horizon_days=30, seed=1).shape
    (3, 4)
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype=float)
    n = len(T)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    x, t_x, future = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=np.int64)
    now, active = np.zeros(n), np.arange(n)
    while active.size:
        now[active] += rng.exponential(1.0, active.size) / np.maximum(rate[active], 1e-300)
        active = active[now[active] <= T[active] + horizon_days]
        seen = now[active] <= T[active]
        x[active[seen]] += 1
        t_x[active[seen]] = now[active[seen]]
        future[active[~seen]] += 1
        active = active[rng.uniform(size=active.size) >= drop[active]]
    return pl.DataFrame({"bgnbd_frequency": x, "bgnbd_recency": t_x, "bgnbd_T": T, "future_purchases": future})
