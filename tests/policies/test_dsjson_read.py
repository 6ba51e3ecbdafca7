"""Reading DSJSON: the project's own export read back unchanged, VW's own files, and the exact messages for bad ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from experiments.inputs import feedback_from_log
from features.schemas import ACTIONS, feature_columns
from features.validation import SchemaError
from policies.bandits.dsjson import write_dsjson
from policies.bandits.dsjson_read import read_dsjson
from policies.bandits.vw_format import UNSAFE


def test_the_projects_export_reads_back_unchanged(small_log: pl.DataFrame, tmp_path: Path) -> None:
    write_dsjson(small_log, tmp_path / "log.dsjson")
    read = read_dsjson(tmp_path / "log.dsjson", actions=ACTIONS)
    assert read.skipped == 0
    back = read.log
    assert back.height == small_log.height
    for column in ("decision_id", "ts", "actions", "action"):
        assert back.get_column(column).to_list() == small_log.get_column(column).to_list(), column
    for column in ("propensity", "reward"):
        assert np.allclose(back.get_column(column).to_numpy(), small_log.get_column(column).to_numpy()), column
    assert np.allclose(np.vstack(back["probabilities"].to_list()), np.vstack(small_log["probabilities"].to_list()))
    for column in feature_columns(small_log):
        original, again = small_log.get_column(column), back.get_column(column)
        if original.dtype == pl.Boolean:
            assert again.to_list() == original.to_list(), column
        elif original.dtype.is_numeric():  # the writer writes every number as a float
            assert np.allclose(again.to_numpy(), original.cast(pl.Float64).to_numpy(), equal_nan=True), column
        else:  # text as the writer made it: lower-cased, made safe for VW
            made_safe = original.cast(pl.String).str.to_lowercase().str.replace_all(UNSAFE, "_")
            assert again.to_list() == made_safe.to_list(), column
    assert feature_columns(back) == feature_columns(small_log)


def test_without_a_list_of_actions_probabilities_follow_each_rows_actions(
    small_log: pl.DataFrame, tmp_path: Path
) -> None:
    write_dsjson(small_log.head(50), tmp_path / "log.dsjson")
    back = read_dsjson(tmp_path / "log.dsjson").log
    index = {a: i for i, a in enumerate(ACTIONS)}
    for row, original in zip(back.iter_rows(named=True), small_log.head(50).iter_rows(named=True), strict=True):
        assert row["probabilities"] == pytest.approx([original["probabilities"][index[a]] for a in row["actions"]])
    feedback = feedback_from_log(back)
    assert feedback.actions == ACTIONS
    assert np.array_equal(feedback.chosen, feedback_from_log(small_log.head(50)).chosen)


def coffee(event: str, chosen: int, ranking: list[int], p: list[float], cost: float | None, **extra: Any) -> str:
    """Build a line as VW's decision service writes it: ids in namespace i, action features in j, observations in o."""
    drinks = ["Cappucino", "Cold brew", "Iced mocha", "Latte"]
    record: dict[str, Any] = {}
    if cost is not None:
        record |= {"_label_cost": cost, "_label_probability": p[0], "_label_Action": chosen, "_labelIndex": chosen - 1}
    record |= {
        "o": [{"v": -(cost or 0.0), "EventId": event, "ActionTaken": False}],
        "Timestamp": "2021-02-04T16:31:29.2460000Z",
        "Version": "1",
        "EventId": event,
        "a": ranking,
        "c": {
            "FromUrl": [{"timeofday": "Afternoon", "weather": "Sunny", "name": "Cathy"}],
            "_multi": [
                {"_tag": d, "i": {"constant": 1, "id": d}, "j": [{"type": "hot", "origin": "kenya"}]} for d in drinks
            ],
        },
        "p": p,
        "VWState": {"m": "ff07/550c"},
    }
    return json.dumps(record | extra)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_file_as_vws_decision_service_writes_it(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "coffee.json",
        [
            coffee("e1", 4, [4, 2, 1, 3], [0.05, 0.05, 0.05, 0.85], -0.0, _original_label_cost=-0.0),
            '{"RewardValue": 1.0, "EventId": "dangling", "EnqueuedTimeUtc": "2021-02-04T16:31:30Z"}',
            coffee("e2", 1, [1, 3, 2, 4], [0.85, 0.05, 0.05, 0.05], -1.0),
            coffee("e3", 2, [2, 1, 3, 4], [0.85, 0.05, 0.05, 0.05], None),  # a prediction without a label
        ],
    )
    read = read_dsjson(path)
    assert read.skipped == 2
    log = read.log
    assert log.columns == [
        "decision_id",
        "ts",
        "actions",
        "action",
        "propensity",
        "probabilities",
        "reward",
        "timeofday",
        "weather",
        "name",
    ]
    assert log["decision_id"].to_list() == ["e1", "e2"]
    assert log["actions"][0].to_list() == ["Cappucino", "Cold brew", "Iced mocha", "Latte"]
    assert log["action"].to_list() == ["Latte", "Cappucino"]
    assert log["propensity"].to_list() == [0.05, 0.85]
    assert log["reward"].to_list() == [0.0, 1.0]
    # p follows a (the ranking of 1-based ids); read back, it follows _multi
    assert log["probabilities"].to_list() == [[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]]
    assert str(log["ts"][0]) == "2021-02-04 16:31:29.246000+00:00"
    assert log["timeofday"].to_list() == ["Afternoon", "Afternoon"]
    feedback = feedback_from_log(log)
    assert feedback.actions == ("Cappucino", "Cold brew", "Iced mocha", "Latte")
    assert feedback.chosen.tolist() == [3, 0]


def test_actions_without_ids_are_named_by_tag_or_by_position(tmp_path: Path) -> None:
    plain = {"_label_cost": -1.0, "_label_probability": 0.5, "_label_Action": 2, "_labelIndex": 1, "a": [2, 1]}
    by_position = plain | {"c": {"shared": {"f": "1"}, "_multi": [{"action": {"f": "1"}}, {"action": {"f": "2"}}]}}
    log = read_dsjson(write_lines(tmp_path / "simple.json", [json.dumps(by_position)])).log
    assert log.select("decision_id", "actions", "action", "reward", "f").rows() == [(None, ["0", "1"], "1", 1.0, "1")]
    assert "ts" not in log.columns
    by_tag = plain | {"c": {"_multi": [{"_tag": "x", "f": {"g": 1}}, {"_tag": "y", "f": {"g": 2}}]}}
    assert read_dsjson(write_lines(tmp_path / "tag.json", [json.dumps(by_tag)])).log["action"].to_list() == ["y"]
    features = plain | {"c": {"_multi": [{"a": {"x": 0.5, "y": 1}}, {"a": {"x": 1.5}}]}}  # namespace a: features
    assert read_dsjson(write_lines(tmp_path / "a.json", [json.dumps(features)])).log["action"].to_list() == ["1"]


def test_features_shared_by_two_namespaces_keep_their_path(tmp_path: Path) -> None:
    line = {"_label_cost": 0, "_label_probability": 1, "_label_Action": 1, "a": [1], "p": [1.0]}
    line |= {"c": {"u": {"age": 3, "x=b": 1}, "g": {"age": 4, "y": "k"}, "_skip": 1, "_multi": [{"id": 5}]}}
    log = read_dsjson(write_lines(tmp_path / "ns.json", [json.dumps(line)])).log
    assert log.select("u.age", "x", "g.age", "y", "action").rows() == [(3, "b", 4, "k", "5")]
    assert "_skip" not in log.columns


def bad_line(**changes: Any) -> str:
    line: dict[str, Any] = {
        "_label_cost": -1.0,
        "_label_probability": 0.5,
        "_label_Action": 2,
        "_labelIndex": 1,
        "EventId": "e7",
        "a": [2, 1, 3],
        "p": [0.5, 0.25, 0.25],
        "c": {"u": {"x": 1.0}, "_multi": [{"i": {"id": "a"}}, {"i": {"id": "b"}}, {"i": {"id": "c"}}]},
    }
    return json.dumps({k: v for k, v in (line | changes).items() if v is not None})


GOOD = bad_line()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [GOOD, bad_line(_label_Action=5, _labelIndex=4)],
            "line 2 (EventId 'e7'): _label_Action 5 is outside its 3 _multi action(s) (1 bad line(s))",
        ),
        (
            [GOOD, GOOD, bad_line(_labelIndex=0)],
            "line 3 (EventId 'e7'): _label_Action 2 and _labelIndex 0 name different actions (_labelIndex counts "
            "from 0) (1 bad line(s))",
        ),
        ([bad_line(p=[0.5, 0.5])], "line 1 (EventId 'e7'): p [0.5, 0.5] holds 2 probabilities for 3 actions"),
        ([bad_line(a=[2, 1, 1])], "line 1 (EventId 'e7'): a [2, 1, 1] is not an order of its 3 _multi action(s)"),
        ([bad_line(_label_probability=None)], "line 1 (EventId 'e7'): has _label_cost but no _label_probability"),
        (
            [bad_line(_label_Action=None, _labelIndex=None)],
            "line 1 (EventId 'e7'): has _label_cost but no _label_Action (nor _labelIndex)",
        ),
        (
            [bad_line(c={"_multi": [{"i": {"id": "a"}}, {"i": {"id": "a"}}, {"i": {"id": "c"}}]})],
            "line 1 (EventId 'e7'): c._multi names an action twice: ['a', 'a', 'c']",
        ),
        (
            [bad_line(c={"_multi": [{"i": {"id": "a"}}, {"i": {"x": 1}}, {"i": {"id": "c"}}]})],
            "line 1 (EventId 'e7'): a _multi action has no label (the file's actions are named by their id)",
        ),
        ([bad_line(Timestamp="yesterday")], "line 1 (EventId 'e7'): Timestamp 'yesterday' is not an ISO 8601 time"),
        (['{"EventId": "x", "a": [1]}'], "no line has a _label_cost and a context c with _multi actions"),
        (["{not json"], "not JSON lines"),
        (
            [bad_line(_label_Action=1, _labelIndex=0, a=[1], p=[1.0], c={"u": {"reward": 1.0}, "_multi": [{"id": 1}]})],
            "shared feature(s) ['reward'] have the names",
        ),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, lines: list[str], message: str) -> None:
    path = write_lines(tmp_path / "bad.json", lines)
    with pytest.raises(SchemaError, match=re.escape(f"dsjson {path}: {message}")):
        read_dsjson(path)


def test_an_action_outside_the_given_list_is_named(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "log.json", [GOOD])
    with pytest.raises(
        SchemaError, match=re.escape("line 1 (EventId 'e7'): action 'c' is not among the actions given")
    ):
        read_dsjson(path, actions=("a", "b"))
    assert read_dsjson(path, actions=("c", "b", "a", "d")).log["probabilities"].to_list() == [[0.25, 0.5, 0.25, 0.0]]


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_dsjson(tmp_path / "gone.json")
