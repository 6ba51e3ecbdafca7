"""The reward-model estimators: the direct method, doubly robust, and self-normalised doubly robust.

Each needs ``q_hat``, the ``(n, k)`` estimated expected reward of every action
(see :func:`~experiments.ope.validation.check_q_hat`: it may be missing where
the target's probability is zero).

Examples
--------
>>> from experiments.ope.toy import toy_log
>>> log = toy_log()
>>> [round(cls().round_terms(log.feedback, log.target_probs, log.q_hat).value(), 4) for cls in (DM, DR, SNDR)]
[0.4, 0.3, 0.3333]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.ope.base import Estimator, WeightingEstimator
from experiments.ope.diagnostics import chosen_entries
from experiments.ope.records import RoundTerms
from experiments.ope.validation import check_q_hat
from experiments.ope.weighting import check_overlap
from policies.base import Feedback


@dataclass(frozen=True)
class DirectMethod(Estimator):
    r"""The direct method (DM): the target's expected reward under a reward model ``q_hat``.

    Notes
    -----
    .. math:: \hat V_{DM} = \frac{1}{n} \sum_i \sum_a \pi(a | x_i) \hat q(x_i, a)

    Low variance, but biased as far as the reward model is wrong; it ignores the
    observed rewards. Terms: numerator ``sum_a pi q_hat``, no denominator.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log` the target takes ``b``, worth 0.4 to the model in every round:

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> DM().round_terms(log.feedback, log.target_probs, log.q_hat).numerator
    array([0.4, 0.4, 0.4, 0.4])
    """

    name = "dm"

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return the model's value of the target in each round."""
        q = check_q_hat(self.name, feedback, target_probs, q_hat)
        return RoundTerms(model_value(target_probs, q))


@dataclass(frozen=True)
class DoublyRobust(WeightingEstimator):
    r"""Doubly robust (DR): the direct method plus an importance-weighted correction of the model's error.

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`).

    Notes
    -----
    .. math:: \hat V_{DR} = \frac{1}{n} \sum_i \Big[ \sum_a \pi(a | x_i) \hat q(x_i, a)
              + w_i \big(r_i - \hat q(x_i, a_i)\big) \Big]

    Unbiased when either the propensities or the reward model are right, and
    less variable than IPS when ``q_hat`` is good. Terms: the bracket as
    numerator, no denominator.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log`: ``0.4 + w (r - q_hat(chosen))`` is
    ``0.4 + 0``, ``0.4 + 4 (-0.4)``, ``0.4 + 2 (0.6)``, ``0.4 + 0``; mean 0.3.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> terms = DR().round_terms(log.feedback, log.target_probs, log.q_hat)
    >>> terms.numerator.round(12), round(terms.value(), 12)
    (array([ 0.4, -1.2,  1.6,  0.4]), 0.3)
    """

    name = "dr"

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return the model's value plus the importance-weighted residual of the logged reward, per round."""
        q = check_q_hat(self.name, feedback, target_probs, q_hat)
        correction = model_residuals(feedback, q)
        correction *= self.weights(feedback, target_probs)
        correction += model_value(target_probs, q)
        return RoundTerms(correction)


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(WeightingEstimator):
    r"""Self-normalised doubly robust (SNDR): the direct method plus a self-normalised correction.

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`).

    Notes
    -----
    .. math:: \hat V_{SNDR} = \frac{1}{n} \sum_i \sum_a \pi(a | x_i) \hat q(x_i, a)
              + \frac{\sum_i w_i (r_i - \hat q(x_i, a_i))}{\sum_i w_i}

    the DR correction divided by the mean weight instead of one (Open Bandit
    Pipeline's ``w (r - q_hat) / mean(w)``), which tames it when a few weights
    are large. Its ratio form: offset ``sum_a pi q_hat`` (the model's value,
    a plain mean), numerator ``w (r - q_hat(chosen))``, denominator ``w``. The
    bootstrap recomputes both parts on each resample; holding ``mean(w)`` at its
    full-log value instead would understate the variance of the correction.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log`: ``0.4 + (4 (-0.4) + 2 (0.6)) / (4 + 2) = 0.4 - 0.4 / 6 = 1 / 3``.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> terms = SNDR().round_terms(log.feedback, log.target_probs, log.q_hat)
    >>> terms.offset, terms.numerator.round(12) + 0.0, terms.denominator
    (array([0.4, 0.4, 0.4, 0.4]), array([ 0. , -1.6,  1.2,  0. ]), array([0., 4., 2., 0.]))
    >>> round(terms.value(), 12)
    0.333333333333
    """

    name = "sndr"

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return the model's value as offset, the weighted residuals over the weights (self-normalised)."""
        q = check_q_hat(self.name, feedback, target_probs, q_hat)
        weights = self.weights(feedback, target_probs)
        check_overlap(self.name, weights)
        correction = model_residuals(feedback, q)
        correction *= weights
        return RoundTerms(correction, weights, offset=model_value(target_probs, q))


def model_value(target_probs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(n,)`` the target's expected reward in each round under the model: ``sum_a pi(a | x) q(x, a)``."""
    values: np.ndarray = np.einsum("ij,ij->i", target_probs, q)
    return values


def model_residuals(feedback: Feedback, q: np.ndarray) -> np.ndarray:
    """``(n,)`` new array of the observed reward minus the model's prediction for the logged action."""
    residuals = chosen_entries(feedback, q)
    np.subtract(feedback.rewards, residuals, out=residuals)
    return residuals


DM = DirectMethod
DR = DoublyRobust
SNDR = SelfNormalizedDoublyRobust
