"""``offerlab feature-value`` in process: the JSON contract, the files and MLflow run of ``--out``, a given policy.

Bad input exits 2 and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import Result
from conftest import GROUPS, SyntheticLog
from mlflow import MlflowClient
from typer.testing import CliRunner

from experiments.cli import application
from experiments.feature_value import COLUMNS, FEATURE_GROUPS, VWFactory, trained
from policies.serving.config import OfferlabConfig, configure_mlflow


def offerlab(*args: str) -> Result:
    return CliRunner().invoke(application(), ["feature-value", *args])


def message(result: Result) -> str:
    return " ".join(result.stderr.split())


@pytest.fixture(scope="module")
def log_file(signal_log: SyntheticLog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    feedback = signal_log.feedback
    path = tmp_path_factory.mktemp("log") / "log.parquet"
    feedback.contexts.with_columns(
        action=pl.Series([feedback.actions[i] for i in feedback.chosen]),
        reward=feedback.rewards,
        propensity=feedback.propensities,
        user_id=signal_log.users,
        actions=pl.lit("|".join(feedback.actions)),  # the three offers of the log, not the fourth
    ).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def groups_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("groups") / "groups.yaml"
    path.write_text("\n".join(f"{name}: [{', '.join(columns)}]" for name, columns in GROUPS.items()))
    return path


def test_json_on_a_simulated_log_with_the_context_s_groups(store: OfferlabConfig, small_log_file: Path) -> None:
    result = offerlab("--log", str(small_log_file), "--method", "permute", "--bootstrap", "100", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # exactly one object
    rows = payload["groups"]
    assert {row["group"] for row in rows} == set(FEATURE_GROUPS)
    assert all(list(row) == list(COLUMNS) and row["method"] == "permute" for row in rows)
    assert all(row["lower"] <= row["drop"] <= row["upper"] for row in rows)
    assert payload["policy"] == "vw policy trained on the training split"
    assert payload["settings"]["clustered_by_user"] is True
    assert payload["settings"]["estimator"] == "dr"
    assert "run_id" not in payload


def test_out_writes_the_table_the_chart_and_an_mlflow_run(
    store: OfferlabConfig, log_file: Path, groups_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = offerlab("--log", str(log_file), "--groups", str(groups_file), "--bootstrap", "100", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["feature_value.csv", "feature_value.json", "feature_value.png"]
    document = json.loads((out / "feature_value.json").read_text())
    table = pl.read_csv(out / "feature_value.csv")
    assert table.columns == list(COLUMNS)
    assert table.height == 2 * len(GROUPS)
    assert table.get_column("group").to_list() == [row["group"] for row in document["groups"]]
    assert table.row(0, named=True)["group"] == "taste"
    assert (out / "feature_value.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    configure_mlflow(store)
    run = MlflowClient().get_run(document["run_id"])
    assert run.data.tags["offerlab.command"] == "feature-value"
    assert run.data.params["methods"] == "permute,remove"
    assert run.data.metrics["remove.taste.drop"] == pytest.approx(
        table.filter(group="taste", method="remove")["drop"][0]
    )
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert artifacts == {"feature_value.csv", "feature_value.json", "feature_value.png"}
    assert document["run_id"] in result.stdout


def test_a_saved_policy_is_permuted(
    store: OfferlabConfig, signal_log: SyntheticLog, log_file: Path, groups_file: Path, tmp_path: Path
) -> None:
    trained(VWFactory(seed=4), signal_log.feedback).save(tmp_path / "vw")
    inputs = ("--log", str(log_file), "--groups", str(groups_file), "--policy", str(tmp_path / "vw"))
    result = offerlab(*inputs, "--method", "permute", "--estimator", "snips", "--bootstrap", "100", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["policy"].startswith("saved vw policy")
    taste = next(row for row in payload["groups"] if row["group"] == "taste")
    assert taste["lower"] > 0


def without_rewards(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("reward")


def without_features(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("action", "reward", "propensity", "user_id")


@pytest.mark.parametrize(
    ("arguments", "groups", "change", "expected"),
    [
        (
            [],
            "taste: [affinity, flavour]",
            None,
            "feature group 'taste': column 'flavour' is not a context column of the log",
        ),
        ([], "taste: []", None, "feature group 'taste' is empty; give it at least one column"),
        ([], None, without_rewards, "log: missing column 'reward'"),
        ([], None, without_features, "the log has no context feature column"),
        (["--method", "shuffle"], None, None, "--method must be one of permute, remove, both; got 'shuffle'"),
        (["--estimator", "magic"], None, None, "unknown estimator 'magic'"),
        (["--policy", "TABLE"], None, None, "a table of target probabilities, not a policy"),
        (["--policy", "nowhere"], None, None, "target nowhere: no such file or folder"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    store: OfferlabConfig,
    log_file: Path,
    tmp_path: Path,
    arguments: list[str],
    groups: str | None,
    change: object,
    expected: str,
) -> None:
    log = log_file
    if change is not None:
        log = tmp_path / "changed.parquet"
        change(pl.read_parquet(log_file)).write_parquet(log)  # type: ignore[operator]
    if groups is not None:
        (tmp_path / "groups.yaml").write_text(groups)
        arguments = [*arguments, "--groups", str(tmp_path / "groups.yaml")]
    if "TABLE" in arguments:
        pl.DataFrame({"p_coupon": np.ones(3)}).write_csv(tmp_path / "target.csv")
        arguments = [str(tmp_path / "target.csv") if a == "TABLE" else a for a in arguments]
    out = tmp_path / "out"
    result = offerlab("--log", str(log), *arguments, "--bootstrap", "10", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert expected in message(result)
    assert not out.exists()
