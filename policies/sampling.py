"""From a policy's probabilities to its actions: the exploration floor every policy shares, and the draw.

Examples
--------
>>> import numpy as np
>>> probs = with_floor(np.array([[1.0, 0.0, 0.0]]), np.ones((1, 3), dtype=bool), 0.05)
>>> probs.round(2).tolist(), sample_actions(probs, np.random.default_rng(0))[0].tolist()
([[0.9, 0.05, 0.05]], [0])
"""

from __future__ import annotations

import numpy as np


def with_floor(probs: np.ndarray, eligible: np.ndarray, floor: float) -> np.ndarray:
    """Mix each row of ``probs`` with the uniform one over its eligible actions so that each gets at least ``floor``.

    A row with ``m`` eligible actions and ``m * floor > 1`` becomes uniform; see :class:`BasePolicy`'s Notes.

    Examples
    --------
    >>> with_floor(np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[1, 1, 1], [1, 1, 0]], bool), 0.1)
    array([[0.8, 0.1, 0.1],
           [0.9, 0.1, 0. ]])
    """
    if floor <= 0:
        return probs
    n_eligible = eligible.sum(axis=1, keepdims=True)
    kept = np.minimum(floor, 1.0 / np.maximum(n_eligible, 1))
    return np.where(eligible, (1.0 - n_eligible * kept) * probs + kept, 0.0)


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one column per row of ``probs``; return ``(indices, their probabilities)``.

    Examples
    --------
    >>> import numpy as np
    >>> sample_actions(np.array([[0.0, 1.0], [1.0, 0.0]]), np.random.default_rng(0))
    (array([1, 0]), array([1., 1.]))
    """
    probs = np.asarray(probs, dtype=float)
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((probs.shape[0], 1)) * cumulative[:, -1:]
    chosen = (draws >= cumulative).sum(axis=1)
    chosen = np.minimum(chosen, probs.shape[1] - 1)
    # never land on a zero-probability column through rounding
    zero = probs[np.arange(len(chosen)), chosen] <= 0
    if zero.any():
        chosen[zero] = probs[zero].argmax(axis=1)
    return chosen, probs[np.arange(len(chosen)), chosen]
