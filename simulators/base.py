"""What a simulator returns, and the protocol every simulator follows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from features.io import write_frame
from features.schemas import ACTIONS
from policies.base import Policy

#: The files :meth:`SimulationResult.write` produces, one per contract.
OUTPUT_FILES = ("events", "items", "users", "decisions", "outcomes", "truth")


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
        Per decision: converted, revenue (GMV), offer cost and reward (net contribution).
    truth
        Per decision: the expected reward of every action (``q_<action>``, null where ineligible).
    """

    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    decisions: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame

    def bandit_log(self) -> pl.DataFrame:
        """Decisions joined with their outcomes: the input of off-policy evaluation and training."""
        return self.decisions.join(self.outcomes, on="decision_id", how="left", maintain_order="left")

    def truth_matrix(self) -> np.ndarray:
        """``(n, 4)`` expected reward of every action, row-aligned with ``decisions`` (NaN: ineligible)."""
        aligned = self.decisions.select("decision_id").join(
            self.truth, on="decision_id", how="left", maintain_order="left"
        )
        return aligned.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float)

    def summary(self) -> dict[str, float | int | str]:
        """Headline figures: sizes, the policy's mean reward, and what the oracle and fixed actions would earn."""
        q = self.truth_matrix()
        chosen = self.decisions.get_column("action").replace_strict({a: i for i, a in enumerate(ACTIONS)}).to_numpy()
        n = len(chosen)
        fixed = {
            a: float(np.where(np.isnan(q[:, i]), q[:, 0], q[:, i]).mean()) if n else 0.0 for i, a in enumerate(ACTIONS)
        }
        best = max(fixed, key=lambda a: fixed[a])
        return {
            "n_users": self.users.height,
            "n_events": self.events.height,
            "n_decisions": n,
            "policy_value": float(self.outcomes.get_column("reward").cast(pl.Float64).mean() or 0.0),  # type: ignore[arg-type]
            "policy_expected_value": float(q[np.arange(n), chosen].mean()) if n else 0.0,
            "oracle_value": float(np.nanmax(q, axis=1).mean()) if n else 0.0,
            "best_fixed_action": best,
            "best_fixed_value": fixed[best],
            "conversion_rate": float(self.outcomes.get_column("converted").mean() or 0.0),  # type: ignore[arg-type]
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

    def run(self, policy: Policy, days: int | None = None, seed: int = 0) -> SimulationResult: ...
