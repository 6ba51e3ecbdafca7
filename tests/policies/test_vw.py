from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.base import Feedback
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
        ({"cb_type": "xyz"}, r"cb_type\n  Input should be 'mtr', 'dr' or 'ips' .*input_value='xyz'"),
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
