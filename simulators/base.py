"""What a simulator returns, and the protocol every simulator follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from features.io import write_frame
from features.schemas import ACTIONS, SUPPRESSIONS
from policies.base import Policy
from simulators.truth import expected_rewards

#: The files :meth:`SimulationResult.write` produces: one per contract, and the holdout's moments.
OUTPUT_FILES = ("events", "items", "users", "decisions", "outcomes", "truth", "holdout", "suppressions")


@dataclass(frozen=True)
class SimulationResult:
    """Everything a run produced, in the contract schemas, plus the truth no policy sees.

    Attributes
    ----------
    events, items, users
        The marketplace's logs and catalogue.
    decisions
        The decision log: one row per trigger moment that reached a policy, with its context features.
    outcomes
        Per decision: converted, revenue (GMV), offer cost, reward (net contribution), opened, returned.
    truth
        Per decision: the expected reward of every action as the decision is taken (``q_<action>``, null where
        ineligible); the open probability as sent and had it been sent at a random hour; ``in_stock`` (would a
        purchase find the item in stock) and ``deliverable`` (would a message go out). See
        :mod:`simulators.truth` for the expected reward on the log that they make.
    holdout
        Trigger moments of holdout users, who get no message, and whether they converted anyway.
    suppressions
        The moments the platform's guardrails stopped (other than the holdout's), each with why.
    counterfactuals
        Figures only the simulator can know, such as the conversion of an untriggered promotion.
    """

    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    decisions: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame
    holdout: pl.DataFrame
    suppressions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SUPPRESSIONS))
    counterfactuals: dict[str, float] = field(default_factory=dict)

    def bandit_log(self) -> pl.DataFrame:
        """Decisions joined with their outcomes: the input of off-policy evaluation and training."""
        return self.decisions.join(self.outcomes, on="decision_id", how="left", maintain_order="left")

    def _aligned_truth(self) -> pl.DataFrame:
        return self.decisions.select("decision_id").join(
            self.truth, on="decision_id", how="left", maintain_order="left"
        )

    def truth_matrix(self) -> np.ndarray:
        """Return the ``(n, 4)`` expected reward of every action as the decision was taken (``q``).

        ``q`` is what the oracle sees: blind to later stock-outs and to delivery. Row-aligned with ``decisions``
        (NaN: ineligible).
        """
        return self._aligned_truth().select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float)

    def expected_reward_matrix(self) -> np.ndarray:
        """Return the ``(n, 4)`` expected reward of every action on this run, given each decision's stock and delivery.

        See :func:`simulators.truth.expected_rewards`. Row-aligned with ``decisions`` (NaN: ineligible).
        """
        return expected_rewards(self._aligned_truth())

    def chosen_index(self) -> np.ndarray:
        """Return the index in :data:`~features.schemas.ACTIONS` of each decision's chosen action."""
        return self.decisions.get_column("action").replace_strict({a: i for i, a in enumerate(ACTIONS)}).to_numpy()

    def fixed_action_values(self) -> dict[str, float]:
        """Mean expected reward per decision had one action been taken wherever eligible (else no offer)."""
        q = self.expected_reward_matrix()
        if not len(q):
            return dict.fromkeys(ACTIONS, 0.0)
        return {a: float(np.where(np.isnan(q[:, i]), q[:, 0], q[:, i]).mean()) for i, a in enumerate(ACTIONS)}

    def summary(self) -> dict[str, float | int | str]:
        """Headline figures: sizes, the policy's value, what the oracle and fixed actions would earn, uplift.

        The values are expected rewards on this run (:meth:`expected_reward_matrix`): a purchase needs the item in
        stock and a message needs consent at the send time, so ``policy_expected_value`` is what
        ``policy_value``, the mean realised reward, estimates. The oracle decides by ``q`` (:meth:`truth_matrix`);
        since stock and delivery shift every action of a decision alike, its choice is also the best by the
        expected reward on the run, and ``oracle_value`` is the mean best one.
        """
        q, chosen, n = self.expected_reward_matrix(), self.chosen_index(), self.decisions.height
        fixed = self.fixed_action_values()
        best = max(fixed, key=lambda a: fixed[a])
        messaged = self.decisions.get_column("action") != "no_offer"
        outcomes = self.outcomes
        converted = outcomes.get_column("converted").to_numpy()
        treated_rate = float(converted.mean()) if n else 0.0
        holdout_rate = float(self.holdout.get_column("converted").to_numpy().mean()) if self.holdout.height else 0.0
        return {
            "n_users": self.users.height,
            "n_events": self.events.height,
            "n_decisions": n,
            "n_messages": int(messaged.sum()),
            "policy_value": float(np.mean(outcomes.get_column("reward").to_numpy())) if n else 0.0,
            "policy_expected_value": float(q[np.arange(n), chosen].mean()) if n else 0.0,
            "oracle_value": float(np.nanmax(q, axis=1).mean()) if n else 0.0,
            "best_fixed_action": best,
            "best_fixed_value": fixed[best],
            "conversion_rate": treated_rate,
            "attributed_conversion_rate": float(converted[messaged.to_numpy()].mean()) if messaged.any() else 0.0,
            "open_rate": float(outcomes.get_column("opened").to_numpy()[messaged.to_numpy()].mean())
            if messaged.any()
            else 0.0,
            "holdout_moments": self.holdout.height,
            "holdout_conversion_rate": holdout_rate,
            "incremental_uplift": treated_rate - holdout_rate,
            "unsubscribes": int((self.events.get_column("type") == "unsubscribe").sum()),
        }

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write every frame as ``<name>.parquet`` in ``folder`` (each file atomically)."""
        folder = Path(folder)
        paths = {}
        for name in OUTPUT_FILES:
            paths[name] = folder / f"{name}.parquet"
            write_frame(getattr(self, name), paths[name])
        return paths


class Simulator(Protocol):
    """A world in which a policy can be run for some days, with a fixed seed."""

    def run(self, policy: Policy, days: int | None = None, seed: int = 0) -> SimulationResult:
        """Run ``policy`` for ``days`` days (the scenario's number if ``None``) from ``seed``."""
        ...
