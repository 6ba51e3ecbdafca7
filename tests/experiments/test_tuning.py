"""`offerlab tune`: the search space, both objectives, and the command in-process.

In-process: nested MLflow runs, the config file, the registry, seeded repeatability, bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
from click.testing import Result
from mlflow import MlflowClient
from typer.testing import CliRunner

import experiments.cli
from experiments.tuning import MTR_ONLY, OffPolicyValue, SimulatedValue, load_config, split_log, suggest_config
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import EXPLORERS, VWConfig
from policies.base import Feedback
from policies.serving.config import OfferlabConfig, configure_mlflow
from simulators.scenario import load_scenario

TINY_WORLD = ["--scenario", "default", "--users", "300", "--days", "5"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(experiments.cli.application(), ["tune", *args])


def tiny_feedback(n: int = 200) -> Feedback:
    rng = np.random.default_rng(0)
    contexts = pl.DataFrame({"x": rng.integers(0, 2, n).astype(float)})
    chosen = rng.integers(0, 2, n)
    rewards = (chosen == contexts["x"].to_numpy()).astype(float)
    return Feedback(contexts, ("no_offer", "coupon"), np.ones((n, 2), bool), chosen, rewards, np.full(n, 0.5))


def test_every_point_of_the_search_space_is_a_config_vw_runs() -> None:
    feedback, seen = tiny_feedback(), set()

    def objective(trial: optuna.Trial) -> float:
        config = suggest_config(
            trial, VWConfig(seed=4), None if trial.number % 2 else (-1.0, 30.0), feedback.contexts.columns
        )
        seen.add(config.explorer)
        assert config.seed == 4
        assert config.explorer not in MTR_ONLY or config.cb_type == "mtr"
        policy = VowpalWabbitPolicy(config=config)
        policy.learn(feedback)
        probs = policy.probabilities(feedback.contexts.head(5), feedback.actions)
        assert np.allclose(probs.sum(axis=1), 1.0)
        return 0.0

    optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).optimize(objective, n_trials=60)
    assert seen == set(EXPLORERS)


def test_regcb_learns_costs_in_the_known_reward_range() -> None:
    trial = optuna.trial.FixedTrial(
        {"explorer": "regcb", "mellowness": 0.1, "optimistic": True, "interactions": "ua", "learning_rate": 0.1,
         "l2": 1e-8, "passes": 1, "inputs": "all"}
    )  # fmt: skip
    config = suggest_config(trial, reward_range=(-1.0, 30.0))
    assert (config.min_cost, config.max_cost, config.optimistic, config.cb_type) == (-30.0, 1.0, True, "mtr")


def test_a_simulated_trial_reports_each_day_and_stops_when_the_pruner_says_so() -> None:
    objective = SimulatedValue(load_scenario("default").with_size(n_users=200, days=3), seed=2)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1e9))
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="pruned after day 0"):
        objective.judge(VWConfig(), trial)
    unpruned = optuna.create_study(direction="maximize")
    judged = objective.judge(VWConfig(), unpruned.ask())
    unpruned.tell(0, judged.value)
    assert sorted(unpruned.trials[0].intermediate_values) == [0, 1, 2]
    assert judged.value == judged.figures["policy_expected_value"]
    two = SimulatedValue(objective.scenario, seed=2, worlds=2)
    unpruned = optuna.create_study(direction="maximize")
    both = two.judge(VWConfig(), unpruned.ask())
    unpruned.tell(0, both.value)
    assert sorted(unpruned.trials[0].intermediate_values) == list(range(6))
    other = SimulatedValue(objective.scenario, seed=3).judge(VWConfig())
    assert both.value == pytest.approx((judged.value + other.value) / 2)


def test_a_user_split_keeps_each_user_on_one_side_and_a_time_split_holds_out_the_latest() -> None:
    rng = np.random.default_rng(2)
    log = pl.DataFrame({"ts": rng.permutation(100), "user_id": rng.integers(0, 20, 100).astype(str)})
    train, held_out = split_log(log, "user", 0.25, seed=1)
    assert not set(train["user_id"]) & set(held_out["user_id"])
    assert held_out["user_id"].n_unique() == 5
    train, held_out = split_log(log, "time", 0.25)
    assert train["ts"].max() < held_out["ts"].min()
    assert held_out.height == 25
    with pytest.raises(ValueError, match="no user_id column"):
        split_log(log.drop("user_id"), "user")


def test_the_off_policy_objective_splits_the_log_and_brackets_its_estimate(small_log: pl.DataFrame) -> None:
    objective = OffPolicyValue(small_log, estimator="dr", split="user", holdout=0.3, seed=0)
    learned = objective.judge(VWConfig(epsilon=0.05, learning_rate=0.1))
    assert objective.held_out.n_rounds + objective.train.n_rounds == small_log.height
    assert learned.figures["ci_low"] <= learned.value <= learned.figures["ci_high"]
    assert np.isfinite(learned.value)


@pytest.mark.slow
def test_tune_on_a_scenario_writes_the_config_logs_nested_trials_and_registers(
    store: OfferlabConfig, tmp_path: Path
) -> None:
    out = tmp_path / "tuned.yaml"
    result = invoke("--trials", "3", *TINY_WORLD, "--seed", "5", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {"best_value", "best_config", "trials", "run_id", "model_version"}
    assert payload["objective"] == {
        "objective": "simulated",
        "scenario": "default",
        "users": 300,
        "days": 5,
        "seed": 5,
        "worlds": 1,
    }
    assert len(payload["trials"]) == 3
    assert payload["best_value"] == max(t["value"] for t in payload["trials"])
    assert load_config(out) == VWConfig(**payload["best_config"])
    configure_mlflow(store)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(store.experiment("tune"))
    assert experiment is not None
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{payload['run_id']}'"
    )
    assert len(children) == 3
    assert all("policy_expected_value" in child.data.metrics for child in children)
    assert {child.data.params["explorer"] for child in children} <= set(EXPLORERS)
    challenger = client.get_model_version_by_alias(store.registered_model, store.challenger_alias)
    assert str(challenger.version) == payload["model_version"] == "1"

    again = invoke("--trials", "3", *TINY_WORLD, "--seed", "5", "--out", str(tmp_path / "again.json"), "--json")
    assert again.exit_code == 0, again.output
    repeated = json.loads(again.stdout)
    assert repeated["best_config"] == payload["best_config"]
    assert repeated["best_value"] == pytest.approx(payload["best_value"])
    assert repeated["model_version"] == "2"
    assert VWConfig.model_validate_json((tmp_path / "again.json").read_text()) == load_config(out)


def test_tune_on_a_log_estimates_off_policy(store: OfferlabConfig, tmp_path: Path, small_log: pl.DataFrame) -> None:
    log = tmp_path / "log.parquet"
    small_log.write_parquet(log)
    out = tmp_path / "tuned.json"
    result = invoke("--trials", "2", "--log", str(log), "--estimator", "snips", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["trials"]) == 2
    assert np.isfinite(payload["best_value"])
    assert load_config(out) == VWConfig(**payload["best_config"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "3", "--scenario", "atlantis"], "no scenario 'atlantis'"),
        (["--trials", "0", *TINY_WORLD], "--trials must be at least 1, got 0"),
        (["--trials", "1", *TINY_WORLD, "--worlds", "0"], "--worlds must be at least 1, got 0"),
        (["--trials", "2"], "give exactly one of --scenario"),
        (["--trials", "2", "--scenario", "default", "--log", "x.parquet"], "give exactly one of --scenario"),
        (["--trials", "2", "--log", "nowhere.parquet"], "nowhere.parquet"),
        (["--trials", "2", "--log", "x.parquet", "--users", "10"], "do not apply to --log"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(store: OfferlabConfig, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda log: log.drop("propensity"), [], "missing column 'propensity'"),
        (lambda log: log, ["--split", "day"], "unknown split 'day'"),
        (lambda log: log, ["--estimator", "ips"], "'ips' is not one of dr, snips"),
        (lambda log: log.drop("user_id"), ["--split", "user"], "no user_id column"),
    ],
)
def test_a_bad_log_or_log_option_exits_2(
    store: OfferlabConfig,
    tmp_path: Path,
    small_log: pl.DataFrame,
    change: Callable[[pl.DataFrame], pl.DataFrame],
    options: list[str],
    message: str,
) -> None:
    log = tmp_path / "log.parquet"
    change(small_log).write_parquet(log)
    result = invoke("--trials", "2", "--log", str(log), *options)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
