"""How good a churn score is: its ranking and its calibration.

Ranking: ROC AUC, PR AUC, lift in the top decile; calibration: Brier score and a reliability table.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(size=5000)
>>> y = (rng.uniform(size=5000) < p).astype(int)  # calibrated by construction
>>> {name: round(value, 3) for name, value in churn_metrics(y, p).items()}
{'auc': 0.836, 'pr_auc': 0.834, 'brier': 0.165, 'lift_top_decile': 1.958, 'base_rate': 0.491, 'n': 5000}
>>> calibration_table(y, p, bins=4)
shape: (4, 4)
┌─────┬────────────────┬───────────────┬───────┐
│ bin ┆ mean_predicted ┆ observed_rate ┆ count │
│ --- ┆ ---            ┆ ---           ┆ ---   │
│ i64 ┆ f64            ┆ f64           ┆ u32   │
╞═════╪════════════════╪═══════════════╪═══════╡
│ 0   ┆ 0.123887       ┆ 0.122257      ┆ 1276  │
│ 1   ┆ 0.376448       ┆ 0.363119      ┆ 1231  │
│ 2   ┆ 0.62341        ┆ 0.611611      ┆ 1223  │
│ 3   ┆ 0.873432       ┆ 0.870079      ┆ 1270  │
└─────┴────────────────┴───────────────┴───────┘
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

TOP_SHARE = 0.1


def _check(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    q = np.asarray(p, dtype=float).ravel()
    if y.shape != q.shape:
        raise ValueError(f"y_true has {y.size} values but p has {q.size}")
    if y.size == 0:
        raise ValueError("no rows to score")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(q).all() or (q < 0).any() or (q > 1).any():
        raise ValueError("p must hold probabilities in [0, 1] (no NaN)")
    return y, q


def lift_top_decile(y_true: ArrayLike, p: ArrayLike) -> float:
    """Return the churn rate among the top 10% by score divided by the overall churn rate.

    The top 10% is ``ceil(n / 10)`` rows, ties broken by row order.

    >>> lift_top_decile([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0.9, 0.1, 0.2, 0.1, 0.1, 0.3, 0.2, 0.1, 0.1, 0.5])
    5.0
    """
    y, q = _check(y_true, p)
    base = y.mean()
    if base == 0:
        raise ValueError("lift is undefined without any churner (base rate 0)")
    top = np.argsort(-q, kind="stable")[: math.ceil(TOP_SHARE * y.size)]
    return float(y[top].mean() / base)


def churn_metrics(y_true: ArrayLike, p: ArrayLike) -> dict[str, float]:
    r"""ROC AUC, PR AUC (average precision), Brier score and top-decile lift of the scores ``p``.

    The scores are judged against the 0/1 labels ``y_true`` (1 = churned); the base rate and the number of
    rows come with them.

    Notes
    -----
    ``brier`` :math:`= \frac1n\sum_i (p_i - y_i)^2`; ``pr_auc`` is scikit-learn's average precision
    :math:`\sum_k (R_k - R_{k-1}) P_k`; ``lift_top_decile`` is :func:`lift_top_decile`.
    """
    y, q = _check(y_true, p)
    if np.unique(y).size < 2:
        raise ValueError("y_true holds one class only: AUC is undefined")
    return {
        "auc": float(roc_auc_score(y, q)),
        "pr_auc": float(average_precision_score(y, q)),
        "brier": float(brier_score_loss(y, q)),
        "lift_top_decile": lift_top_decile(y, q),
        "base_rate": float(y.mean()),
        "n": int(y.size),
    }


def calibration_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> pl.DataFrame:
    """Build the reliability table of ``bins`` equal-width bins of the predicted probability on [0, 1].

    The last bin is closed; each non-empty bin has its ``mean_predicted``, ``observed_rate`` and ``count``.

    >>> calibration_table([0, 1, 1, 0], [0.1, 0.2, 0.8, 0.9], bins=2)["observed_rate"].to_list()
    [0.5, 0.5]
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    labels, q = _check(y, p)
    which = np.minimum((q * bins).astype(np.int64), bins - 1)
    return (
        pl.DataFrame({"bin": which, "p": q, "y": labels})
        .group_by("bin")
        .agg(mean_predicted=pl.col("p").mean(), observed_rate=pl.col("y").mean(), count=pl.len())
        .sort("bin")
    )
