from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.bandits.vw_format import labelled_lines
from policies.base import Feedback, load_policy
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


def test_vw_learns_a_better_policy_than_uniform_on_held_out_truth() -> None:
    scenario = load_scenario("default").with_size(n_users=6000, days=14)
    run = MarketplaceSimulator(scenario).run(UniformRandom(), seed=2)
    log, truth = run.bandit_log(), np.nan_to_num(run.truth_matrix())
    cut = int(log.height * 0.7)
    policy = VowpalWabbitPolicy(seed=0, passes=2)
    policy.learn(Feedback.from_log(log.head(cut)))
    held_out = Feedback.from_log(log.tail(log.height - cut))
    probs = policy.probabilities(held_out.contexts, ACTIONS, held_out.eligible)
    uniform = held_out.eligible / held_out.eligible.sum(axis=1, keepdims=True)
    vw_value = (probs * truth[cut:]).sum(axis=1).mean()
    uniform_value = (uniform * truth[cut:]).sum(axis=1).mean()
    assert vw_value > 1.05 * uniform_value, (vw_value, uniform_value)


def test_vw_names_missing_features(small_log: pl.DataFrame) -> None:
    policy = VowpalWabbitPolicy(seed=0)
    policy.learn(Feedback.from_log(small_log.head(50)))
    contexts = Feedback.from_log(small_log.head(2)).contexts.drop("price", "category")
    with pytest.raises(ValueError, match=r"vw: missing context feature\(s\) \['category', 'price'\]"):
        policy.probabilities(contexts, ACTIONS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 1.5}, r"epsilon\n  Input should be less than or equal to 1 .*input_value=1.5"),
        ({"cb_type": "xyz"}, r"cb_type\n  Input should be 'mtr', 'dr', 'ips' or 'dm' .*input_value='xyz'"),
        ({"passes": 0}, r"passes\n  Input should be greater than or equal to 1 .*input_value=0"),
        ({"explorer": "thompson"}, r"explorer\n  Input should be 'epsilon', 'softmax', 'bag', 'cover', 'rnd', "),
        ({"interactions": "ux"}, r"interaction 'ux' must be two of the formatter's namespaces u, a"),
        ({"seed": 2, "config": VWConfig()}, r"either in config or as keywords, not both; got config and \{'seed': 2\}"),
    ],
)
def test_vw_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VowpalWabbitPolicy(**kwargs)  # type: ignore[arg-type]


def test_vw_same_seed_same_model(small_log: pl.DataFrame) -> None:
    feedback = Feedback.from_log(small_log.head(400))
    a, b = VowpalWabbitPolicy(seed=4, passes=2), VowpalWabbitPolicy(seed=4, passes=2)
    a.learn(feedback)
    b.learn(feedback)
    probe = Feedback.from_log(small_log.tail(50))
    assert np.array_equal(
        a.probabilities(probe.contexts, ACTIONS, probe.eligible),
        b.probabilities(probe.contexts, ACTIONS, probe.eligible),
    )


def synthetic_feedback(n: int = 300, seed: int = 0) -> Feedback:
    """Three actions; ``trust_badge`` eligible in every other row; the best action depends on ``sensitive``."""
    rng = np.random.default_rng(seed)
    contexts = pl.DataFrame({"sensitive": rng.integers(0, 2, n).astype(float), "price": rng.uniform(5, 50, n)})
    eligible = np.ones((n, 3), bool)
    eligible[::2, 2] = False
    chosen = np.array([rng.choice(np.flatnonzero(row)) for row in eligible])
    rewards = np.where(chosen == contexts["sensitive"].to_numpy(), 1.0, 0.0)
    return Feedback(contexts, ACTIONS[:3], eligible, chosen, rewards, 1.0 / eligible.sum(axis=1)[np.arange(n)])


EXPLORER_CONFIGS = [
    VWConfig(explorer="epsilon", epsilon=0.1, seed=1),
    VWConfig(explorer="softmax", softmax_lambda=5.0, seed=1),
    VWConfig(explorer="bag", n_policies=3, seed=1),
    VWConfig(explorer="cover", n_policies=2, seed=1),
    VWConfig(explorer="rnd", n_policies=2, seed=1),
    VWConfig(explorer="squarecb", gamma_scale=20.0, seed=1),
    VWConfig(explorer="regcb", mellowness=0.05, min_cost=-1.0, max_cost=0.0, seed=1),
    VWConfig(explorer="regcb", optimistic=True, min_cost=-1.0, max_cost=0.0, seed=1),
]


@pytest.mark.parametrize("config", EXPLORER_CONFIGS, ids=lambda c: c.explorer + ("-opt" if c.optimistic else ""))
def test_every_explorer_learns_the_best_action(config: VWConfig) -> None:
    feedback = synthetic_feedback(2000)
    policy = VowpalWabbitPolicy(config=config)
    policy.learn(feedback)
    probs = policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible)
    best = feedback.contexts["sensitive"].to_numpy().astype(int)  # the reward is 1 when the action equals it
    assert probs[np.arange(feedback.n_rounds), best].mean() > 0.9


@pytest.mark.parametrize("config", EXPLORER_CONFIGS, ids=lambda c: c.explorer + ("-opt" if c.optimistic else ""))
@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_every_explorer_learns_and_gives_probabilities_over_the_eligible_actions(
    config: VWConfig, floor: float
) -> None:
    policy = VowpalWabbitPolicy(config=config.model_copy(update={"floor": floor}))
    feedback = synthetic_feedback()
    policy.learn(feedback)
    probs = policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[~feedback.eligible] == 0).all()
    assert (probs[feedback.eligible] >= floor - 1e-12).all()
    chosen, propensity = policy.act(feedback.contexts, feedback.actions, np.random.default_rng(0), feedback.eligible)
    assert feedback.eligible[np.arange(feedback.n_rounds), chosen].all()
    assert np.allclose(propensity, probs[np.arange(feedback.n_rounds), chosen])


def test_floor_lifts_rare_actions_and_keeps_the_order() -> None:
    feedback = synthetic_feedback()
    plain, floored = (
        VowpalWabbitPolicy(epsilon=0.0, seed=1),
        VowpalWabbitPolicy(config=VWConfig(epsilon=0.0, floor=0.2, seed=1)),
    )
    plain.learn(feedback)
    floored.learn(feedback)
    p = plain.probabilities(feedback.contexts, feedback.actions, feedback.eligible)
    q = floored.probabilities(feedback.contexts, feedback.actions, feedback.eligible)
    assert p[feedback.eligible].min() == 0.0  # greedy: VW leaves some eligible action at zero
    assert q[feedback.eligible].min() == pytest.approx(0.2)
    m = feedback.eligible.sum(axis=1, keepdims=True)
    assert np.allclose(q, np.where(feedback.eligible, 0.2 + (1 - 0.2 * m) * p, 0.0))


def test_a_floor_above_one_over_the_eligible_count_makes_the_row_uniform() -> None:
    policy = VowpalWabbitPolicy(config=VWConfig(floor=0.4))
    feedback = synthetic_feedback(20)
    probs = policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible)
    m = feedback.eligible.sum(axis=1, keepdims=True)
    expected = np.where(m * 0.4 > 1, 1 / m, probs)  # rows of 2 eligible actions keep the 0.4 floor
    assert np.allclose(np.where(feedback.eligible, probs, 0.0), np.where(feedback.eligible, expected, 0.0))


@pytest.mark.parametrize(
    "config",
    [
        VWConfig(explorer="softmax", softmax_lambda=3.0, interactions="ua,uu", l2=1e-7, floor=0.05, seed=2),
        *EXPLORER_CONFIGS,
    ],
    ids=lambda c: c.explorer + ("-opt" if c.optimistic else ""),
)
def test_saved_policy_keeps_its_config(config: VWConfig, tmp_path: Path) -> None:
    policy = VowpalWabbitPolicy(config=config)
    feedback = synthetic_feedback()
    policy.learn(feedback)
    policy.save(tmp_path)
    assert VWConfig(**json.loads((tmp_path / "policy.json").read_text())["params"]["config"]) == config
    loaded = load_policy(tmp_path)
    assert isinstance(loaded, VowpalWabbitPolicy)
    assert loaded.config == config
    assert np.array_equal(
        loaded.probabilities(feedback.contexts, feedback.actions, feedback.eligible),
        policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible),
    )


def test_policy_saved_before_the_config_still_loads(tmp_path: Path) -> None:
    policy = VowpalWabbitPolicy(epsilon=0.1, explorer="bag", seed=3)
    policy.learn(synthetic_feedback())
    policy.save(tmp_path)
    old_params = {
        "epsilon": 0.1,
        "explorer": "bag",
        "cb_type": "mtr",
        "interactions": "ua",
        "learning_rate": 0.05,
        "passes": 1,
        "seed": 3,
        "feature_names": ["sensitive", "price"],
        "actions": list(ACTIONS[:3]),
    }
    (tmp_path / "policy.json").write_text(json.dumps({"name": "vw", "params": old_params}))
    loaded = load_policy(tmp_path)
    assert isinstance(loaded, VowpalWabbitPolicy)
    assert loaded.config == VWConfig(explorer="bag", epsilon=0.1, seed=3)
    assert loaded.actions_ == ACTIONS[:3]


def test_action_features_are_written_on_the_action_lines_and_learned() -> None:
    features = {"coupon": {"cost": 0.1, "kind": "discount"}, "installment": {"cost": 0.03}}
    policy = VowpalWabbitPolicy(config=VWConfig(explorer="softmax", action_features=features, seed=1))
    assert labelled_lines(ACTIONS[:3], np.array([1]), np.array([-1.0]), np.array([0.5]), features) == [
        "0:-1.0:0.5 |a coupon cost:0.1 kind=discount"
    ]
    feedback = synthetic_feedback()
    policy.learn(feedback)
    plain = VowpalWabbitPolicy(explorer="softmax", seed=1)
    plain.learn(feedback)
    probe = (feedback.contexts, feedback.actions, feedback.eligible)
    assert not np.array_equal(policy.probabilities(*probe), plain.probabilities(*probe))
