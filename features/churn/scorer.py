"""The churn model behind the trigger engine's scoring interface (:class:`features.lifecycle.ChurnScorer`), so
the lifecycle rule fires on model scores instead of the recency rule.

The model reads each customer's churn features (:func:`features.churn.dataset.customer_features`), which a
daily job computes and hands over with :meth:`ModelChurnScorer.refresh`; the engine's own user features only
say whom to score. Users without a row are not customers (they never bought), so they cannot churn: their
risk is ``default``.

Examples
--------
>>> import numpy as np, polars as pl
>>> class Halves:  # a stand-in with the model's interface: risk 0.9 for idle customers, 0.1 otherwise
...     def predict_proba(self, frame): return np.where(frame["idle"].to_numpy() > 30, 0.9, 0.1)
>>> scorer = ModelChurnScorer(Halves(), pl.DataFrame({"user_id": ["a", "b"], "idle": [40, 2]}))
>>> scorer.score(pl.DataFrame({"user_id": ["b", "x", "a"]})).tolist()
[0.1, 0.0, 0.9]
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import polars as pl


class _Model(Protocol):
    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray: ...


class ModelChurnScorer:
    """Churn risk per user from a fitted churn model and the customers' churn features."""

    def __init__(self, model: _Model, customers: pl.DataFrame | None = None, default: float = 0.0) -> None:
        self.model = model
        self.default = default
        self.risk_ = pl.DataFrame(schema={"user_id": pl.String, "churn_risk": pl.Float64})
        if customers is not None:
            self.refresh(customers)

    def refresh(self, customers: pl.DataFrame) -> None:
        """Score the customers' churn features (one row per user) and keep the risks until the next refresh."""
        risk = np.asarray(self.model.predict_proba(customers), dtype=float)
        self.risk_ = customers.select(pl.col("user_id").cast(pl.String), pl.Series("churn_risk", risk))

    def score(self, user_features: pl.DataFrame) -> np.ndarray:
        """The risk of each row's user (``default`` for users the last refresh did not score)."""
        joined = user_features.select(pl.col("user_id").cast(pl.String)).join(
            self.risk_, on="user_id", how="left", maintain_order="left"
        )
        return joined["churn_risk"].fill_null(self.default).to_numpy()
