"""Off-policy estimators: IPS, self-normalised IPS, the direct method and doubly robust.

Each computes per-round contributions only; :meth:`Estimator.estimate` turns them
into a value with an interval.

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
>>> result = SNIPS().estimate(feedback, always_b, seed=0)
>>> round(result.value, 3), round(result.ci_low, 3), round(result.ci_high, 3)
(0.623, 0.584, 0.663)
"""

from __future__ import annotations

import numpy as np

from experiments.ope.base import Estimator, _first_bad_entry
from experiments.ope.diagnostics import importance_weights
from policies.base import Feedback


class InverseProbabilityWeighting(Estimator):
    """Inverse probability weighting (IPS): reweight each observed reward by how much likelier the target makes it.

    Notes
    -----
    Round ``i`` contributes ``w_i r_i`` with ``w_i = pi_target(a_i | x_i) / propensity_i``.
    Unbiased when the propensities are right and the logging policy gives every
    action the target can choose a positive probability; its variance grows with
    the weights.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> IPS().round_rewards(feedback, np.tile([1.0, 0.0], (4, 1)))
    array([2., 0., 0., 1.])
    """

    name = "ips"

    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        return importance_weights(feedback, target_probs) * feedback.rewards


class SelfNormalizedInverseProbabilityWeighting(Estimator):
    """Self-normalised IPS (SNIPS): IPS with the weights divided by their mean.

    Notes
    -----
    Round ``i`` contributes ``w_i r_i / mean(w)`` (Open Bandit Pipeline's
    convention), so the estimate ``sum(w r) / sum(w)`` is a weighted mean of the
    observed rewards and stays within their range. Slightly biased, usually far
    less variable than IPS. The bootstrap holds ``mean(w)`` fixed.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> SNIPS().round_rewards(feedback, np.tile([1.0, 0.0], (4, 1)))
    array([2., 0., 0., 1.])
    >>> SNIPS().round_rewards(feedback, np.tile([0.0, 1.0], (4, 1)))
    array([0., 0., 2., 0.])
    """

    name = "snips"

    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        weights = importance_weights(feedback, target_probs)
        top = float(weights.max()) if weights.size else 0.0
        if top <= 0:
            raise ValueError(
                f"{self.name}: the target policy gives probability 0 to every logged action, "
                "so there is no weight to normalise by (match_rate is 0)"
            )
        scaled = weights / top  # in [0, 1]: no overflow, and tiny weights keep their precision
        return scaled / scaled.mean() * feedback.rewards


class DirectMethod(Estimator):
    """The direct method (DM): the target's expected reward under a reward model ``q_hat``.

    Notes
    -----
    Round ``i`` contributes ``sum_a pi_target(a | x_i) q_hat(x_i, a)``. Low
    variance, but biased as far as the reward model is wrong. ``q_hat`` may be
    missing (NaN) where the target's probability is zero, e.g. ineligible actions.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> q_hat = np.tile([0.8, 0.4], (4, 1))
    >>> DM().round_rewards(feedback, np.tile([0.5, 0.5], (4, 1)), q_hat)
    array([0.6, 0.6, 0.6, 0.6])
    """

    name = "dm"

    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        q = _reward_model(self.name, feedback, target_probs, q_hat)
        return (target_probs * q).sum(axis=1)


class DoublyRobust(Estimator):
    """Doubly robust (DR): the direct method plus an IPS correction of the reward model's error.

    Notes
    -----
    Round ``i`` contributes ``sum_a pi_target(a | x_i) q_hat(x_i, a) + w_i (r_i - q_hat(x_i, a_i))``.
    Unbiased when either the propensities or the reward model are right, and
    less variable than IPS when ``q_hat`` is good. ``q_hat`` may be missing
    (NaN) where the target's probability is zero.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> feedback = Feedback(
    ...     contexts=pl.DataFrame({"x": [0, 1, 0, 1]}),
    ...     actions=("a", "b"),
    ...     eligible=np.ones((4, 2), dtype=bool),
    ...     chosen=np.array([0, 1, 1, 0]),
    ...     rewards=np.array([1.0, 0.0, 1.0, 0.5]),
    ...     propensities=np.full(4, 0.5),
    ... )
    >>> q_hat = np.tile([0.8, 0.4], (4, 1))
    >>> DR().round_rewards(feedback, np.tile([1.0, 0.0], (4, 1)), q_hat)
    array([1.2, 0.8, 0.8, 0.2])
    """

    name = "dr"

    def round_rewards(
        self, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None = None
    ) -> np.ndarray:
        q = _reward_model(self.name, feedback, target_probs, q_hat)
        weights = importance_weights(feedback, target_probs)
        logged_q = q[np.arange(feedback.n_rounds), feedback.chosen]
        return (target_probs * q).sum(axis=1) + weights * (feedback.rewards - logged_q)


def _reward_model(name: str, feedback: Feedback, target_probs: np.ndarray, q_hat: np.ndarray | None) -> np.ndarray:
    """``q_hat`` checked and with zeros where the target's probability is zero (it is not used there)."""
    if q_hat is None:
        raise ValueError(f"{name} needs q_hat, the (n, k) estimated expected reward of every action; got None")
    q = np.asarray(q_hat, dtype=float)
    n, k = feedback.n_rounds, len(feedback.actions)
    if q.shape != (n, k):
        raise ValueError(f"q_hat has shape {q.shape}, expected ({n}, {k}) (rounds, actions)")
    used = target_probs > 0
    _first_bad_entry(
        used & ~np.isfinite(q), q, feedback.actions, "q_hat must be finite where the target's probability is positive"
    )
    return np.where(used, q, 0.0)


IPS = InverseProbabilityWeighting
SNIPS = SelfNormalizedInverseProbabilityWeighting
DM = DirectMethod
DR = DoublyRobust

#: Every estimator by its name.
ESTIMATORS: dict[str, type[Estimator]] = {cls.name: cls for cls in (IPS, SNIPS, DM, DR)}
