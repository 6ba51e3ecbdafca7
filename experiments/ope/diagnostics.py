"""How far a target policy strays from the logging policy, read from the importance weights.

The importance weight of round ``i`` is ``w_i = pi_target(a_i | x_i) / propensity_i``.
Under correct propensities its mean is about one; a few huge weights, or a low
effective sample size, mean the estimate rests on a handful of rounds.

Examples
--------
>>> import numpy as np
>>> weights = np.random.default_rng(0).choice([0.0, 3.0], size=1000, p=[2 / 3, 1 / 3])
>>> {name: round(value, 3) for name, value in weight_diagnostics(weights).items()}
{'effective_sample_size': 358.0, 'ess_ratio': 0.358, 'max_weight': 3.0, 'mean_weight': 1.074, 'match_rate': 0.358}
"""

from __future__ import annotations

import numpy as np

from policies.base import Feedback


def importance_weights(feedback: Feedback, target_probs: np.ndarray) -> np.ndarray:
    """``(n,)`` ratio of the target's probability of each logged action to its logged propensity.

    Parameters
    ----------
    feedback
        Logged rounds; ``chosen`` and ``propensities`` are read.
    target_probs
        ``(n, k)`` probabilities of the target policy, already validated.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((2, 2), dtype=bool),
    ...     chosen=np.array([0, 1]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.array([0.5, 0.25]),
    ... )
    >>> importance_weights(feedback, np.array([[1.0, 0.0], [0.5, 0.5]]))
    array([2., 2.])
    """
    rows = np.arange(feedback.n_rounds)
    return np.asarray(target_probs, dtype=float)[rows, feedback.chosen] / feedback.propensities


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``; zero when every weight is zero.

    Notes
    -----
    The weights are scaled by their maximum first, so that huge weights do not
    overflow when squared; the ratio does not change.

    Examples
    --------
    >>> import numpy as np
    >>> effective_sample_size(np.array([1.0, 1.0, 1.0, 1.0]))
    4.0
    >>> effective_sample_size(np.array([4.0, 0.0, 0.0, 0.0]))
    1.0
    """
    w = np.asarray(weights, dtype=float)
    top = float(w.max()) if w.size else 0.0
    if top <= 0:
        return 0.0
    scaled = w / top
    return float(scaled.sum() ** 2 / np.dot(scaled, scaled))


def ess_ratio(weights: np.ndarray) -> float:
    """Effective sample size as a share of the number of rounds (one when all weights are equal).

    Examples
    --------
    >>> import numpy as np
    >>> ess_ratio(np.array([2.0, 0.0, 2.0, 0.0]))
    0.5
    """
    w = np.asarray(weights, dtype=float)
    return effective_sample_size(w) / w.size if w.size else 0.0


def max_weight(weights: np.ndarray) -> float:
    """The largest importance weight: how much a single round can move the estimate.

    Examples
    --------
    >>> import numpy as np
    >>> max_weight(np.array([0.5, 4.0, 1.0]))
    4.0
    """
    w = np.asarray(weights, dtype=float)
    return float(w.max()) if w.size else 0.0


def mean_weight(weights: np.ndarray) -> float:
    """The mean importance weight; about one when the propensities are right and the target is covered.

    Examples
    --------
    >>> import numpy as np
    >>> mean_weight(np.array([0.0, 3.0, 0.0]))
    1.0
    """
    w = np.asarray(weights, dtype=float)
    return float(w.mean()) if w.size else 0.0


def match_rate(weights: np.ndarray) -> float:
    """Share of rounds where the target gives the logged action a positive probability.

    Examples
    --------
    >>> import numpy as np
    >>> match_rate(np.array([0.0, 3.0, 0.0, 1.5]))
    0.5
    """
    w = np.asarray(weights, dtype=float)
    return float(np.mean(w > 0)) if w.size else 0.0


def weight_diagnostics(weights: np.ndarray) -> dict[str, float]:
    """Every diagnostic above, by name, for an :class:`~experiments.ope.base.EstimatorResult`.

    Examples
    --------
    >>> import numpy as np
    >>> weight_diagnostics(np.ones(10))
    {'effective_sample_size': 10.0, 'ess_ratio': 1.0, 'max_weight': 1.0, 'mean_weight': 1.0, 'match_rate': 1.0}
    """
    w = np.asarray(weights, dtype=float)
    return {
        "effective_sample_size": effective_sample_size(w),
        "ess_ratio": ess_ratio(w),
        "max_weight": max_weight(w),
        "mean_weight": mean_weight(w),
        "match_rate": match_rate(w),
    }
