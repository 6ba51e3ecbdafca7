"""Invariants: a group the policy does not use is worth exactly nothing; the permutation is joint and seeded.

The whole table repeats with its seed, and each group's figures do not depend on the other groups.
"""

from __future__ import annotations

import re
from typing import cast

import numpy as np
import polars as pl
import pytest
from conftest import GROUPS, SyntheticLog

from experiments.feature_value import (
    COLUMNS,
    Permutation,
    Retraining,
    VWFactory,
    feature_value,
    group_values,
    holdout_split,
    trained,
)
from policies.base import BasePolicy, Feedback


@pytest.fixture(scope="module")
def taste_only(signal_log: SyntheticLog) -> BasePolicy:
    """Train a VW policy on the taste columns alone (it reads only the columns it learned from)."""
    feedback = signal_log.feedback
    taste = Feedback(
        feedback.contexts.select(GROUPS["taste"]),
        feedback.actions,
        feedback.eligible,
        feedback.chosen,
        feedback.rewards,
        feedback.propensities,
    )
    return trained(VWFactory(seed=0), taste)


def test_permuting_a_group_the_policy_does_not_use_changes_nothing(
    signal_log: SyntheticLog, taste_only: BasePolicy
) -> None:
    method = Permutation(taste_only, seed=3, repeats=2)
    full = method.full_probabilities(signal_log.feedback)
    for group in ("timing", "device"):
        assert np.array_equal(method.probabilities_without(signal_log.feedback, GROUPS[group]), full)
    table = group_values(
        signal_log.feedback, GROUPS, [method], estimator="snips", clusters=signal_log.users, n_bootstrap=100
    )
    for row in table.filter(pl.col("group") != "taste").iter_rows(named=True):
        assert (row["drop"], row["lower"], row["upper"], row["share_of_rounds_changed"]) == (0.0, 0.0, 0.0, 0.0)
    assert table.filter(group="taste").row(0, named=True)["lower"] > 0


class Recorder:
    """Stands in for a policy: records the contexts it is asked to score and answers uniformly."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[pl.DataFrame] = []

    def probabilities(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        self.seen.append(contexts)
        return np.full(eligible.shape, 1 / eligible.shape[1])


def test_a_group_s_columns_are_permuted_jointly_and_the_rest_kept(signal_log: SyntheticLog) -> None:
    recorder = Recorder()
    contexts = signal_log.feedback.contexts
    Permutation(cast(BasePolicy, recorder), seed=0).probabilities_without(signal_log.feedback, GROUPS["timing"])
    (shuffled,) = recorder.seen
    assert shuffled.select("affinity", "budget", "device").equals(contexts.select("affinity", "budget", "device"))
    assert not shuffled.get_column("hour").equals(contexts.get_column("hour"))
    # one permutation for the group: the pairs (hour, weekday) are the log's, in another order
    assert sorted(shuffled.select("hour", "weekday").rows()) == sorted(contexts.select("hour", "weekday").rows())


def test_permutations_follow_the_seed_and_the_group_not_the_call_order(signal_log: SyntheticLog) -> None:
    def shuffled(seed: int, groups: list[str]) -> pl.DataFrame:
        recorder = Recorder()
        method = Permutation(cast(BasePolicy, recorder), seed=seed)
        for group in groups:
            method.probabilities_without(signal_log.feedback, GROUPS[group])
        return recorder.seen[-1]

    assert shuffled(1, ["timing"]).equals(shuffled(1, ["taste", "device", "timing"]))
    assert not shuffled(1, ["timing"]).equals(shuffled(2, ["timing"]))


def test_the_table_repeats_with_its_seed(signal_log: SyntheticLog) -> None:
    def table(seed: int) -> pl.DataFrame:
        return feature_value(
            signal_log.feedback, signal_log.users, groups=GROUPS, estimator="ips", n_bootstrap=100, seed=seed
        ).table

    first = table(5)
    assert first.columns == list(COLUMNS)
    assert first.equals(table(5))
    assert not first.equals(table(6))


def test_a_group_s_row_does_not_depend_on_the_other_groups(signal_log: SyntheticLog) -> None:
    split = holdout_split(signal_log.feedback, signal_log.users, seed=0)
    factory = VWFactory(seed=0)
    methods = [Permutation(trained(factory, split.train), seed=0), Retraining(factory, split.train)]
    common = {"estimator": "ips", "clusters": split.test_clusters, "n_bootstrap": 100, "seed": 0}
    alone = group_values(split.test, {"timing": GROUPS["timing"]}, methods, **common)  # type: ignore[arg-type]
    among = group_values(split.test, GROUPS, methods, **common).filter(group="timing")  # type: ignore[arg-type]
    assert alone.sort("method").equals(among.sort("method"))


def test_the_split_keeps_each_user_on_one_side(signal_log: SyntheticLog) -> None:
    split = holdout_split(signal_log.feedback, signal_log.users, holdout=0.3, seed=0)
    test_users = set(split.test_clusters.tolist())  # type: ignore[union-attr]
    train_users = set(signal_log.users.tolist()) - test_users
    assert len(test_users) == 450
    assert len(train_users) == 1050
    assert split.train.n_rounds + split.test.n_rounds == signal_log.feedback.n_rounds


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"methods": ["shuffle"]}, "unknown method(s) ['shuffle']; known: ['permute', 'remove']"),
        ({"estimator": "magic"}, "unknown estimator 'magic'"),
        ({"groups": {"taste": ["flavour"]}}, "feature group 'taste': column 'flavour' is not a context column"),
        ({"holdout": 1.0}, "holdout must lie in (0, 1); got 1.0"),
        ({"repeats": 0}, "repeats must be a positive integer; got 0"),
    ],
)
def test_bad_arguments_are_named(signal_log: SyntheticLog, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        feature_value(signal_log.feedback, signal_log.users, n_bootstrap=10, **arguments)  # type: ignore[arg-type]


def test_a_factory_that_returns_no_policy_is_named(signal_log: SyntheticLog) -> None:
    with pytest.raises(ValueError, match="the policy factory returned str, not a policy"):
        feature_value(signal_log.feedback, factory=lambda: "vw", groups=GROUPS)  # type: ignore[arg-type,return-value]


def test_removing_every_column_leaves_a_constant(signal_log: SyntheticLog) -> None:
    everything = {"everything": [c for columns in GROUPS.values() for c in columns]}
    row = feature_value(
        signal_log.feedback, signal_log.users, methods=["remove"], groups=everything, estimator="ips", n_bootstrap=100
    ).table.row(0, named=True)
    assert row["lower"] > 0  # without any context the policy can only pick one offer for everyone
