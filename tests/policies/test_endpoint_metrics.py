"""The endpoint's probes: /readyz and /metrics (Prometheus text format), over a real socket, without a token."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from policies.bandits.baselines import UniformRandom
from policies.serving.decision_log import DecisionLog
from policies.serving.endpoint import create_app
from policies.serving.pyfunc import PolicyModel
from policies.serving.server import serving_in_background
from simulators.base import SimulationResult
from tests.policies.test_endpoint import reachable_rows, request_from

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(url: str) -> list[Sample]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in found if s.name == name and labels.items() <= s.labels.items())


@pytest.fixture
def url(small_run: SimulationResult) -> Iterator[str]:
    model = PolicyModel(UniformRandom())
    app = create_app(model, "test/v7", DecisionLog(tempfile.mkdtemp()), seed=0, users=small_run.users, api_token=TOKEN)
    with serving_in_background(app) as base:
        yield base


def test_metrics_count_requests_actions_and_show_the_model(
    url: str, small_log: pl.DataFrame, small_run: SimulationResult
) -> None:
    rows = reachable_rows(small_log, small_run.users)
    before = samples(url)
    assert value(before, "offerlab_model_info", policy_version="test/v7", role="champion") == 1.0
    assert value(before, "offerlab_http_requests_total", route="/v1/decide") == 0.0
    answers = [httpx.post(f"{url}/v1/decide", json=request_from(rows, i), headers=AUTH, timeout=10) for i in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert httpx.post(f"{url}/v1/decide", json={}, timeout=10).status_code == 401
    assert httpx.get(f"{url}/no/such/path", timeout=10).status_code == 404
    after = samples(url)
    assert value(after, "offerlab_http_requests_total", route="/v1/decide", method="POST", status="200") == 5.0
    assert value(after, "offerlab_http_requests_total", route="/v1/decide", status="401") == 1.0
    assert value(after, "offerlab_http_requests_total", route="other", status="404") == 1.0
    assert value(after, "offerlab_http_request_duration_seconds_count", route="/v1/decide") == 6.0
    actions = [a.json()["action"] for a in answers if a.json()["suppressed_by"] is None]
    for action in set(actions):
        counted = value(after, "offerlab_decisions_total", action=action, policy_version="test/v7")
        assert counted == actions.count(action)
    assert 0.0 <= value(after, "offerlab_decision_log_seconds_since_append") < 60.0
    assert value(after, "offerlab_decision_log_pending_lines") == 0.0  # every acknowledged decision is durable
    assert value(after, "offerlab_decision_log_last_batch_seconds") > 0.0


def test_readyz_says_ready_once_model_and_snapshot_are_loaded(url: str) -> None:
    response = httpx.get(f"{url}/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_readyz_says_not_ready_while_the_model_is_not_loaded(tmp_path: Path) -> None:
    app = create_app(PolicyModel(None), "v", DecisionLog(tmp_path / "log"), api_token=TOKEN)
    with serving_in_background(app) as base:
        response = httpx.get(f"{base}/readyz", timeout=10)
    assert response.status_code == 503
    assert response.json()["missing"] == ["model"]


def test_outcomes_are_taken_for_decisions_the_log_holds(
    url: str, small_log: pl.DataFrame, small_run: SimulationResult
) -> None:
    rows = reachable_rows(small_log, small_run.users)
    answer = httpx.post(f"{url}/v1/decide", json=request_from(rows, 7), headers=AUTH, timeout=10).json()
    assert answer["suppressed_by"] is None, answer["reason"]
    outcome = {"decision_id": answer["decision_id"], "converted": True, "revenue": 42.0}
    assert httpx.post(f"{url}/v1/outcome", json=outcome, timeout=10).status_code == 401
    first = httpx.post(f"{url}/v1/outcome", json=outcome, headers=AUTH, timeout=10)
    assert first.status_code == 201, first.text
    again = httpx.post(f"{url}/v1/outcome", json=outcome, headers=AUTH, timeout=10)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    unknown = httpx.post(f"{url}/v1/outcome", json=outcome | {"decision_id": "nope"}, headers=AUTH, timeout=10)
    assert unknown.status_code == 404
    counted = value(samples(url), "offerlab_http_requests_total", route="/v1/outcome")
    assert counted == 4.0
