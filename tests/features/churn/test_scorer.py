"""The lifecycle trigger fires from the churn model's scores (through ModelChurnScorer), and stages by them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from features.churn.model import ChurnModel, ChurnParams
from features.churn.scorer import ModelChurnScorer
from policies.triggers.config import load_trigger_config
from policies.triggers.engine import TriggerEngine
from tests.features.churn.test_model import FEATURES, churn_frame

T0 = datetime(2026, 3, 2, 6, tzinfo=UTC)


def engine_with_model() -> tuple[TriggerEngine, pl.DataFrame, np.ndarray]:
    model = ChurnModel.fit(churn_frame(3000, 0, 1), churn_frame(1500, 1, 2), FEATURES, ChurnParams(n_estimators=60))
    customers = churn_frame(40, 2, 3)
    risk = model.predict_proba(customers)
    users = pl.DataFrame(
        {"user_id": customers["user_id"], "signup_ts": [T0 - timedelta(days=400)] * 40, "tz": ["Europe/Berlin"] * 40}
    )
    items = pl.DataFrame({"item_id": ["i1"], "merchant_id": ["m1"], "category": ["bags"], "price": [50.0],
                          "listed_at": [T0 - timedelta(days=30)], "stock": [9]})  # fmt: skip
    base = load_trigger_config()
    lifecycle = base.rules.lifecycle.model_copy(update={"churn_cadence_days": 1})
    config = base.model_copy(update={"rules": base.rules.model_copy(update={"lifecycle": lifecycle})})
    engine = TriggerEngine(config, items, users, scorer=ModelChurnScorer(model, customers))
    return engine, customers, risk


def sessions(user_ids: list[str]) -> pl.DataFrame:
    """Every user opens the app daily for three days (so no one is idle by sessions)."""
    rows = [(f"e{d}-{u}", T0 + timedelta(days=d, hours=1), u) for d in range(3) for u in user_ids]
    return pl.DataFrame(rows, schema=["event_id", "ts", "user_id"], orient="row").with_columns(
        pl.lit("session_start").alias("type"), pl.lit(None, pl.String).alias("item_id")
    )


def test_churn_moments_go_to_the_users_the_model_finds_at_risk() -> None:
    engine, customers, risk = engine_with_model()
    moments = engine.run(sessions(customers["user_id"].to_list()), until=T0 + timedelta(days=3))
    churn = moments.filter(pl.col("trigger") == "churn_risk")
    threshold = engine.config.rules.lifecycle.churn_threshold
    at_risk = set(customers.filter(pl.Series(risk >= threshold))["user_id"].to_list())
    assert at_risk
    assert at_risk != set(customers["user_id"])  # some but not all: the scores decide
    assert set(churn["user_id"].to_list()) == at_risk
    by_user = dict(zip(customers["user_id"].to_list(), risk.tolist(), strict=True))
    for user, reason in churn.select("user_id", "reason").unique("user_id").iter_rows():
        assert reason == f"churn risk {by_user[user]:.2f} ≥ {threshold:.2f}"


def test_the_model_risk_moves_users_to_declining_or_lapsed() -> None:
    engine, customers, risk = engine_with_model()
    moments = engine.run(sessions(customers["user_id"].to_list()), until=T0 + timedelta(days=3))
    stages = engine._lifecycle.stage_  # each user's stage at the last tick, by position
    stage_of = dict(zip(customers["user_id"].to_list(), stages[: customers.height].tolist(), strict=True))
    from features.lifecycle import LIFECYCLE_STAGES

    thresholds = engine.config.rules.lifecycle.stages
    for user, p in zip(customers["user_id"].to_list(), risk.tolist(), strict=True):
        expected = "lapsed" if p >= thresholds.lapsed_risk else "declining" if p >= thresholds.declining_risk else None
        if expected:
            assert LIFECYCLE_STAGES[stage_of[user]] == expected
        else:
            assert LIFECYCLE_STAGES[stage_of[user]] not in ("declining", "lapsed")  # active daily: not by sessions
    assert moments.filter(pl.col("trigger").is_in(["declining", "lapsed"])).height == 0  # risky from the first tick
