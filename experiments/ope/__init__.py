"""Off-policy evaluation: estimate a target policy's value from logged bandit feedback.

Each estimator (``dm``, ``ips``, ``snips``, ``dr``, ``sndr``, ``switch-dr``,
``dr-os``; :data:`ESTIMATORS`) implements one hook, ``round_terms``, giving each
logged round's terms: the estimate is a ratio of their sums
(:class:`RoundTerms`). One shared routine (:func:`summarise_all`, behind
:func:`evaluate`) turns the terms of every estimator into values and intervals
from one plan of resamples: a percentile bootstrap of the whole statistic, by
round or by user (``clusters``), vectorised over random blocks of units when
there are many (:class:`ResamplePlan`), or a normal approximation by the delta
method. :func:`paired_difference` compares two statistics on the same rounds.
:func:`diagnose` reports the importance weights, the support of the target and
warnings.

Modules: ``records`` (the typed records), ``base`` (the estimator base classes),
``weighting``, ``doubly_robust``, ``large_weights`` (the estimators),
``estimators`` (the registry), ``resampling`` and ``interval`` (the interval
routine), ``diagnostics``, ``validation``, ``evaluate``, ``toy`` (a log to
compute by hand).

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
>>> lift = paired_difference(SNIPS().round_terms(feedback, coupon), feedback.rewards, n_bootstrap=500)
>>> lift.ci_low > 0
True
>>> diagnose(feedback, coupon).warnings
[]
"""

from experiments.ope.base import Estimator, WeightingEstimator, estimate_all
from experiments.ope.diagnostics import (
    Diagnostics,
    diagnose,
    effective_sample_size,
    ess_ratio,
    importance_weights,
    match_rate,
    max_weight,
    mean_weight,
    support_diagnostics,
    unsupported_mass,
    weight_diagnostics,
)
from experiments.ope.estimators import (
    DM,
    DR,
    DROS,
    ESTIMATORS,
    IPS,
    SNDR,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithOptimisticShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
    SwitchDR,
    make_estimator,
)
from experiments.ope.evaluate import evaluate, on_policy_value
from experiments.ope.interval import INTERVALS, bootstrap_interval, paired_difference, summarise, summarise_all
from experiments.ope.records import EstimatorResult, RoundTerms
from experiments.ope.resampling import MAX_UNITS, ResamplePlan, Units
from experiments.ope.validation import check_q_hat, check_target_probs

__all__ = [
    "DM",
    "DR",
    "DROS",
    "ESTIMATORS",
    "INTERVALS",
    "IPS",
    "MAX_UNITS",
    "SNDR",
    "SNIPS",
    "Diagnostics",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithOptimisticShrinkage",
    "Estimator",
    "EstimatorResult",
    "InverseProbabilityWeighting",
    "ResamplePlan",
    "RoundTerms",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDR",
    "SwitchDoublyRobust",
    "Units",
    "WeightingEstimator",
    "bootstrap_interval",
    "check_q_hat",
    "check_target_probs",
    "diagnose",
    "effective_sample_size",
    "ess_ratio",
    "estimate_all",
    "evaluate",
    "importance_weights",
    "make_estimator",
    "match_rate",
    "max_weight",
    "mean_weight",
    "on_policy_value",
    "paired_difference",
    "summarise",
    "summarise_all",
    "support_diagnostics",
    "unsupported_mass",
    "weight_diagnostics",
]
