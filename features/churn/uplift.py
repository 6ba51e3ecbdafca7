r"""Uplift: whom a retention offer changes, not just who is at risk.

Meta-learners on LightGBM trained on a randomised experiment, their evaluation against a known truth, and the uplift
(Qini) curves.

- :class:`TwoModelUplift` (alias :data:`TLearner`): one outcome model per arm, uplift = their difference.
- :class:`XLearner` (Künzel, Sekhon, Bickel and Yu 2019, PNAS 116(10)): the two outcome models, then imputed
  individual effects regressed per arm, combined with the propensity.
- :func:`targeting_table`: incremental retention per 1,000 customers when the top :math:`k` share is targeted
  by each score, by chance and by the true uplift (the optimum), from the true individual effects.

Examples
--------
>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> n = 4000
>>> x = rng.uniform(-1, 1, (n, 2))
>>> tau = np.where(x[:, 0] > 0, 0.3, 0.0)  # only half the customers respond
>>> p0 = 1 / (1 + np.exp(-2 * x[:, 1]))
>>> treated = rng.random(n) < 0.5
>>> returned = rng.random(n) < np.clip(p0 + treated * tau, 0, 1)
>>> frame = pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "treated": treated.astype(int), "returned": returned})
>>> model = XLearner(UpliftParams(seed=1)).fit(frame, ["a", "b"])
>>> uplift = model.predict_uplift(frame)
>>> bool(uplift[tau > 0].mean() - uplift[tau == 0].mean() > 0.15)
True
>>> table = targeting_table(tau, {"x_learner": uplift}, shares=(0.2, 0.5))
>>> table.columns
['k', 'x_learner', 'random', 'optimum']
>>> table["optimum"].round(6).to_list()
[60.0, 150.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The shares of customers targeted in the evaluation.
SHARES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
PER = 1000.0


@dataclass(frozen=True)
class UpliftParams:
    """LightGBM settings of every model a meta-learner fits.

    Small, regularised trees (as :class:`features.churn.model.ChurnParams`, with smaller leaves: each arm holds
    a few thousand rows), early stopping on a seeded ``valid_share`` of the training rows, one thread.
    """

    num_leaves: int = 7
    learning_rate: float = 0.05
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 10.0
    n_estimators: int = 400
    early_stopping_rounds: int = 30
    valid_share: float = 0.2
    seed: int = 0
    num_threads: int = 1

    def lightgbm(self, objective: Literal["binary", "regression"], seed: int) -> dict[str, Any]:
        """Return the parameters as ``lightgbm.train`` takes them, for one model seeded with ``seed``."""
        params = asdict(self)
        for key in ("n_estimators", "early_stopping_rounds", "valid_share"):
            params.pop(key)
        params["seed"] = seed
        return {"objective": objective, "verbosity": -1, "deterministic": True, "force_row_wise": True, **params}


@dataclass(frozen=True)
class _Fitted:
    booster: lgb.Booster
    best_iteration: int
    objective: str

    def predict(self, x: np.ndarray) -> NDArray[np.float64]:
        return np.asarray(self.booster.predict(x, num_iteration=self.best_iteration), dtype=np.float64)


def _fit(
    x: np.ndarray, y: np.ndarray, objective: Literal["binary", "regression"], params: UpliftParams, seed: int
) -> _Fitted:
    """One booster, stopped early on a seeded random ``valid_share`` of the rows."""
    if len(y) < 10:
        raise ValueError(f"uplift: an arm has {len(y)} rows; at least 10 are needed to fit a model")
    rng = np.random.default_rng(seed)
    valid = rng.random(len(y)) < params.valid_share
    train_set = lgb.Dataset(x[~valid], y[~valid])
    valid_set = lgb.Dataset(x[valid], y[valid], reference=train_set)
    booster = lgb.train(
        params.lightgbm(objective, int(rng.integers(2**31))),
        train_set,
        num_boost_round=params.n_estimators,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    return _Fitted(booster, booster.best_iteration or booster.current_iteration(), objective)


def _arms(frame: pl.DataFrame, columns: Sequence[str], treatment: str, outcome: str) -> tuple[np.ndarray, ...]:
    for column in (*columns, treatment, outcome):
        if column not in frame.columns:
            raise ValueError(f"uplift: missing column {column!r}")
    t = frame[treatment].cast(pl.Int8).to_numpy()
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"uplift: {treatment!r} must hold only 0 and 1")
    x = frame.select(pl.col(list(columns)).cast(pl.Float32)).to_numpy()
    y = frame[outcome].cast(pl.Float64).to_numpy()
    return x, y, t.astype(bool)


class TwoModelUplift:
    r"""The two-model (T-) learner: :math:`\hat\tau(x) = \hat\mu_1(x) - \hat\mu_0(x)`.

    Notes
    -----
    :math:`\hat\mu_a(x) \approx P(Y = 1 \mid X = x, T = a)`, a LightGBM classifier fitted on arm :math:`a`'s rows
    only. Randomisation makes each arm a sample of the same population, so the difference estimates the
    conditional average treatment effect; its error is the sum of both models' errors, large where an arm is
    thin or the outcome models regularise differently.

    Learned state ends in ``_``: ``feature_columns_``, ``control_model_``, ``treated_model_``.
    """

    def __init__(self, params: UpliftParams | None = None, treatment: str = "treated", outcome: str = "returned"):
        self.params = params or UpliftParams()
        self.treatment = treatment
        self.outcome = outcome

    def _outcome_models(self, frame: pl.DataFrame, feature_columns: Sequence[str]) -> tuple[np.ndarray, ...]:
        self.feature_columns_ = list(feature_columns)
        x, y, t = _arms(frame, self.feature_columns_, self.treatment, self.outcome)
        seeds = np.random.default_rng(self.params.seed).integers(2**31, size=4)
        self.control_model_ = _fit(x[~t], y[~t], "binary", self.params, int(seeds[0]))
        self.treated_model_ = _fit(x[t], y[t], "binary", self.params, int(seeds[1]))
        return x, y, t, seeds

    def fit(self, frame: pl.DataFrame, feature_columns: Sequence[str]) -> TwoModelUplift:
        """Fit both outcome models on ``frame`` (a randomised experiment)."""
        self._outcome_models(frame, feature_columns)
        return self

    def _x(self, frame: pl.DataFrame) -> np.ndarray:
        if not hasattr(self, "feature_columns_"):
            raise ValueError("uplift: the model is not fitted; call fit first")
        missing = [c for c in self.feature_columns_ if c not in frame.columns]
        if missing:
            raise ValueError(f"uplift: missing column {missing[0]!r}")
        return frame.select(pl.col(self.feature_columns_).cast(pl.Float32)).to_numpy()

    def predict_uplift(self, frame: pl.DataFrame) -> np.ndarray:
        """Return the estimated effect of treatment on P(outcome), one per row."""
        x = self._x(frame)
        return self.treated_model_.predict(x) - self.control_model_.predict(x)


#: Short alias.
TLearner = TwoModelUplift


class XLearner(TwoModelUplift):
    r"""The X-learner of Künzel et al. (2019), with the experiment's known propensity.

    Notes
    -----
    1. Outcome models :math:`\hat\mu_0, \hat\mu_1` as in :class:`TwoModelUplift`.
    2. Imputed individual effects: for treated rows :math:`D^1_i = Y_i - \hat\mu_0(X_i)`, for control rows
       :math:`D^0_i = \hat\mu_1(X_i) - Y_i`.
    3. Effect models: :math:`\hat\tau_1` regresses :math:`D^1` on :math:`X` over the treated rows,
       :math:`\hat\tau_0` regresses :math:`D^0` over the control rows (LightGBM, squared error).
    4. :math:`\hat\tau(x) = g(x)\,\hat\tau_0(x) + (1 - g(x))\,\hat\tau_1(x)` with :math:`g = e`, the propensity:
       known by design (``propensity``, 1/2 here), so the two estimates are simply averaged.

    Each effect model borrows the other arm's outcome model, so an effect that is simpler than the outcomes
    (zero for most customers) is learned directly rather than as a difference of two noisy fits.
    """

    def __init__(
        self,
        params: UpliftParams | None = None,
        treatment: str = "treated",
        outcome: str = "returned",
        propensity: float = 0.5,
    ):
        super().__init__(params, treatment, outcome)
        if not 0.0 < propensity < 1.0:
            raise ValueError(f"uplift: propensity must lie strictly between 0 and 1, got {propensity}")
        self.propensity = propensity

    def fit(self, frame: pl.DataFrame, feature_columns: Sequence[str]) -> XLearner:
        """Fit the outcome models, then the two effect models on the imputed effects."""
        x, y, t, seeds = self._outcome_models(frame, feature_columns)
        imputed_treated = y[t] - self.control_model_.predict(x[t])
        imputed_control = self.treated_model_.predict(x[~t]) - y[~t]
        self.effect_treated_ = _fit(x[t], imputed_treated, "regression", self.params, int(seeds[2]))
        self.effect_control_ = _fit(x[~t], imputed_control, "regression", self.params, int(seeds[3]))
        return self

    def predict_uplift(self, frame: pl.DataFrame) -> np.ndarray:
        """Return the estimated effect of treatment on P(outcome): the two effect models weighted by the propensity."""
        x = self._x(frame)
        g = self.propensity
        return g * self.effect_control_.predict(x) + (1.0 - g) * self.effect_treated_.predict(x)


# --- evaluation against the truth -------------------------------------------------------------------------------
def _top(score: np.ndarray, share: float) -> np.ndarray:
    """Return the indices of the top ``ceil(share * n)`` rows by score (ties by row order)."""
    return np.argsort(-np.asarray(score, dtype=float), kind="stable")[: math.ceil(share * len(score))]


def incremental_retention(true_uplift: np.ndarray, score: np.ndarray, share: float, per: float = PER) -> float:
    r"""Return the customers retained thanks to targeting the top ``share`` by ``score``, per ``per`` customers.

    That is :math:`\frac{\text{per}}{n}\sum_{i \in \text{top}} (p_{1i} - p_{0i})`.

    >>> incremental_retention(np.array([0.0, 0.5, 0.1, 0.0]), np.array([4, 3, 2, 1]), share=0.5)
    125.0
    """
    tau = np.asarray(true_uplift, dtype=float)
    if tau.shape != np.shape(score):
        raise ValueError(f"true_uplift has {tau.size} values but score has {np.size(score)}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must lie in (0, 1], got {share}")
    return float(tau[_top(score, share)].sum() * per / len(tau))


def targeting_table(
    true_uplift: np.ndarray, scores: Mapping[str, np.ndarray], shares: Sequence[float] = SHARES, per: float = PER
) -> pl.DataFrame:
    """Incremental retention per ``per`` customers for each share ``k`` targeted.

    Targeted by each score (higher first), at random (its expectation, ``k`` times the total), and by the true
    uplift itself (``optimum``).
    """
    tau = np.asarray(true_uplift, dtype=float)
    rows: dict[str, list[float]] = {"k": list(shares)}
    for name, score in scores.items():
        rows[name] = [incremental_retention(tau, score, k, per) for k in shares]
    rows["random"] = [k * tau.sum() * per / len(tau) for k in shares]
    rows["optimum"] = [incremental_retention(tau, tau, k, per) for k in shares]
    return pl.DataFrame(rows)


def uplift_curve(true_uplift: np.ndarray, score: np.ndarray, per: float = PER) -> tuple[np.ndarray, np.ndarray]:
    """Return the true uplift curve: share targeted against cumulative incremental retention.

    The share targeted goes from 0 to 1, by ``score``; the retention is per ``per`` customers.

    >>> shares, gain = uplift_curve(np.array([0.0, 0.2]), np.array([0.0, 1.0]))
    >>> shares.tolist(), gain.tolist()
    ([0.0, 0.5, 1.0], [0.0, 100.0, 100.0])
    """
    tau = np.asarray(true_uplift, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(tau[order])]) * per / len(tau)
    return np.linspace(0.0, 1.0, len(tau) + 1), gain


def qini_curve(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Return the observed Qini curve of an experiment (no truth needed).

    At each share :math:`\phi` targeted by ``score``, :math:`Q(\phi) = Y_1(\phi) - Y_0(\phi) N_1(\phi) / N_0(\phi)`,
    extra returns among the targeted (:math:`Y_a`, :math:`N_a`: returns and rows of arm :math:`a` in the top
    :math:`\phi`), per row of the data.

    >>> shares, q = qini_curve(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 0, 1, 0]), np.array([1, 0, 0, 0]))
    >>> q.round(2).tolist()
    [0.0, 0.25, 0.25, 0.25, 0.25]
    """
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(outcome, dtype=float)[order]
    y1, y0 = np.cumsum(y * t), np.cumsum(y * ~t)
    n1, n0 = np.cumsum(t), np.cumsum(~t)
    q = y1 - y0 * np.divide(n1, n0, out=np.zeros(len(t)), where=n0 > 0)
    return np.linspace(0.0, 1.0, len(t) + 1), np.concatenate([[0.0], q]) / len(t)


def uplift_curve_plot(true_uplift: np.ndarray, scores: Mapping[str, np.ndarray], per: float = PER) -> Figure:
    """Plot the true uplift curves of each score, with the random line and the optimum (by the true uplift).

    >>> fig = uplift_curve_plot(np.array([0.0, 0.3, 0.1]), {"model": np.array([0.1, 0.2, 0.3])})
    >>> fig.axes[0].get_xlabel(), len(fig.axes[0].lines)
    ('share of customers targeted', 3)
    """
    import matplotlib.pyplot as plt  # the backend is the caller's (Agg without a display, inline in a notebook)

    tau = np.asarray(true_uplift, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    total = tau.sum() * per / len(tau)
    ax.plot([0, 1], [0, total], color="grey", linestyle=":", label="random")
    for name, score in scores.items():
        ax.plot(*uplift_curve(tau, score, per), label=name)
    ax.plot(*uplift_curve(tau, tau, per), color="black", linestyle="--", label="optimum (true uplift)")
    ax.set_xlabel("share of customers targeted")
    ax.set_ylabel(f"incremental returns per {per:,.0f} customers")
    ax.set_title("Uplift curve against the simulator's truth")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
