"""The offerlab command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from features.schemas import ACTIONS
from policies.serving.config import OfferlabConfig, configure_mlflow


def offerlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=cwd,
        timeout=300,
    )


def test_help_lists_the_commands() -> None:
    result = offerlab("--help")
    assert result.returncode == 0
    for command in ("simulate", "train", "ope", "promote", "serve", "demo"):
        assert command in result.stdout


def test_simulate_json_and_files(store: OfferlabConfig, tmp_path: Path) -> None:
    result = offerlab(
        "simulate", "--users", "300", "--days", "3", "--seed", "4", "--out", str(tmp_path / "sim"), "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {
        "n_users",
        "n_events",
        "n_decisions",
        "policy_value",
        "oracle_value",
        "best_fixed_action",
        "best_fixed_value",
    } <= set(summary)
    assert summary["n_users"] == 300
    assert sorted(p.name for p in (tmp_path / "sim").iterdir()) == sorted(
        f"{n}.parquet"
        for n in ("events", "items", "users", "decisions", "outcomes", "truth", "holdout", "suppressions")
    )
    configure_mlflow(store)
    runs = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("offerlab-simulate").experiment_id])
    assert runs and runs[0].data.params["scenario.n_users"] == "300"


def test_ope_with_target_probs_file(store: OfferlabConfig, small_log: pl.DataFrame, tmp_path: Path) -> None:
    log_path = tmp_path / "log.parquet"
    small_log.write_parquet(log_path)
    coupon_where_possible = pl.DataFrame(
        {f"p_{a}": [1.0 if a == "coupon" else 0.0] * small_log.height for a in ACTIONS}
    )
    coupon_where_possible.write_csv(tmp_path / "target.csv")
    result = offerlab(
        "ope", "--log", str(log_path), "--target-probs", str(tmp_path / "target.csv"), "--json", "--bootstrap", "200"
    )
    assert result.returncode == 0, result.stderr
    estimates = {r["estimator"]: r for r in json.loads(result.stdout)["results"]}
    assert set(estimates) == {"ips", "snips", "logged"}
    for r in estimates.values():
        assert r["ci_low"] <= r["value"] <= r["ci_high"]


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("propensity", "log: missing column 'propensity'"),
        ("reward", "log: missing column 'reward'"),
        ("action", "log: missing column 'action'"),
    ],
)
def test_ope_without_a_required_column_exits_2_and_writes_nothing(
    tmp_path: Path, small_log: pl.DataFrame, drop: str, message: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    small_log.drop(drop, "actions", "probabilities").write_csv(work / "log.csv")
    pl.DataFrame({f"p_{a}": [0.25] * small_log.height for a in ACTIONS}).write_csv(work / "target.csv")
    before = sorted(p.name for p in work.iterdir())
    env_config = os.environ.pop("OFFERLAB_CONFIG", None)
    try:
        result = offerlab("ope", "--log", "log.csv", "--target-probs", "target.csv", cwd=work)
    finally:
        if env_config is not None:
            os.environ["OFFERLAB_CONFIG"] = env_config
    assert result.returncode == 2
    assert message in result.stderr
    assert sorted(p.name for p in work.iterdir()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-probs", "short.csv"], "target-probs: has 3 rows but the log has"),
        ([], "give exactly one of --policy URI or --target-probs FILE"),
        (["--target-probs", "short.csv", "--estimators", "magic"], "unknown estimator(s) ['magic']"),
    ],
)
def test_ope_bad_arguments_exit_2(
    store: OfferlabConfig, tmp_path: Path, small_log: pl.DataFrame, args: list[str], message: str
) -> None:
    small_log.write_parquet(tmp_path / "log.parquet")
    pl.DataFrame({f"p_{a}": [0.25] * 3 for a in ACTIONS}).write_csv(tmp_path / "short.csv")
    result = offerlab("ope", "--log", "log.parquet", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
