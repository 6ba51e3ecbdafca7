"""How far a target policy strays from the logging policy: importance weights and support.

The importance weight of round ``i`` is ``w_i = pi_target(a_i | x_i) / propensity_i``.
Under correct propensities, and a target that stays where the logger goes, its
mean is about one; a few huge weights, or a low effective sample size, mean the
estimate rests on a handful of rounds. Where the target puts probability on
actions the logger could not take (ineligible in the round, or of logging
probability zero) no weight can make up for it: IPS-type estimates are biased
there, whatever the sample size (a *support deficit*).

:func:`diagnose` gathers every figure in one record with plain-language
warnings; the thresholds behind the warnings are the module constants below.

Examples
--------
>>> import numpy as np
>>> weights = np.random.default_rng(0).choice([0.0, 3.0], size=1000, p=[2 / 3, 1 / 3])
>>> {name: round(value, 3) for name, value in weight_diagnostics(weights).items()}
{'effective_sample_size': 358.0, 'ess_ratio': 0.358, 'max_weight': 3.0, 'mean_weight': 1.074, 'match_rate': 0.358}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from experiments.ope.validation import row_sums
from policies.base import Feedback

#: Warn when the effective sample size is below this share of the rounds.
MIN_ESS_RATIO = 0.01
#: Warn when a single importance weight exceeds this.
MAX_WEIGHT = 100.0
#: Warn when the share of rounds with a support deficit exceeds this (any deficit at all).
MAX_SUPPORT_DEFICIT = 0.0
#: Warn when the mean weight is more than this many standard errors from one.
MEAN_WEIGHT_Z = 4.0
#: A target probability above this on an action the logger could not take counts as a support deficit.
SUPPORT_EPSILON = 1e-12


def importance_weights(feedback: Feedback, target_probs: np.ndarray, clip: float | None = None) -> np.ndarray:
    """``(n,)`` ratio of the target's probability of each logged action to its logged propensity.

    Parameters
    ----------
    feedback
        Logged rounds; ``chosen`` and ``propensities`` are read.
    target_probs
        ``(n, k)`` probabilities of the target policy, already validated.
    clip
        Largest weight kept (weights above are set to it), or ``None`` for no clipping.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((2, 2), dtype=bool),
    ...     chosen=np.array([0, 1]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.array([0.5, 0.125]),
    ... )
    >>> importance_weights(feedback, np.array([[1.0, 0.0], [0.5, 0.5]]))
    array([2., 4.])
    >>> importance_weights(feedback, np.array([[1.0, 0.0], [0.5, 0.5]]), clip=3.0)
    array([2., 3.])
    """
    weights = chosen_entries(feedback, target_probs)
    weights /= feedback.propensities
    if clip is not None:
        np.minimum(weights, clip, out=weights)
    return weights


def chosen_entries(feedback: Feedback, values: np.ndarray) -> np.ndarray:
    """``(n,)`` new array of the entries of an ``(n, k)`` array at each round's logged action.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((2, 2), dtype=bool),
    ...     chosen=np.array([0, 1]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.array([0.5, 0.125]),
    ... )
    >>> chosen_entries(feedback, np.array([[0.1, 0.2], [0.3, 0.4]]))
    array([0.1, 0.4])
    """
    array = np.asarray(values, dtype=float)
    n = feedback.n_rounds
    if array.size == 0:
        return np.zeros(n)
    if array.flags.c_contiguous:  # a flat gather is several times faster than array[rows, chosen]
        k = array.shape[1]
        index = np.arange(0, n * k, k)
        index += feedback.chosen
        return array.ravel()[index]
    chosen: np.ndarray = array[np.arange(n), feedback.chosen]
    return chosen


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
    return float(scaled.sum() ** 2 / np.einsum("i,i->", scaled, scaled))


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
    """Return the largest importance weight: how much a single round can move the estimate.

    Examples
    --------
    >>> import numpy as np
    >>> max_weight(np.array([0.5, 4.0, 1.0]))
    4.0
    """
    w = np.asarray(weights, dtype=float)
    return float(w.max()) if w.size else 0.0


def mean_weight(weights: np.ndarray) -> float:
    """Return the mean importance weight; about one when the propensities are right and the target is covered.

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
    return float(np.count_nonzero(w > 0) / w.size) if w.size else 0.0


def weight_diagnostics(weights: np.ndarray) -> dict[str, float]:
    """Return the importance weight figures above, by name.

    Examples
    --------
    >>> import numpy as np
    >>> weight_diagnostics(np.ones(10))
    {'effective_sample_size': 10.0, 'ess_ratio': 1.0, 'max_weight': 1.0, 'mean_weight': 1.0, 'match_rate': 1.0}
    """
    w = np.asarray(weights, dtype=float)
    n = w.size
    top = float(w.max()) if n else 0.0
    if top <= 0:
        return {
            "effective_sample_size": 0.0,
            "ess_ratio": 0.0,
            "max_weight": max(top, 0.0),
            "mean_weight": 0.0,
            "match_rate": 0.0,
        }
    scaled = w / top  # as in effective_sample_size: no overflow when squared
    total = float(scaled.sum())
    ess = total**2 / float(np.einsum("i,i->", scaled, scaled))  # einsum, not BLAS's threaded dot
    return {
        "effective_sample_size": ess,
        "ess_ratio": ess / n,
        "max_weight": top,
        "mean_weight": total * top / n,
        "match_rate": float(np.count_nonzero(w > 0) / n),
    }


def unsupported_mass(
    feedback: Feedback, target_probs: np.ndarray, logging_probs: np.ndarray | None = None
) -> np.ndarray:
    """``(n,)`` target probability, per round, on actions the logger could not take.

    An action is out of the logger's support in a round when it was not
    eligible there, or, when ``logging_probs`` (the logger's ``(n, k)``
    probability of every action) are known, when the logger gave it probability zero.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 2]}),
    ...     actions=("a", "b"),
    ...     eligible=np.array([[True, True], [True, False], [True, True]]),
    ...     chosen=np.array([0, 0, 1]),
    ...     rewards=np.array([1.0, 0.0, 1.0]),
    ...     propensities=np.array([0.5, 1.0, 1.0]),
    ... )
    >>> target = np.array([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]])
    >>> unsupported_mass(feedback, target)
    array([0.  , 0.75, 0.  ])
    >>> unsupported_mass(feedback, target, logging_probs=np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]))
    array([0.  , 0.75, 0.5 ])
    """
    outside = _outside_support(feedback, logging_probs)
    if outside is None:
        return np.zeros(feedback.n_rounds)
    return row_sums(np.where(outside, np.asarray(target_probs, dtype=float), 0.0))


def support_diagnostics(
    feedback: Feedback, target_probs: np.ndarray, logging_probs: np.ndarray | None = None
) -> dict[str, float]:
    """Return the support deficit: the share of rounds where the target may leave the logger's support, its mass there.

    ``support_deficit_rate`` is the share of rounds where the target gives more
    than ``SUPPORT_EPSILON`` to some action the logger could not take (see
    :func:`unsupported_mass`); ``support_deficit_mass`` the mean, over all
    rounds, of the target's probability on such actions.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.array([[True, True], [True, False]]),
    ...     chosen=np.array([0, 0]),
    ...     rewards=np.array([1.0, 0.0]),
    ...     propensities=np.array([0.5, 1.0]),
    ... )
    >>> support_diagnostics(feedback, np.array([[0.5, 0.5], [0.5, 0.5]]))
    {'support_deficit_rate': 0.5, 'support_deficit_mass': 0.25}
    """
    outside = _outside_support(feedback, logging_probs)
    n = feedback.n_rounds
    if outside is None or n == 0:
        return {"support_deficit_rate": 0.0, "support_deficit_mass": 0.0}
    probs = np.asarray(target_probs, dtype=float)
    deficit_rounds = np.count_nonzero((outside & (probs > SUPPORT_EPSILON)).any(axis=1))
    mass = row_sums(np.where(outside, probs, 0.0))
    return {"support_deficit_rate": float(deficit_rounds / n), "support_deficit_mass": float(mass.mean())}


def _outside_support(feedback: Feedback, logging_probs: np.ndarray | None) -> np.ndarray | None:
    """``(n, k)`` mask of the actions the logger could not take in each round, or ``None`` if there are none."""
    outside = ~feedback.eligible
    if logging_probs is not None:
        outside |= np.asarray(logging_probs, dtype=float) <= 0
    return outside if outside.any() else None


@dataclass(frozen=True)
class Diagnostics:
    """Every diagnostic of a target policy on a log, and warnings in plain words.

    Attributes
    ----------
    values
        Figures by name: those of :func:`weight_diagnostics` and :func:`support_diagnostics`.
    warnings
        One sentence per threshold crossed (see the module constants); empty when all is well.
    weights
        ``(n,)`` importance weights, e.g. for a histogram.
    """

    values: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)


def diagnose(
    feedback: Feedback,
    target_probs: np.ndarray,
    logging_probs: np.ndarray | None = None,
    *,
    weights: np.ndarray | None = None,
) -> Diagnostics:
    """Compute importance weight and support diagnostics of ``target_probs`` on ``feedback``, with warnings.

    Parameters
    ----------
    feedback
        The logged rounds.
    target_probs
        ``(n, k)`` probabilities of the target policy, already validated.
    logging_probs
        ``(n, k)`` probabilities of the logging policy, when known: actions it
        gave probability zero count as out of its support.
    weights
        The importance weights, when already computed (skips recomputing them).

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> n = 1000
    >>> chosen = np.arange(n) % 2
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": np.zeros(n)}),
    ...     actions=("a", "b", "c"),
    ...     eligible=np.tile([True, True, False], (n, 1)),
    ...     chosen=chosen,
    ...     rewards=np.ones(n),
    ...     propensities=np.full(n, 0.5),
    ... )
    >>> report = diagnose(feedback, np.tile([0.5, 0.3, 0.2], (n, 1)))
    >>> report.values["support_deficit_rate"], round(report.values["mean_weight"], 12)
    (1.0, 0.8)
    >>> for warning in report.warnings:  # doctest: +NORMALIZE_WHITESPACE
    ...     print(warning)
    support: the target puts mass on actions the logger never takes in 100.0% of rounds (mean mass 0.2);
        IPS-type estimates are biased there
    mean weight: 0.8 is far from 1 (the standard error of the mean weight is 0.0063); the propensities may be
        wrong, or the target leaves the logger's support
    """
    w = importance_weights(feedback, target_probs) if weights is None else np.asarray(weights, dtype=float)
    values = {**weight_diagnostics(w), **support_diagnostics(feedback, target_probs, logging_probs)}
    return Diagnostics(values, _warnings(values, w), w)


def _warnings(values: dict[str, float], weights: np.ndarray) -> list[str]:
    n = weights.size
    warnings = []
    if n and values["ess_ratio"] < MIN_ESS_RATIO:
        warnings.append(
            f"effective sample size: {values['effective_sample_size']:,.0f} of {n:,} rounds "
            f"({values['ess_ratio']:.2%}, below {MIN_ESS_RATIO:.0%}); the estimate rests on a few rounds"
        )
    if values["max_weight"] > MAX_WEIGHT:
        warnings.append(
            f"max weight: {values['max_weight']:.4g} exceeds {MAX_WEIGHT:g}; one round can move IPS-type estimates "
            "far (consider clipping, or an estimator of the doubly robust family)"
        )
    if values["support_deficit_rate"] > MAX_SUPPORT_DEFICIT:
        warnings.append(
            f"support: the target puts mass on actions the logger never takes in {values['support_deficit_rate']:.1%} "
            f"of rounds (mean mass {values['support_deficit_mass']:.3g}); IPS-type estimates are biased there"
        )
    # the weights' variance from the figures already there: ESS = n mean^2 / mean(w^2)
    mean, ess = values["mean_weight"], values["effective_sample_size"]
    variance = mean**2 * (n / ess - 1) * n / (n - 1) if n > 1 and ess > 0 else 0.0
    std_error = float(np.sqrt(max(variance, 0.0) / n)) if n else 0.0
    if n and abs(values["mean_weight"] - 1) > max(MEAN_WEIGHT_Z * std_error, 1e-9):
        warnings.append(
            f"mean weight: {values['mean_weight']:.4g} is far from 1 (the standard error of the mean weight is "
            f"{std_error:.2g}); the propensities may be wrong, or the target leaves the logger's support"
        )
    return warnings
