"""Off-policy evaluation: estimate a target policy's value from logged bandit feedback.

Estimators compute per-round contributions; one shared bootstrap
(:func:`summarise`) turns them into a value, an interval and a standard error,
and importance weight diagnostics say how far the estimate can be trusted.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 3000
>>> chosen = rng.integers(0, 3, size=n)
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": np.zeros(n)}),
...     actions=("no_offer", "coupon", "installment"),
...     eligible=np.ones((n, 3), dtype=bool),
...     chosen=chosen,
...     rewards=rng.binomial(1, np.array([0.2, 0.5, 0.3])[chosen]).astype(float),
...     propensities=np.full(n, 1 / 3),
... )
>>> coupon = np.tile([0.0, 1.0, 0.0], (n, 1))
>>> snips = evaluate(feedback, coupon, estimators=("snips",), n_bootstrap=500)[0]
>>> logged = on_policy_value(feedback, n_bootstrap=500)
>>> round(snips.value, 3), round(logged.value, 3)
(0.496, 0.332)
>>> lift = paired_difference(SNIPS().round_rewards(feedback, coupon), feedback.rewards, n_bootstrap=500)
>>> lift.ci_low > 0
True
"""

from experiments.ope.base import Estimator, EstimatorResult, check_target_probs
from experiments.ope.diagnostics import (
    effective_sample_size,
    ess_ratio,
    importance_weights,
    match_rate,
    max_weight,
    mean_weight,
    weight_diagnostics,
)
from experiments.ope.estimators import (
    DM,
    DR,
    ESTIMATORS,
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)
from experiments.ope.evaluate import evaluate, on_policy_value
from experiments.ope.interval import bootstrap_interval, paired_difference, summarise

__all__ = [
    "DM",
    "DR",
    "ESTIMATORS",
    "IPS",
    "SNIPS",
    "DirectMethod",
    "DoublyRobust",
    "Estimator",
    "EstimatorResult",
    "InverseProbabilityWeighting",
    "SelfNormalizedInverseProbabilityWeighting",
    "bootstrap_interval",
    "check_target_probs",
    "effective_sample_size",
    "ess_ratio",
    "evaluate",
    "importance_weights",
    "match_rate",
    "max_weight",
    "mean_weight",
    "on_policy_value",
    "paired_difference",
    "summarise",
    "weight_diagnostics",
]
