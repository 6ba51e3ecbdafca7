"""The estimator base class and the record of an estimate.

An estimator implements one hook, :meth:`Estimator.round_rewards`, giving each
logged round's contribution; :meth:`Estimator.estimate` checks the target
policy's probabilities, takes the mean of the contributions with a bootstrap
interval (:func:`experiments.ope.interval.summarise`) and adds the importance
weight diagnostics (:mod:`experiments.ope.diagnostics`).

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> class FirstAction(Estimator):
...     name = "first"
...     def round_rewards(self, feedback, target_probs, q_hat=None):
...         return target_probs[:, 0]
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
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from experiments.ope.diagnostics import importance_weights, weight_diagnostics
from policies.base import Feedback

#: How far a row of target probabilities may sum from one.
ROW_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EstimatorResult:
    """An off-policy estimate of a policy's value per round, with its interval.

    Attributes
    ----------
    estimator
        Name of the estimator (``"ips"``, ``"snips"``, ..., ``"logged"``, ``"difference"``).
    value
        The estimate: the mean of the per-round contributions.
    ci_low, ci_high
        Ends of the percentile bootstrap interval.
    std_error
        Standard deviation of the bootstrap means.
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


class Estimator(ABC):
    """An off-policy estimator: per-round contributions, turned into an estimate by shared logic.

    Subclasses set ``name`` and implement :meth:`round_rewards`.
    """

    name: ClassVar[str]

    @abstractmethod
    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        """``(n,)`` contribution of each logged round; their mean is the estimate.

        Parameters
        ----------
        feedback
            The logged rounds.
        target_probs
            ``(n, k)`` probability the target policy gives each action in each round
            (checked by :meth:`estimate`, or by :func:`check_target_probs` when called directly).
        q_hat
            ``(n, k)`` estimated expected reward of each action; used by model-based estimators.
        """

    def estimate(
        self,
        feedback: Feedback,
        target_probs: np.ndarray,
        q_hat: np.ndarray | None = None,
        *,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> EstimatorResult:
        """Estimate the target policy's value per round on ``feedback``.

        Parameters
        ----------
        feedback
            The logged rounds.
        target_probs
            ``(n, k)`` probabilities of the target policy; rows sum to one.
        q_hat
            ``(n, k)`` estimated expected rewards, for estimators that need them.
        alpha
            One minus the interval's coverage.
        n_bootstrap
            Number of bootstrap resamples.
        seed
            Seed of the bootstrap.

        Raises
        ------
        ValueError
            If ``feedback`` has no rounds, or ``target_probs`` is malformed (the
            message names the first bad row and what is wrong with it).
        """
        # interval.py builds the EstimatorResult defined here, so it is imported on use
        from experiments.ope.interval import summarise

        if feedback.n_rounds == 0:
            raise ValueError("feedback has no rounds to evaluate")
        probs = check_target_probs(feedback, target_probs)
        contributions = np.asarray(self.round_rewards(feedback, probs, q_hat), dtype=float)
        if contributions.shape != (feedback.n_rounds,):
            raise ValueError(
                f"{self.name}: round_rewards returned shape {contributions.shape}, expected ({feedback.n_rounds},)"
            )
        diagnostics = weight_diagnostics(importance_weights(feedback, probs))
        return summarise(contributions, alpha, n_bootstrap, seed, estimator=self.name, diagnostics=diagnostics)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_target_probs(feedback: Feedback, target_probs: np.ndarray) -> np.ndarray:
    """Return ``target_probs`` as a float array after checking it against ``feedback``.

    It must have shape ``(n, k)`` (rounds, actions), be finite, lie in ``[0, 1]``
    and have rows summing to one within ``ROW_SUM_TOLERANCE``.

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
    probs = np.asarray(target_probs, dtype=float)
    n, k = feedback.n_rounds, len(feedback.actions)
    if probs.shape != (n, k):
        raise ValueError(f"target_probs has shape {probs.shape}, expected ({n}, {k}) (rounds, actions)")
    _first_bad_entry(~np.isfinite(probs), probs, feedback.actions, "target_probs must be finite")
    _first_bad_entry((probs < 0) | (probs > 1), probs, feedback.actions, "target_probs must lie in [0, 1]")
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"target_probs rows must sum to 1 (within {ROW_SUM_TOLERANCE:g}); "
            f"row {int(bad[0])} sums to {float(sums[bad[0]])!r} ({bad.size} bad row(s))"
        )
    return probs


def _first_bad_entry(mask: np.ndarray, values: np.ndarray, actions: tuple[str, ...], what: str) -> None:
    """Raise ``ValueError`` naming the first row (and action) where ``mask`` is set."""
    bad_rows = np.flatnonzero(mask.any(axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        column = int(np.flatnonzero(mask[row])[0])
        raise ValueError(
            f"{what}; row {row} has {float(values[row, column])!r} for action {actions[column]!r} "
            f"({bad_rows.size} bad row(s))"
        )
