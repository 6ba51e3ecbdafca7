"""Who may ask the endpoint and how much: bearer token, body size, strict validation, the refusal to start open.

Each test serves a real app on a real socket (``serving_in_background``) and asks it with a real HTTP client.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

import experiments.cli
from policies.bandits.baselines import UniformRandom
from policies.serving.config import OfferlabConfig
from policies.serving.decision_log import DecisionLog
from policies.serving.endpoint import create_app
from policies.serving.pyfunc import PolicyModel
from policies.serving.request_context import MAX_ID_LENGTH
from policies.serving.server import build_app, serving_in_background
from simulators.base import SimulationResult
from tests.policies.test_endpoint import reachable_rows, request_from

TOKEN = "security-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 4096


@pytest.fixture(scope="module")
def open_rows(small_log: pl.DataFrame, small_run: SimulationResult) -> pl.DataFrame:
    return reachable_rows(small_log, small_run.users)


@pytest.fixture(scope="module")
def url(small_run: SimulationResult) -> Iterator[str]:
    """Serve a uniform policy with the token and a small body limit; yield its URL."""
    model = PolicyModel(UniformRandom())
    log = DecisionLog(tempfile.mkdtemp())
    app = create_app(model, "test/v1", log, seed=0, users=small_run.users, api_token=TOKEN, max_body_bytes=LIMIT)
    with serving_in_background(app) as base:
        yield base


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer wrong-token"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Basic {TOKEN}"}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 'Bearer error="invalid_token"'),
    ],
)
def test_v1_without_the_right_token_gets_401(
    url: str, open_rows: pl.DataFrame, headers: dict[str, str], challenge: str
) -> None:
    response = httpx.post(f"{url}/v1/decide", json=request_from(open_rows), headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge
    assert TOKEN not in response.text


def test_v1_with_the_token_decides(url: str, open_rows: pl.DataFrame) -> None:
    response = httpx.post(f"{url}/v1/decide", json=request_from(open_rows, 1), headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    required = {"decision_id", "action", "probability", "probabilities", "policy_version", "reason", "send_at"}
    assert required <= set(answer)
    assert answer["policy_version"] == "test/v1"


def test_probes_need_no_token(url: str) -> None:
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    schema = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/v1/decide"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_an_oversize_body_gets_413_announced_or_streamed(url: str, open_rows: pl.DataFrame) -> None:
    body = request_from(open_rows) | {"user_id": "u" * (LIMIT + 1)}
    response = httpx.post(f"{url}/v1/decide", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 413
    assert f"larger than {LIMIT} bytes" in response.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer, counted as it arrives
        yield b'{"user_id": "'
        for _ in range(LIMIT // 1000 + 1):
            yield b"u" * 1000
        yield b'", "trigger": "cart_abandon"}'

    streamed = httpx.post(f"{url}/v1/decide", content=chunks(), headers=AUTH, timeout=10)
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"user_id": "u" * (MAX_ID_LENGTH + 1)}, '"loc":["body","user_id"]'),
        ({"item_id": "i" * (MAX_ID_LENGTH + 1)}, '"loc":["body","item_id"]'),
        ({"event_id": "e" * (MAX_ID_LENGTH + 1)}, '"loc":["body","event_id"]'),
        ({"context": {"email_address": "someone@example.com"}}, '"loc":["body","context","email_address"]'),
        ({"context": {"price": [1, 2]}}, '"loc":["body","context","price"'),
        ({"note": "free text"}, '"loc":["body","note"]'),
        ({"trigger": None}, '"loc":["body","trigger"]'),
    ],
)
def test_strict_validation_names_the_field(
    url: str, open_rows: pl.DataFrame, change: dict[str, Any], fragment: str
) -> None:
    response = httpx.post(f"{url}/v1/decide", json=request_from(open_rows) | change, headers=AUTH, timeout=10)
    assert response.status_code == 422
    assert fragment in response.text


def test_no_token_configured_refuses_to_serve_unless_insecure(
    store: OfferlabConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small_run: SimulationResult
) -> None:
    monkeypatch.delenv("OFFERLAB_API_TOKEN", raising=False)
    users = tmp_path / "users.parquet"
    small_run.users.head(5).write_parquet(users)
    result = CliRunner().invoke(experiments.cli.application(), ["serve", "--users", str(users)])
    assert result.exit_code == 2
    assert "OFFERLAB_API_TOKEN" in result.output
    assert "--insecure" in result.output
    with pytest.raises(ValueError, match="no API token"):
        build_app(store, users=users)
