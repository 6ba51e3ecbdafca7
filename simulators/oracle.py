"""The oracle: the policy that knows the simulator's truth and always takes the best eligible action.

It exists only inside the simulator (a real policy never sees the truth), as the
ceiling against which regret is measured.

Examples
--------
>>> import numpy as np, polars as pl
>>> oracle = OraclePolicy()
>>> oracle.observe_truth(np.array([[1.0, 2.0, np.nan], [3.0, 1.0, 0.5]]))
>>> oracle.probabilities(pl.DataFrame({"x": [0, 0]}), ("no_offer", "coupon", "installment"))
array([[0., 1., 0.],
       [1., 0., 0.]])
"""

from __future__ import annotations

import numpy as np
import polars as pl

from policies.base import BasePolicy


class OraclePolicy(BasePolicy):
    """Deterministic argmax of the true expected reward as the decision is taken (``q``; :mod:`simulators.truth`).

    Later stock-outs and delivery are not known yet when it decides; the simulator shows it the truth before each
    batch.
    """

    name = "oracle"

    def __init__(self) -> None:
        self._truth: np.ndarray | None = None

    def observe_truth(self, expected_rewards: np.ndarray) -> None:
        """Show the oracle the ``(n, k)`` expected reward of every action for the next batch (NaN: ineligible)."""
        self._truth = np.asarray(expected_rewards, dtype=float)

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        if self._truth is None or self._truth.shape != eligible.shape:
            raise ValueError("oracle: no truth for this batch; only the simulator can run the oracle")
        q = np.where(eligible & ~np.isnan(self._truth), self._truth, -np.inf)
        scores = np.zeros(eligible.shape)
        scores[np.arange(len(q)), q.argmax(axis=1)] = 1.0
        return scores
