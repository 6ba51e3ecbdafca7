"""Evaluate a target policy with several estimators at once, and the logging policy on its own log.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 1000
>>> chosen = rng.integers(0, 2, size=n)
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": np.zeros(n)}),
...     actions=("a", "b"),
...     eligible=np.ones((n, 2), dtype=bool),
...     chosen=chosen,
...     rewards=rng.binomial(1, np.where(chosen == 1, 0.6, 0.3)).astype(float),
...     propensities=np.full(n, 0.5),
... )
>>> results = evaluate(feedback, np.tile([0.0, 1.0], (n, 1)), n_bootstrap=500)
>>> [(r.estimator, round(r.value, 3), round(r.ci_low, 3), round(r.ci_high, 3)) for r in results]  # truth: 0.6
[('ips', 0.664, 0.606, 0.723), ('snips', 0.618, 0.564, 0.673)]
>>> round(on_policy_value(feedback, n_bootstrap=500).value, 3)
0.479
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.ope.base import EstimatorResult
from experiments.ope.diagnostics import weight_diagnostics
from experiments.ope.estimators import ESTIMATORS
from experiments.ope.interval import summarise
from policies.base import Feedback


def evaluate(
    feedback: Feedback,
    target_probs: np.ndarray,
    estimators: Sequence[str] = ("ips", "snips"),
    q_hat: np.ndarray | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[EstimatorResult]:
    """Estimate the target policy's value with each named estimator.

    Parameters
    ----------
    feedback
        The logged rounds.
    target_probs
        ``(n, k)`` probabilities of the target policy.
    estimators
        Names from :data:`experiments.ope.estimators.ESTIMATORS`; all are checked before any runs.
    q_hat
        ``(n, k)`` estimated expected rewards, needed by ``"dm"`` and ``"dr"``.
    alpha, n_bootstrap, seed
        As in :meth:`experiments.ope.base.Estimator.estimate`. Every estimator
        uses the same ``seed``, hence the same resamples (common random numbers).

    Returns
    -------
    list[EstimatorResult]
        One result per estimator, in the order given.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from policies.base import Feedback
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> evaluate(feedback, np.tile([1.0, 0.0], (4, 1)), estimators=("ips", "mean"))
    Traceback (most recent call last):
    ...
    ValueError: unknown estimator(s) ['mean']; known: ['dm', 'dr', 'ips', 'snips']
    """
    names = (estimators,) if isinstance(estimators, str) else tuple(estimators)
    unknown = [name for name in names if name not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; known: {sorted(ESTIMATORS)}")
    return [
        ESTIMATORS[name]().estimate(feedback, target_probs, q_hat, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed)
        for name in names
    ]


def on_policy_value(feedback: Feedback, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0) -> EstimatorResult:
    """The logging policy's own value: the mean observed reward, with the same bootstrap (estimator ``"logged"``).

    Its diagnostics are those of unit weights (the target is the logging policy).

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from policies.base import Feedback
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> result = on_policy_value(feedback, n_bootstrap=200, seed=1)
    >>> result.estimator, result.value, result.diagnostics["ess_ratio"]
    ('logged', 0.625, 1.0)
    """
    if feedback.n_rounds == 0:
        raise ValueError("feedback has no rounds to evaluate")
    diagnostics = weight_diagnostics(np.ones(feedback.n_rounds))
    return summarise(feedback.rewards, alpha, n_bootstrap, seed, estimator="logged", diagnostics=diagnostics)
