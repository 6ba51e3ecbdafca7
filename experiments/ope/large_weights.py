"""Doubly robust estimators that hold back large importance weights: switch-DR and DR with optimistic shrinkage.

Both keep the direct method's value of the target in every round and change
only how much of the importance-weighted correction a round with a large
weight may add: switch-DR drops it above a threshold, DR-OS shrinks it smoothly.

Examples
--------
>>> from experiments.ope.toy import toy_log
>>> log = toy_log()
>>> round(SwitchDR(tau=3.0).round_terms(log.feedback, log.target_probs, log.q_hat).value(), 12)
0.7
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.ope.base import WeightingEstimator
from experiments.ope.doubly_robust import model_residuals, model_value
from experiments.ope.records import RoundTerms
from experiments.ope.validation import check_q_hat
from policies.base import Feedback

#: Switch-DR's default threshold: rounds whose weight exceeds it rely on the reward model alone.
DEFAULT_SWITCH_TAU = 10.0
#: DR-OS's default shrinkage: weights well below ``sqrt(1000) ~ 32`` are kept almost whole (10 -> 9.1).
DEFAULT_SHRINKAGE_LAMBDA = 1000.0


@dataclass(frozen=True)
class SwitchDoublyRobust(WeightingEstimator):
    r"""Switch doubly robust (Wang, Agarwal and Dudik, 2017): DR where the weight is small, the model where it is large.

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`);
        applied before the switch.
    tau
        The switch: actions whose weight exceeds it are valued by the reward
        model alone. Default ``DEFAULT_SWITCH_TAU`` = 10: a target at most ten
        times likelier than the logger to take an action keeps the DR correction
        there. ``inf`` gives DR; ``0`` gives the direct method.

    Notes
    -----
    Per action, use DR where ``w(x, a) = pi(a | x) / mu(a | x) <= tau`` and the
    model where it exceeds ``tau``. The model's part summed over both sets is
    the direct method, and only the logged action's weight can be observed, so

    .. math:: \hat V_{switch} = \frac{1}{n} \sum_i \Big[ \sum_a \pi(a | x_i) \hat q(x_i, a)
              + 1[w_i \le \tau] \, w_i \big(r_i - \hat q(x_i, a_i)\big) \Big]

    Terms: the bracket as numerator, no denominator. Biased as far as the model
    is wrong on the actions switched to it; bounded variance in exchange.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log` with ``tau = 3``, round 1 (weight 4)
    loses its correction: ``(0.4 + 0.4 + (0.4 + 2 (0.6)) + 0.4) / 4 = 0.7``.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> SwitchDR(tau=3.0).round_terms(log.feedback, log.target_probs, log.q_hat).numerator.round(12)
    array([0.4, 0.4, 1.6, 0.4])
    >>> round(SwitchDR(tau=4.0).round_terms(log.feedback, log.target_probs, log.q_hat).value(), 12)  # DR's
    0.3
    """

    name = "switch-dr"
    tau: float = DEFAULT_SWITCH_TAU

    def __post_init__(self) -> None:
        """Check ``clip`` and ``tau``."""
        super().__post_init__()
        if not self.tau >= 0:
            raise ValueError(f"{self.name}: tau must be a number >= 0; got {self.tau!r}")

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return doubly robust terms with the weights above ``tau`` set to zero."""
        q = check_q_hat(self.name, feedback, target_probs, q_hat)
        weights = self.weights(feedback, target_probs)
        weights[weights > self.tau] = 0.0
        correction = model_residuals(feedback, q)
        correction *= weights
        correction += model_value(target_probs, q)
        return RoundTerms(correction)


@dataclass(frozen=True)
class DoublyRobustWithOptimisticShrinkage(WeightingEstimator):
    r"""DR with optimistic shrinkage (DR-OS; Su, Dimakopoulou, Krishnamurthy and Dudik, 2020).

    Parameters
    ----------
    clip
        Largest importance weight used, or ``None`` (see :class:`~experiments.ope.base.WeightingEstimator`);
        applied before the shrinkage.
    lambda_
        The shrinkage: weights well below ``sqrt(lambda_)`` are kept almost
        whole, the shrunk weight peaks at ``sqrt(lambda_) / 2`` there, and
        larger weights count for less and less. Default
        ``DEFAULT_SHRINKAGE_LAMBDA`` = 1000 (a weight of 10 counts 9.1, the
        peak is 15.8, a weight of 100 counts 9.1). ``inf`` gives DR; ``0`` gives
        the direct method.

    Notes
    -----
    .. math:: \hat V_{DR-OS} = \frac{1}{n} \sum_i \Big[ \sum_a \pi(a | x_i) \hat q(x_i, a)
              + \hat w_i \big(r_i - \hat q(x_i, a_i)\big) \Big],
              \qquad \hat w_i = \frac{\lambda w_i}{w_i^2 + \lambda}

    the weight that minimises a bound on the squared error of the correction,
    optimistic in assuming the model's error small. Terms: the bracket as
    numerator, no denominator.

    Examples
    --------
    On :func:`~experiments.ope.toy.toy_log` with ``lambda = 4`` the weights 4
    and 2 shrink to ``16 / 20 = 0.8`` and ``8 / 8 = 1``:
    ``(0.4 + (0.4 + 0.8 (-0.4)) + (0.4 + 1 (0.6)) + 0.4) / 4 = 0.47``.

    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> terms = DROS(lambda_=4.0).round_terms(log.feedback, log.target_probs, log.q_hat)
    >>> terms.numerator.round(12), round(terms.value(), 12)
    (array([0.4 , 0.08, 1.  , 0.4 ]), 0.47)
    """

    name = "dr-os"
    lambda_: float = DEFAULT_SHRINKAGE_LAMBDA

    def __post_init__(self) -> None:
        """Check ``clip`` and ``lambda_``."""
        super().__post_init__()
        if not self.lambda_ >= 0:
            raise ValueError(f"{self.name}: lambda_ must be a number >= 0; got {self.lambda_!r}")

    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Return doubly robust terms with the shrunk weights."""
        q = check_q_hat(self.name, feedback, target_probs, q_hat)
        correction = model_residuals(feedback, q)
        correction *= self.shrunk_weights(feedback, target_probs)
        correction += model_value(target_probs, q)
        return RoundTerms(correction)

    def shrunk_weights(self, feedback: Feedback, target_probs: np.ndarray) -> np.ndarray:
        """``(n,)`` the weights after shrinkage, ``lambda w / (w^2 + lambda)`` (``w`` itself when ``lambda`` is inf).

        Examples
        --------
        >>> from experiments.ope.toy import toy_log
        >>> log = toy_log()
        >>> DROS(lambda_=4.0).shrunk_weights(log.feedback, log.target_probs)
        array([0. , 0.8, 1. , 0. ])
        """
        weights = self.weights(feedback, target_probs)
        if np.isinf(self.lambda_):
            return weights
        if self.lambda_ == 0:
            return np.zeros_like(weights)
        shrunk: np.ndarray = self.lambda_ * weights / (weights * weights + self.lambda_)
        return shrunk


SwitchDR = SwitchDoublyRobust
DROS = DoublyRobustWithOptimisticShrinkage
