"""The closed loop, end to end through the CLI and HTTP (issue 12, item 8).

A served champion decides a simulated day's moments, their outcomes are posted, the log is joined, evaluated
off-policy, learned from, and the new policy is promoted; the running server then answers with it, without a
restart.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

import experiments.cli
from policies.serving.config import OfferlabConfig
from simulators.base import SimulationResult
from tests.policies.test_endpoint import (  # noqa: F401  (champion and users_file are fixtures)
    AUTH,
    champion,
    open_log,
    request_from,
    start_server,
    users_file,
)

#: serve, join, evaluate, train and promote end to end: skipped by `make quick`
pytestmark = pytest.mark.slow

#: How many of the simulated day's moments call the endpoint.
MOMENTS = 120


def offerlab(*args: str) -> dict[str, object]:
    """Run an ``offerlab`` command in-process; it must succeed and print one JSON object."""
    result = CliRunner().invoke(experiments.cli.application(), list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture
def following_server(champion: str, store: OfferlabConfig, users_file: Path) -> Iterator[str]:  # noqa: F811
    """``offerlab serve`` following the registry every half second."""
    config_file = Path(os.environ["OFFERLAB_CONFIG"])
    config_file.write_text(config_file.read_text().replace("serving:\n", "serving:\n  reload_interval_s: 0.5\n", 1))
    process, url = start_server("--users", str(users_file))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_serve_outcomes_join_evaluate_train_promote_and_the_server_follows(
    following_server: str,
    champion: str,  # noqa: F811
    store: OfferlabConfig,
    open_log: pl.DataFrame,  # noqa: F811
    small_run: SimulationResult,
    tmp_path: Path,
) -> None:
    url, first = following_server, f"{store.registered_model}/v{champion}"
    decided = []
    for row in range(min(MOMENTS, open_log.height)):
        answer = httpx.post(f"{url}/v1/decide", json=request_from(open_log, row), headers=AUTH, timeout=10).json()
        if answer["decision_id"] is not None:
            assert answer["policy_version"] == first
            decided.append((answer["decision_id"], open_log.row(row, named=True)))
    assert len(decided) >= MOMENTS // 2
    for decision_id, moment in decided:  # the moments' outcomes, as the simulated world had them
        outcome = {"decision_id": decision_id, "converted": bool(moment["converted"])}
        outcome["revenue"] = float(moment["revenue"]) if moment["converted"] else 0.0
        assert httpx.post(f"{url}/v1/outcome", json=outcome, headers=AUTH, timeout=10).status_code == 201

    events = tmp_path / "events.parquet"
    small_run.events.write_parquet(events)
    joined = tmp_path / "feedback.parquet"
    summary = offerlab(
        "log", "join", "--decisions", str(store.serving.decision_log), "--events", str(events), "--out", str(joined),
        "--json",
    )  # fmt: skip
    assert summary["decisions"] == len(decided)
    assert summary["from_posted_outcomes"] == len(decided)

    estimate = offerlab("ope", "--log", str(joined), "--policy", f"models:/{first.replace('/v', '/')}", "--json")
    assert estimate["n_rounds"] == len(decided)
    trained = offerlab("train", "--log", str(joined), "--chunks", "2", "--json")
    new_version = str(trained["model_version"])
    assert new_version != champion
    promoted = CliRunner().invoke(experiments.cli.application(), ["promote", "--log", str(joined), "--force"])
    assert promoted.exit_code == 0, promoted.output

    second, deadline, seen = f"{store.registered_model}/v{new_version}", time.monotonic() + 30, None
    while time.monotonic() < deadline:
        seen = httpx.get(f"{url}/healthz", timeout=10).json()
        if seen.get("policy_version") == second:
            break
        time.sleep(0.3)
    assert seen is not None
    assert seen.get("policy_version") == second, seen
    after = []  # moments the guardrails let through after the promotion: the new champion decides them
    for row in range(MOMENTS, open_log.height):
        answer = httpx.post(f"{url}/v1/decide", json=request_from(open_log, row), headers=AUTH, timeout=10).json()
        if answer["decision_id"] is not None:
            after.append(answer["policy_version"])
        if len(after) == 5:
            break
    assert after == [second] * 5
