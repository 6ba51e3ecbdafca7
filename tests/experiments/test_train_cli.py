"""``offerlab train``: online in a simulated scenario or offline from a log (the endpoint's own included).

Its learning curve and settings go to the MLflow run, the policy is registered as the challenger; bad input
exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import experiments.cli
from experiments.inputs import load_bandit_log
from experiments.tuning.config_files import save_config
from policies.bandits.vw_config import VWConfig
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.server import build_app, serving_in_background
from simulators.base import SimulationResult
from tests.conftest import activate_store
from tests.policies.test_endpoint import reachable_rows, request_from

DAYS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, empty_tracking_db: Path) -> Iterator[OfferlabConfig]:
    """Make one MLflow store for the module (the fixture of the same name makes one per test).

    Runs are told apart by id.
    """
    with pytest.MonkeyPatch.context() as patch:
        yield activate_store(tmp_path_factory.mktemp("store"), empty_tracking_db, patch)


def offerlab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(experiments.cli.application(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def simulated(store: OfferlabConfig, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train a softmax policy from a config file online for a few days; not registered."""
    config_file = tmp_path_factory.mktemp("config") / "vw.yaml"
    save_config(VWConfig(explorer="softmax", softmax_lambda=4.0, seed=2), config_file)
    args = ("--simulate", "default", "--users", "400", "--days", str(DAYS), "--seed", "1")
    status, out, err = offerlab("train", *args, "--config", str(config_file), "--no-register", "--json")
    assert status == 0, err
    payload: dict = json.loads(out)
    return payload


def test_simulated_training_reports_the_final_figures(simulated: dict) -> None:
    assert simulated["source"] == "simulate"
    assert simulated["model_version"] is None
    assert simulated["oracle_value"] >= simulated["policy_expected_value"]
    assert simulated["oracle_value"] >= simulated["best_fixed_value"]
    margin = simulated["oracle_value"] - simulated["best_fixed_value"]
    gained = simulated["policy_expected_value"] - simulated["best_fixed_value"]
    assert simulated["captured_share"] == pytest.approx(gained / margin)


def test_the_run_holds_the_config_the_curve_by_day_and_its_files(simulated: dict, store: OfferlabConfig) -> None:
    configure_mlflow(store)
    client = MlflowClient()
    run = client.get_run(simulated["run_id"])
    assert run.data.params["explorer"] == "softmax"
    assert run.data.params["softmax_lambda"] == "4.0"
    assert run.data.params["seed"] == "2"
    assert run.data.params["simulation_seed"] == "1"
    assert run.data.params["scenario.n_users"] == "400"
    assert run.data.metrics["oracle_value"] == pytest.approx(simulated["oracle_value"])
    history = client.get_metric_history(run.info.run_id, "curve_cumulative_regret")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(DAYS))
    assert sorted(history, key=lambda m: m.step)[-1].value == pytest.approx(simulated["cumulative_regret"])
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"curve.csv", "curve.png", "summary.json"} <= files
    curve = pl.read_csv(client.download_artifacts(run.info.run_id, "curve.csv"))
    assert curve.height == DAYS
    assert curve.get_column("decisions").sum() == simulated["n_decisions"]


@pytest.fixture(scope="module")
def logged(store: OfferlabConfig, small_log_file: Path) -> dict:
    """Learn the policy from a log, with its progressive-validation curve; registered."""
    status, out, err = offerlab("train", "--log", str(small_log_file), "--chunks", "4", "--epsilon", "0.1", "--json")
    assert status == 0, err
    payload: dict = json.loads(out)
    return payload


def test_log_training_registers_the_challenger_with_its_progressive_curve(
    logged: dict, store: OfferlabConfig, small_log: pl.DataFrame
) -> None:
    assert logged["source"] == "log"
    assert logged["n_rounds"] == small_log.height
    assert logged["config"]["epsilon"] == 0.1
    configure_mlflow(store)
    client = MlflowClient()
    challenger = client.get_model_version_by_alias(store.registered_model, store.challenger_alias)
    assert str(challenger.version) == logged["model_version"]
    history = client.get_metric_history(logged["run_id"], "progressive_value")
    steps = sorted(m.step for m in history)
    assert len(steps) == 4  # step: rounds learned before
    assert steps[0] == 0
    assert steps[-1] < small_log.height
    assert "progressive_validation.csv" in {f.path for f in client.list_artifacts(logged["run_id"])}


def test_the_endpoints_own_decision_log_trains(
    logged: dict, store: OfferlabConfig, small_run: SimulationResult, small_log: pl.DataFrame
) -> None:
    configure_mlflow(store)
    MlflowClient().set_registered_model_alias(store.registered_model, store.champion_alias, logged["model_version"])
    rows = reachable_rows(small_log, small_run.users)
    app = build_app(store, seed=0, users=small_run.users, api_token="train-test-token")
    auth = {"Authorization": "Bearer train-test-token"}
    with serving_in_background(app) as url, httpx.Client(headers=auth) as client:
        answers = [client.post(f"{url}/v1/decide", json=request_from(rows, row)).json() for row in range(12)]
    ids = [a["decision_id"] for a in answers if a["suppressed_by"] is None]
    assert len(ids) >= 10
    folder = Path(store.serving.decision_log)
    pl.DataFrame(
        {
            "decision_id": ids,
            "converted": [i % 4 == 0 for i in range(len(ids))],
            "revenue": [40.0 * (i % 4 == 0) for i in range(len(ids))],
            "offer_cost": [0.5] * len(ids),
        }
    ).with_columns(reward=pl.col("revenue") - pl.col("offer_cost")).write_parquet(folder / "outcomes.parquet")
    assert load_bandit_log(folder).height == len(ids)
    status, out, err = offerlab("train", "--log", str(folder), "--chunks", "2", "--no-register", "--json")
    assert status == 0, err
    assert json.loads(out)["n_rounds"] == len(ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --log (learn from a bandit log) or --simulate"),
        (("--log", "x.parquet", "--simulate", "default"), "give exactly one of --log"),
        (("--log", "x.parquet", "--days", "3"), "--users and --days size a simulated world"),
        (("--simulate", "default", "--chunks", "0"), "--chunks must be at least 1; got 0"),
        (("--simulate", "nowhere"), "nowhere"),
        (("--log", "missing.parquet"), "missing.parquet"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(args: tuple[str, ...], message: str) -> None:
    status, _, err = offerlab("train", *args)
    assert status == 2
    assert message in " ".join(err.split())


def test_a_bad_config_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "vw.json"
    bad.write_text(json.dumps({"explorer": "bagging", "learning_rate": 0.1}))
    status, _, err = offerlab("train", "--simulate", "default", "--config", str(bad))
    assert status == 2
    assert f"--config {bad}: explorer: Input should be 'epsilon'" in " ".join(err.split())
    good = tmp_path / "good.json"
    save_config(VWConfig(), good)
    status, _, err = offerlab("train", "--simulate", "default", "--config", str(good), "--epsilon", "0.2")
    assert status == 2
    assert "holds every VW setting; drop --epsilon" in " ".join(err.split())
