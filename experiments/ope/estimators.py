"""Every off-policy estimator by name: the registry, and a constructor that checks the name.

========== ===================================================== =============================
name       estimator                                             needs
========== ===================================================== =============================
dm         :class:`~experiments.ope.doubly_robust.DirectMethod`  ``q_hat``
ips        :class:`~experiments.ope.weighting.InverseProbabilityWeighting`
snips      :class:`~experiments.ope.weighting.SelfNormalizedInverseProbabilityWeighting`
dr         :class:`~experiments.ope.doubly_robust.DoublyRobust`  ``q_hat``
sndr       :class:`~experiments.ope.doubly_robust.SelfNormalizedDoublyRobust` ``q_hat``
switch-dr  :class:`~experiments.ope.large_weights.SwitchDoublyRobust` ``q_hat``
dr-os      :class:`~experiments.ope.large_weights.DoublyRobustWithOptimisticShrinkage` ``q_hat``
========== ===================================================== =============================

Each computes per-round terms only; :meth:`~experiments.ope.base.Estimator.estimate`
turns them into a value with an interval.

Examples
--------
Uniform logging over two actions; the target always picks ``b``, worth 0.6:

>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 2000
>>> chosen = rng.integers(0, 2, size=n)
>>> rewards = rng.binomial(1, np.where(chosen == 1, 0.6, 0.3)).astype(float)
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": np.zeros(n)}),
...     actions=("a", "b"),
...     eligible=np.ones((n, 2), dtype=bool),
...     chosen=chosen,
...     rewards=rewards,
...     propensities=np.full(n, 0.5),
... )
>>> always_b = np.tile([0.0, 1.0], (n, 1))
>>> result = make_estimator("snips").estimate(feedback, always_b, seed=0)
>>> round(result.value, 3), round(result.ci_low, 3), round(result.ci_high, 3)
(0.623, 0.595, 0.652)
"""

from __future__ import annotations

from experiments.ope.base import Estimator, WeightingEstimator
from experiments.ope.doubly_robust import (
    DM,
    DR,
    SNDR,
    DirectMethod,
    DoublyRobust,
    SelfNormalizedDoublyRobust,
)
from experiments.ope.large_weights import (
    DROS,
    DoublyRobustWithOptimisticShrinkage,
    SwitchDoublyRobust,
    SwitchDR,
)
from experiments.ope.weighting import (
    IPS,
    SNIPS,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)

#: Every estimator class by its name; ``ESTIMATORS[name]()`` builds one with default hyperparameters.
ESTIMATORS: dict[str, type[Estimator]] = {cls.name: cls for cls in (DM, IPS, SNIPS, DR, SNDR, SwitchDR, DROS)}


def make_estimator(name: str, clip: float | None = None) -> Estimator:
    """Return the estimator registered as ``name``, with default hyperparameters and weights clipped at ``clip``.

    ``clip`` applies to every estimator that weights rounds (all but ``dm``,
    which has no weights and ignores it).

    Examples
    --------
    >>> make_estimator("ips", clip=20.0)
    InverseProbabilityWeighting(clip=20.0)
    >>> make_estimator("dm", clip=20.0)
    DirectMethod()
    >>> make_estimator("xyz")
    Traceback (most recent call last):
    ...
    ValueError: unknown estimator 'xyz'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']
    """
    cls = ESTIMATORS.get(name)
    if cls is None:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}")
    if clip is not None and issubclass(cls, WeightingEstimator):
        return cls(clip=clip)
    return cls()


__all__ = [
    "DM",
    "DR",
    "DROS",
    "ESTIMATORS",
    "IPS",
    "SNDR",
    "SNIPS",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithOptimisticShrinkage",
    "InverseProbabilityWeighting",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDR",
    "SwitchDoublyRobust",
    "make_estimator",
]
