"""Resampling users: the clustered bootstrap behind every interval of the business report.

A user's moments, decisions and purchases are summed first (:mod:`experiments.business.users`), so resampling
users with replacement keeps each user's rows together: the interval reflects that one user's purchases are
not independent of each other.

Examples
--------
>>> import numpy as np
>>> values = np.array([[1.0, 10.0], [0.0, 0.0], [1.0, 30.0]])
>>> sums = resampled_sums(values, n_bootstrap=4, seed=0)
>>> sums.shape, bool(np.all(sums[:, 0] <= 3))
((4, 2), True)
"""

from __future__ import annotations

import numpy as np

from experiments.ope.resampling import ResamplePlan, Units


def resampled_sums(values: np.ndarray, n_bootstrap: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """Column sums of ``values`` over ``n_bootstrap`` resamples of its rows (users) with replacement.

    Parameters
    ----------
    values
        ``(n_users, k)`` per-user sums; ``nan`` propagates to the columns that hold it.
    n_bootstrap
        Number of resamples.
    seed
        Seed of the draws.

    Returns
    -------
    numpy.ndarray
        ``(n_bootstrap, k)``: row ``b`` is ``counts_b @ values``, where ``counts_b[i]`` is how many times user
        ``i`` was drawn in the ``b``-th resample of ``n_users`` draws.

    Notes
    -----
    The resampling is the off-policy package's one engine,
    :class:`experiments.ope.resampling.ResamplePlan`, over users and without blocks (the exact bootstrap):
    every column shares the same resamples, so ratios of columns (a conversion rate, an order value) and
    differences between slices are resampled consistently, and memory stays bounded whatever ``n_bootstrap``.

    Examples
    --------
    Every resample of one user is that user, drawn once:

    >>> resampled_sums(np.array([[2.0, 5.0]]), n_bootstrap=3, seed=1)
    array([[2., 5.],
           [2., 5.],
           [2., 5.]])
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"values must be a non-empty (n_users, k) array; got shape {values.shape}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer; got {n_bootstrap!r}")
    plan = ResamplePlan(Units.of(values.shape[0]), int(n_bootstrap), seed=seed, max_units=None)
    return plan.resampled_sums(values)


def percentile_interval(resamples: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``alpha / 2`` and ``1 - alpha / 2`` quantiles over axis 0, ignoring ``nan`` resamples.

    The quantiles are order statistics (``lower`` and ``higher``: no interpolation), so an unbounded resample
    (``inf``, a cost per incremental conversion where there was none) gives an unbounded end, not ``nan``; a
    column whose resamples are all ``nan`` gives ``nan``.

    Examples
    --------
    >>> low, high = percentile_interval(np.array([[1.0, 1.0], [2.0, np.inf], [3.0, np.nan]]), alpha=0.5)
    >>> low.tolist(), high.tolist()
    ([1.0, 1.0], [3.0, inf])
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    resamples = np.asarray(resamples, dtype=float)
    empty = np.isnan(resamples).all(axis=0)
    filled = np.where(empty, 0.0, resamples)  # nanquantile warns on an all-nan column
    low = np.nanquantile(filled, alpha / 2, axis=0, method="lower")
    high = np.nanquantile(filled, 1 - alpha / 2, axis=0, method="higher")
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)
