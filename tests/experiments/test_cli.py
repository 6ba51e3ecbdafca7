"""The offerlab command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

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


@pytest.mark.slow
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
    assert runs
    assert runs[0].data.params["scenario.n_users"] == "300"
