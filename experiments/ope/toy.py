"""A four-round log small enough to compute every estimator by hand; the estimators' examples use it.

Examples
--------
>>> log = toy_log()
>>> log.feedback.n_rounds, log.weights.tolist()
(4, [0.0, 4.0, 2.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from policies.base import Feedback


@dataclass(frozen=True, eq=False)  # arrays: equality would be ambiguous
class ToyLog:
    """A logged feedback, a target policy on it, a reward model, and the importance weights they imply."""

    feedback: Feedback
    target_probs: np.ndarray
    q_hat: np.ndarray
    weights: np.ndarray


def toy_log() -> ToyLog:
    """Four rounds, two actions ``a`` and ``b``; the target always takes ``b``.

    ======  ======  ======  ==========  ======  =================  ========================
    round   chosen  reward  propensity  weight  ``q_hat`` (a, b)   ``r - q_hat(chosen)``
    ======  ======  ======  ==========  ======  =================  ========================
    0       a       1.0     0.5         0       (0.8, 0.4)         0.2
    1       b       0.0     0.25        4       (0.8, 0.4)         -0.4
    2       b       1.0     0.5         2       (0.8, 0.4)         0.6
    3       a       0.5     0.5         0       (0.8, 0.4)         -0.3
    ======  ======  ======  ==========  ======  =================  ========================

    The weight is ``1 / propensity`` where ``b`` was logged and zero elsewhere;
    the model's value of the target is 0.4 in every round.

    Examples
    --------
    >>> toy_log().feedback.rewards
    array([1. , 0. , 1. , 0.5])
    """
    feedback = Feedback(
        contexts=pl.DataFrame({"x": [0, 1, 2, 3]}),
        actions=("a", "b"),
        eligible=np.ones((4, 2), dtype=bool),
        chosen=np.array([0, 1, 1, 0]),
        rewards=np.array([1.0, 0.0, 1.0, 0.5]),
        propensities=np.array([0.5, 0.25, 0.5, 0.5]),
    )
    return ToyLog(
        feedback=feedback,
        target_probs=np.tile([0.0, 1.0], (4, 1)),
        q_hat=np.tile([0.8, 0.4], (4, 1)),
        weights=np.array([0.0, 4.0, 2.0, 0.0]),
    )
