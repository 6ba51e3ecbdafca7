"""Checks of a target policy's probabilities and of a reward model's predictions against the logged rounds.

Both checks take one pass of numpy reductions over the ``(n, k)`` array on the
happy path; only when a reduction says something is wrong do they look for the
first bad row, to name it.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": [0, 1]}),
...     actions=("a", "b"),
...     eligible=np.ones((2, 2), dtype=bool),
...     chosen=np.array([0, 1]),
...     rewards=np.array([1.0, 0.0]),
...     propensities=np.full(2, 0.5),
... )
>>> check_target_probs(feedback, np.array([[1.0, 0.0], [0.5, 0.6]]))
Traceback (most recent call last):
...
ValueError: target_probs rows must sum to 1 (within 1e-06); row 1 sums to 1.1 (1 bad row(s))
"""

from __future__ import annotations

import numpy as np

from experiments.ope.threads import one_blas_thread
from policies.base import Feedback

#: How far a row of target probabilities may sum from one.
ROW_SUM_TOLERANCE = 1e-6


def check_target_probs(feedback: Feedback, target_probs: np.ndarray) -> np.ndarray:
    """Return ``target_probs`` as a float array after checking it against ``feedback``.

    It must have shape ``(n, k)`` (rounds, actions), be finite, be non-negative
    and have rows summing to one within ``ROW_SUM_TOLERANCE`` (so no entry
    exceeds one by more than that). A float64 array is returned as it is, not copied.

    Notes
    -----
    On valid input the cost is one minimum and one row sum over the ``(n, k)``
    array: the minimum is NaN if any entry is, and a row sum is off if any
    entry is infinite, so finiteness needs no pass of its own. Only when a check
    fails are the entries searched for the first bad row.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((2, 2), dtype=bool),
    ...     chosen=np.array([0, 1]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.full(2, 0.5),
    ... )
    >>> probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    >>> check_target_probs(feedback, probs) is probs
    True
    >>> check_target_probs(feedback, np.array([[1.0, 0.0], [np.nan, 1.0]]))
    Traceback (most recent call last):
    ...
    ValueError: target_probs must be finite; row 1 has nan for action 'a' (1 bad row(s))
    """
    probs = np.asarray(target_probs, dtype=float)
    n, k = feedback.n_rounds, len(feedback.actions)
    if probs.shape != (n, k):
        raise ValueError(f"target_probs has shape {probs.shape}, expected ({n}, {k}) (rounds, actions)")
    if probs.size == 0:
        return probs
    sums = row_sums(probs)
    # False if any entry is NaN or negative, or any row's sum is off (an infinite entry included); when it
    # holds, no entry exceeds 1 + ROW_SUM_TOLERANCE, so the maximum needs no pass of its own
    if probs.min() >= 0 and sums.min() >= 1 - ROW_SUM_TOLERANCE and sums.max() <= 1 + ROW_SUM_TOLERANCE:
        return probs
    first_bad_entry(~np.isfinite(probs), probs, feedback.actions, "target_probs must be finite")
    first_bad_entry((probs < 0) | (probs > 1), probs, feedback.actions, "target_probs must lie in [0, 1]")
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    raise ValueError(
        f"target_probs rows must sum to 1 (within {ROW_SUM_TOLERANCE:g}); "
        f"row {int(bad[0])} sums to {float(sums[bad[0]])!r} ({bad.size} bad row(s))"
    )


def check_q_hat(name: str, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None) -> np.ndarray:
    """``q_hat`` as a float array, checked; zeros replace entries the target never uses (probability zero).

    ``q_hat`` may be missing (NaN) where the target's probability is zero, e.g.
    on ineligible actions; it is copied only then.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((2, 2), dtype=bool),
    ...     chosen=np.array([0, 1]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.full(2, 0.5),
    ... )
    >>> check_q_hat("dm", feedback, np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.5, np.nan], [0.2, np.nan]]))
    array([[0.5, 0. ],
           [0.2, 0. ]])
    """
    if q_hat is None:
        raise ValueError(f"{name} needs q_hat, the (n, k) estimated expected reward of every action; got None")
    q = np.asarray(q_hat, dtype=float)
    n, k = feedback.n_rounds, len(feedback.actions)
    if q.shape != (n, k):
        raise ValueError(f"q_hat has shape {q.shape}, expected ({n}, {k}) (rounds, actions)")
    if np.isfinite(q.sum()):
        return q
    used = target_probs > 0
    first_bad_entry(
        used & ~np.isfinite(q), q, feedback.actions, "q_hat must be finite where the target's probability is positive"
    )
    return np.where(used, q, 0.0)


def row_sums(values: np.ndarray) -> np.ndarray:
    """``(n,)`` sums of the rows of an ``(n, k)`` array, fast for few columns as for many.

    Examples
    --------
    >>> import numpy as np
    >>> row_sums(np.array([[0.25, 0.75], [1.0, 2.0]]))
    array([1., 3.])
    """
    if values.shape[1] > 16:
        sums: np.ndarray = np.einsum("ij->i", values)
        return sums
    with one_blas_thread():  # a product with ones reads each row once; numpy's sum(axis=1) is slow on short rows
        return values @ np.ones(values.shape[1])


def first_bad_entry(mask: np.ndarray, values: np.ndarray, actions: tuple[str, ...], what: str) -> None:
    """Raise ``ValueError`` naming the first row (and action) where ``mask`` is set; return if it is nowhere."""
    bad_rows = np.flatnonzero(mask.any(axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        column = int(np.flatnonzero(mask[row])[0])
        raise ValueError(
            f"{what}; row {row} has {float(values[row, column])!r} for action {actions[column]!r} "
            f"({bad_rows.size} bad row(s))"
        )
