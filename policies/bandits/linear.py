r"""Linear contextual bandits with one ridge regression per action: LinUCB and linear Thompson sampling.

Both read the context through :class:`~policies.bandits.context_map.ContextFeatureMap` (standardised numbers,
one-hot levels, an intercept), fitted on the first feedback learned and then kept fixed.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n, actions = 800, ("no_offer", "coupon")
>>> sensitive = rng.integers(0, 2, n).astype(float)
>>> chosen = rng.integers(0, 2, n)
>>> rewards = np.where(chosen == sensitive, 1.0, 0.0) + rng.normal(0, 0.5, n)
>>> feedback = Feedback(pl.DataFrame({"sensitive": sensitive}), actions, np.ones((n, 2), bool), chosen, rewards,
...                     np.full(n, 0.5))
>>> probe = pl.DataFrame({"sensitive": [0.0, 1.0]})
>>> ucb = LinUCB(floor=0.05)
>>> ucb.learn(feedback)
>>> ucb.probabilities(probe, actions).round(2)
array([[0.95, 0.05],
       [0.05, 0.95]])
>>> thompson = LinearThompsonSampling(seed=1)
>>> thompson.learn(feedback)
>>> thompson.probabilities(probe, actions).round(2)
array([[0.99, 0.01],
       [0.01, 0.99]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from policies.bandits.context_map import ContextFeatureMap
from policies.base import BasePolicy, Feedback

#: Draws times rows per block of the Monte Carlo estimate (bounds its memory).
_BLOCK = 1 << 21


@dataclass
class ActionStatistics:
    """One action's sufficient statistics: ``A`` (d x d), ``b`` (d), rounds learned, and the sum of squared rewards."""

    A: np.ndarray
    b: np.ndarray
    rounds: int = 0
    squared_rewards: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the statistics as JSON-ready lists and numbers, read back by :meth:`from_dict`."""
        return {
            "A": self.A.tolist(),
            "b": self.b.tolist(),
            "rounds": self.rounds,
            "squared_rewards": self.squared_rewards,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionStatistics:
        """Rebuild the statistics written by :meth:`to_dict`."""
        return cls(
            A=np.asarray(data["A"], dtype=float),
            b=np.asarray(data["b"], dtype=float),
            rounds=int(data["rounds"]),
            squared_rewards=float(data["squared_rewards"]),
        )


class DisjointRidge:
    r"""Per-action ridge regressions of the reward on the context features, kept as sufficient statistics.

    Parameters
    ----------
    ridge
        The penalty :math:`\lambda`: each action's :math:`A_a` starts at :math:`\lambda I`.
    feature_map
        The fitted context map; fitted on the first feedback when not given.
    models
        Per action, :meth:`ActionStatistics.to_dict`'s description of its statistics.

    Notes
    -----
    For action :math:`a` with feature rows :math:`x_i` and rewards :math:`r_i` of the rounds it was chosen in,
    :math:`A_a = \lambda I + \sum_i x_i x_i^\top`, :math:`b_a = \sum_i r_i x_i`, and the estimate is
    :math:`\hat\theta_a = A_a^{-1} b_a`. A context :math:`x` gets the predicted mean :math:`x^\top \hat\theta_a`
    and width :math:`\hat\sigma \sqrt{x^\top A_a^{-1} x}`, where :math:`\hat\sigma^2` is the residual variance
    pooled over actions, :math:`\sum_a (\sum_i r_i^2 - 2 \hat\theta_a^\top b_a + \hat\theta_a^\top (A_a -
    \lambda I) \hat\theta_a) / (N - 1)` (one before two rounds are learned): rewards are money, so the widths
    are on the reward's own scale and the policies' ``alpha`` / ``scale`` are unitless. Learning adds each
    batch's :math:`X^\top X`, :math:`X^\top r`, counts and :math:`\sum r^2` to the running ones.
    """

    def __init__(
        self,
        ridge: float = 1.0,
        feature_map: ContextFeatureMap | None = None,
        models: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if not ridge > 0:
            raise ValueError(f"ridge must be positive, got {ridge}")
        self.ridge = ridge
        self.feature_map = feature_map
        self.models = {action: ActionStatistics.from_dict(model) for action, model in (models or {}).items()}

    def learn(self, feedback: Feedback) -> None:
        """Add the chosen actions' features and rewards to their sufficient statistics."""
        if self.feature_map is None:
            self.feature_map = ContextFeatureMap.fit(feedback.contexts)
        features = self.feature_map.transform(feedback.contexts)
        d = features.shape[1]
        for index, action in enumerate(feedback.actions):
            rows = feedback.chosen == index
            if not rows.any():
                continue
            x, r = features[rows], feedback.rewards[rows]
            model = self.models.setdefault(action, ActionStatistics(self.ridge * np.eye(d), np.zeros(d)))
            model.A = model.A + x.T @ x
            model.b = model.b + x.T @ r
            model.rounds += int(rows.sum())
            model.squared_rewards += float(r @ r)

    def noise_sd(self) -> float:
        r"""Return the pooled residual standard deviation :math:`\hat\sigma` (see the Notes)."""
        rounds = sum(model.rounds for model in self.models.values())
        if rounds < 2:
            return 1.0
        residual = 0.0
        for model in self.models.values():
            theta = np.linalg.solve(model.A, model.b)
            data_part = model.A - self.ridge * np.eye(len(theta))
            residual += model.squared_rewards - 2 * theta @ model.b + theta @ data_part @ theta
        return float(np.sqrt(max(residual, 0.0) / (rounds - 1))) or 1.0

    def predict(self, contexts: pl.DataFrame, actions: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(n, k)`` predicted means and widths (``sigma * sqrt(x' A^-1 x)``).

        An action not learned yet has mean 0 and the prior's width.
        """
        n = contexts.height
        if self.feature_map is None:
            return np.zeros((n, len(actions))), np.ones((n, len(actions)))
        features = self.feature_map.transform(contexts)
        sigma = self.noise_sd()
        means, widths = np.zeros((n, len(actions))), np.zeros((n, len(actions)))
        for column, action in enumerate(actions):
            model = self.models.get(action)
            if model is None:
                widths[:, column] = sigma * np.sqrt((features**2).sum(axis=1) / self.ridge)
                continue
            inverse = np.linalg.inv(model.A)
            means[:, column] = features @ (inverse @ model.b)
            variance = np.einsum("ij,jk,ik->i", features, inverse, features)
            widths[:, column] = sigma * np.sqrt(np.maximum(variance, 0.0))
        return means, widths

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: the feature map and every action's statistics."""
        return {
            "feature_map": None if self.feature_map is None else self.feature_map.to_dict(),
            "models": {action: model.to_dict() for action, model in self.models.items()},
        }


class _LinearPolicy(BasePolicy):
    """Shared settings, learning and saving of the two linear policies (registered under its subclasses' names)."""

    def __init__(
        self,
        ridge: float,
        floor: float,
        seed: int,
        feature_map: dict[str, Any] | None,
        models: dict[str, dict[str, Any]] | None,
        rounds_learned: int,
    ) -> None:
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must lie in [0, 1], got {floor}")
        self.ridge = ridge
        self.floor = floor
        self.seed = seed
        mapping = None if feature_map is None else ContextFeatureMap.from_dict(feature_map)
        self.ridge_ = DisjointRidge(ridge, mapping, models)
        self.rounds_learned_ = rounds_learned

    def params(self) -> dict[str, Any]:
        return {"ridge": self.ridge, "floor": self.floor, "seed": self.seed}

    def saved_params(self) -> dict[str, Any]:
        return {**self.params(), **self.ridge_.to_dict(), "rounds_learned": self.rounds_learned_}

    def learn(self, feedback: Feedback) -> None:
        """Update every chosen action's ridge statistics (see :class:`DisjointRidge`)."""
        self.ridge_.learn(feedback)
        self.rounds_learned_ += feedback.n_rounds


_LinearPolicy.registry.pop(_LinearPolicy.name)  # the shared part is no policy of its own


class LinUCB(_LinearPolicy):
    r"""LinUCB with disjoint models: the eligible action with the highest upper confidence bound, plus a floor.

    Parameters
    ----------
    alpha
        The width multiplier: the bound is the predicted mean plus ``alpha`` widths.
    ridge
        The ridge penalty (:class:`DisjointRidge`).
    floor
        Every eligible action's minimum probability: the argmax alone would make every propensity 1 or 0.
    seed
        Unused (LinUCB is deterministic); kept so that every learned policy takes one.
    feature_map, models, rounds_learned
        Learned state, recorded by :meth:`save`.

    Notes
    -----
    With :math:`\hat\mu_a(x)` and :math:`w_a(x)` the mean and width of :class:`DisjointRidge`, the policy takes
    :math:`\arg\max_a \hat\mu_a(x) + \alpha\, w_a(x)` over the eligible actions (ties shared equally), mixed with
    the uniform distribution so that each eligible action keeps ``floor``.
    """

    name = "linucb"

    def __init__(
        self,
        alpha: float = 1.0,
        ridge: float = 1.0,
        floor: float = 0.01,
        seed: int = 0,
        feature_map: dict[str, Any] | None = None,
        models: dict[str, dict[str, Any]] | None = None,
        rounds_learned: int = 0,
    ) -> None:
        if not alpha >= 0:
            raise ValueError(f"alpha must be non-negative, got {alpha}")
        super().__init__(ridge, floor, seed, feature_map, models, rounds_learned)
        self.alpha = alpha

    def params(self) -> dict[str, Any]:
        """Return ``alpha`` with the ridge, floor and seed."""
        return {"alpha": self.alpha, **super().params()}

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        means, widths = self.ridge_.predict(contexts, actions)
        bound = np.where(eligible, means + self.alpha * widths, -np.inf)
        best = bound.max(axis=1, keepdims=True)
        return np.where(eligible & np.isclose(bound, best, rtol=1e-12, atol=1e-12), 1.0, 0.0)


class LinearThompsonSampling(_LinearPolicy):
    r"""Linear Thompson sampling with disjoint models; probabilities by seeded Monte Carlo.

    Parameters
    ----------
    scale
        Multiplies the posterior's spread (1: the Gaussian posterior itself; more explores more).
    ridge
        The ridge penalty (:class:`DisjointRidge`), also the prior precision.
    draws
        Posterior draws per row of the Monte Carlo estimate.
    floor
        Every eligible action's minimum probability.
    seed
        Seeds the draws, together with the number of rounds learned.
    feature_map, models, rounds_learned
        Learned state, recorded by :meth:`save`.

    Notes
    -----
    Each action's coefficients have the posterior :math:`\theta_a \sim N(\hat\theta_a, \hat\sigma^2 A_a^{-1})`
    (:class:`DisjointRidge`), independent across actions, so for a context :math:`x` the sampled rewards
    :math:`x^\top \theta_a` are independent normals with mean :math:`\hat\mu_a(x)` and standard deviation
    ``scale`` :math:`\times\, w_a(x)`. The probability of an action is the share of ``draws`` joint draws in
    which it is the highest among the eligible ones; the standard normal draws are the same for every row and
    seeded by ``(seed, rounds_learned)``, so a row's probabilities are a fixed function of its context and the
    learned state, and :meth:`act`, which samples from them, reports exact propensities.
    """

    name = "lin_ts"

    def __init__(
        self,
        scale: float = 1.0,
        ridge: float = 1.0,
        draws: int = 1000,
        floor: float = 0.01,
        seed: int = 0,
        feature_map: dict[str, Any] | None = None,
        models: dict[str, dict[str, Any]] | None = None,
        rounds_learned: int = 0,
    ) -> None:
        if not scale >= 0:
            raise ValueError(f"scale must be non-negative, got {scale}")
        if draws < 1:
            raise ValueError(f"draws must be at least 1, got {draws}")
        super().__init__(ridge, floor, seed, feature_map, models, rounds_learned)
        self.scale = scale
        self.draws = draws

    @classmethod
    def example(cls) -> LinearThompsonSampling:
        """Build a seeded policy with 300 posterior draws."""
        return cls(draws=300, seed=3)

    def params(self) -> dict[str, Any]:
        """Return the scale and the number of draws with the ridge, floor and seed."""
        return {"scale": self.scale, "draws": self.draws, **super().params()}

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        means, widths = self.ridge_.predict(contexts, actions)
        normals = np.random.default_rng([self.seed, self.rounds_learned_]).standard_normal((self.draws, len(actions)))
        n, k = eligible.shape
        shares = np.zeros((n, k))
        step = max(1, _BLOCK // (self.draws * k))
        for start in range(0, n, step):
            rows = slice(start, start + step)
            sampled = means[rows, None, :] + self.scale * widths[rows, None, :] * normals[None, :, :]
            sampled = np.where(eligible[rows, None, :], sampled, -np.inf)
            best = sampled.argmax(axis=2)  # (rows, draws)
            block = best.shape[0]
            cells = (best + k * np.arange(block)[:, None]).reshape(-1)
            shares[rows] = np.bincount(cells, minlength=block * k).reshape(block, k) / self.draws
        return shares
