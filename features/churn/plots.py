"""Plots a data scientist looks at for a churn model: reliability (calibration), lift by decile, importance.

Each returns a matplotlib ``Figure`` (closed, so nothing is shown twice), for notebooks and ``mlflow.log_figure``.
The backend is left to the caller (matplotlib picks Agg without a display; a notebook keeps its inline one).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(size=500)
>>> y = (rng.uniform(size=500) < p).astype(int)
>>> fig = calibration_plot(y, {"model": p, "constant": np.full(500, y.mean())})
>>> [a.get_title() for a in fig.axes]
['Calibration on the test snapshot']
>>> lift_plot(y, {"model": p}).axes[0].get_xlabel()
'decile by predicted risk (1 = riskiest)'
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure


def _bins(y: np.ndarray, p: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, bins)
    return np.array([p[i].mean() for i in parts if len(i)]), np.array([y[i].mean() for i in parts if len(i)])


def calibration_plot(y: np.ndarray, scores: Mapping[str, np.ndarray], bins: int = 10) -> Figure:
    """Observed churn rate against mean predicted probability, in equal-count bins, one line per scorer."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in scores.items():
        predicted, observed = _bins(np.asarray(y), np.asarray(p), bins)
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set(xlabel="mean predicted churn probability", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Calibration on the test snapshot")
    ax.legend(loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def lift_plot(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Churn rate per decile of predicted risk over the base rate, one bar group per scorer."""
    y = np.asarray(y)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(scores), 1)
    for k, (name, p) in enumerate(scores.items()):
        order = np.argsort(-np.asarray(p), kind="stable")
        lifts = [y[i].mean() / y.mean() for i in np.array_split(order, 10)]
        ax.bar(np.arange(1, 11) + (k - (len(scores) - 1) / 2) * width, lifts, width=width, label=name)
    ax.axhline(1.0, color="grey", linestyle=":")
    ax.set(xlabel="decile by predicted risk (1 = riskiest)", ylabel="churn rate / base rate", xticks=range(1, 11))
    ax.set_title("Lift by decile")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


def importance_plot(importance: pl.DataFrame, top: int = 20) -> Figure:
    """Return the ``top`` features by gain (``feature, gain`` as :meth:`ChurnModel.importance` gives)."""
    head = importance.head(top).reverse()
    fig, ax = plt.subplots(figsize=(6, 0.3 * head.height + 1))
    ax.barh(head["feature"].to_list(), head["gain"].to_list())
    ax.set(xlabel="total gain", title=f"Top {head.height} features")
    fig.tight_layout()
    plt.close(fig)
    return fig
