"""The feature groups: one definition that covers the context exactly once, and checked custom groups."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.feature_value import FEATURE_GROUPS, OTHER, load_groups, resolve_groups
from features.pipelines.context import CONTEXT


def test_every_context_column_is_in_exactly_one_group() -> None:
    counts = Counter(column for columns in FEATURE_GROUPS.values() for column in columns)
    assert sorted(set(CONTEXT) - set(counts)) == []  # a new context column needs a group
    assert sorted(set(counts) - set(CONTEXT)) == []  # a group names only context columns
    assert [column for column, count in counts.items() if count > 1] == []


def test_no_group_is_empty() -> None:
    assert all(FEATURE_GROUPS.values())
    assert OTHER not in FEATURE_GROUPS


@given(st.lists(st.sampled_from([*CONTEXT, "basket_size", "tenure"]), unique=True, min_size=1))
def test_default_groups_cut_any_log_s_columns_exactly_once(columns: list[str]) -> None:
    groups = resolve_groups(columns)
    members = [c for group in groups.values() for c in group]
    assert sorted(members) == sorted(columns)
    assert all(groups.values())
    assert groups.get(OTHER, ()) == tuple(c for c in columns if c not in CONTEXT)


def test_the_simulated_log_s_features_all_have_a_group(small_log) -> None:  # type: ignore[no-untyped-def]
    from experiments.inputs import feedback_from_log

    columns = feedback_from_log(small_log).contexts.columns
    groups = resolve_groups(columns)
    assert OTHER not in groups
    assert sorted(c for group in groups.values() for c in group) == sorted(columns)


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"time": ["hour"]}, "feature group 'time': column 'hour' is not a context column of the log; it has"),
        ({"nothing": []}, "feature group 'nothing' is empty; give it at least one column"),
        ({"twice": ["price", "price"]}, "feature group 'twice' names column(s) ['price'] more than once"),
        ({}, "no feature group given; give at least one group of columns"),
    ],
)
def test_bad_custom_groups_are_named(custom: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        resolve_groups(["price", "trigger"], custom)


def test_custom_groups_may_overlap_and_keep_their_order() -> None:
    groups = resolve_groups(["price", "trigger"], {"all": ["trigger", "price"], "price": "price"})
    assert groups == {"all": ("trigger", "price"), "price": ("price",)}


def test_a_log_without_context_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="the log has no context feature column"):
        resolve_groups([])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("groups.yaml", "price: [price]\nwhen: local_hour\n", {"price": ["price"], "when": ["local_hour"]}),
        ("groups.json", '{"price": ["price", "price_percentile"]}', {"price": ["price", "price_percentile"]}),
    ],
)
def test_groups_files(tmp_path: Path, name: str, text: str, expected: dict[str, list[str]]) -> None:
    (tmp_path / name).write_text(text)
    assert load_groups(tmp_path / name) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping of group name to a list of columns, got nothing"),
        ("price: [1, 2]", "group 'price' must be a list of column names, got [1, 2]"),
        ("price: [price", "can't be read as yaml"),
    ],
)
def test_bad_groups_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "groups.yaml").write_text(text)
    with pytest.raises(ValueError, match=r"groups file .*groups\.yaml: ") as raised:
        load_groups(tmp_path / "groups.yaml")
    assert message in str(raised.value)


def test_a_missing_groups_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_groups(tmp_path / "nope.yaml")
