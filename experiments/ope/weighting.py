"""Importance weighting estimators: IPS and its self-normalised form, SNIPS.

Examples
--------
>>> from experiments.ope.toy import toy_log
>>> log = toy_log()
>>> [round(cls().round_terms(log.feedback, log.target_probs).value(), 4) for cls in (IPS, SNIPS)]
[0.5, 0.3333]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.ope.base import WeightingEstimator
from experiments.ope.records import RoundTerms
from policies.base import Feedback


@dataclass(frozen=True)
class InverseProbabilityWeighting(WeightingEstimator):
    r"""Inverse probability weighting (IPS): reweight each observed reward by how much likelier the target makes it.

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`).

    Notes
    -----
    .. math:: \hat V_{IPS} = \frac{1}{n} \sum_i w_i r_i, \qquad w_i = \frac{\pi(a_i | x_i)}{p_i}

    with ``p_i`` the logged propensity (``w_i`` clipped at ``clip`` when given).
    Unbiased when the propensities are right and the logger gives every action
    the target can take a positive probability; its variance grows with the
    weights. Terms: numerator ``w r``, no denominator.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log`, weights ``(0, 4, 2, 0)`` and rewards
    ``(1, 0, 1, 0.5)``: ``(0 + 0 + 2 + 0) / 4 = 0.5``.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> terms = IPS().round_terms(log.feedback, log.target_probs)
    >>> terms.numerator, terms.value()
    (array([0., 0., 2., 0.]), 0.5)
    """

    name = "ips"

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return the importance-weighted rewards of each round."""
        return RoundTerms(self.weights(feedback, target_probs) * feedback.rewards)


@dataclass(frozen=True)
class SelfNormalizedInverseProbabilityWeighting(WeightingEstimator):
    r"""Self-normalised IPS (SNIPS): IPS divided by the mean weight.

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`).

    Notes
    -----
    .. math:: \hat V_{SNIPS} = \frac{\sum_i w_i r_i}{\sum_i w_i}

    a weighted mean of the observed rewards, so it stays within their range.
    Slightly biased, usually far less variable than IPS. Terms: numerator
    ``w r``, denominator ``w``: the bootstrap recomputes the ratio on each
    resample, normaliser included.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log`: ``(0 + 0 + 2 + 0) / (0 + 4 + 2 + 0) = 1 / 3``;
    clipped at 3, ``2 / (3 + 2) = 0.4``.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> SNIPS().round_terms(log.feedback, log.target_probs).value()
    0.3333333333333333
    >>> SNIPS(clip=3.0).round_terms(log.feedback, log.target_probs).value()
    0.4
    """

    name = "snips"

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return the importance-weighted rewards over the weights (self-normalised)."""
        weights = self.weights(feedback, target_probs)
        check_overlap(self.name, weights)
        return RoundTerms(weights * feedback.rewards, weights)


def check_overlap(name: str, weights: np.ndarray) -> None:
    """Raise ``ValueError`` if no weight is positive: a self-normalised estimate then has nothing to divide by."""
    if not weights.size or not weights.max() > 0:
        raise ValueError(
            f"{name}: the target policy gives probability 0 to every logged action, "
            "so there is no weight to normalise by (match_rate is 0)"
        )


IPS = InverseProbabilityWeighting
SNIPS = SelfNormalizedInverseProbabilityWeighting
