"""Churn scores behind the trigger engine's scoring interface (:class:`features.lifecycle.ChurnScorer`).

With them, the lifecycle rule and the lifecycle stage run on a churn model's scores instead of the recency rule.

:class:`ChurnScores` holds a table of scores (``user_id``, ``churn_risk``: what ``offerlab churn score`` writes);
:class:`ModelChurnScorer` fills that table from a fitted model and the customers' churn features
(:func:`features.churn.dataset.customer_features`), which a daily job computes and hands over with
:meth:`ModelChurnScorer.refresh`. A user without a score (not a customer: they never bought) gets NaN: the
lifecycle stage then leaves the risk out and the churn trigger reads the rule's
(:func:`features.lifecycle.with_lifecycle`), as the context does for a snapshot row without a score, so the
trigger and the context stage every user alike.

Examples
--------
>>> import numpy as np, polars as pl
>>> class Halves:  # a stand-in with the model's interface: risk 0.9 for idle customers, 0.1 otherwise
...     def predict_proba(self, frame): return np.where(frame["idle"].to_numpy() > 30, 0.9, 0.1)
>>> scorer = ModelChurnScorer(Halves(), pl.DataFrame({"user_id": ["a", "b"], "idle": [40, 2]}))
>>> scorer.score(pl.DataFrame({"user_id": ["b", "x", "a"]})).tolist()  # x has no score
[0.1, nan, 0.9]
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from features.validation import SchemaError

_SCORES = pl.Schema({"user_id": pl.String, "churn_risk": pl.Float64})


class _Model(Protocol):
    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray: ...


def checked_scores(scores: pl.DataFrame, source: str = "churn scores") -> pl.DataFrame:
    """Return ``user_id`` and ``churn_risk`` of a scores table, typed.

    A missing column, a duplicate user or a risk outside [0, 1] is a :class:`~features.validation.SchemaError`
    naming it.
    """
    missing = [c for c in _SCORES.names() if c not in scores.columns]
    if missing:
        raise SchemaError(f"{source}: missing column {missing[0]!r} (expected user_id, churn_risk)")
    try:
        typed = scores.select(pl.col(c).cast(t) for c, t in _SCORES.items())
    except pl.exceptions.InvalidOperationError as error:
        raise SchemaError(f"{source}: churn_risk must be numeric ({error})") from error
    duplicated = typed.filter(pl.col("user_id").is_duplicated())
    if duplicated.height:
        raise SchemaError(f"{source}: user {duplicated['user_id'][0]!r} is scored {duplicated.height} times")
    outside = typed.filter(~pl.col("churn_risk").is_between(0.0, 1.0))
    if outside.height:
        user, risk = outside.row(0)
        raise SchemaError(f"{source}: churn_risk {risk!r} of user {user!r} is not a probability in [0, 1]")
    return typed


class ChurnScores:
    """Churn risk per user from a table of scores; NaN for users the table lacks."""

    def __init__(self, scores: pl.DataFrame | None = None) -> None:
        self.risk_ = checked_scores(scores) if scores is not None else pl.DataFrame(schema=_SCORES)

    @classmethod
    def read(cls, path: Path) -> ChurnScores:
        """Read the scores of a Parquet or CSV file (``offerlab churn score --out``)."""
        from features.io import read_frame

        return cls(checked_scores(read_frame(path), str(path)))

    def score(self, user_features: pl.DataFrame) -> np.ndarray:
        """Return the risk of each row's user (NaN where the table has none)."""
        joined = user_features.select(pl.col("user_id").cast(pl.String)).join(
            self.risk_, on="user_id", how="left", maintain_order="left"
        )
        return joined["churn_risk"].fill_null(float("nan")).to_numpy()


class ModelChurnScorer(ChurnScores):
    """Churn risk per user from a fitted churn model and the customers' churn features."""

    def __init__(self, model: _Model, customers: pl.DataFrame | None = None) -> None:
        super().__init__()
        self.model = model
        if customers is not None:
            self.refresh(customers)

    def refresh(self, customers: pl.DataFrame) -> None:
        """Score the customers' churn features (one row per user) and keep the risks until the next refresh."""
        risk = np.asarray(self.model.predict_proba(customers), dtype=float)
        self.risk_ = customers.select(pl.col("user_id").cast(pl.String), pl.Series("churn_risk", risk))
