"""The counterfactual truth: first come, first served stock, the recorded facts, and ``mu`` against realised rewards.

Layers: the stock rule against a brute-force sale (hypothesis), ``expected_rewards`` on bad input (exact messages)
and its invariants (hypothesis), then ground truth from simulated runs: a round whose item is gone earns nothing,
an undelivered offer is no message, the logger's mean reward is ``mu`` of its actions within sampling error, and the
oracle still decides by the decision-time ``q``.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.schemas import ACTIONS, TRUTH_FACTS, feature_columns
from policies.bandits.baselines import UniformRandom
from policies.triggers.config import ChannelCap, Cooldowns, TriggerConfig, load_trigger_config
from simulators.base import SimulationResult
from simulators.behaviour import finds_stock, sell
from simulators.marketplace import MarketplaceSimulator
from simulators.oracle import OraclePolicy
from simulators.scenario import Scenario, load_scenario
from simulators.truth import TRUTH_COLUMNS, expected_rewards
from simulators.world import World

#: A realised mean beyond this many standard errors of its expectation fails.
Z = 3.0


def crowded() -> tuple[Scenario, TriggerConfig]:
    """Build a world with many messages per user and day, and a message that often makes its user unsubscribe.

    Some later messages of the same date cannot be delivered (in the default world every round is deliverable).
    """
    scenario = load_scenario("default").with_size(n_users=1000, days=5)
    channels = {k: v.model_copy(update={"unsubscribe_logit": 1.0}) for k, v in scenario.messaging.channels.items()}
    scenario = scenario.model_copy(update={"messaging": scenario.messaging.model_copy(update={"channels": channels})})
    config = load_trigger_config()
    guardrails = config.guardrails.model_copy(
        update={
            "collision_hours": 0.01,
            "caps": {c: ChannelCap(per_day=20, per_week=100) for c in config.guardrails.caps},
            "cooldowns": Cooldowns(per_trigger_hours=0, per_item_hours=0),
        }
    )
    return scenario, config.model_copy(update={"guardrails": guardrails})


def logged(result: SimulationResult) -> pl.DataFrame:
    return result.bandit_log().join(result.truth, on="decision_id", how="left", maintain_order="left")


@pytest.fixture(scope="module")
def uniform_run() -> SimulationResult:
    return MarketplaceSimulator(load_scenario("default").with_size(n_users=2000, days=14)).run(UniformRandom(), seed=21)


@pytest.fixture(scope="module")
def crowded_run() -> SimulationResult:
    scenario, config = crowded()
    return MarketplaceSimulator(scenario, config).run(UniformRandom(), seed=3)


# --- the stock rule ----------------------------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.data())
def test_finds_stock_is_what_the_sale_gives_a_wanting_row(data: st.DataObject) -> None:
    """Make each row want a purchase (the others as drawn) and sell: the row gets its item exactly per ``finds_stock``.

    What the row itself wanted did not matter.
    """
    n = data.draw(st.integers(1, 12))
    items = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    order = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))  # ties on purpose
    wants = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    stock = np.array(data.draw(st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    predicted = finds_stock(items, order, wants, stock[items])
    world = World.create(load_scenario("default").with_size(n_users=10), np.random.default_rng(0))
    for row in range(n):
        flipped = wants.copy()
        flipped[row] = ~flipped[row]
        assert finds_stock(items, order, flipped, stock[items])[row] == predicted[row], f"row {row}"
        world.items.stock[:4] = stock
        wanting = wants.copy()
        wanting[row] = True
        sold = np.zeros(n, dtype=bool)
        sold[wanting] = sell(world, items[wanting], order[wanting])
        assert sold[row] == predicted[row], f"row {row}"


def test_finds_stock_of_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert finds_stock(empty, empty, empty.astype(bool), empty).shape == (0,)


# --- expected_rewards ---------------------------------------------------------------------------------------------
def truth_frame(**columns: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "q_no_offer": [1.0, 0.5],
        "q_coupon": [2.0, 0.25],
        "q_installment": [None, 3.0],
        "q_trust_badge": [None, None],
        "in_stock": [True, True],
        "deliverable": [True, False],
    }
    return pl.DataFrame({**base, **columns})


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            truth_frame().drop("in_stock", "q_coupon"),
            "truth has no column(s) ['q_coupon', 'in_stock']; the simulator records them in SimulationResult.truth",
        ),
        (truth_frame(in_stock=[True, None]), "truth: column 'in_stock' is null in row 1"),
        (truth_frame(deliverable=[None, False]), "truth: column 'deliverable' is null in row 0"),
    ],
)
def test_expected_rewards_names_what_is_wrong(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        expected_rewards(frame)


q_values = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-5, 5), q_values, q_values, q_values, st.booleans(), st.booleans()), min_size=1, max_size=8
    )
)
def test_expected_rewards_scales_and_flattens_every_action_alike(rows: list[tuple[object, ...]]) -> None:
    schema = {**{f"q_{a}": pl.Float64 for a in ACTIONS}, **dict.fromkeys(TRUTH_FACTS, pl.Boolean)}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    q = frame.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float)
    mu = expected_rewards(frame)
    in_stock, deliverable = frame["in_stock"].to_numpy(), frame["deliverable"].to_numpy()
    assert np.array_equal(np.isnan(mu), np.isnan(q))
    assert (np.nan_to_num(mu[~in_stock]) == 0).all()
    flat = in_stock & ~deliverable
    assert np.allclose(np.where(np.isnan(mu[flat]), q[flat][:, :1], mu[flat]), q[flat][:, :1])
    kept = in_stock & deliverable
    assert np.array_equal(mu[kept], q[kept], equal_nan=True)
    # so the argmax of q is an argmax of mu: the oracle's choice is also the best on the log
    best = np.nanargmax(q, axis=1)
    assert np.allclose(mu[np.arange(len(q)), best], np.nanmax(mu, axis=1))


# --- the simulator's truth frame ------------------------------------------------------------------------------------
def test_the_truth_frame_records_the_facts_and_they_are_no_features(uniform_run: SimulationResult) -> None:
    truth = uniform_run.truth
    assert set(TRUTH_COLUMNS) <= set(truth.columns)
    assert all(truth.schema[fact] == pl.Boolean and truth[fact].null_count() == 0 for fact in TRUTH_FACTS)
    assert not set(TRUTH_FACTS) & set(feature_columns(logged(uniform_run)))


@pytest.mark.parametrize("run", ["uniform_run", "crowded_run"])
def test_rounds_out_of_stock_earn_exactly_nothing(run: str, request: pytest.FixtureRequest) -> None:
    log = logged(request.getfixturevalue(run))
    out = log.filter(~pl.col("in_stock"))
    assert out.height > 0, "the world does run out of stock: q alone would overstate"
    assert (out["reward"] == 0).all()
    assert not out["converted"].any()
    assert log.filter(pl.col("converted"))["in_stock"].all()


def test_a_message_goes_out_exactly_when_one_is_chosen_and_deliverable(crowded_run: SimulationResult) -> None:
    log = logged(crowded_run)
    assert (~log["deliverable"]).sum() > 0, "the crowded world has undeliverable rounds"
    assert ((log["action"] != "no_offer") & log["deliverable"] == log["delivered"]).all()
    assert not log.filter(~pl.col("deliverable"))["opened"].any()


@pytest.mark.parametrize("run", ["uniform_run", "crowded_run"])
def test_the_loggers_mean_reward_is_mu_of_its_actions(run: str, request: pytest.FixtureRequest) -> None:
    """Realised minus expected reward of the logged actions has mean zero within sampling error.

    The decision-time ``q`` alone expects more than the logger earns.
    """
    result = request.getfixturevalue(run)
    rows, chosen = np.arange(result.decisions.height), result.chosen_index()
    rewards = result.outcomes["reward"].to_numpy()
    gap = rewards - result.expected_reward_matrix()[rows, chosen]
    blind = rewards - result.truth_matrix()[rows, chosen]
    assert abs(gap.mean()) < Z * gap.std(ddof=1) / np.sqrt(gap.size), f"mean gap {gap.mean():.4f}"
    assert blind.mean() < gap.mean()
    summary = result.summary()
    assert summary["policy_expected_value"] == pytest.approx(float(np.mean(rewards - gap)))


def test_the_oracle_decides_by_q_and_is_valued_by_mu() -> None:
    result = MarketplaceSimulator(load_scenario("default").with_size(n_users=1000, days=5)).run(OraclePolicy(), seed=4)
    q, mu = result.truth_matrix(), result.expected_reward_matrix()
    assert np.array_equal(result.chosen_index(), np.nanargmax(q, axis=1))
    out = ~result.truth["in_stock"].to_numpy()
    assert out.any()
    assert (np.nan_to_num(mu[out]) == 0).all()  # its rounds out of stock earn nothing either
    summary = result.summary()
    assert summary["policy_expected_value"] == pytest.approx(summary["oracle_value"])
    assert summary["oracle_value"] < float(np.nanmax(q, axis=1).mean())


def test_summary_values_come_from_mu(uniform_run: SimulationResult) -> None:
    mu, summary = uniform_run.expected_reward_matrix(), uniform_run.summary()
    fixed = uniform_run.fixed_action_values()
    assert summary["oracle_value"] == pytest.approx(float(np.nanmax(mu, axis=1).mean()))
    assert fixed["coupon"] == pytest.approx(float(mu[:, 1].mean()))  # the coupon is always eligible
    assert summary["best_fixed_value"] == max(fixed.values())
