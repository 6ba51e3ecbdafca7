"""Lifecycle stages and churn risk from user features: one definition for triggers, contexts and reports.

A user's stage as of a moment follows from the point-in-time user features, the
user's purchase trend and, where a churn model scored the user, its churn risk, in
this order of precedence:

========= ==========================================================================
lapsed    no session for ``lapsed_days`` or more (or none ever, on an account that old),
          or a churn risk of ``lapsed_risk`` or more
declining no session for ``declining_days`` or more, or a churn risk of ``declining_risk``
          or more, or purchases falling (a negative purchase trend) on a risk of
          ``falling_risk`` or more
new       account younger than ``new_days`` (tenure)
mature    at least ``mature_purchases`` purchases in the last 90 days
growing   everyone else
========= ==========================================================================

The **purchase trend** is the last 30 days' purchases minus the monthly mean of the 60 days before
(:func:`purchase_trend`): negative when a buyer buys less than they used to.

**Churn risk** comes through a small scoring interface, :class:`ChurnScorer`: anything with
``score(user_features) -> array of P(churn)`` (NaN for a user it cannot score). The churn model plugs in
through :class:`features.churn.scorer.ChurnScores` (a table of its scores, as ``offerlab churn score`` writes
them) or :class:`features.churn.scorer.ModelChurnScorer`; :func:`scored` puts a scorer's risks in a
``churn_risk`` column, as the online snapshot carries a model's scores.

The risk rules of the table (``lapsed_risk``, ``declining_risk``, ``falling_risk``) read that column: a user
without a score (no column, or a null) is staged by tenure, activity and trend alone. The ``churn_risk`` column
:func:`with_lifecycle` returns is never null: where no scorer gave one, it is the rule on recency and sessions
(:func:`rule_churn_risk`, also :class:`RecencyChurnScorer`), which the lifecycle trigger's churn-risk threshold
reads. The rule does not stage: it is monotone in the days since the last session, so staging by it would only
move the ``declining_days`` and ``lapsed_days`` thresholds.

:func:`with_lifecycle` adds the three columns (``churn_risk``, ``purchase_trend``, ``lifecycle_stage``) to
user features, eager or lazy: the trigger engine's lifecycle rule and the context a policy sees
(:func:`features.pipelines.context.context_features`) both call it, on features that carry the same scorer's
risks (the engine's scorer; the snapshot's scores), so a user's stage is the same in both.

Examples
--------
>>> import polars as pl
>>> features = pl.DataFrame({
...     "user_id": ["a", "b", "c", "d", "e", "f"],
...     "account_age_days": [5.0, 400.0, 400.0, 400.0, 400.0, 400.0],
...     "days_since_last_session": [1, 2, 12, 60, 3, 7],
...     "purchases_30d": [0, 2, 0, 0, 0, 0],
...     "purchases_90d": [0, 5, 0, 0, 0, 4],
...     "sessions_30d": [3, 20, 1, 0, 4, 2],
... })
>>> staged = with_lifecycle(features, LifecycleThresholds())
>>> staged["lifecycle_stage"].to_list()
['new', 'mature', 'declining', 'lapsed', 'growing', 'mature']
>>> staged["churn_risk"].round(2).to_list(), staged["purchase_trend"].to_list()  # the rule's risk: no stage
([0.03, 0.02, 0.41, 1.0, 0.05, 0.14], [0.0, 0.5, 0.0, 0.0, 0.0, -2.0])

A model's risks stage (``f`` buys less than before, on a risk of 0.5: declining; ``a`` has no score):

>>> risky = features.with_columns(churn_risk=pl.Series([None, 0.95, 0.2, 0.3, 0.7, 0.5]))
>>> with_lifecycle(risky, LifecycleThresholds())["lifecycle_stage"].to_list()
['new', 'lapsed', 'declining', 'lapsed', 'declining', 'declining']
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

#: The stages, from a fresh account to a lost one.
LIFECYCLE_STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "lapsed")
#: The user features the stage, the trend and the rule scorer read.
LIFECYCLE_INPUTS: tuple[str, ...] = (
    "account_age_days",
    "days_since_last_session",
    "purchases_30d",
    "purchases_90d",
    "sessions_30d",
)
#: The columns :func:`with_lifecycle` adds.
LIFECYCLE_COLUMNS: tuple[str, ...] = ("churn_risk", "purchase_trend", "lifecycle_stage")

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


class LifecycleThresholds(BaseModel):
    """Where one stage ends and the next begins (days, purchase counts and churn risks)."""

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


def purchase_trend() -> pl.Expr:
    r"""Return the ``purchase_trend`` column: purchases of the last 30 days minus the monthly mean of the 60 before.

    Notes
    -----
    .. math:: \tau = p_{30} - \tfrac{1}{2}(p_{90} - p_{30})
    """
    recent = pl.col("purchases_30d").cast(pl.Float64)
    return (recent - (pl.col("purchases_90d").cast(pl.Float64) - recent) / 2).alias("purchase_trend")


def rule_churn_risk(
    intercept: float = -3.0, per_day: float = 0.25, per_log_session: float = 0.5, never_days: float = 60.0
) -> pl.Expr:
    r"""Return the rule's churn risk as a ``churn_risk`` column.

    The risk is logistic in the days since the last session, lowered by recent sessions.

    Notes
    -----
    .. math:: r = \sigma(a + b\,d - c\,\log(1 + s_{30}))

    with :math:`d` the days since the last session (for a user never seen, the account's age: idle since
    sign-up; ``never_days`` if that is unknown too) and :math:`s_{30}` the sessions of the last 30 days.
    """
    days = pl.coalesce(
        pl.col("days_since_last_session").cast(pl.Float64), pl.col("account_age_days").cast(pl.Float64), never_days
    )
    sessions = pl.col("sessions_30d").cast(pl.Float64).fill_null(0.0)
    logit = intercept + per_day * days - per_log_session * sessions.log1p()
    return (1.0 / (1.0 + (-logit).exp())).alias("churn_risk")


def lifecycle_stage(thresholds: LifecycleThresholds, risk: pl.Expr | None = None) -> pl.Expr:
    """Return the ``lifecycle_stage`` column from the user features with ``purchase_trend``.

    When ``risk`` is given (a model's churn risk; null where unscored), users are staged by it (see the module
    docstring for the rules).
    """
    t = thresholds
    inactive = pl.col("days_since_last_session")
    risk = risk if risk is not None else pl.lit(None, pl.Float64)
    never_seen = inactive.is_null()
    lapsed = (inactive >= t.lapsed_days) | (never_seen & (pl.col("account_age_days") >= t.lapsed_days))
    lapsed = lapsed.fill_null(False) | (risk >= t.lapsed_risk).fill_null(False)
    falling = ((pl.col("purchase_trend") < 0) & (risk >= t.falling_risk)).fill_null(False)
    declining = (inactive >= t.declining_days).fill_null(False) | (risk >= t.declining_risk).fill_null(False) | falling
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


def with_lifecycle(features: Frame, thresholds: LifecycleThresholds) -> Frame:
    """Add :data:`LIFECYCLE_COLUMNS` to ``features``.

    ``features`` has one row per user, with :data:`LIFECYCLE_INPUTS` and optionally a scorer's ``churn_risk``; the
    columns added are the purchase trend, the stage (by the scorer's risk where there is one), and ``churn_risk``, the
    scorer's or else the rule's.
    """
    names = features.collect_schema().names()
    missing = [c for c in LIFECYCLE_INPUTS if c not in names]
    if missing:
        raise ValueError(f"user features: missing column {missing[0]!r} (the lifecycle stage reads it)")
    model = pl.col("churn_risk").cast(pl.Float64) if "churn_risk" in names else None
    staged = features.with_columns(purchase_trend()).with_columns(lifecycle_stage(thresholds, model))
    risk = pl.coalesce(model, rule_churn_risk()) if model is not None else rule_churn_risk()
    return staged.with_columns(risk.alias("churn_risk")).select(
        *(c for c in names if c not in LIFECYCLE_COLUMNS), *LIFECYCLE_COLUMNS
    )


def scored(features: pl.DataFrame, scorer: ChurnScorer | None) -> pl.DataFrame:
    """Add the ``churn_risk`` column of ``scorer`` to ``features``, ready for :func:`with_lifecycle`.

    The risk is null where the scorer has no score (NaN); ``features`` is unchanged without a scorer.

    >>> features = pl.DataFrame({"user_id": ["a"], "days_since_last_session": [3], "sessions_30d": [2],
    ...                          "account_age_days": [90.0]})
    >>> scored(features, RecencyChurnScorer())["churn_risk"].round(3).to_list()
    [0.057]
    """
    if scorer is None:
        return features
    risk = np.asarray(scorer.score(features), dtype=float)
    return features.with_columns(pl.Series("churn_risk", risk, pl.Float64).fill_nan(None))


@runtime_checkable
class ChurnScorer(Protocol):
    """Turns user features (one row per user) into P(churn), one value per row; NaN for a user it cannot score."""

    def score(self, user_features: pl.DataFrame) -> np.ndarray:
        """Return P(churn) of each row of ``user_features``; NaN for a user it cannot score."""
        ...


class RecencyChurnScorer:
    """Rule-based churn risk until a model is trained: :func:`rule_churn_risk` behind :class:`ChurnScorer`.

    The same numbers as a frame staged without a risk of its own.

    >>> features = pl.DataFrame({"days_since_last_session": [2, None, None], "sessions_30d": [9, 0, 0],
    ...                          "account_age_days": [300.0, 3.0, 90.0]})
    >>> RecencyChurnScorer().score(features).round(3).tolist()
    [0.025, 0.095, 1.0]
    """

    def __init__(
        self, intercept: float = -3.0, per_day: float = 0.25, per_log_session: float = 0.5, never_days: float = 60.0
    ) -> None:
        self.intercept = intercept
        self.per_day = per_day
        self.per_log_session = per_log_session
        self.never_days = never_days

    def score(self, user_features: pl.DataFrame) -> np.ndarray:
        """Return the rule's P(churn) of each row of ``user_features``."""
        rule = rule_churn_risk(self.intercept, self.per_day, self.per_log_session, self.never_days)
        return user_features.select(rule).to_series().to_numpy()
