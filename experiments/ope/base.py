"""The estimator base classes, and the shared logic that turns any estimators' terms into estimates.

An estimator implements one hook, :meth:`Estimator.round_terms`, giving each
logged round's terms (:class:`~experiments.ope.records.RoundTerms`: the estimate
is a ratio of their sums). :func:`estimate_all` checks the target policy's
probabilities once, asks each estimator for its terms, and hands them all to the
one interval routine (:func:`experiments.ope.interval.summarise_all`) with the
diagnostics (:func:`experiments.ope.diagnostics.diagnose`).

Examples
--------
>>> import numpy as np, polars as pl
>>> from dataclasses import dataclass
>>> from policies.base import Feedback
>>> @dataclass(frozen=True)
... class FirstAction(Estimator):
...     name = "first"
...     def round_terms(self, feedback, target_probs, q_hat=None):
...         return RoundTerms(target_probs[:, 0])
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": [0, 1, 2]}),
...     actions=("a", "b"),
...     eligible=np.ones((3, 2), dtype=bool),
...     chosen=np.array([0, 1, 0]),
...     rewards=np.array([1.0, 0.0, 1.0]),
...     propensities=np.full(3, 0.5),
... )
>>> FirstAction().estimate(feedback, np.array([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]]), n_bootstrap=100).value
0.8333333333333334
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments.ope.diagnostics import diagnose, importance_weights
from experiments.ope.interval import check_settings, summarise_all
from experiments.ope.records import EstimatorResult, RoundTerms
from experiments.ope.resampling import MAX_UNITS, Units
from experiments.ope.validation import check_target_probs
from policies.base import Feedback


@dataclass(frozen=True)
class Estimator(ABC):
    """An off-policy estimator: per-round terms, turned into an estimate by shared logic.

    Subclasses are frozen dataclasses whose fields are the estimator's
    hyperparameters (all with defaults, so ``cls()`` works); they set ``name``
    and implement :meth:`round_terms`.
    """

    name: ClassVar[str]

    @abstractmethod
    def round_terms(self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None) -> RoundTerms:
        """Compute the terms of each logged round.

        The estimate is ``mean(offset) + sum(numerator) / sum(denominator)``.

        Parameters
        ----------
        feedback
            The logged rounds.
        target_probs
            ``(n, k)`` probability the target policy gives each action in each round
            (checked by :meth:`estimate`, or by :func:`~experiments.ope.validation.check_target_probs`
            when called directly).
        q_hat
            ``(n, k)`` estimated expected reward of each action; used by model-based estimators.
        """

    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        """``(n,)`` contribution of each round; their mean is the estimate (see :meth:`RoundTerms.contributions`)."""
        return self.round_terms(feedback, target_probs, q_hat).contributions()

    def estimate(
        self,
        feedback: Feedback,
        target_probs: np.ndarray,
        q_hat: np.ndarray | None = None,
        *,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
        clusters: np.ndarray | Units | None = None,
        interval: str = "bootstrap",
        max_units: int | None = MAX_UNITS,
    ) -> EstimatorResult:
        """Estimate the target policy's value per round on ``feedback``: :func:`estimate_all` of this one estimator.

        Parameters
        ----------
        feedback
            The logged rounds.
        target_probs
            ``(n, k)`` probabilities of the target policy; rows sum to one.
        q_hat
            ``(n, k)`` estimated expected rewards, for estimators that need them.
        alpha, n_bootstrap, seed, clusters, interval, max_units
            As in :func:`experiments.ope.interval.summarise_all`.

        Raises
        ------
        ValueError
            If ``feedback`` has no rounds, or ``target_probs`` is malformed (the
            message names the first bad row and what is wrong with it).
        """
        (result,) = estimate_all(
            [self],
            feedback,
            target_probs,
            q_hat,
            alpha=alpha,
            n_bootstrap=n_bootstrap,
            seed=seed,
            clusters=clusters,
            interval=interval,
            max_units=max_units,
        )
        return result


@dataclass(frozen=True)
class WeightingEstimator(Estimator):
    """An estimator that reweights the logged rounds by importance weights, optionally clipped.

    Parameters
    ----------
    clip
        Largest importance weight used (weights above are set to it, as Open
        Bandit Pipeline's ``lambda_``), or ``None``: no clipping. Clipping
        trades a bias towards zero for a smaller variance.
    """

    clip: float | None = None

    def __post_init__(self) -> None:
        """Check ``clip``."""
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"{self.name}: clip must be a positive number or None; got {self.clip!r}")

    def weights(self, feedback: Feedback, target_probs: np.ndarray) -> np.ndarray:
        """``(n,)`` importance weights of the logged actions, clipped at ``clip``."""
        return importance_weights(feedback, target_probs, self.clip)


def estimate_all(
    estimators: Sequence[Estimator],
    feedback: Feedback,
    target_probs: np.ndarray,
    q_hat: np.ndarray | None = None,
    *,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    clusters: np.ndarray | Units | None = None,
    interval: str = "bootstrap",
    max_units: int | None = MAX_UNITS,
) -> list[EstimatorResult]:
    """Estimate the target policy's value with each estimator; every interval comes from one resample plan.

    The settings, the clusters and ``target_probs`` are checked before any
    estimator runs; every result carries the same diagnostics (of the unclipped weights).

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from experiments.ope.estimators import IPS, SNIPS
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.array([0.5, 0.25, 0.5, 0.5]),
    ... )
    >>> results = estimate_all([IPS(), SNIPS()], feedback, np.tile([0.0, 1.0], (4, 1)), n_bootstrap=100)
    >>> [(r.estimator, round(r.value, 4), r.diagnostics["max_weight"]) for r in results]
    [('ips', 0.5, 4.0), ('snips', 0.3333, 4.0)]
    """
    if feedback.n_rounds == 0:
        raise ValueError("feedback has no rounds to evaluate")
    check_settings(alpha, n_bootstrap, interval)
    units = Units.of(feedback.n_rounds, clusters)  # a bad clusters argument fails before any work
    probs = check_target_probs(feedback, target_probs)
    terms = []
    for estimator in estimators:
        round_terms = estimator.round_terms(feedback, probs, q_hat).check(estimator.name)
        if round_terms.n_rounds != feedback.n_rounds:
            raise ValueError(
                f"{estimator.name}: round_terms gave {round_terms.n_rounds} rounds, expected {feedback.n_rounds}"
            )
        terms.append((estimator.name, round_terms))
    diagnostics = diagnose(feedback, probs).values
    return summarise_all(
        terms,
        alpha,
        n_bootstrap,
        seed,
        diagnostics=diagnostics,
        clusters=units,
        interval=interval,
        max_units=max_units,
    )
