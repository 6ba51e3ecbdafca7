"""Reading a bandit log in any form, with any actions, and the exact messages for bad ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.inputs import check_bandit_log, feedback_from_log, load_bandit_log, log_actions
from features.schemas import ACTIONS
from features.validation import SchemaError
from policies.bandits.dsjson import write_dsjson
from policies.base import Feedback


def good_log(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "action": ["coupon", "no_offer", "coupon", "installment", "no_offer"][:n],
            "reward": [1.0, 0.0, 2.5, 0.0, 0.0][:n],
            "propensity": [0.5, 0.5, 0.25, 1.0, 0.5][:n],
            "price": [10.0, 20.0, 30.0, 40.0, 50.0][:n],
        }
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"propensity": [0.5, 0.5, 0.25, 0.0, 0.0]},
            "log: column 'propensity' must lie in (0, 1]; row 3 has 0.0 (2 bad row(s))",
        ),
        (
            {"propensity": [0.5, 1.5, 0.25, 1.0, 0.5]},
            "log: column 'propensity' must lie in (0, 1]; row 1 has 1.5 (1 bad row(s))",
        ),
        (
            {"propensity": [0.5, 0.5, float("nan"), 1.0, -0.1]},
            "log: column 'propensity' must lie in (0, 1]; row 2 has nan (2 bad row(s))",
        ),
        (
            {"propensity": [0.5, None, 0.25, 1.0, 0.5]},
            "log: column 'propensity' has 1 null value(s), the first in row 1",
        ),
        ({"reward": [1.0, 0.0, None, None, 0.0]}, "log: column 'reward' has 2 null value(s), the first in row 2"),
        ({"reward": ["1", "0", "2", "0", "0"]}, "log: column 'reward' has dtype String, expected a number"),
        (
            {"reward": [1.0, 0.0, float("inf"), 0.0, 0.0]},
            "log: column 'reward' must be a finite number; row 2 has inf (1 bad row(s))",
        ),
        ({"action": ["coupon", None, "coupon", "coupon", "coupon"]}, "log: column 'action' has 1 null value(s)"),
        (
            {"action": [1.0, 2.0, 1.0, 2.0, 1.0]},
            "log: column 'action' has dtype Float64; action labels are integers or text",
        ),
        ({"position": [0.0, 1.0, 0.0, 1.0, 0.0]}, "log: column 'position' has dtype Float64, expected an integer"),
        (
            {"actions": [["coupon"], ["no_offer"], ["no_offer", "installment"], ["installment"], ["no_offer"]]},
            "log: row 2: action 'coupon' is not among its eligible actions ['no_offer', 'installment'] (1 bad row(s))",
        ),
        (
            {"actions": ["coupon|no_offer", "no_offer", "no_offer", "coupon", "no_offer"]},
            "log: row 2: action 'coupon' is not among its eligible actions ['no_offer'] (2 bad row(s))",
        ),
        (
            {"actions": [["coupon"], None, ["coupon"], ["installment"], ["no_offer"]]},
            "log: column 'actions' has 1 null value(s), the first in row 1",
        ),
        (
            {"actions": [1.0, 2.0, 3.0, 4.0, 5.0]},
            "log: column 'actions' has dtype Float64; expected lists of action labels (or '|'-separated text)",
        ),
    ],
)
def test_bad_logs_are_named_before_anything_is_computed(change: dict[str, list[object]], message: str) -> None:
    log = good_log().with_columns(pl.Series(name, values, strict=False) for name, values in change.items())
    with pytest.raises(SchemaError, match=re.escape(message)):
        feedback_from_log(log)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (["propensity"], "log: missing column 'propensity'; a bandit log needs action, reward, propensity"),
        (["reward", "propensity"], "log: missing columns 'reward', 'propensity'; a bandit log needs"),
        (["action"], "log: missing column 'action'; a bandit log needs action, reward, propensity (present: reward"),
    ],
)
def test_missing_columns_are_named(drop: list[str], message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        feedback_from_log(good_log().drop(drop))


def test_an_empty_log_is_an_error() -> None:
    with pytest.raises(SchemaError, match=re.escape("log: no rows")):
        feedback_from_log(good_log().head(0))


def test_a_logged_action_outside_the_given_actions_is_named() -> None:
    with pytest.raises(SchemaError, match=re.escape("log: column 'action' has unknown action(s) ['installment']")):
        feedback_from_log(good_log(), actions=("no_offer", "coupon"))


def test_the_four_offers_keep_their_order_and_all_four_columns() -> None:
    feedback = feedback_from_log(good_log())
    assert feedback.actions == ACTIONS
    assert feedback.chosen.tolist() == [1, 0, 1, 2, 0]
    old = Feedback.from_log(good_log())  # the existing path, for callers of the four offers
    assert old.actions == ACTIONS
    assert np.array_equal(old.chosen, feedback.chosen)


def test_integer_labels_are_text_ordered_numerically() -> None:
    log = pl.DataFrame(
        {
            "action": [10, 2, 7, 2],
            "reward": [1, 0, 0, 1],
            "propensity": [0.5, 0.5, 1.0, 0.5],
            "actions": [[2, 10], [2, 10], [7], [2, 7, 10]],
            "x": [0.1, 0.2, 0.3, 0.4],
        }
    )
    feedback = feedback_from_log(log)
    assert feedback.actions == ("2", "7", "10")
    assert feedback.chosen.tolist() == [2, 0, 1, 0]
    assert feedback.eligible.tolist() == [[True, False, True], [True, False, True], [False, True, False], [True] * 3]
    assert feedback.contexts.columns == ["x"]
    assert Feedback.from_log(log, ("2", "7", "10")).chosen.tolist() == [2, 0, 1, 0]


def test_text_labels_that_are_not_offers_are_sorted() -> None:
    log = pl.DataFrame({"action": ["latte", "espresso"], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]})
    assert feedback_from_log(log).actions == ("espresso", "latte")
    assert log_actions(check_bandit_log(log.with_columns(actions=pl.lit("mocha|latte|espresso")))) == (
        "espresso",
        "latte",
        "mocha",
    )


def test_five_hundred_actions() -> None:
    rng = np.random.default_rng(0)
    n, k = 20_000, 500
    offered = [sorted(rng.choice(k, size=rng.integers(2, 30), replace=False).tolist()) for _ in range(n)]
    chosen = [row[int(rng.integers(len(row)))] for row in offered]
    log = pl.DataFrame(
        {
            "action": chosen,
            "reward": rng.random(n),
            "propensity": [1 / len(row) for row in offered],
            "actions": offered,
            "x": rng.random(n),
        }
    )
    feedback = feedback_from_log(log)
    assert len(feedback.actions) == len(set(chosen) | {a for row in offered for a in row})
    assert feedback.actions == tuple(sorted(feedback.actions, key=int))
    labels = np.array(feedback.actions)[feedback.chosen]
    assert labels.tolist() == [str(a) for a in chosen]
    assert feedback.eligible.sum(axis=1).tolist() == [len(row) for row in offered]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(-50, 10_000), min_size=1, max_size=6, unique=True), min_size=1, max_size=30))
def test_every_round_keeps_its_label_and_eligible_set(offered: list[list[int]]) -> None:
    log = pl.DataFrame(
        {
            "action": [row[-1] for row in offered],
            "reward": [1.0] * len(offered),
            "propensity": [1.0] * len(offered),
            "actions": offered,
        }
    )
    feedback = feedback_from_log(log)
    names = np.array(feedback.actions)
    assert names[feedback.chosen].tolist() == [str(row[-1]) for row in offered]
    assert [sorted(names[mask].tolist()) for mask in feedback.eligible] == [sorted(map(str, r)) for r in offered]
    assert [int(a) for a in feedback.actions] == sorted(int(a) for a in feedback.actions)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl", ".ndjson", ".json"])
def test_a_log_file_of_every_format(tmp_path: Path, suffix: str) -> None:
    log = good_log().with_columns(decision_id=pl.format("d{}", pl.int_range(pl.len())))
    path = tmp_path / f"log{suffix}"
    if suffix == ".parquet":
        log.write_parquet(path)
    elif suffix == ".csv":
        log.write_csv(path)
    else:
        log.write_ndjson(path)
    read = load_bandit_log(path)
    assert read.select(log.columns).equals(log)
    assert feedback_from_log(read).chosen.tolist() == [1, 0, 1, 2, 0]


def test_a_json_file_holding_one_array(tmp_path: Path) -> None:
    (tmp_path / "log.json").write_text(json.dumps(good_log().to_dicts()))
    assert load_bandit_log(tmp_path / "log.json").equals(good_log())


def dsjson_log() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "decision_id": ["a", "b"],
            "actions": [["no_offer", "coupon"], ["coupon", "installment"]],
            "action": ["coupon", "installment"],
            "propensity": [0.5, 0.25],
            "probabilities": [[0.5, 0.5, 0.0, 0.0], [0.0, 0.75, 0.25, 0.0]],
            "reward": [3.0, 0.0],
            "price": [1.0, 2.0],
        }
    )


@pytest.mark.parametrize("name", ["log.dsjson", "log.json", "log.jsonl"])
def test_dsjson_is_read_by_suffix_or_by_content(tmp_path: Path, name: str) -> None:
    write_dsjson(dsjson_log(), tmp_path / name)
    read = load_bandit_log(tmp_path / name)
    assert read.select("decision_id", "action", "propensity", "reward", "price").equals(
        dsjson_log().select("decision_id", "action", "propensity", "reward", "price")
    )
    assert feedback_from_log(read).chosen.tolist() == [1, 2]


def test_unlabelled_dsjson_lines_are_skipped_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "log.dsjson"
    write_dsjson(dsjson_log(), path)
    with open(path, "a") as handle:
        handle.write('{"EventId": "late", "RewardValue": 1.0}\n')
    with pytest.warns(UserWarning, match=re.escape("skipped 1 DSJSON line(s) without a label (_label_cost)")):
        assert load_bandit_log(path).height == 2


@pytest.mark.parametrize(
    ("name", "text", "error", "message"),
    [
        ("log.txt", "x", ValueError, "unknown format '.txt'"),
        ("log.jsonl", "not json\n", SchemaError, "not a table of JSON objects, one per line"),
        ("gone.parquet", None, FileNotFoundError, "no such file"),
    ],
)
def test_files_that_are_not_logs(
    tmp_path: Path, name: str, text: str | None, error: type[Exception], message: str
) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(error, match=re.escape(message)):
        load_bandit_log(tmp_path / name)
