"""Non-contextual Thompson sampling over the mean net reward of each action.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n, actions = 600, ("no_offer", "coupon", "installment")
>>> chosen = rng.integers(0, 3, n)
>>> rewards = rng.normal(np.array([0.0, 2.0, 0.5])[chosen], 3.0)
>>> feedback = Feedback(pl.DataFrame({"x": np.zeros(n)}), actions, np.ones((n, 3), bool), chosen, rewards,
...                     np.full(n, 1 / 3))
>>> policy = ThompsonSampling(seed=1)
>>> policy.learn(feedback)
>>> policy.probabilities(pl.DataFrame({"x": [0.0]}), actions).round(2)
array([[0.01, 0.98, 0.01]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from policies.base import BasePolicy, Feedback, eligible_patterns


class ThompsonSampling(BasePolicy):
    r"""Thompson sampling with a Normal-Inverse-Gamma posterior of each action's mean reward; contexts are ignored.

    Parameters
    ----------
    prior_mean, prior_count
        The prior's guess of every action's mean reward and how many rounds it is worth (:math:`\mu_0`,
        :math:`\kappa_0`).
    prior_shape, prior_rate
        The inverse-gamma prior of the reward variance (:math:`\alpha_0`, :math:`\beta_0`): its mean is
        ``prior_rate / (prior_shape - 1)``.
    draws
        Posterior draws of the Monte Carlo estimate of the probabilities.
    floor
        The minimum probability of every eligible action (see :class:`~policies.base.BasePolicy`).
    seed
        Seeds the Monte Carlo draws, together with the number of rounds learned.
    statistics
        Learned state, recorded by :meth:`save`: per action ``[count, mean, sum of squared deviations]``.
    rounds_learned
        Learned state: the number of rounds :meth:`learn` has seen.

    Notes
    -----
    Rewards are money (net of offer cost), so they can be negative and have no natural bound: each action's
    rewards are modelled as :math:`r \sim N(\mu_a, \sigma_a^2)` with the conjugate prior
    :math:`\sigma_a^2 \sim \text{InvGamma}(\alpha_0, \beta_0)`,
    :math:`\mu_a \mid \sigma_a^2 \sim N(\mu_0, \sigma_a^2 / \kappa_0)`. After :math:`n` rewards with mean
    :math:`\bar r` and sum of squared deviations :math:`S`,

    .. math::
        \kappa_n = \kappa_0 + n, \quad \mu_n = (\kappa_0 \mu_0 + n \bar r) / \kappa_n, \quad
        \alpha_n = \alpha_0 + n / 2, \quad
        \beta_n = \beta_0 + S / 2 + \kappa_0 n (\bar r - \mu_0)^2 / (2 \kappa_n),

    and the posterior of the mean alone is a Student t with :math:`2 \alpha_n` degrees of freedom, location
    :math:`\mu_n` and scale :math:`\sqrt{\beta_n / (\alpha_n \kappa_n)}`. The probability of an action is
    the probability that its sampled mean is the highest among the eligible actions, estimated from ``draws``
    joint draws (the same draws for every row, so a row's probabilities depend on its eligible actions only);
    :meth:`act` samples from those probabilities, so every decision reports its exact propensity. The draws are
    seeded by ``(seed, rounds_learned)``: the probabilities are a fixed function of the learned state.

    :meth:`learn` merges each batch's per-action count, mean and sum of squared deviations into the running ones
    (Chan et al.'s pairwise update), from the chosen actions' rewards; it does not reweight by propensity, as an
    online bandit learning from its own decisions would not. From a log whose logging policy depended on the
    context, the means are those of the rounds each action was logged in.
    """

    name = "thompson"

    def __init__(
        self,
        prior_mean: float = 0.0,
        prior_count: float = 1.0,
        prior_shape: float = 1.0,
        prior_rate: float = 1.0,
        draws: int = 2000,
        floor: float = 0.01,
        seed: int = 0,
        statistics: dict[str, list[float]] | None = None,
        rounds_learned: int = 0,
    ) -> None:
        for label, value in (("prior_count", prior_count), ("prior_shape", prior_shape), ("prior_rate", prior_rate)):
            if not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if draws < 1:
            raise ValueError(f"draws must be at least 1, got {draws}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must lie in [0, 1], got {floor}")
        self.prior_mean = prior_mean
        self.prior_count = prior_count
        self.prior_shape = prior_shape
        self.prior_rate = prior_rate
        self.draws = draws
        self.floor = floor
        self.seed = seed
        self.statistics_ = {a: [float(v) for v in s] for a, s in (statistics or {}).items()}
        self.rounds_learned_ = rounds_learned

    @classmethod
    def example(cls) -> ThompsonSampling:
        """Build a seeded policy with 500 posterior draws."""
        return cls(draws=500, seed=3)

    def params(self) -> dict[str, Any]:
        """Return the prior, the number of draws, the floor and the seed."""
        return {
            "prior_mean": self.prior_mean,
            "prior_count": self.prior_count,
            "prior_shape": self.prior_shape,
            "prior_rate": self.prior_rate,
            "draws": self.draws,
            "floor": self.floor,
            "seed": self.seed,
        }

    def saved_params(self) -> dict[str, Any]:
        """Return the params with each action's running statistics and the number of rounds learned."""
        return {**self.params(), "statistics": self.statistics_, "rounds_learned": self.rounds_learned_}

    def posterior(self, actions: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the Student t posterior of each action's mean: ``(degrees of freedom, location, scale)``."""
        count, mean, squares = np.array([self.statistics_.get(a, [0.0, 0.0, 0.0]) for a in actions]).T
        kappa = self.prior_count + count
        location = (self.prior_count * self.prior_mean + count * mean) / kappa
        alpha = self.prior_shape + count / 2
        shift = self.prior_count * count * (mean - self.prior_mean) ** 2 / (2 * kappa)
        beta = self.prior_rate + squares / 2 + shift
        return 2 * alpha, location, np.sqrt(beta / (alpha * kappa))

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        dof, location, scale = self.posterior(actions)
        rng = np.random.default_rng([self.seed, self.rounds_learned_])
        sampled = location + scale * rng.standard_t(dof, size=(self.draws, len(actions)))
        codes, patterns = eligible_patterns(eligible)
        shares = np.zeros((len(patterns), len(actions)))
        for row, columns in enumerate(patterns):
            best = np.asarray(columns)[sampled[:, columns].argmax(axis=1)]
            shares[row] = np.bincount(best, minlength=len(actions)) / self.draws
        return np.take(shares, codes, axis=0)

    def learn(self, feedback: Feedback) -> None:
        """Merge the rewards of each chosen action into its running count, mean and sum of squared deviations."""
        for index, action in enumerate(feedback.actions):
            rewards = feedback.rewards[feedback.chosen == index]
            if not rewards.size:
                continue
            count, mean, squares = self.statistics_.get(action, [0.0, 0.0, 0.0])
            batch_mean = float(rewards.mean())
            batch_squares = float(((rewards - batch_mean) ** 2).sum())
            total = count + rewards.size
            delta = batch_mean - mean
            self.statistics_[action] = [
                total,
                mean + delta * rewards.size / total,
                squares + batch_squares + delta**2 * count * rewards.size / total,
            ]
        self.rounds_learned_ += feedback.n_rounds
