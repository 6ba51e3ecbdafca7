"""The served endpoint follows the registry: a moved champion alias is served without a restart.

A share of users goes to the challenger, and shadow mode logs the challenger's probabilities beside the acting
model's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import mlflow
import polars as pl
from mlflow import MlflowClient

from features.schemas import ACTIONS
from policies.bandits.baselines import FixedAction
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.pyfunc import log_policy_model
from policies.serving.server import build_app, serving_in_background
from simulators.base import SimulationResult
from tests.policies.test_endpoint import reachable_rows, request_from

TOKEN = "live-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def register(store: OfferlabConfig, action: str) -> str:
    """Register a policy that always offers ``action``; its registry version."""
    configure_mlflow(store)
    mlflow.set_experiment("endpoint-live-test")
    with mlflow.start_run():
        info = log_policy_model(FixedAction(action), store.registered_model)
    return str(info.registered_model_version)


def until(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def logged(store: OfferlabConfig) -> list[dict]:
    folder = Path(store.serving.decision_log)
    return [json.loads(line) for path in sorted(folder.glob("decisions-*.jsonl")) for line in path.open()]


def test_a_promotion_reaches_the_running_server_and_shadow_mode_logs_both(
    store: OfferlabConfig, small_log: pl.DataFrame, small_run: SimulationResult
) -> None:
    rows = reachable_rows(small_log, small_run.users)
    first, second = register(store, "coupon"), register(store, "installment")
    client = MlflowClient()
    client.set_registered_model_alias(store.registered_model, store.champion_alias, first)
    client.set_registered_model_alias(store.registered_model, store.challenger_alias, second)
    serving = store.serving.model_copy(update={"reload_interval_s": 0.2, "challenger_share": 0.5, "shadow": True})
    config = store.model_copy(update={"serving": serving})
    app = build_app(config, seed=0, users=small_run.users, api_token=TOKEN)
    answers: list[dict] = []
    with serving_in_background(app) as url, httpx.Client(headers=AUTH, timeout=10) as http:

        def ask(row: int) -> dict:
            response = http.post(f"{url}/v1/decide", json=request_from(rows, row) | {"actions": list(ACTIONS)})
            assert response.status_code == 200, response.text  # no request fails, before, during or after a swap
            answers.append(response.json())
            return answers[-1]

        before = [ask(row) for row in range(8)]
        assert {a["policy_version"] for a in before} == {f"offer-policy/v{first}", f"offer-policy/v{second}"}
        client.set_registered_model_alias(store.registered_model, store.champion_alias, second)  # a promotion
        row = iter(range(8, rows.height))
        assert until(lambda: all(ask(next(row))["policy_version"] == f"offer-policy/v{second}" for _ in range(4)))
        assert http.get(f"{url}/healthz").json()["policy_version"] == f"offer-policy/v{second}"
        metrics = http.get(f"{url}/metrics").text
    assert f'offerlab_model_info{{policy_version="offer-policy/v{second}",role="champion"}} 1.0' in metrics
    decisions = logged(store)
    assert len(decisions) == sum(a["suppressed_by"] is None for a in answers) > 0
    first_ids = {a["decision_id"] for a in before}
    for decision in (d for d in decisions if d["decision_id"] in first_ids):
        acting, shadow = decision["policy_version"], decision["shadow_policy_version"]
        assert {acting, shadow} == {f"offer-policy/v{first}", f"offer-policy/v{second}"}
        assert decision["arm"] == ("champion" if acting.endswith(f"v{first}") else "challenger")
        offered = "coupon" if shadow.endswith(f"v{first}") else "installment"
        assert decision["shadow_probabilities"][ACTIONS.index(offered)] == 1.0  # what the shadow would have done
