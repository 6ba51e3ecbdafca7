"""The cross-fitted reward model: folds, holding out, determinism, and accuracy against a known truth.

Also feature coding by dtype, given predictions, and clear errors.
"""

from __future__ import annotations

import datetime as dt
import re

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from experiments.ope.reward_model import (
    RewardModelParams,
    cross_fitted_rewards,
    cross_fitting_folds,
    q_hat_from_frame,
)
from features.validation import SchemaError
from policies.base import Feedback

ACTIONS = ("no_offer", "coupon", "installment")
#: Small, fast settings for small logs.
SMALL = RewardModelParams(n_estimators=30, num_leaves=7, min_data_in_leaf=20)


def feedback_of(contexts: pl.DataFrame, chosen: np.ndarray, rewards: np.ndarray, k: int = 3) -> Feedback:
    n = contexts.height
    return Feedback(
        contexts=contexts,
        actions=ACTIONS[:k],
        eligible=np.ones((n, k), dtype=bool),
        chosen=chosen,
        rewards=np.asarray(rewards, dtype=float),
        propensities=np.full(n, 1 / k),
    )


def known_world(n: int, seed: int) -> tuple[Feedback, np.ndarray]:
    """Uniform logging; the true reward of each action depends on a number, a string and a flag."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    region = rng.choice(["north", "south", "west"], n)
    loyal = rng.random(n) < 0.4
    base = 0.3 + 0.2 * x + np.select([region == "north", region == "south"], [0.1, -0.1], 0.0)
    truth = np.column_stack([base, base + np.where(x > 0, 0.25, -0.1), base + 0.2 * loyal])
    chosen = rng.integers(0, 3, n)
    rewards = truth[np.arange(n), chosen] + rng.normal(scale=0.3, size=n)
    contexts = pl.DataFrame({"x": x, "region": region, "loyal": loyal})
    return feedback_of(contexts, chosen, rewards), truth


# --- folds ------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 300), n_folds=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_folds_are_balanced_and_all_used(n: int, n_folds: int, seed: int) -> None:
    if n_folds > n:
        with pytest.raises(ValueError, match="exceeds the number of rounds"):
            cross_fitting_folds(n, n_folds, seed=seed)
        return
    folds = cross_fitting_folds(n, n_folds, seed=seed)
    sizes = np.bincount(folds, minlength=n_folds)
    assert folds.shape == (n,)
    assert sizes.min() >= 1
    assert sizes.max() - sizes.min() <= 1


@settings(max_examples=50, deadline=None)
@given(
    users=st.lists(st.sampled_from([f"u{i}" for i in range(12)]), min_size=5, max_size=80),
    n_folds=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
def test_group_folds_keep_each_user_in_one_fold(users: list[str], n_folds: int, seed: int) -> None:
    n_users = len(set(users))
    if n_folds > n_users:
        with pytest.raises(ValueError, match=f"exceeds the number of groups \\({n_users}\\)"):
            cross_fitting_folds(len(users), n_folds, seed=seed, groups=users)
        return
    folds = cross_fitting_folds(len(users), n_folds, seed=seed, groups=users)
    fold_of_user = pl.DataFrame({"user": users, "fold": folds}).group_by("user").agg(pl.col("fold").n_unique())
    assert fold_of_user["fold"].max() == 1
    assert set(folds.tolist()) == set(range(n_folds))


def test_group_folds_do_not_depend_on_the_order_of_rows() -> None:
    users = np.array(["a", "b", "c", "d", "a", "b", "e", "f"])
    order = np.random.default_rng(3).permutation(len(users))
    folds = cross_fitting_folds(len(users), 3, seed=1, groups=users)
    shuffled = cross_fitting_folds(len(users), 3, seed=1, groups=pl.Series(users[order]))
    assert dict(zip(users[order].tolist(), shuffled.tolist(), strict=True)) == dict(
        zip(users.tolist(), folds.tolist(), strict=True)
    )


def test_folds_follow_the_seed() -> None:
    assert np.array_equal(cross_fitting_folds(100, 5, seed=4), cross_fitting_folds(100, 5, seed=4))
    assert not np.array_equal(cross_fitting_folds(100, 5, seed=4), cross_fitting_folds(100, 5, seed=5))


# --- holding out ------------------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n_folds=st.integers(2, 4), grouped=st.booleans())
def test_a_rounds_own_reward_never_reaches_its_prediction(seed: int, n_folds: int, grouped: bool) -> None:
    """Rewriting every reward of one fold leaves that fold's q_hat unchanged, bit for bit."""
    feedback, _ = known_world(300, seed)
    groups = np.arange(300) // 4 if grouped else None
    folds = cross_fitting_folds(300, n_folds, seed=seed, groups=groups)
    rewritten = np.where(folds == 0, np.random.default_rng(seed).normal(5, 3, 300), feedback.rewards)
    other = feedback_of(feedback.contexts, feedback.chosen, rewritten)
    before = cross_fitted_rewards(feedback, n_folds=n_folds, seed=seed, groups=groups, params=SMALL)
    after = cross_fitted_rewards(other, n_folds=n_folds, seed=seed, groups=groups, params=SMALL)
    assert np.array_equal(before[folds == 0], after[folds == 0])
    assert not np.array_equal(before[folds != 0], after[folds != 0])


def test_pure_noise_is_not_memorised() -> None:
    """A model flexible enough to memorise pure noise in sample shows no such correlation when cross-fitted."""
    n = 4000
    rng = np.random.default_rng(11)
    contexts = pl.DataFrame({"row": np.arange(n, dtype=float), "z": rng.normal(size=n)})
    chosen = rng.integers(0, 2, n)
    feedback = feedback_of(contexts, chosen, rng.normal(size=n), k=2)
    greedy = RewardModelParams(n_estimators=100, num_leaves=255, min_data_in_leaf=1, lambda_l2=0.0)
    q_hat = cross_fitted_rewards(feedback, seed=0, params=greedy)
    logged = q_hat[np.arange(n), chosen]
    assert abs(np.corrcoef(logged, feedback.rewards)[0, 1]) < 4 / np.sqrt(n)
    # the same model fitted in sample does memorise: the check has power
    design = np.column_stack([contexts.to_numpy(), chosen])
    in_sample = lgb.train(greedy.lightgbm(seed=0), lgb.Dataset(design, feedback.rewards), 100).predict(design)
    assert np.corrcoef(in_sample, feedback.rewards)[0, 1] > 0.5


# --- determinism and accuracy -----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_q_hat_bit_for_bit() -> None:
    feedback, _ = known_world(2000, 0)
    first = cross_fitted_rewards(feedback, seed=7)
    assert np.array_equal(first, cross_fitted_rewards(feedback, seed=7))
    assert not np.array_equal(first, cross_fitted_rewards(feedback, seed=8))


def test_subsampled_training_is_seeded_too() -> None:
    feedback, truth = known_world(3000, 1)
    params = RewardModelParams(max_train_rows=500)
    first = cross_fitted_rewards(feedback, seed=2, params=params)
    assert np.array_equal(first, cross_fitted_rewards(feedback, seed=2, params=params))
    assert np.sqrt(((first - truth) ** 2).mean()) < 0.12


def test_q_hat_is_close_to_the_true_reward_of_every_action() -> None:
    """20,000 rounds, noise sd 0.3: the defaults recover every action's mean within an RMSE of 0.05."""
    feedback, truth = known_world(20_000, 2024)
    q_hat = cross_fitted_rewards(feedback, seed=0)
    assert q_hat.shape == truth.shape
    rmse = np.sqrt(((q_hat - truth) ** 2).mean(axis=0))
    assert (rmse < 0.05).all(), rmse
    # far better than the best constant per action
    assert (rmse < 0.5 * (truth - truth.mean(axis=0)).std(axis=0)).all()


def test_grouped_cross_fitting_is_as_accurate() -> None:
    feedback, truth = known_world(20_000, 2025)
    users = np.random.default_rng(0).integers(0, 2000, 20_000)
    q_hat = cross_fitted_rewards(feedback, seed=0, groups=users)
    assert np.sqrt(((q_hat - truth) ** 2).mean()) < 0.05


# --- features by dtype ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical, pl.Enum(["gold", "silver", "bronze", "tin"])])
def test_string_features_are_categories(dtype: pl.DataType) -> None:
    """The reward depends on a string column only through its category (not on any order of the names)."""
    n = 6000
    rng = np.random.default_rng(5)
    tier = rng.choice(["gold", "silver", "bronze", "tin"], n)
    value = {"gold": 1.0, "silver": 0.0, "bronze": 0.8, "tin": 0.1}
    truth = np.array([value[t] for t in tier])
    chosen = rng.integers(0, 2, n)
    contexts = pl.DataFrame({"tier": pl.Series(tier).cast(dtype)})
    feedback = feedback_of(contexts, chosen, truth + rng.normal(scale=0.2, size=n), k=2)
    q_hat = cross_fitted_rewards(feedback, seed=0, params=SMALL)
    assert np.abs(q_hat - truth[:, None]).max() < 0.1


def test_every_dtype_is_read_or_dropped() -> None:
    """Dates, times, durations, booleans and nulls are features; lists, structs and all-null columns are not."""
    n = 3000
    rng = np.random.default_rng(8)
    day = rng.integers(0, 60, n)
    truth = np.where(day >= 30, 1.0, 0.0)  # the reward changes halfway through the log
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    times = pl.Series([start + dt.timedelta(days=int(d), hours=3) for d in day])
    flag = pl.Series(rng.random(n) < 0.5).set(pl.Series(rng.random(n) < 0.1), None)
    base = pl.DataFrame({"sent": times, "flag": flag})
    extras = base.with_columns(
        sent_day=pl.col("sent").dt.date(),
        wait=pl.col("sent") - pl.lit(start),
        clock=pl.col("sent").dt.time(),
        tags=pl.lit(["a", "b"]),
        nested=pl.struct(pl.lit(1).alias("one")),
        nothing=pl.lit(None),
        amount=pl.lit(3, dtype=pl.Int16),
    )
    chosen = rng.integers(0, 2, n)
    rewards = truth + rng.normal(scale=0.1, size=n)
    q_hat = cross_fitted_rewards(feedback_of(extras, chosen, rewards, k=2), seed=0, params=SMALL)
    assert np.abs(q_hat - truth[:, None]).mean() < 0.05
    # the datetime alone is enough, so each date-like column on its own gives the same fit
    for name in ("sent", "sent_day", "wait"):
        alone = cross_fitted_rewards(feedback_of(extras.select(name), chosen, rewards, k=2), seed=0, params=SMALL)
        assert np.abs(alone - truth[:, None]).mean() < 0.05
    # lists, structs and all-null columns change nothing
    dropped = extras.select("sent", "tags", "nested", "nothing")
    assert np.array_equal(
        cross_fitted_rewards(feedback_of(dropped, chosen, rewards, k=2), seed=0, params=SMALL),
        cross_fitted_rewards(feedback_of(extras.select("sent"), chosen, rewards, k=2), seed=0, params=SMALL),
    )


def test_no_context_column_gives_an_action_only_model() -> None:
    n = 3000
    rng = np.random.default_rng(9)
    chosen = rng.integers(0, 3, n)
    means = np.array([0.2, 0.5, 0.9])
    contexts = pl.DataFrame({"x": np.zeros(n)}).drop("x")
    assert contexts.width == 0
    assert contexts.height == n
    feedback = feedback_of(contexts, chosen, means[chosen] + rng.normal(scale=0.1, size=n))
    q_hat = cross_fitted_rewards(feedback, seed=0)
    assert np.abs(q_hat - means).max() < 0.02
    assert np.ptp(q_hat[cross_fitting_folds(n, 5, seed=0) == 0], axis=0).max() == 0  # one value per action


# --- errors -----------------------------------------------------------------------------------------------


def small_feedback(n: int = 6) -> Feedback:
    return feedback_of(pl.DataFrame({"x": np.arange(n, dtype=float)}), np.arange(n) % 3, np.ones(n))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"n_folds": 1},
            "n_folds must be an integer of at least 2 (a model needs other folds to train on); got 1",
        ),
        (
            {"n_folds": True},
            "n_folds must be an integer of at least 2 (a model needs other folds to train on); got True",
        ),
        ({"n_folds": 7}, "n_folds=7 exceeds the number of rounds (6): every fold needs at least one"),
        (
            {"n_folds": 3, "groups": ["a", "a", "a", "b", "b", "b"]},
            "n_folds=3 exceeds the number of groups (2): every fold needs at least one",
        ),
        ({"groups": ["a", "b"]}, "groups has 2 label(s), expected one per round (6)"),
        (
            {"n_folds": 2, "groups": ["a", "b", None, "c", "d", None]},
            "groups must not be null; row 2 is (2 null label(s))",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cross_fitted_rewards(small_feedback(), **kwargs)  # type: ignore[arg-type]


def test_a_reward_that_is_not_finite_is_named() -> None:
    feedback = feedback_of(pl.DataFrame({"x": [0.0] * 4}), np.array([0, 1, 0, 1]), np.array([1, 0, np.nan, np.inf]))
    message = "reward model: rewards must be finite; row 2 has nan (2 bad row(s))"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cross_fitted_rewards(feedback, n_folds=2)


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="learning_rate"):
        RewardModelParams(learning_rate=0)
    with pytest.raises(ValidationError, match="n_trees"):
        RewardModelParams(n_trees=10)  # type: ignore[call-arg]
    settings_ = RewardModelParams().lightgbm(seed=3)
    assert settings_["num_threads"] == 1
    assert settings_["verbosity"] == -1
    assert settings_["deterministic"]


# --- given predictions ------------------------------------------------------------------------------------


def test_given_predictions_are_read_in_the_order_of_the_actions() -> None:
    table = pl.DataFrame({"decision_id": ["d1", "d2"], "q_coupon": [2, 3], "q_no_offer": [0.5, 0.25]})
    q_hat = q_hat_from_frame(table, ("no_offer", "coupon"), 2)
    assert q_hat.tolist() == [[0.5, 2.0], [0.25, 3.0]]
    assert q_hat.dtype == np.float64


@pytest.mark.parametrize(
    ("table", "eligible", "message"),
    [
        (
            pl.DataFrame({"q_a": [1.0, 2.0, 3.0]}),
            None,
            "reward predictions: missing column(s) ['q_b'] (one q_<action> column per action); present: q_a",
        ),
        (
            pl.DataFrame({"q_a": [1.0, 2.0], "q_b": [1.0, 2.0]}),
            None,
            "reward predictions: 2 row(s), but the log has 3; the rows must align with the log's",
        ),
        (
            pl.DataFrame({"q_a": [1.0, 2.0, 3.0], "q_b": ["1", "2", "3"]}),
            None,
            "reward predictions: column 'q_b' has dtype String, expected numbers",
        ),
        (
            pl.DataFrame({"q_a": [1.0, None, None], "q_b": [1.0, 2.0, 3.0]}),
            None,
            "reward predictions: column 'q_a' is null at row 1 (2 bad value(s) in it)",
        ),
        (
            pl.DataFrame({"q_a": [1.0, 2.0, 3.0], "q_b": [1.0, 2.0, float("nan")]}),
            None,
            "reward predictions: column 'q_b' is nan, not a finite number at row 2 (1 bad value(s) in it)",
        ),
        (
            pl.DataFrame({"q_a": [float("-inf"), 2.0, 3.0], "q_b": [1.0, 2.0, 3.0]}),
            None,
            "reward predictions: column 'q_a' is -inf, not a finite number at row 0 (1 bad value(s) in it)",
        ),
        (
            pl.DataFrame({"q_a": [1.0, None, 3.0], "q_b": [None, 2.0, 3.0]}),
            np.array([[True, False], [True, True], [True, True]]),
            "reward predictions: column 'q_a' is null at row 1 (1 bad value(s) in it)",
        ),
    ],
)
def test_bad_given_predictions_are_named(table: pl.DataFrame, eligible: np.ndarray | None, message: str) -> None:
    with pytest.raises(SchemaError) as error:
        q_hat_from_frame(table, ("a", "b"), 3, eligible=eligible)
    assert str(error.value) == message


def test_given_predictions_may_be_missing_where_an_action_was_not_eligible() -> None:
    table = pl.DataFrame({"q_a": [1.0, None], "q_b": [None, 2.0]})
    q_hat = q_hat_from_frame(table, ("a", "b"), 2, eligible=np.array([[True, False], [False, True]]))
    assert np.isnan(q_hat[0, 1])
    assert np.isnan(q_hat[1, 0])
    assert q_hat[0, 0] == 1.0
    assert q_hat[1, 1] == 2.0
    with pytest.raises(ValueError, match=r"eligible has shape \(2, 3\), expected \(2, 2\)"):
        q_hat_from_frame(table, ("a", "b"), 2, eligible=np.ones((2, 3), dtype=bool))
