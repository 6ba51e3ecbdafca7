"""Baseline policies that learn nothing: uniform random and one fixed action.

Examples
--------
>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(7)
>>> contexts = pl.DataFrame({"price": [20.0, 30.0, 40.0]})
>>> FixedAction("coupon").act(contexts, ("no_offer", "coupon"), rng)
(array([1, 1, 1]), array([1., 1., 1.]))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from policies.base import BasePolicy


class UniformRandom(BasePolicy):
    """Every eligible action with equal probability: the classic logging policy for unbiased OPE."""

    name = "uniform"

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        return eligible.astype(float)


class FixedAction(BasePolicy):
    """Always one action when it is eligible; otherwise ``fallback`` (the control, ``no_offer``).

    If neither is eligible, the eligible actions are equally likely.
    """

    name = "fixed"

    def __init__(self, action: str, fallback: str = "no_offer") -> None:
        self.action = action
        self.fallback = fallback

    @classmethod
    def example(cls) -> FixedAction:
        """Build the policy that always offers a coupon."""
        return cls("coupon")

    def params(self) -> dict[str, Any]:
        """Return the action, and the fallback when it is not ``no_offer``."""
        params: dict[str, Any] = {"action": self.action}
        if self.fallback != "no_offer":
            params["fallback"] = self.fallback
        return params

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        scores = np.zeros(eligible.shape)
        for preferred in (self.action, self.fallback):
            if preferred in actions:
                column = actions.index(preferred)
                free = scores.sum(axis=1) == 0
                scores[free, column] = eligible[free, column]
        none = scores.sum(axis=1) == 0
        scores[none] = eligible[none]
        return scores
