"""One conformance suite over every registered policy: probabilities, acting, seeding, saving, eligibility, floor.

The policies are found through :attr:`BasePolicy.registry` after importing every module of
``policies.base._LAZY_MODULES``, each built by its class's ``example()``; nothing is listed by hand. A policy
that needs the simulator's truth (the oracle) is shown a seeded truth before every batch, as the simulator does.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.schemas import ACTIONS
from policies.bandits.baselines import FixedAction
from policies.base import _LAZY_MODULES, BasePolicy, Feedback, load_policy
from policies.sampling import with_floor

for _module in sorted(set(_LAZY_MODULES.values())):
    importlib.import_module(_module)
KINDS = sorted(BasePolicy.registry)
#: Draws per probed row when comparing the frequencies of ``act`` with ``probabilities``.
REPEATS = 1000


def show_truth(policy: BasePolicy, contexts: pl.DataFrame, eligible: np.ndarray) -> None:
    """Give a policy that needs the simulator's truth one for this batch (what the simulator does).

    The truth is a fixed function of each row's context, so that a row has the same truth in every batch.
    """
    observe = getattr(policy, "observe_truth", None)
    if observe is not None:
        truth = np.column_stack([contexts.hash_rows(seed=a).to_numpy() % 997 for a in range(eligible.shape[1])])
        observe(np.where(eligible, truth.astype(float), np.nan))


def probabilities(policy: BasePolicy, contexts: pl.DataFrame, eligible: np.ndarray) -> np.ndarray:
    show_truth(policy, contexts, eligible)
    return policy.probabilities(contexts, ACTIONS, eligible)


def act(policy: BasePolicy, contexts: pl.DataFrame, eligible: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    show_truth(policy, contexts, eligible)
    return policy.act(contexts, ACTIONS, np.random.default_rng(seed), eligible)


def trained(kind: str, log: pl.DataFrame) -> BasePolicy:
    made = BasePolicy.registry[kind].example()
    assert type(made) is BasePolicy.registry[kind], f"{kind}: example() built a {type(made).__name__}"
    made.learn(Feedback.from_log(log.head(300)))
    return made


@pytest.fixture(scope="module", params=KINDS)
def policy(request: pytest.FixtureRequest, small_log: pl.DataFrame) -> BasePolicy:
    return trained(request.param, small_log)


@pytest.fixture(scope="module")
def feedback(small_log: pl.DataFrame) -> Feedback:
    return Feedback.from_log(small_log.tail(200))


def test_the_registry_holds_every_kind_and_load_policy_finds_each() -> None:
    assert {"uniform", "fixed", "rules", "vw", "thompson", "linucb", "lin_ts", "oracle"} <= set(KINDS)
    assert set(KINDS) <= set(_LAZY_MODULES), "a registered policy kind is missing from _LAZY_MODULES"
    for kind in KINDS:
        assert BasePolicy.registry[kind].name == kind


def test_probabilities_are_a_distribution_over_eligible_actions(policy: BasePolicy, feedback: Feedback) -> None:
    probs = probabilities(policy, feedback.contexts, feedback.eligible)
    assert probs.shape == (feedback.n_rounds, len(ACTIONS))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[~feedback.eligible] == 0).all()
    assert (probs >= 0).all()


def test_act_reports_the_probability_of_what_it_chose(policy: BasePolicy, feedback: Feedback) -> None:
    chosen, propensity = act(policy, feedback.contexts, feedback.eligible, seed=5)
    probs = probabilities(policy, feedback.contexts, feedback.eligible)
    assert np.array_equal(propensity, probs[np.arange(len(chosen)), chosen])
    assert ((propensity > 0) & (propensity <= 1)).all()
    assert feedback.eligible[np.arange(len(chosen)), chosen].all()


def test_act_draws_with_the_stated_probabilities(policy: BasePolicy, feedback: Feedback) -> None:
    """Per probed row, every action's count over REPEATS draws lies within 5 binomial sds of its expectation."""
    _, first_rows = np.unique(feedback.eligible, axis=0, return_index=True)
    probed = np.sort(np.concatenate([first_rows, [0, 1]]))[:4]
    rows = np.repeat(probed, REPEATS)
    contexts, eligible = feedback.contexts[rows], feedback.eligible[rows]
    chosen, _ = act(policy, contexts, eligible, seed=17)
    probs = probabilities(policy, contexts[::REPEATS], eligible[::REPEATS])
    counts = np.zeros(probs.shape)
    np.add.at(counts, (np.repeat(np.arange(len(probed)), REPEATS), chosen), 1.0)
    expected = REPEATS * probs
    spread = np.sqrt(expected * (1 - probs))
    assert (counts[probs == 0] == 0).all()
    assert (np.abs(counts - expected) <= 5 * spread + 1e-9).all(), (counts, expected)


def test_same_seed_same_actions(policy: BasePolicy, feedback: Feedback) -> None:
    first = act(policy, feedback.contexts, feedback.eligible, seed=9)
    second = act(policy, feedback.contexts, feedback.eligible, seed=9)
    assert np.array_equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])


def test_examples_trained_alike_decide_alike(policy: BasePolicy, feedback: Feedback, small_log: pl.DataFrame) -> None:
    twin = trained(policy.name, small_log)
    before = probabilities(policy, feedback.contexts, feedback.eligible)
    assert np.array_equal(probabilities(twin, feedback.contexts, feedback.eligible), before)


def test_save_and_load_keep_the_probabilities(policy: BasePolicy, feedback: Feedback, tmp_path: Path) -> None:
    policy.save(tmp_path / "saved")
    loaded = load_policy(tmp_path / "saved")
    assert type(loaded) is type(policy)
    assert loaded.params() == policy.params()
    before = probabilities(policy, feedback.contexts, feedback.eligible)
    after = probabilities(loaded, feedback.contexts, feedback.eligible)
    assert np.allclose(before, after, rtol=0, atol=1e-12)


def test_eligibility_is_respected(policy: BasePolicy, feedback: Feedback) -> None:
    rng = np.random.default_rng(4)
    eligible = rng.random(feedback.eligible.shape) < 0.5
    eligible[np.arange(feedback.n_rounds), rng.integers(0, len(ACTIONS), feedback.n_rounds)] = True
    probs = probabilities(policy, feedback.contexts, eligible)
    assert (probs[~eligible] == 0).all()
    assert np.allclose(probs.sum(axis=1), 1.0)
    chosen, _ = act(policy, feedback.contexts, eligible, seed=2)
    assert eligible[np.arange(feedback.n_rounds), chosen].all()


def test_the_exploration_floor_is_kept(policy: BasePolicy, feedback: Feedback) -> None:
    probs = probabilities(policy, feedback.contexts, feedback.eligible)
    floor = np.minimum(policy.floor, 1.0 / feedback.eligible.sum(axis=1, keepdims=True))
    assert (probs >= np.where(feedback.eligible, floor, 0.0) - 1e-12).all()


def test_a_floor_mixes_in_the_uniform_distribution() -> None:
    policy = FixedAction("coupon")
    policy.floor = 0.1
    eligible = np.array([[True, True, True, True], [True, True, False, False], [True] + [False] * 3])
    probs = policy.probabilities(pl.DataFrame({"x": [0, 0, 0]}), ACTIONS, eligible)
    assert np.allclose(probs, [[0.1, 0.7, 0.1, 0.1], [0.1, 0.9, 0, 0], [1, 0, 0, 0]])


@given(
    weights=arrays(float, (3, 4), elements=st.floats(0.01, 100.0)),
    eligible=arrays(bool, (3, 4)),
    floor=st.floats(0.0, 0.5),
)
def test_the_floor_keeps_a_distribution_and_every_eligible_share(
    weights: np.ndarray, eligible: np.ndarray, floor: float
) -> None:
    eligible[:, 0] = True
    scores = np.where(eligible, weights, 0.0)
    probs = with_floor(scores / scores.sum(axis=1, keepdims=True), eligible, floor)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[~eligible] == 0).all()
    assert (probs >= np.where(eligible, np.minimum(floor, 1 / eligible.sum(axis=1, keepdims=True)), 0) - 1e-12).all()


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


def test_one_context_as_a_mapping_gets_the_probabilities_of_its_one_row_frame(
    policy: BasePolicy, feedback: Feedback
) -> None:
    """``probabilities_one`` (the endpoint's path, a fast one for VW) agrees with ``probabilities`` row by row."""
    for i in range(0, 40, 3):
        frame, eligible = feedback.contexts.slice(i, 1), feedback.eligible[i : i + 1]
        expected = probabilities(policy, frame, eligible)[0]
        show_truth(policy, frame, eligible)
        one = policy.probabilities_one(frame.row(0, named=True), ACTIONS, eligible[0])
        np.testing.assert_allclose(one, expected, rtol=0, atol=1e-12, err_msg=f"{policy.name}, row {i}")
