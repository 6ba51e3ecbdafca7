"""If-A-then-B rules: the hand-written baseline a bandit has to beat.

Installment for a buyer who uses installments on an eligible item; trust badge
for a new account or an unverified merchant's authenticated item; coupon for a
coupon user; otherwise no offer. Deterministic, so every propensity is 1.

Examples
--------
>>> import polars as pl
>>> contexts = pl.DataFrame({
...     "coupon_redemption_rate": [0.8, 0.1, 0.1], "installment_use_rate": [0.1, 0.7, 0.1],
...     "account_age_days": [400, 400, 400], "merchant_verified": [True, True, True],
... })
>>> actions = ("no_offer", "coupon", "installment", "trust_badge")
>>> RuleBasedPolicy().probabilities(contexts, actions).argmax(axis=1)
array([1, 2, 0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from policies.base import BasePolicy

REQUIRED = ("coupon_redemption_rate", "installment_use_rate", "account_age_days", "merchant_verified")


class RuleBasedPolicy(BasePolicy):
    """The rules above, with their thresholds as settings."""

    name = "rules"

    def __init__(self, coupon_rate: float = 0.5, installment_rate: float = 0.4, new_account_days: int = 60) -> None:
        self.coupon_rate = coupon_rate
        self.installment_rate = installment_rate
        self.new_account_days = new_account_days

    def params(self) -> dict[str, Any]:
        """Return the thresholds: the coupon and installment use rates, and the days an account counts as new."""
        return {
            "coupon_rate": self.coupon_rate,
            "installment_rate": self.installment_rate,
            "new_account_days": self.new_account_days,
        }

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        missing = [c for c in REQUIRED if c not in contexts.columns]
        if missing:
            raise ValueError(f"rules: missing context feature(s) {missing}")
        column = {a: i for i, a in enumerate(actions)}
        wants = {
            "installment": contexts["installment_use_rate"].to_numpy() >= self.installment_rate,
            "trust_badge": (contexts["account_age_days"].to_numpy() < self.new_account_days)
            | ~contexts["merchant_verified"].to_numpy().astype(bool),
            "coupon": contexts["coupon_redemption_rate"].to_numpy() >= self.coupon_rate,
        }
        scores = np.zeros(eligible.shape)
        for action, rule in wants.items():
            if action in column:
                free = scores.sum(axis=1) == 0
                scores[free, column[action]] = (rule & eligible[:, column[action]])[free]
        if "no_offer" in column:
            free = scores.sum(axis=1) == 0
            scores[free, column["no_offer"]] = eligible[free, column["no_offer"]]
        none = scores.sum(axis=1) == 0
        scores[none] = eligible[none]
        return scores
