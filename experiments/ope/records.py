"""The two typed records of off-policy evaluation: an estimator's per-round terms, and an estimate.

An estimator returns :class:`RoundTerms`; the shared interval routine
(:mod:`experiments.ope.interval`) turns them into an :class:`EstimatorResult`.

Examples
--------
>>> import numpy as np
>>> terms = RoundTerms(numerator=np.array([2.0, 0.0, 1.0]), denominator=np.array([2.0, 0.0, 2.0]))
>>> terms.value()
0.75
>>> terms.contributions()
array([1.5 , 0.  , 0.75])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)  # arrays: equality would be ambiguous
class RoundTerms:
    r"""Per-round terms of an estimator; the estimate is a ratio of their sums.

    Attributes
    ----------
    numerator
        ``(n,)`` term of each logged round.
    denominator
        ``(n,)`` term of each round, or ``None`` for ones: the estimate is then
        the plain mean of ``numerator``. Self-normalised estimators put the
        importance weights here, so that a resample of rounds recomputes the
        normaliser too: a ratio stays a ratio.
    offset
        ``(n,)`` term averaged plainly and added to the ratio, or ``None``
        (nothing added). Only self-normalised doubly robust needs it: its
        model part is a plain mean, its correction a ratio.

    Notes
    -----
    The estimate is

    .. math:: \hat V = \frac{1}{n} \sum_i o_i + \frac{\sum_i a_i}{\sum_i b_i}

    with numerator ``a``, denominator ``b`` (ones when ``None``) and offset
    ``o`` (zeros when ``None``). Resampling keeps each round's three terms
    together, so every resample recomputes the whole statistic.

    Examples
    --------
    >>> import numpy as np
    >>> RoundTerms(np.array([1.0, 3.0])).value()
    2.0
    >>> RoundTerms(np.array([1.0, 3.0]), offset=np.array([0.5, 0.5])).contributions()
    array([1.5, 3.5])
    """

    numerator: np.ndarray
    denominator: np.ndarray | None = None
    offset: np.ndarray | None = None

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return int(self.numerator.shape[0])

    def value(self) -> float:
        """Return the estimate: ``mean(offset) + sum(numerator) / sum(denominator)``."""
        total = float(self.numerator.sum())
        ratio = total / (float(self.denominator.sum()) if self.denominator is not None else self.n_rounds)
        return ratio + (float(self.offset.mean()) if self.offset is not None else 0.0)

    def contributions(self) -> np.ndarray:
        """``(n,)`` per-round contributions whose mean is :meth:`value`.

        Round ``i`` contributes ``o_i + a_i / mean(b)``: the normaliser is held
        at its value on the whole log, as in Open Bandit Pipeline.
        """
        if self.denominator is None:
            values = np.array(self.numerator, dtype=float)  # a copy: callers may change it
        else:
            values = self.numerator / self.denominator.mean()
        if self.offset is not None:
            values += self.offset
        return values

    def check(self, name: str = "terms") -> RoundTerms:
        """Return the terms as float arrays after checking them: 1-D, one shape, non-empty, finite.

        Examples
        --------
        >>> import numpy as np
        >>> RoundTerms(np.array([1.0, 2.0]), np.array([1.0])).check("ips")
        Traceback (most recent call last):
        ...
        ValueError: ips: denominator has shape (1,) but numerator has shape (2,); give one term per round
        """
        numerator = check_rounds(self.numerator, f"{name}: numerator")
        checked = {"numerator": numerator}
        for part in ("denominator", "offset"):
            values = getattr(self, part)
            if values is None:
                continue
            values = np.asarray(values, dtype=float)
            if values.shape != numerator.shape:
                raise ValueError(
                    f"{name}: {part} has shape {values.shape} but numerator has shape {numerator.shape}; "
                    "give one term per round"
                )
            checked[part] = check_rounds(values, f"{name}: {part}")
        return RoundTerms(**checked)


def check_rounds(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as a float array, after checking that it is a non-empty 1-D array of finite numbers.

    Examples
    --------
    >>> import numpy as np
    >>> check_rounds(np.array([0.0, np.nan, 1.0]), "contributions")
    Traceback (most recent call last):
    ...
    ValueError: contributions must be finite; round 1 has nan (1 bad round(s))
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array; got shape {array.shape}")
    if not np.isfinite(array.sum()):  # one pass; locate the culprit only when something is wrong
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(
                f"{what} must be finite; round {int(bad[0])} has {float(array[bad[0]])!r} ({bad.size} bad round(s))"
            )
    return array


@dataclass(frozen=True)
class EstimatorResult:
    """An off-policy estimate of a policy's value per round, with its interval.

    Attributes
    ----------
    estimator
        Name of the estimator (``"ips"``, ``"snips"``, ..., ``"logged"``, ``"difference"``).
    value
        The estimate (see :class:`RoundTerms`).
    ci_low, ci_high
        Ends of the interval: percentile bootstrap of the whole statistic, or normal approximation.
    std_error
        Standard deviation of the resampled statistics, or the delta-method standard error.
    n_rounds
        Number of logged rounds behind the estimate.
    diagnostics
        Importance weight figures by name (see :mod:`experiments.ope.diagnostics`).

    Examples
    --------
    >>> EstimatorResult("ips", 0.5, 0.4, 0.6, 0.05, 100, {"ess_ratio": 0.9}).to_dict()["ci_high"]
    0.6
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n_rounds: int
    diagnostics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields; ``diagnostics`` stays a nested dict (a copy)."""
        return asdict(self)
