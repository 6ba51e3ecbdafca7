"""``offerlab log join``: a decision log, posted outcomes and purchase events → a bandit log OPE can read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from experiments.cli import application
from experiments.inputs import check_bandit_log, load_bandit_log
from experiments.log_join import OfferCosts, join_log
from features.schemas import ACTIONS, EVENTS
from policies.serving.decision_log import DecisionLog
from policies.serving.outcomes import OutcomeStore
from simulators.base import SimulationResult

SENT = datetime(2026, 3, 2, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
#: Decisions of the hand-made log: id, user, item, action, send time.
HAND = [
    ("edge", "u1", "i1", "coupon", SENT),  # bought exactly 72 h after: inside
    ("late", "u2", "i2", "installment", SENT),  # bought 72 h + 1 µs after: outside
    ("early", "u3", "i3", "trust_badge", SENT),  # bought 1 s before the send: outside
    ("control", "u4", "i4", "no_offer", SENT),  # two units at 20
    ("posted", "u5", "i5", "coupon", SENT),  # events say 30, the posted outcome says 100
    ("unredeemed", "u6", "i6", "trust_badge", SENT),  # bought, offer never redeemed: no cost
    ("first", "u7", "i7", "coupon", SENT),  # covered by "second", the later touch
    ("second", "u7", "i7", "coupon", SENT + 10 * HOUR),
]


def run(*args: str) -> Any:
    return CliRunner().invoke(application(), list(args))


def write_decisions(folder: Path, rows: list[dict[str, Any]]) -> DecisionLog:
    log = DecisionLog(folder)
    for row in rows:
        log.append(row)
    log.close()
    return log


def hand_decision(decision_id: str, user: str, item: str, action: str, send_at: datetime) -> dict[str, Any]:
    return {
        "decision_id": decision_id, "ts": send_at - HOUR, "user_id": user, "trigger": "cart_abandon",
        "actions": list(ACTIONS), "action": action, "propensity": 0.25, "probabilities": [0.25] * 4,
        "policy_version": "3", "channel": "email", "send_at": send_at, "item_id": item, "price": 50.0,
    }  # fmt: skip


def event(n: int, kind: str, user: str, item: str, ts: datetime, price: float, quantity: int = 1) -> dict:
    return {"event_id": f"e{n}", "ts": ts, "user_id": user, "type": kind, "item_id": item, "merchant_id": "m",
            "price": price, "quantity": quantity, "channel": None, "offer": None}  # fmt: skip


@pytest.fixture
def hand(tmp_path: Path) -> tuple[Path, Path]:
    """Write the hand-made decision log (8 decisions, one posted outcome) and its events."""
    folder = tmp_path / "log"
    log = write_decisions(folder, [hand_decision(*row) for row in HAND])
    OutcomeStore(log).record("posted", converted=True, revenue=100.0)
    rows = [
        event(1, "purchase", "u1", "i1", SENT + 72 * HOUR, 50.0),
        event(2, "offer_redeemed", "u1", "i1", SENT + 72 * HOUR, 50.0),
        event(3, "purchase", "u2", "i2", SENT + 72 * HOUR + timedelta(microseconds=1), 300.0),
        event(4, "purchase", "u3", "i3", SENT - timedelta(seconds=1), 80.0),
        event(5, "purchase", "u4", "i4", SENT + HOUR, 20.0, quantity=2),
        event(6, "purchase", "u5", "i5", SENT + HOUR, 30.0),
        event(7, "offer_redeemed", "u5", "i5", SENT + HOUR, 30.0),
        event(8, "purchase", "u6", "i6", SENT + HOUR, 60.0),
        event(9, "purchase", "u7", "i7", SENT + 12 * HOUR, 10.0),
        event(10, "offer_redeemed", "u7", "i7", SENT + 12 * HOUR, 10.0),
        event(11, "view", "u8", "i1", SENT + 200 * HOUR, 50.0),  # the last event: every window has closed
    ]
    events = tmp_path / "events.parquet"
    pl.DataFrame(rows, schema=EVENTS, orient="row").write_parquet(events)
    return folder, events


def test_rewards_are_as_computed_by_hand(hand: tuple[Path, Path]) -> None:
    folder, events = hand
    result = run("log", "join", "--decisions", str(folder), "--events", str(events), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary | {"mean_reward": 0} == {
        "out": str(folder / "feedback.parquet"), "decisions": 8, "from_posted_outcomes": 1, "from_events": 4,
        "without_outcome": 3, "window_open": 0, "posted_without_decision": 0, "mean_reward": 0,
    }  # fmt: skip
    joined = check_bandit_log(load_bandit_log(folder / "feedback.parquet"))
    got = {row["decision_id"]: row for row in joined.iter_rows(named=True)}
    expected = {  # (converted, revenue, offer_cost, reward) with take rate 0.15, coupon 10 %, badge 2.5
        "edge": (True, 50.0, 5.0, 0.15 * 50 - 5.0),
        "late": (False, 0.0, 0.0, 0.0),
        "early": (False, 0.0, 0.0, 0.0),
        "control": (True, 40.0, 0.0, 0.15 * 40),
        "posted": (True, 100.0, 10.0, 0.15 * 100 - 10.0),
        "unredeemed": (True, 60.0, 0.0, 0.15 * 60),
        "first": (False, 0.0, 0.0, 0.0),
        "second": (True, 10.0, 1.0, 0.15 * 10 - 1.0),
    }
    for decision_id, (converted, revenue, cost, reward) in expected.items():
        row = got[decision_id]
        assert (row["converted"], row["revenue"]) == (converted, revenue), decision_id
        assert row["offer_cost"] == pytest.approx(cost), decision_id
        assert row["reward"] == pytest.approx(reward), decision_id
    assert summary["mean_reward"] == pytest.approx(sum(e[3] for e in expected.values()) / 8)
    assert joined.get_column("user_id").to_list()[0] == DecisionLog.existing(folder).pseudonym("u1")


def test_without_recorded_redemptions_every_converted_offer_is_charged(hand: tuple[Path, Path]) -> None:
    folder, events = hand
    purchases_only = events.with_name("purchases.parquet")
    pl.read_parquet(events).filter(pl.col("type") != "offer_redeemed").write_parquet(purchases_only)
    costs = OfferCosts(take_rate=0.2, coupon_discount=0.05, badge_cost=1.0)
    joined = join_log(folder, purchases_only, costs=costs).log
    cost = dict(zip(joined["decision_id"], joined["offer_cost"], strict=True))
    assert (cost["edge"], cost["unredeemed"], cost["posted"], cost["control"]) == (2.5, 1.0, 5.0, 0.0)
    reward = dict(zip(joined["decision_id"], joined["reward"], strict=True))
    assert reward["unredeemed"] == pytest.approx(0.2 * 60 - 1.0)


def test_window_edges_follow_the_window_option(hand: tuple[Path, Path]) -> None:
    folder, events = hand
    converted = dict(join_log(folder, events, window_hours=71.999).log.select("decision_id", "converted").rows())
    assert not converted["edge"]
    assert converted["control"]
    wider = dict(join_log(folder, events, window_hours=73).log.select("decision_id", "converted").rows())
    assert wider["late"]
    assert not wider["early"]


def test_open_windows_are_counted_and_dropped_on_request(hand: tuple[Path, Path]) -> None:
    folder, events = hand
    early_end = events.with_name("early.parquet")
    pl.read_parquet(events).filter(pl.col("type") != "view").write_parquet(early_end)  # last event: 72 h in
    joined = join_log(folder, early_end)
    assert (joined.window_open, joined.log.height) == (1, 8)  # "second" closes at 82 h; "posted" is final
    mature = join_log(folder, early_end, mature_only=True)
    assert "second" not in mature.log.get_column("decision_id").to_list()
    assert mature.log.height == 7


def test_a_posted_outcome_without_its_decision_is_ignored_and_counted(hand: tuple[Path, Path]) -> None:
    folder, events = hand
    DecisionLog(folder).erase(["u5"])
    joined = join_log(folder, events)
    assert (joined.posted_unmatched, joined.from_posted, joined.log.height) == (1, 0, 7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f, e: ["--events", str(e.with_name("nope.parquet"))], "no such file"),
        (lambda f, e: ["--out", str(f / "x.csv")], "is written as Parquet"),
        (lambda f, e: ["--window-hours", "0"], "--window-hours must be positive; got 0.0"),
        (lambda f, e: ["--take-rate", "1.5"], "take_rate"),
        (lambda f, e: ["--outcomes", str(f / "none.jsonl")], "no such outcome file"),
        (lambda f, e: ["--decisions", str(f.parent)], "no decision log files"),
        (
            lambda f, e: ["--events", str(_without(e, "price"))],
            "missing column 'price'",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(hand: tuple[Path, Path], change: Any, message: str) -> None:
    folder, events = hand
    args = {"--decisions": str(folder), "--events": str(events)}
    extra = change(folder, events)
    args.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    result = run("log", "join", *(x for pair in args.items() for x in pair))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert not (folder / "feedback.parquet").exists()


def _without(events: Path, column: str) -> Path:
    path = events.with_name(f"without-{column}.parquet")
    pl.read_parquet(events).drop(column).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def simulated(small_run: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Write the first 200 simulated decisions with DecisionLog, with all their columns, and the run's events."""
    folder = tmp_path_factory.mktemp("simulated") / "log"
    write_decisions(folder, list(small_run.decisions.head(200).iter_rows(named=True)))
    events = folder.parent / "events.parquet"
    small_run.events.write_parquet(events)
    return folder, events


def test_the_join_of_a_simulated_log_agrees_with_the_simulator_and_ope_reads_it(
    simulated: tuple[Path, Path], small_run: SimulationResult, tmp_path: Path
) -> None:
    folder, events = simulated
    out = tmp_path / "joined.parquet"
    window = str(24 * 7)  # the scenario's attribution window
    result = run("log", "join", "--decisions", str(folder), "--events", str(events), "--window-hours", window,
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    joined = check_bandit_log(load_bandit_log(out))
    truth = joined.select("decision_id", "converted", "revenue", "offer_cost", "reward").join(
        small_run.outcomes.select(
            "decision_id", *(pl.col(c).alias(f"sim_{c}") for c in ("converted", "offer_cost", "reward"))
        ),
        on="decision_id",
    )
    assert truth.height == 200
    assert truth.get_column("sim_converted").sum() > 5
    assert np.allclose(truth["offer_cost"], truth["sim_offer_cost"])  # redemptions are in the events
    # the events cannot tell an organic purchase of the same item from one the message caused: the join may find
    # more conversions than the simulator counts, never fewer
    assert not (truth["sim_converted"] & ~truth["converted"]).any()
    assert (np.isclose(truth["reward"], truth["sim_reward"])).mean() >= 0.95
    target = tmp_path / "uniform.parquet"
    eligible = joined.get_column("actions").to_list()
    pl.DataFrame({f"p_{a}": [float(a in e) / len(e) for e in eligible] for a in ACTIONS}).write_parquet(target)
    ope = run("ope", "--log", str(out), "--target-probs", str(target), "--estimators", "ips,snips", "--bootstrap",
              "50", "--json")  # fmt: skip
    assert ope.exit_code == 0, ope.output
    assert set(json.loads(ope.stdout)) >= {"estimates"}
