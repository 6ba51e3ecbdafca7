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
[('ips', 0.664, 0.603, 0.726), ('snips', 0.618, 0.578, 0.659)]
>>> round(on_policy_value(feedback, n_bootstrap=500).value, 3)
0.479
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.ope.base import estimate_all
from experiments.ope.diagnostics import weight_diagnostics
from experiments.ope.estimators import make_estimator
from experiments.ope.interval import summarise
from experiments.ope.records import EstimatorResult
from experiments.ope.resampling import MAX_UNITS, Units
from policies.base import Feedback


def evaluate(
    feedback: Feedback,
    target_probs: np.ndarray,
    estimators: Sequence[str] = ("ips", "snips"),
    q_hat: np.ndarray | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
    interval: str = "bootstrap",
    clip: float | None = None,
    *,
    max_units: int | None = MAX_UNITS,
) -> list[EstimatorResult]:
    """Estimate the target policy's value with each named estimator, all from one resample plan.

    Parameters
    ----------
    feedback
        The logged rounds.
    target_probs
        ``(n, k)`` probabilities of the target policy.
    estimators
        Names from :data:`experiments.ope.estimators.ESTIMATORS`; all are checked before any runs.
    q_hat
        ``(n, k)`` estimated expected rewards, needed by every estimator but ``"ips"`` and ``"snips"``.
    alpha
        One minus the intervals' coverage.
    n_bootstrap
        Number of bootstrap resamples.
    seed
        Seed of the resample plan; every estimator uses the same resamples (common random numbers).
    clusters
        ``(n,)`` cluster label of each round (e.g. user ids): the bootstrap then
        resamples clusters, and the normal interval linearises over them.
    interval
        ``"bootstrap"`` or ``"normal"`` (see :func:`experiments.ope.interval.summarise_all`).
    clip
        Largest importance weight used by the estimators that weight rounds, or ``None``.
    max_units
        Most groups a resample draws (see :class:`experiments.ope.resampling.ResamplePlan`);
        ``None`` for the exact bootstrap over units.

    Returns
    -------
    list[EstimatorResult]
        One result per estimator, in the order given; each carries the
        diagnostics of :func:`experiments.ope.diagnostics.diagnose`.

    Examples
    --------
    >>> from experiments.ope.toy import toy_log
    >>> log = toy_log()
    >>> results = evaluate(log.feedback, log.target_probs, ("dm", "dr", "sndr"), log.q_hat, interval="normal")
    >>> [(r.estimator, round(r.value, 4)) for r in results]
    [('dm', 0.4), ('dr', 0.3), ('sndr', 0.3333)]
    >>> evaluate(log.feedback, log.target_probs, estimators=("ips", "mean"))
    Traceback (most recent call last):
    ...
    ValueError: unknown estimator 'mean'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']
    """
    names = (estimators,) if isinstance(estimators, str) else tuple(estimators)
    chosen = [make_estimator(name, clip) for name in names]
    return estimate_all(
        chosen,
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


def on_policy_value(
    feedback: Feedback,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
    interval: str = "bootstrap",
    *,
    max_units: int | None = MAX_UNITS,
) -> EstimatorResult:
    """Estimate the logging policy's own value: the mean observed reward, with the same interval.

    Its estimator is named ``"logged"``; its diagnostics are those of unit weights on full support (the target is
    the logging policy).

    Examples
    --------
    >>> from experiments.ope.toy import toy_log
    >>> result = on_policy_value(toy_log().feedback, n_bootstrap=200, seed=1)
    >>> result.estimator, result.value, result.diagnostics["ess_ratio"]
    ('logged', 0.625, 1.0)
    """
    if feedback.n_rounds == 0:
        raise ValueError("feedback has no rounds to evaluate")
    diagnostics = {
        **weight_diagnostics(np.ones(feedback.n_rounds)),
        "support_deficit_rate": 0.0,  # the logger never leaves its own support
        "support_deficit_mass": 0.0,
    }
    return summarise(
        feedback.rewards,
        alpha,
        n_bootstrap,
        seed,
        estimator="logged",
        diagnostics=diagnostics,
        clusters=Units.of(feedback.n_rounds, clusters),
        interval=interval,
        max_units=max_units,
    )
