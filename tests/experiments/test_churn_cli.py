"""`offerlab churn` as a real process on CDNOW: the protocol's JSON, train then score, and the bad-input table."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from experiments.cli.churn import app as churn_app
from policies.serving.config import OfferlabConfig, configure_mlflow
from tests.experiments.test_cli import offerlab

#: churn model training and registry through the CLI: skipped by `make quick`
pytestmark = pytest.mark.slow

PROTOCOL = ["--dataset", "cdnow", "--train-snapshot", "1997-06-30", "--test-snapshot", "1997-12-31"]


def test_train_prints_the_protocol_json_registers_the_model_and_score_uses_it(
    store: OfferlabConfig, tmp_path: Path
) -> None:
    trained = offerlab("churn", "train", *PROTOCOL, "--horizon-days", "181", "--json")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert {"auc", "brier", "pr_auc", "n_train", "n_test", "baselines"} <= set(summary)
    assert set(summary["baselines"]) == {"bgnbd", "recency"}
    assert summary["n_test"] == 23_570
    assert summary["auc"] >= summary["baselines"]["bgnbd"]["auc"] + 0.01  # the bar on the protocol split
    assert summary["brier"] < summary["baselines"]["bgnbd"]["brier"]
    configure_mlflow(store)
    client = MlflowClient()
    run = client.search_runs([client.get_experiment_by_name("offerlab-churn").experiment_id])[0]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {
        "plots/calibration.png", "plots/lift.png", "plots/importance.png"
    }  # fmt: skip
    assert [str(v.version) for v in client.search_model_versions("name='churn-model'")] == ["1"]
    out = tmp_path / "scores.parquet"
    scored = offerlab(
        "churn", "score", "--dataset", "cdnow", "--as-of", "1998-03-31", "--out", str(out), "--reasons", "2"
    )
    assert scored.returncode == 0, scored.stderr
    frame = pl.read_parquet(out)
    assert frame.columns == ["user_id", "churn_risk", "reason_1", "reason_2"]
    assert frame.height == 23_570
    assert frame["churn_risk"].is_between(0, 1).all()
    assert frame["churn_risk"].is_sorted(descending=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-snapshot", "1996-06-30", "--test-snapshot", "1997-12-31"], "is before the first event"),
        (["--train-snapshot", "1997-06-30", "--test-snapshot", "1998-03-31"], "past the last event"),
        (["--train-snapshot", "1997-06-30", "--test-snapshot", "1997-09-30"], "training labels would look past"),
        (["--train-snapshot", "1997-12-31", "--test-snapshot", "1997-06-30"], "is not after the train snapshot"),
        (["--train-snapshot", "1997-02-30", "--test-snapshot", "1997-12-31"], "is not an ISO date"),
        (["--train-snapshot", "1997-01-15", "--test-snapshot", "1997-12-31"], "fewer than 2 training snapshots"),
    ],
)
def test_bad_dates_exit_2_naming_the_problem(store: OfferlabConfig, args: list[str], message: str) -> None:
    # in process (the same command function; a subprocess per case would spend most of its time importing)
    result = CliRunner().invoke(churn_app, ["evaluate", "--dataset", "cdnow", *args, "--horizon-days", "181"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_missing_column_and_a_missing_dataset_exit_2(store: OfferlabConfig, tmp_path: Path) -> None:
    from features.adapters.cdnow import load_cdnow

    data = load_cdnow()
    data.events.drop("quantity").write_parquet(tmp_path / "events.parquet")
    data.items.write_parquet(tmp_path / "items.parquet")
    data.users.write_parquet(tmp_path / "users.parquet")
    result = offerlab("churn", "evaluate", "--dataset", str(tmp_path), *PROTOCOL[2:], "--horizon-days", "181")
    assert result.returncode == 2, result.stderr
    assert "quantity" in result.stderr, result.stderr
    nowhere = offerlab("churn", "evaluate", "--dataset", str(tmp_path / "nope"), *PROTOCOL[2:])
    assert nowhere.returncode == 2
    assert "neither 'cdnow' nor a folder" in nowhere.stderr
    no_model = offerlab(
        "churn", "score", "--dataset", "cdnow", "--as-of", "1998-01-01", "--out", str(tmp_path / "s.pq")
    )
    assert no_model.returncode == 2, no_model.stderr
    assert not (tmp_path / "s.pq").exists()
