"""The lifecycle stage: one definition for the trigger engine and the context a policy sees."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.churn.scorer import ChurnScores, checked_scores
from features.lifecycle import LIFECYCLE_STAGES, LifecycleThresholds, RecencyChurnScorer, scored, with_lifecycle
from features.pipelines.context import context_features
from features.validation import SchemaError
from policies.triggers.config import LifecycleRule
from policies.triggers.rules.daily import Lifecycle

THRESHOLDS = LifecycleThresholds()


def features(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    recent = rng.poisson(1.0, n)
    idle = rng.integers(0, 80, n).astype(float)
    return pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "account_age_days": rng.uniform(1, 500, n),
            "days_since_last_session": pl.Series(np.where(rng.random(n) < 0.1, np.nan, idle))
            .fill_nan(None)
            .cast(pl.Int32),
            "purchases_30d": recent,
            "purchases_90d": recent + rng.poisson(1.5, n),
            "sessions_30d": rng.poisson(4.0, n),
        }
    )


@pytest.mark.parametrize("with_scores", [False, True], ids=["rule", "model scores"])
def test_the_engine_and_the_context_stage_every_user_alike(with_scores: bool) -> None:
    users = features(400, seed=1)
    risks = np.random.default_rng(7).uniform(0, 1, 300)  # a model scored 300 of the 400
    scores = ChurnScores(pl.DataFrame({"user_id": users["user_id"].head(300), "churn_risk": risks}))
    lifecycle = Lifecycle(LifecycleRule(), signups={}, scorer=scores if with_scores else None)
    lifecycle.record(users, now=0)
    engine_stage = [LIFECYCLE_STAGES[c] for c in lifecycle.stage_[: users.height].tolist()]
    moments = pl.LazyFrame(
        {"user_id": users["user_id"], "item_id": "i1", "trigger": "best_hour", "channel": "email",
         "send_at": datetime(2026, 3, 2, 18, tzinfo=UTC)},
    )  # fmt: skip
    snapshot = users.join(scores.risk_, on="user_id", how="left") if with_scores else users  # as `--churn-scores`
    context = context_features(
        moments,
        pl.LazyFrame({"user_id": users["user_id"], "tz": "UTC"}),
        snapshot.lazy(),
        pl.LazyFrame({"item_id": ["i1"], "price": [50.0]}),
        ["UTC"],
        THRESHOLDS,
    ).collect()
    assert context["lifecycle_stage"].to_list() == engine_stage
    assert len(set(engine_stage)) == len(LIFECYCLE_STAGES)  # every stage occurs: the comparison means something
    rule = RecencyChurnScorer().score(users)
    expected = np.where(np.arange(400) < 300, np.resize(risks, 400), rule) if with_scores else rule
    assert np.allclose(context["churn_risk"].to_numpy(), expected.round(9), atol=1e-9)


def test_a_model_risk_moves_users_towards_lapsed_the_rule_does_not() -> None:
    users = features(200, seed=8)
    by_days = with_lifecycle(users, THRESHOLDS)["lifecycle_stage"]
    assert (
        by_days.to_list()
        == with_lifecycle(users, THRESHOLDS.model_copy(update={"lapsed_risk": 0.01}))["lifecycle_stage"].to_list()
    )  # the rule's risk does not stage
    assert set(with_lifecycle(users.with_columns(churn_risk=pl.lit(0.95)), THRESHOLDS)["lifecycle_stage"]) == {"lapsed"}


def test_a_scores_column_of_nulls_stages_as_no_column() -> None:
    users = features(50, seed=2)
    partly = with_lifecycle(users.with_columns(churn_risk=pl.lit(None, pl.Float64)), THRESHOLDS)
    assert_frame_equal(partly, with_lifecycle(users, THRESHOLDS))


def test_falling_purchases_on_a_middling_risk_mean_declining() -> None:
    one = features(1, seed=3).with_columns(
        days_since_last_session=pl.lit(1, pl.Int32), purchases_30d=pl.lit(0), purchases_90d=pl.lit(6),
        account_age_days=pl.lit(300.0),
    )  # fmt: skip
    assert with_lifecycle(one.with_columns(churn_risk=pl.lit(0.45)), THRESHOLDS)["lifecycle_stage"][0] == "declining"
    assert with_lifecycle(one.with_columns(churn_risk=pl.lit(0.35)), THRESHOLDS)["lifecycle_stage"][0] == "mature"


def test_eager_and_lazy_give_the_same_columns() -> None:
    users = features(100, seed=4)
    assert_frame_equal(with_lifecycle(users.lazy(), THRESHOLDS).collect(), with_lifecycle(users, THRESHOLDS))


def test_a_missing_input_is_named() -> None:
    with pytest.raises(ValueError, match="missing column 'purchases_30d'"):
        with_lifecycle(features(3, seed=5).drop("purchases_30d"), THRESHOLDS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.integers(0, 1000))
def test_a_higher_risk_never_moves_a_user_to_an_earlier_stage(risks: list[float], seed: int) -> None:
    """Raising only the churn risk can keep a stage or move it towards lapsed, never back."""
    users = features(len(risks), seed)
    low = with_lifecycle(users.with_columns(churn_risk=pl.Series(risks)), THRESHOLDS)
    high = with_lifecycle(users.with_columns(churn_risk=pl.Series([min(1.0, r + 0.3) for r in risks])), THRESHOLDS)
    severity = {"lapsed": 2, "declining": 1}
    for before, after in zip(low["lifecycle_stage"], high["lifecycle_stage"], strict=True):
        assert severity.get(after, 0) >= severity.get(before, 0)


def test_scores_tables_are_checked() -> None:
    with pytest.raises(SchemaError, match="missing column 'churn_risk'"):
        checked_scores(pl.DataFrame({"user_id": ["a"]}))
    with pytest.raises(SchemaError, match="user 'a' is scored 2 times"):
        checked_scores(pl.DataFrame({"user_id": ["a", "a"], "churn_risk": [0.1, 0.2]}))
    with pytest.raises(SchemaError, match=r"churn_risk -0.1 of user 'b' is not a probability in \[0, 1\]"):
        checked_scores(pl.DataFrame({"user_id": ["a", "b"], "churn_risk": [0.1, -0.1]}))


def test_unscored_users_get_nan_and_the_rules_risk_in_the_column() -> None:
    users = features(20, seed=6)
    scores = ChurnScores(pl.DataFrame({"user_id": ["u3"], "churn_risk": [0.5]}))
    risk = scores.score(users)
    assert risk[3] == 0.5
    assert np.isnan(np.delete(risk, 3)).all()
    column = with_lifecycle(scored(users, scores), THRESHOLDS)["churn_risk"].to_numpy()
    assert np.array_equal(np.delete(column, 3), np.delete(RecencyChurnScorer().score(users), 3))
