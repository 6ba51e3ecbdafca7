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
from typing import Any

import httpx
import mlflow
import polars as pl
import pytest

from features.pipelines import build_features
from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS, DECISIONS, feature_columns
from features.stores import OnlineSnapshot
from policies.serving.config import OfferlabConfig
from policies.serving.decision_log import DecisionLog
from policies.triggers.config import load_trigger_config
from policies.triggers.guardrails import Guardrails
from simulators.base import SimulationResult
from tests.conftest import free_port, register_champion

#: a real server in a subprocess with a registered model: skipped by `make quick`
pytestmark = pytest.mark.slow

#: The keys of every answer, decided or suppressed.
ANSWER_KEYS = {
    "decision_id",
    "moment_id",
    "action",
    "probability",
    "probabilities",
    "policy_version",
    "channel",
    "send_at",
    "reason",
    "suppressed_by",
}
#: The bearer token the served endpoint requires in these tests, and the header that carries it.
TOKEN = "endpoint-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: The keys of a logged decision, in order: the DECISIONS contract, the moment, the context as the policy saw it.
LOGGED_KEYS = [*DECISIONS, "item_id", "moment_id", "reason", *(c for c in CONTEXT if c not in DECISIONS)]


@pytest.fixture
def champion(store: OfferlabConfig, small_log: pl.DataFrame) -> str:
    """Train a VW policy, register it and make it champion in the test's own store."""
    return register_champion(store, small_log, "endpoint-test")


@pytest.fixture(scope="module")
def users_file(small_run: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the simulated users table: consents and time zones for the guardrails."""
    path = tmp_path_factory.mktemp("users") / "users.parquet"
    small_run.users.write_parquet(path)
    return path


def start_server(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", "serve", "--port", str(port), "--seed", "0", *extra],
        env=os.environ | {"OFFERLAB_API_TOKEN": TOKEN},
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
def server(champion: str, store: OfferlabConfig, users_file: Path) -> Iterator[str]:
    process, url = start_server("--users", str(users_file))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def reachable_rows(log: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """Keep one logged row per user who can be sent something on the row's channel now.

    Consent, no opt-out, not in the guardrails' holdout (each user once: the guardrails cap and cool down repeated
    sends).
    """
    holdout = Guardrails(load_trigger_config().guardrails, users).is_holdout(users.get_column("user_id").to_list())
    open_users = users.filter(pl.col("opted_out_at").is_null() & pl.Series(~holdout))
    rows = log.join(open_users, on="user_id", how="semi", maintain_order="left")
    consent = pl.coalesce(
        pl.when(pl.col("channel") == c).then(pl.col(f"consent_{c}")) for c in ("in_app", "email", "sms")
    )
    consenting = users.select("user_id", *(f"consent_{c}" for c in ("in_app", "email", "sms")))
    rows = rows.join(consenting, on="user_id", maintain_order="left").filter(consent)
    return rows.unique("user_id", keep="first", maintain_order=True)


def request_from(log: pl.DataFrame, row: int = 0) -> dict[str, Any]:
    values = log.row(row, named=True)
    context = {
        k: values[k] for k in feature_columns(log) if k not in ("trigger", "channel") and not k.startswith("consent_")
    }
    return {
        "user_id": values["user_id"],
        "trigger": values["trigger"],
        "channel": values["channel"],
        "context": context,
        "actions": values["actions"],
    }


@pytest.fixture(scope="module")
def open_log(small_log: pl.DataFrame, small_run: SimulationResult) -> pl.DataFrame:
    return reachable_rows(small_log, small_run.users)


def test_decide_returns_a_probability_for_its_choice(
    server: str, open_log: pl.DataFrame, champion: str, store: OfferlabConfig
) -> None:
    body = request_from(open_log)
    answer = httpx.post(f"{server}/v1/decide", json=body, headers=AUTH, timeout=10).json()
    assert set(answer) == ANSWER_KEYS
    assert answer["suppressed_by"] is None, answer["reason"]
    assert answer["channel"] == body["channel"]
    assert answer["action"] in body["actions"]
    assert set(answer["probabilities"]) == set(body["actions"])
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
    assert list(logged[-1]) == LOGGED_KEYS
    assert logged[-1]["propensity"] == answer["probability"]
    assert logged[-1]["probabilities"] == [answer["probabilities"].get(a, 0.0) for a in ACTIONS]
    context = body["context"]
    assert isinstance(context, dict)
    assert {k: logged[-1][k] for k in context} == pytest.approx(context)  # what the request sends wins


def test_only_eligible_actions_are_chosen(server: str, open_log: pl.DataFrame) -> None:
    for row in range(20):  # one request per user: a second one the same day would be capped
        body = {**request_from(open_log, row), "actions": ["no_offer", "coupon"]}
        answer = httpx.post(f"{server}/v1/decide", json=body, headers=AUTH, timeout=10).json()
        assert answer["suppressed_by"] is None, answer["reason"]
        assert answer["action"] in ("no_offer", "coupon")
        assert set(answer["probabilities"]) == {"no_offer", "coupon"}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"actions": ["free_gift"]}, "unknown action(s) ['free_gift']"),
        ({"actions": []}, "List should have at least 1 item"),
        ({"channel": "pigeon"}, "Input should be 'in_app', 'email' or 'sms'"),
        ({"user_id": ""}, "String should have at least 1 character"),
        ({"trigger": "birthday"}, "unknown trigger 'birthday'; known: repeat_view, cart_abandon"),
        ({"ts": "2026-03-09T10:00:00"}, "Input should have timezone info"),
        ({"send_at": "tomorrow"}, "Input should be a valid datetime"),
        ({"event_id": ""}, "String should have at least 1 character"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"context": {"price": 10.0}}, "vw: missing context feature(s)"),
        ({"context": {"price": "cheap"}}, '"loc":["body","context","price"],"msg":"Input should be a valid number'),
    ],
)
def test_bad_requests_get_a_422_naming_the_problem(
    server: str, open_log: pl.DataFrame, store: OfferlabConfig, change: dict[str, object], fragment: str
) -> None:
    body = {**request_from(open_log), "event_id": "e1", **change}
    response = httpx.post(f"{server}/v1/decide", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 422
    assert fragment in response.text
    assert not list(Path(store.serving.decision_log).glob("*.jsonl"))  # nothing logged, nothing counted:
    retry_body = request_from(open_log) | {"event_id": "e1"}
    retry = httpx.post(f"{server}/v1/decide", json=retry_body, headers=AUTH, timeout=10)
    assert retry.json()["suppressed_by"] is None, retry.json()["reason"]  # the corrected retry is no duplicate


def test_same_registered_model_works_under_pyfunc(
    champion: str, small_log: pl.DataFrame, store: OfferlabConfig
) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{store.registered_model}@{store.champion_alias}")
    frame = small_log.head(5).select([*feature_columns(small_log), "actions"]).to_pandas()
    out = model.predict(frame, params={"seed": 1})
    assert list(out.columns[:2]) == ["action", "probability"]
    assert len(out) == 5


def test_online_snapshot_completes_the_context(
    champion: str, store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path, users_file: Path
) -> None:
    features = build_features(
        small_run.events.lazy(),
        small_run.items.lazy(),
        small_run.users.lazy(),
        datetime(2026, 3, 9, tzinfo=UTC),
    )
    OnlineSnapshot(features.users, features.items, features.as_of).save(tmp_path / "online")
    log = reachable_rows(small_run.bandit_log(), small_run.users)
    item_side = ["price", "category", "merchant_verified", "merchant_rating", "authenticated", "stock"]
    body = request_from(log)
    body["context"] = {k: v for k, v in body["context"].items() if k not in item_side}  # type: ignore[attr-defined]
    body["item_id"] = log["item_id"][0]
    body["event_id"] = "e1"
    plain, plain_url = start_server("--users", str(users_file))
    try:
        assert httpx.post(f"{plain_url}/v1/decide", json=body, headers=AUTH, timeout=10).status_code == 422
    finally:
        plain.terminate()
        plain.wait(10)
    completed, url = start_server("--features", str(tmp_path / "online"), "--users", str(users_file))
    try:
        assert httpx.get(f"{url}/healthz", timeout=5).json()["features_as_of"] == "2026-03-09T00:00:00+00:00"
        response = httpx.post(f"{url}/v1/decide", json=body, headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
    finally:
        completed.terminate()
        completed.wait(10)


def test_a_running_endpoint_follows_snapshot_refreshes_and_erasures(
    champion: str, store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path
) -> None:
    users_file = tmp_path / "users.parquet"
    small_run.users.write_parquet(users_file)
    online = tmp_path / "online"
    events, items, users = small_run.events.lazy(), small_run.items.lazy(), small_run.users.lazy()
    features = build_features(events, items, users, datetime(2026, 3, 8, tzinfo=UTC))
    OnlineSnapshot(features.users, features.items, features.as_of).save(online)
    log = reachable_rows(small_run.bandit_log(), small_run.users)
    from_snapshot = set(features.users.columns) | set(features.items.columns)
    body = request_from(log)
    body["context"] = {k: v for k, v in body["context"].items() if k not in from_snapshot}  # type: ignore[attr-defined]
    body["item_id"] = log["item_id"][0]
    process, url = start_server("--features", str(online), "--users", str(users_file))

    def until(check: object, seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return True
            time.sleep(0.2)
        return False

    try:
        assert httpx.post(f"{url}/v1/decide", json=body, headers=AUTH, timeout=10).status_code == 200
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

        def answered(status: int) -> bool:
            response.append(httpx.post(f"{url}/v1/decide", json=body, headers=AUTH, timeout=10))
            return response[-1].status_code == status

        assert until(lambda: answered(422))
        assert "missing context feature" in response[-1].text
        # erased from the users table too: no consent record any more, so nothing is sent
        erased = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "erase", "--user", str(body["user_id"]), str(users_file)],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )
        assert erased.returncode == 0, erased.stderr
        assert until(lambda: answered(200))
        assert response[-1].json()["suppressed_by"] == "no_consent"
        assert response[-1].json()["reason"] == f"no consent record for user {body['user_id']}"
    finally:
        process.terminate()
        process.wait(10)
