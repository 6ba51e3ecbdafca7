"""The endpoint on the one decision path: a real ``offerlab serve`` answers bare trigger moments.

It runs with an online snapshot and a users table, applies the guardrails, logs decisions in the DECISIONS
contract and suppressions beside them, and the log it writes feeds ``offerlab ope``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import polars as pl
import pytest

from experiments.inputs import load_bandit_log, load_decision_log
from features.pipelines import build_features
from features.pipelines.context import CONTEXT, context_features
from features.schemas import ACTIONS, DECISIONS, SUPPRESSIONS
from features.stores import OnlineSnapshot
from policies.serving.config import OfferlabConfig
from policies.serving.decision_log import DecisionLog
from policies.triggers.config import load_trigger_config
from policies.triggers.guardrails import Guardrails
from simulators.base import SimulationResult
from tests.policies.test_endpoint import AUTH, champion, start_server  # noqa: F401 -- fixture reused

#: a real server with guardrails over a simulated world: skipped by `make quick`
pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 3, 9, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """What the served endpoint reads, and who in it is in which situation."""

    url: str
    log: Path
    online: Path
    snapshot: OnlineSnapshot
    users: pl.DataFrame
    open_users: list[str]  # consent in_app, never opted out, not held out, features in the snapshot
    opted_out: str
    holdout: str
    email_only: str  # no in-app consent, email consent, otherwise like the open users
    items: list[str]


@pytest.fixture
def world(champion: str, store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    features = build_features(small_run.events.lazy(), small_run.items.lazy(), small_run.users.lazy(), AS_OF)
    snapshot = OnlineSnapshot(features.users, features.items, features.as_of)
    snapshot.save(tmp_path / "online")
    users = small_run.users
    users.write_parquet(tmp_path / "users.parquet")
    ids = users.get_column("user_id").to_list()
    held = Guardrails(load_trigger_config().guardrails, users).is_holdout(ids)
    in_snapshot = pl.col("user_id").is_in(features.users.get_column("user_id").implode())
    reachable = pl.col("consent_in_app") & pl.col("opted_out_at").is_null() & in_snapshot
    open_users = users.filter(reachable & ~pl.Series(held)).get_column("user_id").to_list()
    holdout = users.filter(reachable & pl.Series(held)).get_column("user_id").to_list()
    opted_out = users.filter(pl.col("opted_out_at").is_not_null()).get_column("user_id").to_list()
    email = ~pl.col("consent_in_app") & pl.col("consent_email") & pl.col("opted_out_at").is_null() & in_snapshot
    email_only = users.filter(email & ~pl.Series(held)).get_column("user_id").to_list()
    assert len(open_users) > 20
    assert holdout
    assert opted_out
    assert email_only
    process, url = start_server("--features", str(tmp_path / "online"), "--users", str(tmp_path / "users.parquet"))
    try:
        yield World(
            url=url,
            log=Path(store.serving.decision_log),
            online=tmp_path / "online",
            snapshot=snapshot,
            users=users,
            open_users=open_users,
            opted_out=opted_out[0],
            holdout=holdout[0],
            email_only=email_only[0],
            items=features.items.get_column("item_id").to_list(),
        )
    finally:
        process.terminate()
        process.wait(10)


def decide(world: World, **body: object) -> dict[str, object]:
    response = httpx.post(f"{world.url}/v1/decide", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def offerlab(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "experiments.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=300)


def expected_context(world: World, user_id: str, item_id: str, trigger: str, channel: str, send_at: str) -> dict:
    """Compute the context of one moment here from the same snapshot, by the same function."""
    moment = pl.LazyFrame(
        {"user_id": [user_id], "item_id": [item_id], "trigger": [trigger], "channel": [channel]}
    ).with_columns(send_at=pl.lit(datetime.fromisoformat(send_at)).dt.convert_time_zone("UTC"))
    users = world.users.lazy()
    items = world.snapshot.items_frame.lazy()
    zones = world.users.get_column("tz").unique().to_list()
    frame = context_features(moment, users, world.snapshot.users_frame.lazy(), items, zones, catalogue=items).collect()
    return frame.select(CONTEXT.names()).row(0, named=True)


def test_bare_moments_are_decided_guarded_logged_and_evaluated(world: World) -> None:
    rng = np.random.default_rng(3)
    asked = []
    for user_id in world.open_users[:12]:
        body = {
            "user_id": user_id,
            "item_id": world.items[int(rng.integers(len(world.items)))],
            "trigger": "cart_abandon",
            "channel": "in_app",
        }
        answer = decide(world, **body)
        assert answer["suppressed_by"] is None, answer["reason"]
        assert answer["action"] in ACTIONS
        assert answer["channel"] == "in_app"
        assert answer["probability"] == pytest.approx(answer["probabilities"][answer["action"]])  # type: ignore[index]
        asked.append((body, answer))

    # the guardrails, one situation each
    nobody = decide(world, user_id="nobody", item_id=world.items[0], trigger="cart_abandon", channel="in_app")
    assert (nobody["suppressed_by"], nobody["reason"]) == ("no_consent", "no consent record for user nobody")
    out = decide(world, user_id=world.opted_out, item_id=world.items[0], trigger="cart_abandon", channel="in_app")
    assert out["suppressed_by"] == "opted_out"
    assert f"user {world.opted_out} opted out at" in str(out["reason"])
    held = decide(world, user_id=world.holdout, item_id=world.items[0], trigger="cart_abandon")
    assert held["suppressed_by"] == "holdout"
    assert held["channel"] == "in_app"
    for answer in (nobody, out, held):
        assert (answer["action"], answer["probability"], answer["decision_id"]) == ("no_offer", 1.0, None)
    twice = {"user_id": world.open_users[12], "item_id": world.items[1], "trigger": "price_drop", "event_id": "ev-9"}
    first, second = decide(world, **twice), decide(world, **twice)
    assert first["suppressed_by"] is None
    assert first["moment_id"] == "price_drop:ev-9"
    assert second["suppressed_by"] == "duplicate"
    assert second["moment_id"] == "price_drop:ev-9"
    capped = decide(world, user_id=world.open_users[12], item_id=world.items[2], trigger="low_stock")
    assert capped["suppressed_by"] in ("priority", "cap_day"), capped["reason"]

    # the guardrails choose the channel: in_app is closed to this user, so the message goes by email
    other = decide(world, user_id=world.email_only, item_id=world.items[4], trigger="repeat_view", channel="in_app")
    assert (other["suppressed_by"], other["channel"]) == (None, "email")
    assert "in_app requested, the guardrails chose email" in str(other["reason"])
    asked.append(({"user_id": world.email_only, "item_id": world.items[4], "trigger": "repeat_view"}, other))

    # quiet hours: 23:30 local becomes 08:00 local the next morning, and the context is that of the send
    late_user = world.open_users[13]
    zone = ZoneInfo(world.users.filter(pl.col("user_id") == late_user).get_column("tz").item())
    late = datetime(2026, 12, 1, 23, 30, tzinfo=zone)
    body = {"user_id": late_user, "item_id": world.items[3], "trigger": "new_listing", "channel": "in_app"}
    deferred = decide(world, **body, send_at=late.isoformat())
    morning = datetime(2026, 12, 2, 8, tzinfo=zone).astimezone(UTC)
    assert deferred["suppressed_by"] is None
    assert datetime.fromisoformat(str(deferred["send_at"])) == morning
    assert "deferred by quiet hours" in str(deferred["reason"])
    asked += [(twice | {"channel": "in_app"}, first), (body, deferred)]

    # the decision log: every decision in the DECISIONS contract with the context the policy saw
    pseudonym = DecisionLog.existing(world.log).pseudonym
    decisions = load_decision_log(world.log)
    assert decisions.height == len(asked)
    assert decisions.columns[: len(DECISIONS)] == DECISIONS.names()
    assert dict(decisions.select(DECISIONS.names()).schema) == dict(DECISIONS)
    assert set(CONTEXT) <= set(decisions.columns)
    by_id = {row["decision_id"]: row for row in decisions.iter_rows(named=True)}
    for body, answer in asked:
        row = by_id[str(answer["decision_id"])]
        assert row["user_id"] == pseudonym(str(body["user_id"]))
        assert (row["action"], row["propensity"], row["channel"]) == (
            answer["action"],
            answer["probability"],
            answer["channel"],
        )
        assert row["probabilities"] == [answer["probabilities"].get(a, 0.0) for a in ACTIONS]  # type: ignore[attr-defined]
        expected = expected_context(
            world,
            str(body["user_id"]),
            str(body["item_id"]),
            str(body["trigger"]),
            str(answer["channel"]),
            str(answer["send_at"]),
        )
        assert {c: row[c] for c in CONTEXT} == pytest.approx(expected, nan_ok=True)
        assert row["price"] is not None
        assert row["account_age_days"] is not None  # nothing missing
    assert by_id[str(deferred["decision_id"])]["local_hour"] == 8

    # suppressions beside them, pseudonymised, in the SUPPRESSIONS contract
    suppressions = list(DecisionLog.existing(world.log).suppressions())
    codes = ["no_consent", "opted_out", "holdout", "duplicate", capped["suppressed_by"]]
    assert [s["suppressed_by"] for s in suppressions] == codes
    assert all(list(s)[: len(SUPPRESSIONS)] == SUPPRESSIONS.names() for s in suppressions)
    assert world.opted_out not in json.dumps(suppressions)
    assert world.holdout not in json.dumps(suppressions)
    assert suppressions[1]["why"].startswith(f"user {pseudonym(world.opted_out)} opted out at")

    # reading it back: OPE needs outcomes, then evaluates every logged decision
    missing = offerlab("ope", "--log", str(world.log), "--policy", "models:/offer-policy@champion", "--json")
    assert missing.returncode == 2
    assert "no outcomes.parquet or outcomes.csv" in missing.stderr
    ids = decisions.get_column("decision_id")
    pl.DataFrame(
        {
            "decision_id": ids,
            "converted": [i % 3 == 0 for i in range(len(ids))],
            "revenue": [30.0 * (i % 3 == 0) for i in range(len(ids))],
            "offer_cost": [1.0] * len(ids),
        }
    ).with_columns(reward=pl.col("revenue") - pl.col("offer_cost")).write_parquet(world.log / "outcomes.parquet")
    assert load_bandit_log(world.log).height == len(ids)
    result = offerlab(
        "ope", "--log", str(world.log), "--policy", "models:/offer-policy@champion", "--bootstrap", "50", "--json",
        "--estimators", "ips,snips",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON object
    assert report["n_rounds"] == len(ids)
    assert set(report["estimates"]) == {"ips", "snips"}

    # erasure reaches decisions and suppressions alike
    erased = offerlab("erase", "--user", str(asked[0][0]["user_id"]), "--user", world.opted_out, str(world.log))
    assert erased.returncode == 0, erased.stderr
    assert load_decision_log(world.log).height == len(ids) - 1
    assert [s["suppressed_by"] for s in DecisionLog.existing(world.log).suppressions()][:2] == ["no_consent", "holdout"]


def test_a_consent_change_in_the_users_file_reaches_the_running_endpoint(world: World, tmp_path: Path) -> None:
    user = world.open_users[0]
    opted = world.users.with_columns(
        opted_out_at=pl.when(pl.col("user_id") == user)
        .then(pl.lit(datetime(2026, 1, 1, tzinfo=UTC)))
        .otherwise("opted_out_at")
    )
    opted.write_parquet(tmp_path / "rewrite.parquet")
    (tmp_path / "rewrite.parquet").replace(tmp_path / "users.parquet")  # as `offerlab erase` rewrites a file
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    body = {"user_id": user, "item_id": world.items[0], "trigger": "cart_abandon"}
    answer = decide(world, **body)
    while answer["suppressed_by"] != "opted_out" and datetime.now(UTC) < deadline:
        answer = decide(world, **body)
    assert answer["suppressed_by"] == "opted_out", answer["reason"]


@pytest.mark.parametrize(
    ("users", "fragment"),
    [
        (pl.DataFrame({"user_id": ["u1"], "consent_in_app": [True]}), "users: missing column 'signup_ts'"),
        (None, "no such file"),
    ],
)
def test_a_bad_users_file_exits_2_naming_the_problem(
    store: OfferlabConfig, tmp_path: Path, users: pl.DataFrame | None, fragment: str
) -> None:
    path = tmp_path / "users.csv"
    if users is not None:
        users.write_csv(path)
    result = offerlab("serve", "--users", str(path), "--port", "1", "--insecure")
    assert result.returncode == 2
    assert fragment in result.stderr
    assert not Path(store.serving.decision_log).exists()  # nothing written
