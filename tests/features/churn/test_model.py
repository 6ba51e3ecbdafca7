"""The churn model: fit out of time, calibrated, explained, saved and loaded, tuned reproducibly, registered."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest

from features.churn.calibration import fit_calibrator
from features.churn.model import ChurnModel, ChurnParams, split_out_of_time
from features.churn.tuning import tune

FEATURES = ["idle_days", "purchases_90d", "noise"]


def churn_frame(n: int, snapshot: int, seed: int) -> pl.DataFrame:
    """Churn driven by idle days (up) and purchases (down); ``noise`` carries nothing."""
    rng = np.random.default_rng(seed)
    idle = rng.exponential(30, n)
    purchases = rng.poisson(2, n)
    logit = (idle - 35) / 12 - 0.5 * purchases
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "snapshot": [snapshot] * n,
            "idle_days": idle,
            "purchases_90d": purchases,
            "noise": rng.normal(size=n),
            "churned": churned,
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pl.DataFrame]:
    model = ChurnModel.fit(churn_frame(4000, 0, 1), churn_frame(2000, 1, 2), FEATURES, ChurnParams(n_estimators=80))
    return model, churn_frame(3000, 2, 3)


def test_the_model_ranks_and_is_calibrated_out_of_time(fitted: tuple[ChurnModel, pl.DataFrame]) -> None:
    model, test = fitted
    p, y = model.predict_proba(test), test["churned"].to_numpy()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.8
    assert abs(p.mean() - y.mean()) < 0.03  # calibrated on the later snapshot, judged on a later one still
    assert model.importance()["feature"][0] == "idle_days"


def test_explanations_name_the_features_that_raise_the_risk(fitted: tuple[ChurnModel, pl.DataFrame]) -> None:
    model, test = fitted
    riskiest = test.with_columns(pl.Series("p", model.predict_proba(test))).sort("p", descending=True).head(20)
    reasons = model.explain(riskiest, top=2)
    assert reasons.columns == ["user_id", "reason_1", "reason_2"]
    assert (reasons["reason_1"].str.starts_with("idle_days=")).mean() > 0.8  # the long-idle are at risk for that
    assert reasons["reason_1"].str.contains(r"\(\+\d").all()  # a push upwards, with its size


def test_save_and_load_give_the_same_scores(fitted: tuple[ChurnModel, pl.DataFrame], tmp_path: Path) -> None:
    model, test = fitted
    model.save(tmp_path / "m")
    again = ChurnModel.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(test), model.predict_proba(test))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["booster.txt", "churn_model.json"]


def test_missing_feature_column_is_named(fitted: tuple[ChurnModel, pl.DataFrame]) -> None:
    model, test = fitted
    with pytest.raises(ValueError, match="missing column 'purchases_90d'"):
        model.predict_proba(test.drop("purchases_90d"))


def test_split_out_of_time_needs_two_snapshots() -> None:
    fit, valid = split_out_of_time(pl.concat([churn_frame(10, 0, 1), churn_frame(5, 7, 1)]))
    assert (fit.height, valid.height, valid["snapshot"].unique().to_list()) == (10, 5, [7])
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        split_out_of_time(churn_frame(10, 0, 1))


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibrators_fix_a_biased_score(kind: str) -> None:
    rng = np.random.default_rng(4)
    raw = rng.uniform(0.05, 0.95, 5000)
    y = (rng.uniform(size=5000) < raw**2).astype(int)
    calibrated = fit_calibrator(raw, y, kind)  # type: ignore[arg-type]
    again = type(calibrated).from_dict(calibrated.to_dict())
    assert abs(calibrated.transform(raw).mean() - y.mean()) < 0.01
    np.testing.assert_allclose(again.transform(raw), calibrated.transform(raw))


def test_tuning_is_reproducible_under_a_seed() -> None:
    train, valid = churn_frame(1500, 0, 5), churn_frame(600, 1, 6)
    runs = [tune(train, valid, FEATURES, n_trials=6, seed=3, base=ChurnParams(n_estimators=40)) for _ in range(2)]
    assert runs[0].best_params == runs[1].best_params
    assert runs[0].best_value == runs[1].best_value
    assert [t.params for t in runs[0].study.trials] == [t.params for t in runs[1].study.trials]


def test_tuning_logs_each_trial_as_a_nested_mlflow_run(store) -> None:  # type: ignore[no-untyped-def]
    from experiments.tracking import ensure_experiment, tracked_run

    train, valid = churn_frame(800, 0, 7), churn_frame(300, 1, 8)
    with tracked_run(store, "churn", run_name="parent") as parent:
        experiment = ensure_experiment(store, "churn")
        tune(
            train,
            valid,
            FEATURES,
            n_trials=3,
            seed=0,
            base=ChurnParams(n_estimators=20),
            mlflow_experiment_id=experiment,
        )
    children = mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 3
    assert children["metrics.valid_logloss"].notna().all()
    assert {"params.num_leaves", "params.learning_rate"} <= set(children.columns)


def test_registered_model_scores_like_the_fitted_one(fitted: tuple[ChurnModel, pl.DataFrame], store) -> None:  # type: ignore[no-untyped-def]
    from experiments.tracking import tracked_run
    from features.churn.pyfunc import load_churn_model, log_churn_model

    model, test = fitted
    with tracked_run(store, "churn"):
        log_churn_model(model, test)
    loaded = load_churn_model("models:/churn-model/latest")
    np.testing.assert_allclose(loaded.predict_proba(test), model.predict_proba(test))
    served = mlflow.pyfunc.load_model("models:/churn-model/1").predict(test.to_pandas(), params={"reasons": 1})
    assert list(served.columns) == ["churn_risk", "reason_1"]
