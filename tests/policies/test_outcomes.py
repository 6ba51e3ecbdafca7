"""The outcome store and ``POST /v1/outcome``: idempotent, durable, 404 for unknown decisions, strict bodies."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from policies.serving.decision_log import DecisionLog
from policies.serving.outcomes import (
    OUTCOMES_FILE,
    OutcomeStore,
    outcome_router,
    read_outcomes,
)
from policies.serving.server import serving_in_background


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    log = DecisionLog(tmp_path / "log")
    for i in range(3):
        log.append({"decision_id": f"d{i}", "user_id": f"u{i}", "action": "coupon"})
    return log


@pytest.fixture
def client(log: DecisionLog) -> TestClient:
    app = FastAPI()
    app.include_router(outcome_router(OutcomeStore(log)))
    return TestClient(app)


def lines(log: DecisionLog) -> list[dict]:
    return list(read_outcomes(log.folder / OUTCOMES_FILE))


def test_an_outcome_is_kept_once_and_a_repeat_writes_nothing(client: TestClient, log: DecisionLog) -> None:
    body = {"decision_id": "d1", "converted": True, "revenue": 42.5}
    first, again = client.post("/v1/outcome", json=body), client.post("/v1/outcome", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert first.json()["received_at"] == again.json()["received_at"]
    assert [(r["decision_id"], r["converted"], r["revenue"]) for r in lines(log)] == [("d1", True, 42.5)]


def test_a_contradicting_outcome_is_409_naming_both(client: TestClient, log: DecisionLog) -> None:
    client.post("/v1/outcome", json={"decision_id": "d1", "converted": True, "revenue": 10})
    answer = client.post("/v1/outcome", json={"decision_id": "d1", "converted": True, "revenue": 11})
    assert answer.status_code == 409
    assert (
        "already has an outcome (converted=True, revenue=10.0); refusing converted=True, revenue=11.0"
        in (answer.json()["detail"])
    )
    assert len(lines(log)) == 1


def test_an_unknown_decision_is_404(client: TestClient, log: DecisionLog) -> None:
    answer = client.post("/v1/outcome", json={"decision_id": "nope", "converted": False, "revenue": 0})
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no decision nope in the decision log"
    assert lines(log) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision_id": "d1", "converted": "yes", "revenue": 1.0}, "converted"),
        ({"decision_id": "d1", "converted": 1, "revenue": 1.0}, "converted"),
        ({"decision_id": "d1", "converted": True, "revenue": -1.0}, "revenue"),
        ({"decision_id": "d1", "converted": True, "revenue": "12"}, "revenue"),
        ({"decision_id": "d1", "converted": True}, "revenue"),
        ({"decision_id": "", "converted": True, "revenue": 1.0}, "decision_id"),
        ({"decision_id": "d1", "converted": True, "revenue": 1.0, "email": "a@b.c"}, "email"),
    ],
)
def test_a_malformed_body_is_422_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    answer = client.post("/v1/outcome", json=body)
    assert answer.status_code == 422
    assert [e["loc"][-1] for e in answer.json()["detail"]] == [field]


def test_revenue_without_a_purchase_is_422(client: TestClient) -> None:
    answer = client.post("/v1/outcome", json={"decision_id": "d1", "converted": False, "revenue": 5.0})
    assert answer.status_code == 422
    assert "revenue must be 0 when converted is false; got 5.0" in answer.text


def test_decisions_noted_or_written_later_are_found(log: DecisionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    store = OutcomeStore(log)
    store.note_decision("fresh")
    assert not store.record("fresh", converted=False, revenue=0.0).duplicate
    monkeypatch.setattr("policies.serving.outcomes.RESCAN_INTERVAL", 0.0)
    DecisionLog(log.folder).append({"decision_id": "elsewhere", "user_id": "u9", "action": "none"})
    assert store.knows("elsewhere")


def test_a_reopened_store_remembers_and_cuts_a_torn_tail(log: DecisionLog) -> None:
    OutcomeStore(log).record("d0", converted=True, revenue=3.0)
    path = log.folder / OUTCOMES_FILE
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"decision_id": "d2", "conv')  # a crash in mid-write
    store = OutcomeStore(log)
    assert store.record("d0", converted=True, revenue=3.0).duplicate
    assert not store.record("d2", converted=False, revenue=0.0).duplicate
    assert [json.loads(line)["decision_id"] for line in path.read_text().splitlines()] == ["d0", "d2"]


def test_over_a_real_socket(log: DecisionLog) -> None:
    app = FastAPI()
    app.include_router(outcome_router(OutcomeStore(log)))
    with serving_in_background(app) as url:
        answer = httpx.post(f"{url}/v1/outcome", json={"decision_id": "d2", "converted": True, "revenue": 7.0})
    assert answer.status_code == 201
    assert lines(log)[0]["revenue"] == 7.0
