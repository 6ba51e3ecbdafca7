"""The decision endpoint, started as a real `offerlab serve` process and called over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from features.pipelines import build_features
from features.schemas import feature_columns
from features.stores import OnlineSnapshot
from policies.bandits.vw import VowpalWabbitPolicy
from policies.base import Feedback
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.decision_log import DecisionLog
from policies.serving.pyfunc import log_policy_model
from simulators.base import SimulationResult
from tests.conftest import free_port


@pytest.fixture
def champion(store: OfferlabConfig, small_log: pl.DataFrame) -> str:
    """Train a VW policy, register it and make it champion in the test's own store."""
    policy = VowpalWabbitPolicy(seed=1)
    policy.learn(Feedback.from_log(small_log))
    configure_mlflow(store)
    mlflow.set_experiment("endpoint-test")
    with mlflow.start_run():
        info = log_policy_model(policy, store.registered_model)
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(store.registered_model, store.champion_alias, version)
    return version


def start_server(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", "serve", "--port", str(port), "--seed", "0", *extra],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start: {process.stdout.read().decode() if process.stdout else ''}")
        time.sleep(0.2)


@pytest.fixture
def server(champion: str, store: OfferlabConfig) -> Iterator[str]:
    process, url = start_server()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def request_from(log: pl.DataFrame, row: int = 0) -> dict[str, object]:
    values = log.row(row, named=True)
    context = {k: values[k] for k in feature_columns(log) if k not in ("trigger", "channel")}
    return {
        "user_id": values["user_id"],
        "trigger": values["trigger"],
        "channel": values["channel"],
        "context": context,
        "actions": values["actions"],
    }


def test_decide_returns_a_probability_for_its_choice(
    server: str, small_log: pl.DataFrame, champion: str, store: OfferlabConfig
) -> None:
    body = request_from(small_log)
    answer = httpx.post(f"{server}/v1/decide", json=body, timeout=10).json()
    assert set(answer) == {"decision_id", "action", "probability", "probabilities", "policy_version"}
    assert answer["action"] in body["actions"]  # type: ignore[operator]
    assert set(answer["probabilities"]) == set(body["actions"])  # type: ignore[arg-type]
    assert answer["probability"] == pytest.approx(answer["probabilities"][answer["action"]])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert answer["policy_version"] == f"offer-policy/v{champion}"
    logged = [
        json.loads(line)
        for path in Path(store.serving.decision_log).glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert logged[-1]["decision_id"] == answer["decision_id"]
    assert logged[-1]["user_id"] == DecisionLog(store.serving.decision_log).pseudonym(str(body["user_id"]))
    assert body["user_id"] not in json.dumps(logged)


def test_only_eligible_actions_are_chosen(server: str, small_log: pl.DataFrame) -> None:
    body = {**request_from(small_log), "actions": ["no_offer", "coupon"]}
    for _ in range(20):
        answer = httpx.post(f"{server}/v1/decide", json=body, timeout=10).json()
        assert answer["action"] in ("no_offer", "coupon")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"actions": ["free_gift"]}, "unknown action(s) ['free_gift']"),
        ({"actions": []}, "List should have at least 1 item"),
        ({"channel": "pigeon"}, "Input should be 'in_app', 'email' or 'sms'"),
        ({"user_id": ""}, "String should have at least 1 character"),
        ({"context": {"price": 10.0}}, "vw: missing context feature(s)"),
    ],
)
def test_bad_requests_get_a_422_naming_the_problem(
    server: str, small_log: pl.DataFrame, change: dict[str, object], fragment: str
) -> None:
    response = httpx.post(f"{server}/v1/decide", json={**request_from(small_log), **change}, timeout=10)
    assert response.status_code == 422
    assert fragment in response.text


def test_same_registered_model_works_under_pyfunc(
    champion: str, small_log: pl.DataFrame, store: OfferlabConfig
) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{store.registered_model}@{store.champion_alias}")
    frame = small_log.head(5).select([*feature_columns(small_log), "actions"]).to_pandas()
    out = model.predict(frame, params={"seed": 1})
    assert list(out.columns[:2]) == ["action", "probability"]
    assert len(out) == 5


def test_online_snapshot_completes_the_context(
    champion: str, store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path
) -> None:
    features = build_features(
        small_run.events.lazy(),
        small_run.items.lazy(),
        small_run.users.lazy(),
        datetime(2026, 3, 9, tzinfo=UTC),
    )
    OnlineSnapshot(features.users, features.items, features.as_of).save(tmp_path / "online")
    log = small_run.bandit_log()
    item_side = ["price", "category", "merchant_verified", "merchant_rating", "authenticated", "stock"]
    body = request_from(log)
    body["context"] = {k: v for k, v in body["context"].items() if k not in item_side}  # type: ignore[attr-defined]
    body["item_id"] = log["item_id"][0]
    plain, plain_url = start_server()
    try:
        assert httpx.post(f"{plain_url}/v1/decide", json=body, timeout=10).status_code == 422
    finally:
        plain.terminate()
        plain.wait(10)
    completed, url = start_server("--features", str(tmp_path / "online"))
    try:
        assert httpx.get(f"{url}/healthz", timeout=5).json()["features_as_of"] == "2026-03-09T00:00:00+00:00"
        response = httpx.post(f"{url}/v1/decide", json=body, timeout=10)
        assert response.status_code == 200, response.text
    finally:
        completed.terminate()
        completed.wait(10)


def test_a_running_endpoint_follows_snapshot_refreshes_and_erasures(
    champion: str, store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path
) -> None:
    online = tmp_path / "online"
    events, items, users = small_run.events.lazy(), small_run.items.lazy(), small_run.users.lazy()
    features = build_features(events, items, users, datetime(2026, 3, 8, tzinfo=UTC))
    OnlineSnapshot(features.users, features.items, features.as_of).save(online)
    log = small_run.bandit_log()
    from_snapshot = set(features.users.columns) | set(features.items.columns)
    body = request_from(log)
    body["context"] = {k: v for k, v in body["context"].items() if k not in from_snapshot}  # type: ignore[attr-defined]
    body["item_id"] = log["item_id"][0]
    process, url = start_server("--features", str(online))

    def until(check: object, seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return True
            time.sleep(0.2)
        return False

    try:
        assert httpx.post(f"{url}/v1/decide", json=body, timeout=10).status_code == 200
        refreshed = build_features(events, items, users, datetime(2026, 3, 9, tzinfo=UTC))
        OnlineSnapshot(refreshed.users, refreshed.items, refreshed.as_of).save(online)  # `features snapshot` does this
        assert until(lambda: httpx.get(f"{url}/healthz", timeout=5).json()["features_as_of"].startswith("2026-03-09"))
        erased = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "erase", "--user", str(body["user_id"]), str(online)],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )
        assert erased.returncode == 0, erased.stderr
        # the user's features are gone from the served snapshot: their context can no longer be completed
        response: list[httpx.Response] = []
        assert until(lambda: response.append(httpx.post(f"{url}/v1/decide", json=body, timeout=10)) or
                     response[-1].status_code == 422)  # fmt: skip
        assert "missing context feature" in response[-1].text
    finally:
        process.terminate()
        process.wait(10)
