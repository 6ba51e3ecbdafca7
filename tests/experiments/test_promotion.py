"""The promotion gate and alias moves on a real SQLite-backed registry."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from experiments import jobs
from experiments.promotion import PromotionGate, rollback_champion, set_champion
from features.schemas import ACTIONS
from policies.bandits.baselines import FixedAction, UniformRandom
from policies.base import Feedback
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.pyfunc import log_policy_model
from policies.serving.registry import alias_version, resolve
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
from tests.experiments.test_cli import offerlab


def register(store: OfferlabConfig, policy: object) -> str:
    configure_mlflow(store)
    mlflow.set_experiment("promotion-test")
    with mlflow.start_run():
        info = log_policy_model(policy, store.registered_model)  # type: ignore[arg-type]
    return str(info.registered_model_version)


def test_gate_passes_the_truly_better_policy_and_fails_the_worse() -> None:
    scenario = load_scenario("default").with_size(n_users=4000, days=14)
    run = MarketplaceSimulator(scenario).run(UniformRandom(), seed=5)
    feedback = Feedback.from_log(run.bandit_log())
    truth = run.truth_matrix()
    oracle = np.zeros_like(truth)
    oracle[np.arange(len(truth)), np.nanargmax(truth, axis=1)] = 1.0
    gate = PromotionGate(n_bootstrap=500)
    assert gate.judge(feedback, oracle).passed
    worst = np.zeros_like(truth)
    worst[np.arange(len(truth)), np.nanargmin(truth, axis=1)] = 1.0
    verdict = gate.judge(feedback, worst)
    assert not verdict.passed
    assert "whose lower end does not clear +0.0000" in verdict.reasons[0]


def test_promote_moves_the_alias_and_rollback_moves_it_back(store: OfferlabConfig, small_run: SimulationResult) -> None:
    first, second = register(store, UniformRandom()), register(store, FixedAction("coupon"))
    assert set_champion(store, first) is None
    assert set_champion(store, second) == first
    assert resolve(store.champion_uri).label == f"offer-policy/v{second}"
    assert rollback_champion(store) == (second, first)
    assert alias_version(store.registered_model, store.champion_alias) == first


def test_rollback_without_history_is_a_clear_error(store: OfferlabConfig) -> None:
    version = register(store, UniformRandom())
    set_champion(store, version)
    with pytest.raises(LookupError, match="'offer-policy' has no earlier champion to roll back to"):
        rollback_champion(store)


def test_promote_job_records_its_verdict(store: OfferlabConfig, small_run: SimulationResult) -> None:
    version = register(store, UniformRandom())
    feedback = Feedback.from_log(small_run.bandit_log())
    probs = UniformRandom().probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    result = jobs.promote(store, version, feedback, probs, PromotionGate(n_bootstrap=200))
    assert not result.promoted  # the logging policy cannot beat itself
    run = MlflowClient().get_run(result.run_id)
    assert run.data.metrics["gate_passed"] == 0.0
    assert alias_version(store.registered_model, store.champion_alias) is None


@pytest.mark.slow
def test_cli_promote_exit_codes(store: OfferlabConfig, small_log: pl.DataFrame, tmp_path: Path) -> None:
    missing_log = offerlab("promote")
    assert missing_log.returncode == 2
    assert "--log is required" in missing_log.stderr
    no_history = offerlab("promote", "--rollback")
    assert no_history.returncode == 2
    assert "no registered model 'offer-policy'" in no_history.stderr
    register(store, UniformRandom())
    small_log.write_parquet(tmp_path / "log.parquet")
    no_version = offerlab("promote", "--version", "7", "--log", str(tmp_path / "log.parquet"))
    assert no_version.returncode == 2, no_version.stderr


def test_gate_refuses_a_candidate_no_better_than_the_champion(small_run: SimulationResult) -> None:
    feedback = Feedback.from_log(small_run.bandit_log())
    truth = small_run.truth_matrix()
    oracle = np.zeros_like(truth)
    oracle[np.arange(len(truth)), np.nanargmax(truth, axis=1)] = 1.0
    verdict = PromotionGate(n_bootstrap=200, min_lift=-10.0).judge(feedback, oracle, champion_probs=oracle)
    assert verdict.lift_over_champion is not None
    assert verdict.lift_over_champion.value == 0.0
    assert verdict.passed  # min_lift -10: ties pass
    strict = PromotionGate(n_bootstrap=200).judge(feedback, oracle, champion_probs=oracle)
    assert any("lift over the champion +0.0000" in reason for reason in strict.reasons)
