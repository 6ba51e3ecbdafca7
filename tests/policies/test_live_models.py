"""Models that follow a real SQLite-backed MLflow registry: alias moves, rollback, failed loads, split and shadow."""

from __future__ import annotations

import json
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel
from typer.testing import CliRunner

from experiments.cli import application
from experiments.inputs import load_bandit_log, load_decision_log
from experiments.promotion import rollback_champion, set_champion
from features.schemas import ACTIONS
from policies.bandits.baselines import FixedAction
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.decision_log import DecisionLog
from policies.serving.live_models import Assignment, LiveModel, LiveModels, TrafficSplit
from policies.serving.logged_targets import policy_target_table
from policies.serving.pyfunc import PolicyModel, log_policy_model
from policies.serving.registry import ResolvedModel

CONTEXT = pl.DataFrame({"price": [10.0]})
ELIGIBLE = np.ones((1, len(ACTIONS)), dtype=bool)


with warnings.catch_warnings():  # MLflow asks for type hints on predict when the class is defined
    warnings.simplefilter("ignore", UserWarning)

    class NotAPolicy(PythonModel):
        """A pyfunc model that is not an offerlab policy: loading it as one fails."""

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input


def register(store: OfferlabConfig, action: str) -> str:
    configure_mlflow(store)
    mlflow.set_experiment("live-models-test")
    with mlflow.start_run():
        info = log_policy_model(FixedAction(action), store.registered_model)
    return str(info.registered_model_version)


def register_broken(store: OfferlabConfig) -> str:
    configure_mlflow(store)
    mlflow.set_experiment("live-models-test")
    with mlflow.start_run(), warnings.catch_warnings():  # MLflow asks for type hints on predict
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.pyfunc.log_model(
            name="other", python_model=NotAPolicy(), pip_requirements=[], registered_model_name=store.registered_model
        )
    return str(info.registered_model_version)


def action_of(live: LiveModel) -> str:
    chosen, _ = live.model.decide(CONTEXT, ELIGIBLE, np.random.default_rng(0))
    return ACTIONS[int(chosen[0])]


@pytest.fixture
def versions(store: OfferlabConfig) -> tuple[str, str]:
    """Two registered versions (always coupon, always installment); the first is champion."""
    first, second = register(store, "coupon"), register(store, "installment")
    set_champion(store, first)
    return first, second


def test_refresh_follows_a_promotion_and_a_rollback(store: OfferlabConfig, versions: tuple[str, str]) -> None:
    first, second = versions
    live = LiveModels(store.champion_uri)
    before = live.current().champion
    assert (before.version, action_of(before)) == (f"offer-policy/v{first}", "coupon")
    assert live.refresh() is False
    assert live.current().champion is before

    set_champion(store, second)
    assert live.refresh() is True
    promoted = live.current().champion
    assert (promoted.version, action_of(promoted)) == (f"offer-policy/v{second}", "installment")

    rollback_champion(store)
    assert live.refresh() is True
    assert live.current().champion is before, "a rollback swaps back the model already loaded"
    assert live.current().errors == {}


def test_a_failed_load_keeps_the_serving_model_and_records_why(
    store: OfferlabConfig, versions: tuple[str, str]
) -> None:
    first, second = versions
    client = MlflowClient()
    client.set_registered_model_alias(store.registered_model, store.challenger_alias, second)
    challenger_uri = f"models:/{store.registered_model}@{store.challenger_alias}"
    broken = register_broken(store)
    live = LiveModels(store.champion_uri, challenger_uri)
    set_champion(store, broken)
    client.set_registered_model_alias(store.registered_model, store.challenger_alias, broken)
    assert live.refresh() is False
    snapshot = live.current()
    assert snapshot.challenger is not None
    serving = (snapshot.champion.version, snapshot.challenger.version)
    assert serving == (f"offer-policy/v{first}", f"offer-policy/v{second}")
    assert (action_of(snapshot.champion), action_of(snapshot.challenger)) == ("coupon", "installment")
    assert set(snapshot.errors) == {store.champion_uri, challenger_uri}
    assert f"models:/offer-policy/{broken} is not an offerlab policy model" in snapshot.errors[store.champion_uri]

    client.delete_registered_model_alias(store.registered_model, store.champion_alias)
    assert live.refresh() is False
    assert live.current().champion is snapshot.champion
    assert "carries the alias 'champion'" in live.current().errors[store.champion_uri]

    set_champion(store, second)
    client.delete_registered_model_alias(store.registered_model, store.challenger_alias)
    assert live.refresh() is True
    assert (live.current().champion.version, live.current().challenger) == (f"offer-policy/v{second}", None)
    assert live.current().errors == {}


def test_a_missing_champion_alias_is_a_clear_error_at_start(store: OfferlabConfig) -> None:
    register(store, "coupon")
    with pytest.raises(LookupError, match="no version of 'offer-policy' carries the alias 'champion'"):
        LiveModels(store.champion_uri)


def test_readers_never_see_a_half_swapped_pair(store: OfferlabConfig, versions: tuple[str, str]) -> None:
    first, second = versions
    live = LiveModels(store.champion_uri)
    expected = {f"offer-policy/v{first}": "coupon", f"offer-policy/v{second}": "installment"}
    seen: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                acting = live.choose("user-1").acting
                seen.append((acting.version, action_of(acting)))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in (second, first, second):
            set_champion(store, version)
            assert live.refresh() is True
    finally:
        done.set()
        reader.join(10)
    assert failures == []
    assert seen
    assert all(expected[version] == action for version, action in seen)


def test_the_poller_picks_up_an_alias_move_and_stops(store: OfferlabConfig, versions: tuple[str, str]) -> None:
    _, second = versions
    with LiveModels(store.champion_uri) as live:
        live.start(interval_s=0.05)
        with pytest.raises(RuntimeError, match="already running"):
            live.start(interval_s=0.05)
        set_champion(store, second)
        deadline = time.monotonic() + 30
        while live.current().champion.version != f"offer-policy/v{second}" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.current().champion.version == f"offer-policy/v{second}"
        poller = live._poller
    assert poller is not None
    assert not poller.is_alive()


def test_split_sends_the_share_to_the_challenger_stably_per_key(
    store: OfferlabConfig, versions: tuple[str, str]
) -> None:
    _, second = versions
    MlflowClient().set_registered_model_alias(store.registered_model, store.challenger_alias, second)
    assert LiveModels.from_config(store).challenger_uri is None
    live = LiveModels.from_config(store, TrafficSplit(challenger_share=0.25))
    assert live.challenger_uri == f"models:/{store.registered_model}@{store.challenger_alias}"
    keys = [f"user-{i}" for i in range(20_000)]
    arms = [live.route(key) for key in keys]
    assert abs(arms.count("challenger") / len(keys) - 0.25) < 0.02
    assert [live.route(key) for key in keys[:500]] == arms[:500]
    assignment = live.choose(keys[arms.index("challenger")])
    assert (assignment.arm, action_of(assignment.acting), assignment.shadow) == ("challenger", "installment", None)
    assert assignment.log_fields() == {"arm": "challenger"}

    MlflowClient().delete_registered_model_alias(store.registered_model, store.challenger_alias)
    assert live.refresh() is True
    assert live.current().challenger is None
    assert {live.route(key) for key in keys[:500]} == {"champion"}


def test_shadow_scores_the_model_that_does_not_act_and_ope_reads_both(
    store: OfferlabConfig, versions: tuple[str, str], tmp_path: Path
) -> None:
    first, second = versions
    MlflowClient().set_registered_model_alias(store.registered_model, store.challenger_alias, second)
    challenger_uri = f"models:/{store.registered_model}@{store.challenger_alias}"
    live = LiveModels(store.champion_uri, challenger_uri, TrafficSplit(challenger_share=0.5, shadow=True))
    folder = tmp_path / "decision-log"
    decision_log = DecisionLog(folder)
    now = datetime.now(UTC)
    for i in range(40):
        assignment = live.choose(f"user-{i}")
        assert assignment.shadow is not None
        assert assignment.shadow is not assignment.acting
        chosen, probs = assignment.acting.model.decide(CONTEXT, ELIGIBLE, np.random.default_rng(i))
        _, shadow_probs = assignment.shadow.model.decide(CONTEXT, ELIGIBLE, np.random.default_rng(i))
        decision_log.append(
            {
                "decision_id": f"d{i}",
                "ts": now,
                "user_id": f"user-{i}",
                "trigger": "cart_abandoned",
                "actions": list(ACTIONS),
                "action": ACTIONS[int(chosen[0])],
                "propensity": float(probs[0, chosen[0]]),
                "probabilities": probs[0].tolist(),
                "policy_version": assignment.acting.version,
                "channel": "in_app",
                "send_at": now,
                "price": 10.0,
                **assignment.log_fields(shadow_probs[0]),
            }
        )
    log = load_decision_log(folder)
    on_champion = log.get_column("arm") == "champion"
    assert 0 < on_champion.sum() < log.height
    assert set(log.filter(on_champion).get_column("policy_version")) == {f"offer-policy/v{first}"}
    assert set(log.filter(on_champion).get_column("shadow_policy_version")) == {f"offer-policy/v{second}"}
    assert (policy_target_table(log, f"offer-policy/v{first}").get_column("p_coupon") == 1.0).all()
    assert (policy_target_table(log, f"offer-policy/v{second}").get_column("p_installment") == 1.0).all()

    rewards = (log.get_column("action") == "installment").cast(pl.Float64)
    pl.DataFrame(
        {"decision_id": log.get_column("decision_id"), "converted": rewards > 0, "revenue": rewards}
    ).with_columns(offer_cost=pl.lit(0.0), reward=pl.col("revenue")).write_parquet(folder / "outcomes.parquet")
    table = tmp_path / "challenger.parquet"
    policy_target_table(load_bandit_log(folder), f"offer-policy/v{second}").write_parquet(table)
    values = []
    for target in (["--target-probs", str(table)], ["--policy", f"models:/offer-policy/{second}"]):
        args = ["ope", "--log", str(folder), *target, "--estimators", "ips", "--bootstrap", "50", "--json"]
        result = CliRunner().invoke(application(), args)
        assert result.exit_code == 0, result.output
        values.append(json.loads(result.stdout)["estimates"]["ips"]["value"])
    assert values[0] == values[1] == pytest.approx(1 - on_champion.mean())


@pytest.mark.parametrize(
    ("shadow", "probs", "message"),
    [
        (False, [0.0, 1.0, 0.0, 0.0], "shadow_probabilities given for an assignment without a shadow model"),
        (True, None, r"has a shadow model \(v2\): give its probabilities"),
        (True, [0.5, 0.5], r"shadow_probabilities has 2 entries, expected one per action"),
    ],
)
def test_log_fields_refuses_a_mismatched_shadow(shadow: bool, probs: list[float] | None, message: str) -> None:
    one = LiveModel(None, "v1", "models:/m/1")  # type: ignore[arg-type]
    two = LiveModel(None, "v2", "models:/m/2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        Assignment("champion", one, two if shadow else None).log_fields(probs)


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (pl.DataFrame({"action": ["coupon"]}), "the decision log has no 'policy_version' column"),
        (
            pl.DataFrame({"policy_version": ["m/v1", "m/v2"], "probabilities": [[0.25] * 4, [0.25] * 4]}),
            r"row 1 of the decision log has no probabilities of m/v1 \(it neither acted nor shadowed there\)",
        ),
        (
            pl.DataFrame({"policy_version": ["m/v1"], "probabilities": [[0.5, 0.5]]}),
            "row 0 of the decision log has no probabilities of m/v1",
        ),
    ],
)
def test_policy_target_table_names_the_row_it_cannot_fill(log: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy_target_table(log, "m/v1")


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"challenger_share": -0.1}, "challenger_share"), ({"challenger_share": 2}, "challenger_share"), ({"x": 1}, "x")],
)
def test_traffic_split_names_a_bad_setting(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrafficSplit(**settings)


def test_a_poll_interval_must_be_positive() -> None:
    live = LiveModels(
        "models:/m@champion",
        resolver=lambda uri: ResolvedModel("models:/m/1", "1"),
        loader=lambda uri: PolicyModel(FixedAction("coupon")),
    )
    with pytest.raises(ValueError, match="interval_s must be positive, got 0"):
        live.start(interval_s=0)
