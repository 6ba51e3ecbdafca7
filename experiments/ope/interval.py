"""The one shared routine that turns per-round terms into a value, an interval and a standard error.

Every estimator's value is a whole statistic of its :class:`~experiments.ope.records.RoundTerms`
(a ratio of sums, plus a plain mean for SNDR). The percentile bootstrap
recomputes that whole statistic on each resample, numerator and denominator
drawn together; the resampling unit is the round, or the cluster (the user)
when ``clusters`` are given. The normal approximation uses the delta method
over the same units instead. Resamples come from one
:class:`~experiments.ope.resampling.ResamplePlan` per call, shared by every
statistic of the call (common random numbers).

Examples
--------
>>> import numpy as np
>>> contributions = np.random.default_rng(0).normal(loc=1.0, size=500)
>>> result = summarise(contributions, n_bootstrap=500, seed=0)
>>> round(result.value, 3), round(result.ci_low, 3), round(result.ci_high, 3)
(0.973, 0.896, 1.057)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from experiments.ope.records import EstimatorResult, RoundTerms, check_rounds
from experiments.ope.resampling import MAX_UNITS, ResamplePlan, Units

#: The kinds of interval: percentile bootstrap of the whole statistic, or normal approximation (delta method).
INTERVALS = ("bootstrap", "normal")

Terms = RoundTerms | np.ndarray


def summarise_all(
    terms: Mapping[str, Terms] | Sequence[tuple[str, Terms]],
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    diagnostics: dict[str, float] | None = None,
    clusters: np.ndarray | Units | None = None,
    interval: str = "bootstrap",
    max_units: int | None = MAX_UNITS,
) -> list[EstimatorResult]:
    r"""Value, interval and standard error of several statistics of the same rounds, from one resample plan.

    Parameters
    ----------
    terms
        Each estimator's name and its round terms (or an ``(n,)`` array: its plain
        mean), as a mapping or a sequence of pairs.
    alpha
        One minus the coverage: ``0.05`` gives 95% intervals.
    n_bootstrap
        Number of bootstrap resamples (unused by the normal interval).
    seed
        Seed of the resample plan.
    diagnostics
        Figures recorded beside every estimate (see :mod:`experiments.ope.diagnostics`).
    clusters
        ``(n,)`` cluster label of each round (e.g. user ids; or the
        :class:`~experiments.ope.resampling.Units` made of them): the resampling
        unit is then the cluster, not the round. ``None``: the round.
    interval
        ``"bootstrap"`` (percentile bootstrap of the whole statistic) or
        ``"normal"`` (value plus or minus ``z`` delta-method standard errors).
    max_units
        Most groups a resample draws; more units are dealt into this many random
        blocks (see :class:`~experiments.ope.resampling.ResamplePlan`). ``None``
        resamples the units themselves.

    Returns
    -------
    list[EstimatorResult]
        One result per entry of ``terms``, in order.

    Notes
    -----
    *Bootstrap.* Each resample recomputes ``mean*(o) + sum*(a) / sum*(b)``
    from the resampled unit sums; the interval is the ``alpha / 2`` and
    ``1 - alpha / 2`` quantiles of the resampled statistics and the standard
    error their standard deviation. A resample whose denominator sums to zero
    (it drew no round of positive weight) has no statistic and is left out.

    *Normal.* Linearised over units ``u`` (the cluster sums of the terms, with
    ``c_u`` rounds), the statistic's error is ``sum_u psi_u`` with

    .. math:: \psi_u = \frac{a_u - \hat\theta b_u}{\sum_u b_u} + \frac{o_u - \bar o c_u}{\sum_u c_u},

    ``theta`` the ratio part of the estimate and ``o bar`` the mean offset; the
    standard error is ``sqrt(U / (U - 1) sum_u psi_u^2)`` over ``U`` units (the
    factor makes it the textbook ``s / sqrt(n)`` for a plain mean of rounds).

    Examples
    --------
    >>> import numpy as np
    >>> weights = np.array([2.0, 0.0, 2.0, 2.0, 0.0, 2.0])
    >>> rewards = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    >>> results = summarise_all(
    ...     {"ips": RoundTerms(weights * rewards), "snips": RoundTerms(weights * rewards, weights)},
    ...     n_bootstrap=200,
    ... )
    >>> [(r.estimator, r.value) for r in results]
    [('ips', 1.0), ('snips', 0.75)]
    """
    check_settings(alpha, n_bootstrap, interval)
    pairs = list(terms.items() if isinstance(terms, Mapping) else terms)
    several = len(pairs) > 1  # name the statistic in errors only when there are several
    named = [
        (name, _as_terms(value, name if several else "terms", f"{name}: contributions" if several else "contributions"))
        for name, value in pairs
    ]
    if not named:
        raise ValueError("terms is empty: give at least one statistic to summarise")
    n = named[0][1].n_rounds
    for name, checked in named:
        if checked.n_rounds != n:
            raise ValueError(f"{name} has {checked.n_rounds} rounds but {named[0][0]} has {n}; give the same rounds")
    units = Units.of(n, clusters)
    values = [checked.value() for _, checked in named]
    if interval == "normal":
        z = NormalDist().inv_cdf(1 - alpha / 2)
        errors = [_standard_error(_linearised(checked, units)) for _, checked in named]
        bounds = [(value - z * error, value + z * error, error) for value, error in zip(values, errors, strict=True)]
    else:
        plan = ResamplePlan(units, n_bootstrap, seed, max_units)
        resampled = _resampled_statistics([checked for _, checked in named], plan)
        bounds = [_percentile(resampled[:, j], alpha) for j in range(len(named))]
    return [
        EstimatorResult(
            estimator=name,
            value=value,
            ci_low=low,
            ci_high=high,
            std_error=error,
            n_rounds=n,
            diagnostics=dict(diagnostics or {}),
        )
        for (name, _), value, (low, high, error) in zip(named, values, bounds, strict=True)
    ]


def summarise(
    contributions: Terms,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    estimator: str = "mean",
    diagnostics: dict[str, float] | None = None,
    clusters: np.ndarray | Units | None = None,
    interval: str = "bootstrap",
    max_units: int | None = MAX_UNITS,
) -> EstimatorResult:
    """Value, interval and standard error of one statistic: :func:`summarise_all` of a single entry.

    Parameters
    ----------
    contributions
        Round terms, or ``(n,)`` per-round contributions whose mean is the value.
    estimator
        The name recorded in the result.
    alpha, n_bootstrap, seed, diagnostics, clusters, interval, max_units
        As in :func:`summarise_all`.

    Examples
    --------
    >>> import numpy as np
    >>> result = summarise(np.array([1.0, 0.0, 1.0, 1.0]), n_bootstrap=200, estimator="ips")
    >>> result.estimator, result.value, result.ci_low, result.ci_high, round(result.std_error, 3)
    ('ips', 0.75, 0.25, 1.0, 0.252)
    >>> normal = summarise(np.array([1.0, 0.0, 1.0, 1.0]), interval="normal")
    >>> round(normal.ci_low, 3), round(normal.ci_high, 3), round(normal.std_error, 3)
    (0.26, 1.24, 0.25)
    """
    (result,) = summarise_all(
        {estimator: contributions},
        alpha,
        n_bootstrap,
        seed,
        diagnostics=diagnostics,
        clusters=clusters,
        interval=interval,
        max_units=max_units,
    )
    return result


def bootstrap_interval(
    contributions: Terms,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    clusters: np.ndarray | Units | None = None,
    max_units: int | None = MAX_UNITS,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of a whole statistic: ``(low, high, std_error)``.

    Parameters
    ----------
    contributions
        Round terms, or ``(n,)`` finite per-round contributions (their mean is the statistic).
    alpha, n_bootstrap, seed, clusters, max_units
        As in :func:`summarise_all`.

    Returns
    -------
    tuple[float, float, float]
        The ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the resampled
        statistics, and their standard deviation.

    Examples
    --------
    >>> import numpy as np
    >>> rewards = np.random.default_rng(1).binomial(1, 0.3, size=2000).astype(float)
    >>> low, high, std_error = bootstrap_interval(rewards, n_bootstrap=500, seed=0)
    >>> round(low, 3), round(high, 3), round(std_error, 4)
    (0.276, 0.312, 0.0098)
    """
    result = summarise(
        contributions, alpha, n_bootstrap, seed, clusters=clusters, interval="bootstrap", max_units=max_units
    )
    return result.ci_low, result.ci_high, result.std_error


def paired_difference(
    contrib_a: Terms,
    contrib_b: Terms,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    clusters: np.ndarray | Units | None = None,
    interval: str = "bootstrap",
    max_units: int | None = MAX_UNITS,
) -> EstimatorResult:
    """Difference of two statistics on the same rounds, with a paired interval (estimator ``"difference"``).

    Each resample draws the same units for both statistics and recomputes both
    whole, so the interval of the difference reflects their correlation: two
    target policies scored on one log, or a target against the logged rewards
    (``contrib_b = feedback.rewards``). "A beats B" at level ``alpha`` iff ``ci_low > 0``.

    Parameters
    ----------
    contrib_a, contrib_b
        Round terms of each statistic (e.g. :meth:`~experiments.ope.base.Estimator.round_terms`),
        or ``(n,)`` per-round contributions whose mean is the statistic.
    alpha, n_bootstrap, seed, clusters, interval, max_units
        As in :func:`summarise_all`; the normal interval linearises the difference.

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
    check_settings(alpha, n_bootstrap, interval)
    a, b = _as_terms(contrib_a, "contrib_a", "contrib_a"), _as_terms(contrib_b, "contrib_b", "contrib_b")
    if a.n_rounds != b.n_rounds:
        raise ValueError(
            f"contrib_a has shape ({a.n_rounds},) but contrib_b has shape ({b.n_rounds},); pair them round by round"
        )
    units = Units.of(a.n_rounds, clusters)
    value = a.value() - b.value()
    if interval == "normal":
        error = _standard_error(_linearised(a, units) - _linearised(b, units))
        z = NormalDist().inv_cdf(1 - alpha / 2)
        low, high = value - z * error, value + z * error
    else:
        both = _resampled_statistics([a, b], ResamplePlan(units, n_bootstrap, seed, max_units))
        low, high, error = _percentile(both[:, 0] - both[:, 1], alpha)
    return EstimatorResult("difference", value, low, high, error, a.n_rounds)


def _resampled_statistics(terms: Sequence[RoundTerms], plan: ResamplePlan) -> np.ndarray:
    """``(n_resamples, len(terms))`` whole statistics of each resample of ``plan``."""
    columns: list[np.ndarray] = [np.ones(plan.units.n_rounds)]  # column 0: rounds drawn
    layout = []  # per statistic: the columns of its numerator, denominator and offset (-1: no offset)

    def column(values: np.ndarray | None, default: int) -> int:
        if values is None:
            return default
        columns.append(values)
        return len(columns) - 1

    for term in terms:
        layout.append((column(term.numerator, -1), column(term.denominator, 0), column(term.offset, -1)))
    sums = plan.resampled_sums(plan.group_sums(columns))
    statistics = np.empty((plan.n_resamples, len(terms)))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, (numerator, denominator, offset) in enumerate(layout):
            statistics[:, j] = sums[:, numerator] / sums[:, denominator]
            if offset >= 0:
                statistics[:, j] += sums[:, offset] / sums[:, 0]
    return statistics


def _percentile(statistics: np.ndarray, alpha: float) -> tuple[float, float, float]:
    defined = statistics[np.isfinite(statistics)]
    if defined.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    error = float(defined.std(ddof=1)) if defined.size > 1 else 0.0
    return float(low), float(high), error


def _linearised(terms: RoundTerms, units: Units) -> np.ndarray:
    """``(U,)`` influence of each unit on the statistic (see :func:`summarise_all`, Notes)."""
    numerator = units.sums(terms.numerator)
    counts = units.sums(np.ones(units.n_rounds)) if units.index is not None else np.ones(units.count)
    denominator = counts if terms.denominator is None else units.sums(terms.denominator)
    total = float(denominator.sum())
    ratio = float(numerator.sum()) / total
    influence = (numerator - ratio * denominator) / total
    if terms.offset is not None:
        offset = units.sums(terms.offset)
        influence += (offset - float(offset.sum()) / units.n_rounds * counts) / units.n_rounds
    return influence


def _standard_error(influence: np.ndarray) -> float:
    count = influence.size
    return float(np.sqrt(count / (count - 1) * np.einsum("i,i->", influence, influence))) if count > 1 else 0.0


def _as_terms(values: Terms, name: str, array_name: str) -> RoundTerms:
    """Check terms; an array is the numerator of a plain mean. Errors name ``name`` (terms) or ``array_name``."""
    if isinstance(values, RoundTerms):
        checked = values.check(name)
        if checked.denominator is not None and not checked.denominator.sum() > 0:
            raise ValueError(f"{name}: the denominator sums to {float(checked.denominator.sum())!r}, not above zero")
        return checked
    return RoundTerms(check_rounds(values, array_name))


def check_settings(alpha: float, n_bootstrap: int, interval: str) -> None:
    """Raise ``ValueError`` unless ``alpha`` is in (0, 1), ``n_bootstrap`` a positive integer, ``interval`` known.

    Examples
    --------
    >>> check_settings(0.05, 1000, "percentile")
    Traceback (most recent call last):
    ...
    ValueError: unknown interval 'percentile'; known: ['bootstrap', 'normal']
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer; got {n_bootstrap!r}")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; known: {sorted(INTERVALS)}")
