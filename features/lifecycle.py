"""Lifecycle stages and churn risk from user features: one definition for triggers, contexts and reports.

A user's stage as of a moment follows from the point-in-time user features, in
this order of precedence:

======== ==========================================================================
lapsed   no session for ``lapsed_days`` or more (or none ever, on an account that old),
         or a churn risk of ``lapsed_risk`` or more
declining no session for ``declining_days`` or more, or a churn risk of ``declining_risk``
         or more, or purchases falling (a negative purchase trend) on a risk of
         ``falling_risk`` or more
new      account younger than ``new_days`` (tenure)
mature   at least ``mature_purchases`` purchases in the last 90 days
growing  everyone else
======== ==========================================================================

The risk and trend rules apply when the caller names those columns (``risk=``, ``trend=``): the trigger
engine passes the churn scorer's risk when its lifecycle rule says so; a frame without a risk is staged by
tenure and activity alone.

Churn risk comes through a small scoring interface, :class:`ChurnScorer`: anything
with ``score(user_features) -> array of P(churn)``. Until the churn model is
trained, :class:`RecencyChurnScorer` scores it by a rule on recency and frequency.

Examples
--------
>>> import polars as pl
>>> features = pl.DataFrame({
...     "user_id": ["a", "b", "c", "d", "e"],
...     "account_age_days": [5.0, 400.0, 400.0, 400.0, 400.0],
...     "days_since_last_session": [1, 2, 12, 60, 3],
...     "purchases_90d": [0, 5, 0, 0, 0],
...     "sessions_30d": [3, 20, 1, 0, 4],
... })
>>> features.select(lifecycle_stage(LifecycleThresholds())).to_series().to_list()
['new', 'mature', 'declining', 'lapsed', 'growing']
>>> risky = features.with_columns(pl.Series("churn_risk", [0.1, 0.95, 0.2, 0.3, 0.7]))
>>> risky.select(lifecycle_stage(LifecycleThresholds(), risk="churn_risk")).to_series().to_list()
['new', 'lapsed', 'declining', 'lapsed', 'declining']
>>> RecencyChurnScorer().score(features).round(2).tolist()
[0.03, 0.02, 0.41, 1.0, 0.05]
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

#: The stages, from a fresh account to a lost one.
LIFECYCLE_STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "lapsed")
#: The user features the stage and the rule scorer read.
LIFECYCLE_INPUTS: tuple[str, ...] = ("account_age_days", "days_since_last_session", "purchases_90d", "sessions_30d")


class LifecycleThresholds(BaseModel):
    """Where one stage ends and the next begins (days and purchase counts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    new_days: int = Field(30, ge=1, description="account age (days) under which a user is 'new'")
    declining_days: int = Field(10, ge=1, description="days without a session from which a user is 'declining'")
    lapsed_days: int = Field(45, ge=1, description="days without a session from which a user is 'lapsed'")
    mature_purchases: int = Field(3, ge=1, description="purchases in 90 days from which a user is 'mature'")
    declining_risk: float = Field(0.6, gt=0, le=1, description="churn risk from which a user is 'declining'")
    lapsed_risk: float = Field(0.9, gt=0, le=1, description="churn risk from which a user is 'lapsed'")
    falling_risk: float = Field(
        0.4, gt=0, le=1, description="churn risk from which falling purchases make a user 'declining'"
    )


def lifecycle_stage(thresholds: LifecycleThresholds, risk: str | None = None, trend: str | None = None) -> pl.Expr:
    """The ``lifecycle_stage`` column from the user features (see the module docstring for the rules); ``risk``
    and ``trend`` name a churn-risk and a purchase-trend column to stage by as well."""
    t = thresholds
    inactive = pl.col("days_since_last_session")
    never_seen = inactive.is_null()
    lapsed = (inactive >= t.lapsed_days) | (never_seen & (pl.col("account_age_days") >= t.lapsed_days))
    declining = (inactive >= t.declining_days).fill_null(False)
    if risk is not None:
        lapsed = lapsed | (pl.col(risk) >= t.lapsed_risk).fill_null(False)
        declining = declining | (pl.col(risk) >= t.declining_risk).fill_null(False)
        if trend is not None:
            declining = declining | ((pl.col(trend) < 0) & (pl.col(risk) >= t.falling_risk)).fill_null(False)
    return (
        pl.when(lapsed)
        .then(pl.lit("lapsed"))
        .when(declining)
        .then(pl.lit("declining"))
        .when(pl.col("account_age_days") < t.new_days)
        .then(pl.lit("new"))
        .when(pl.col("purchases_90d") >= t.mature_purchases)
        .then(pl.lit("mature"))
        .otherwise(pl.lit("growing"))
        .alias("lifecycle_stage")
    )


@runtime_checkable
class ChurnScorer(Protocol):
    """Turns user features (one row per user) into P(churn), one value per row."""

    def score(self, user_features: pl.DataFrame) -> np.ndarray: ...


class RecencyChurnScorer:
    """Rule-based churn risk until a model is trained: logistic in days since the last session, lowered by
    recent sessions.

    Notes
    -----
    .. math:: r = \\sigma(a + b\\,d - c\\,\\log(1 + s_{30}))

    with :math:`d` the days since the last session (``never_days`` if none) and :math:`s_{30}` the sessions of
    the last 30 days.
    """

    def __init__(
        self, intercept: float = -3.0, per_day: float = 0.25, per_log_session: float = 0.5, never_days: float = 60.0
    ) -> None:
        self.intercept = intercept
        self.per_day = per_day
        self.per_log_session = per_log_session
        self.never_days = never_days

    def score(self, user_features: pl.DataFrame) -> np.ndarray:
        days = user_features.get_column("days_since_last_session").cast(pl.Float64).fill_null(self.never_days)
        sessions = user_features.get_column("sessions_30d").cast(pl.Float64).fill_null(0.0)
        logit = self.intercept + self.per_day * days.to_numpy() - self.per_log_session * np.log1p(sessions.to_numpy())
        return np.asarray(1.0 / (1.0 + np.exp(-logit)))
