"""Ground truth: on a log whose reward follows one feature group, that group's drop is clearly positive.

An unrelated group's interval covers zero, by both methods, with the default VW policy and DR.
"""

from __future__ import annotations

import polars as pl
import pytest
from conftest import GROUPS, SyntheticLog

from experiments.feature_value import METHODS, feature_value


@pytest.fixture(scope="module")
def table(signal_log: SyntheticLog) -> pl.DataFrame:
    return feature_value(signal_log.feedback, signal_log.users, groups=GROUPS, n_bootstrap=300, seed=0).table


@pytest.mark.parametrize("method", METHODS)
def test_the_group_the_reward_follows_matters(table: pl.DataFrame, method: str) -> None:
    row = table.filter(group="taste", method=method).row(0, named=True)
    # the best policy earns 0.6 and the log's uniform policy 0.35: without its taste the policy loses most of it
    assert row["drop"] > 0.08
    assert row["lower"] > 0.05
    assert row["value_full"] > 0.5
    assert row["value_without"] < 0.45
    assert row["share_of_rounds_changed"] > 0.3


@pytest.mark.parametrize("method", METHODS)
def test_an_unrelated_group_does_not(table: pl.DataFrame, method: str) -> None:
    row = table.filter(group="timing", method=method).row(0, named=True)
    assert row["lower"] < 0 < row["upper"]
    assert abs(row["drop"]) < 0.02


def test_the_largest_drop_comes_first(table: pl.DataFrame) -> None:
    assert table.get_column("group").head(2).to_list() == ["taste", "taste"]
    assert table.get_column("drop").is_sorted(descending=True)
