"""The one shared routine that turns per-round contributions into a value and an interval.

Every estimator's value is the mean of its per-round contributions; a
percentile bootstrap of that mean gives the interval and the standard error.

Examples
--------
>>> import numpy as np
>>> contributions = np.random.default_rng(0).normal(loc=1.0, size=500)
>>> result = summarise(contributions, n_bootstrap=500, seed=0)
>>> round(result.value, 3), round(result.ci_low, 3), round(result.ci_high, 3)
(0.973, 0.882, 1.067)
"""

from __future__ import annotations

import numpy as np

from experiments.ope.base import EstimatorResult

#: Resampled values held in memory at once (indices plus gathered values: about 64 MB).
CHUNK_ELEMENTS = 1 << 22


def bootstrap_interval(
    contributions: np.ndarray, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of the mean of ``contributions``.

    Parameters
    ----------
    contributions
        ``(n,)`` finite per-round contributions.
    alpha
        One minus the coverage: ``0.05`` gives a 95% interval.
    n_bootstrap
        Number of resamples.
    seed
        Seed of the generator that draws the resamples.

    Returns
    -------
    tuple[float, float, float]
        ``(low, high, std_error)``: the ``alpha / 2`` and ``1 - alpha / 2``
        quantiles of the resampled means, and their standard deviation.

    Notes
    -----
    Resamples are drawn in chunks of about ``CHUNK_ELEMENTS`` values, so memory
    stays bounded (about 64 MB, or ``16 n`` bytes when ``n`` is larger) whatever
    ``n_bootstrap`` is. The same ``seed`` and ``n`` give the same resample
    indices whatever the contributions, so estimates that share a seed share
    their resamples (common random numbers).

    Examples
    --------
    >>> import numpy as np
    >>> rewards = np.random.default_rng(1).binomial(1, 0.3, size=2000).astype(float)
    >>> low, high, std_error = bootstrap_interval(rewards, n_bootstrap=500, seed=0)
    >>> round(low, 3), round(high, 3), round(std_error, 4)
    (0.276, 0.316, 0.0101)
    """
    values = _check_contributions(contributions)
    _check_settings(alpha, n_bootstrap)
    means = _bootstrap_means(values, n_bootstrap, np.random.default_rng(seed))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    std_error = float(means.std(ddof=1)) if n_bootstrap > 1 else 0.0
    return float(low), float(high), std_error


def summarise(
    contributions: np.ndarray,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    estimator: str = "mean",
    diagnostics: dict[str, float] | None = None,
) -> EstimatorResult:
    """Value (the mean), bootstrap interval and standard error of per-round contributions.

    Parameters
    ----------
    contributions
        ``(n,)`` finite per-round contributions of an estimator.
    alpha, n_bootstrap, seed
        As in :func:`bootstrap_interval`.
    estimator
        The name recorded in the result.
    diagnostics
        Figures recorded beside the estimate (see :mod:`experiments.ope.diagnostics`).

    Examples
    --------
    >>> import numpy as np
    >>> result = summarise(np.array([1.0, 0.0, 1.0, 1.0]), n_bootstrap=200, estimator="ips")
    >>> result.estimator, result.value, result.ci_low, result.ci_high, round(result.std_error, 3)
    ('ips', 0.75, 0.25, 1.0, 0.222)
    """
    values = _check_contributions(contributions)
    low, high, std_error = bootstrap_interval(values, alpha, n_bootstrap, seed)
    return EstimatorResult(
        estimator=estimator,
        value=float(values.mean()),
        ci_low=low,
        ci_high=high,
        std_error=std_error,
        n_rounds=int(values.size),
        diagnostics=dict(diagnostics or {}),
    )


def paired_difference(
    contrib_a: np.ndarray, contrib_b: np.ndarray, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
) -> EstimatorResult:
    """Mean of ``contrib_a - contrib_b`` with a paired bootstrap interval (estimator ``"difference"``).

    Both arrays hold per-round contributions on the *same* rounds; resampling
    the rounds' differences keeps each pair together, so the interval reflects
    the correlation between the two. "A beats B" at level ``alpha`` iff
    ``ci_low > 0``.

    Examples
    --------
    A candidate scored by IPS against the reward the logging policy earned:

    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> logged = rng.binomial(1, 0.3, size=4000).astype(float)
    >>> candidate = logged + rng.normal(0.05, 0.5, size=4000)
    >>> lift = paired_difference(candidate, logged, n_bootstrap=500)
    >>> round(lift.value, 3), lift.ci_low > 0
    (0.049, True)
    """
    a, b = _check_contributions(contrib_a, "contrib_a"), _check_contributions(contrib_b, "contrib_b")
    if a.shape != b.shape:
        raise ValueError(f"contrib_a has shape {a.shape} but contrib_b has shape {b.shape}; pair them round by round")
    return summarise(a - b, alpha, n_bootstrap, seed, estimator="difference")


def _bootstrap_means(values: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    n = values.size
    per_chunk = max(1, CHUNK_ELEMENTS // n)
    means = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, per_chunk):
        stop = min(start + per_chunk, n_bootstrap)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def _check_contributions(contributions: np.ndarray, name: str = "contributions") -> np.ndarray:
    values = np.asarray(contributions, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} must be finite; round {int(bad[0])} has {float(values[bad[0]])!r} ({bad.size} bad round(s))"
        )
    return values


def _check_settings(alpha: float, n_bootstrap: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer; got {n_bootstrap!r}")
