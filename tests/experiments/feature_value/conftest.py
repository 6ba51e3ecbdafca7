"""A synthetic log whose reward depends on one feature group only (``taste``), logged by a uniform policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from policies.base import Feedback

ACTIONS = ("no_offer", "coupon", "installment")
#: The groups of the synthetic log: the reward follows ``taste``; ``timing`` and ``device`` are unrelated to it.
GROUPS = {"taste": ["affinity", "budget"], "timing": ["hour", "weekday"], "device": ["device"]}


@dataclass(frozen=True, eq=False)
class SyntheticLog:
    feedback: Feedback
    users: np.ndarray


def synthetic_log(n_users: int = 1500, rounds_per_user: int = 3, seed: int = 0) -> SyntheticLog:
    """Coupons pay users of positive affinity, installments the others (0.6 against 0.2); no offer pays 0.25."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), rounds_per_user)
    n = users.size
    affinity = rng.normal(size=n_users)[users] + 0.1 * rng.normal(size=n)
    contexts = pl.DataFrame(
        {
            "affinity": affinity,
            "budget": rng.normal(size=n),
            "hour": rng.integers(0, 24, n).astype(float),
            "weekday": rng.integers(1, 8, n).astype(float),
            "device": rng.choice(["app", "web"], n),
        }
    )
    chosen = rng.integers(0, len(ACTIONS), n)
    paying = np.where(affinity > 0, 1, 2)
    p_reward = np.where(chosen == 0, 0.25, np.where(chosen == paying, 0.6, 0.2))
    feedback = Feedback(
        contexts=contexts,
        actions=ACTIONS,
        eligible=np.ones((n, len(ACTIONS)), dtype=bool),
        chosen=chosen,
        rewards=rng.binomial(1, p_reward).astype(float),
        propensities=np.full(n, 1 / len(ACTIONS)),
    )
    return SyntheticLog(feedback, np.array([f"u{u}" for u in users]))


@pytest.fixture(scope="session")
def signal_log() -> SyntheticLog:
    return synthetic_log()
