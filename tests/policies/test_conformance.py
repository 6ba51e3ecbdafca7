"""One conformance suite over every policy: probabilities, acting, seeding, saving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.schemas import ACTIONS
from policies.bandits.baselines import FixedAction, UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.base import BasePolicy, Feedback, load_policy

FACTORIES: dict[str, Callable[[], BasePolicy]] = {
    "uniform": UniformRandom,
    "fixed-coupon": lambda: FixedAction("coupon"),
    "fixed-installment": lambda: FixedAction("installment"),
    "vw": lambda: VowpalWabbitPolicy(epsilon=0.1, seed=3),
}


@pytest.fixture(params=sorted(FACTORIES))
def policy(request: pytest.FixtureRequest, small_log: pl.DataFrame) -> BasePolicy:
    made = FACTORIES[request.param]()
    made.learn(Feedback.from_log(small_log.head(300)))
    return made


@pytest.fixture
def feedback(small_log: pl.DataFrame) -> Feedback:
    return Feedback.from_log(small_log.tail(200))


def test_probabilities_are_a_distribution_over_eligible_actions(policy: BasePolicy, feedback: Feedback) -> None:
    probs = policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    assert probs.shape == (feedback.n_rounds, len(ACTIONS))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[~feedback.eligible] == 0).all()
    assert (probs >= 0).all()


def test_act_reports_the_probability_of_what_it_chose(policy: BasePolicy, feedback: Feedback) -> None:
    chosen, propensity = policy.act(feedback.contexts, ACTIONS, np.random.default_rng(5), feedback.eligible)
    probs = policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    assert np.array_equal(propensity, probs[np.arange(len(chosen)), chosen])
    assert ((propensity > 0) & (propensity <= 1)).all()
    assert feedback.eligible[np.arange(len(chosen)), chosen].all()


def test_same_seed_same_actions(policy: BasePolicy, feedback: Feedback) -> None:
    first = policy.act(feedback.contexts, ACTIONS, np.random.default_rng(9), feedback.eligible)
    second = policy.act(feedback.contexts, ACTIONS, np.random.default_rng(9), feedback.eligible)
    assert np.array_equal(first[0], second[0])


def test_save_and_load_keep_the_probabilities(policy: BasePolicy, feedback: Feedback, tmp_path: Path) -> None:
    policy.save(tmp_path / "saved")
    loaded = load_policy(tmp_path / "saved")
    assert type(loaded) is type(policy)
    before = policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    after = loaded.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    assert np.allclose(before, after)


@pytest.mark.parametrize(
    ("eligible", "message"),
    [
        (np.ones((2, 3), dtype=bool), r"eligible has shape \(2, 3\), expected \(2, 4\)"),
        (np.array([[True] * 4, [False] * 4]), r"row 1 has no eligible action \(1 such row\(s\)\)"),
    ],
)
def test_bad_eligibility_is_named(policy: BasePolicy, eligible: np.ndarray, message: str) -> None:
    contexts = Feedback.from_log(pl.DataFrame({"action": ["coupon"], "reward": [0.0], "propensity": [1.0]})).contexts
    with pytest.raises(ValueError, match=message):
        policy.probabilities(pl.concat([contexts, contexts]), ACTIONS, eligible)


def test_feedback_rejects_bad_propensities(small_log: pl.DataFrame) -> None:
    bad = small_log.head(5).with_columns(propensity=pl.Series([0.25, 0.0, 0.5, 1.5, 0.25]))
    message = r"log: column 'propensity' must lie in \(0, 1\]; row 1 has 0.0 \(2 bad row\(s\)\)"
    with pytest.raises(ValueError, match=message):
        Feedback.from_log(bad)


def test_feedback_rejects_unknown_actions(small_log: pl.DataFrame) -> None:
    bad = small_log.head(3).with_columns(action=pl.Series(["coupon", "free_gift", "no_offer"]))
    with pytest.raises(ValueError, match=r"column 'action' has unknown action\(s\) \['free_gift'\]"):
        Feedback.from_log(bad)


def test_eligibility_from_a_pipe_separated_column() -> None:
    log = pl.DataFrame({"action": ["coupon"], "reward": [1.0], "propensity": [0.5], "actions": ["no_offer|coupon"]})
    assert Feedback.from_log(log).eligible.tolist() == [[True, True, False, False]]
