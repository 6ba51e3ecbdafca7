"""The DSJSON export: VW's own parsers read every line, with the labels and features the text format gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import vowpal_wabbit_next as vw

from features.schemas import feature_columns
from policies.bandits.dsjson import to_dsjson, write_dsjson
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_format import action_line, shared_lines
from policies.serving.config import OfferlabConfig
from simulators.base import SimulationResult
from tests.experiments.test_cli import offerlab

VW_ARGS = VowpalWabbitPolicy(seed=3).vw_args()


def text_examples(parser: vw.TextFormatParser, log: pl.DataFrame) -> list[list[Any]]:
    """Each row as the text format's shared line plus one ADF line per eligible action, the chosen one labelled."""
    shared = shared_lines(log.select(feature_columns(log)))
    examples = []
    for head, row in zip(shared, log.iter_rows(named=True), strict=True):
        lines = [
            action_line(a, -row["reward"], row["propensity"]) if a == row["action"] else action_line(a)
            for a in row["actions"]
        ]
        examples.append([parser.parse_line(line) for line in [head, *lines]])
    return examples


def features(example: Any) -> list[tuple[int, list[int], list[float]]]:
    return [(group.feat_group_index, list(group.indices), list(group.values)) for group in example]


def test_vw_reads_every_line_with_the_text_formats_labels_and_features(small_log: pl.DataFrame) -> None:
    lines = to_dsjson(small_log)
    assert len(lines) == small_log.height
    workspace = vw.Workspace(VW_ARGS)
    from_json = [vw.DSJsonFormatParser(workspace).parse_json(line) for line in lines]
    from_text = text_examples(vw.TextFormatParser(workspace), small_log)
    for line, parsed, expected, row in zip(lines, from_json, from_text, small_log.iter_rows(named=True), strict=True):
        record = json.loads(line)
        chosen = row["actions"].index(row["action"])
        assert record["EventId"] == row["decision_id"]
        assert (record["_labelIndex"], record["_label_Action"], record["a"][0]) == (chosen, chosen + 1, chosen + 1)
        assert sorted(record["a"]) == list(range(1, len(row["actions"]) + 1))
        assert sum(record["p"]) == pytest.approx(1.0)
        assert record["p"][0] == pytest.approx(row["propensity"])
        assert len(parsed) == len(expected) == 1 + len(row["actions"])
        labels = [example.get_label() for example in parsed]
        assert labels[0].shared
        assert [label.label is not None for label in labels[1:]] == [a == row["action"] for a in row["actions"]]
        action, cost, probability = labels[1 + chosen].label
        assert action == chosen + 1
        assert cost == pytest.approx(-row["reward"], rel=1e-6, abs=1e-6)
        assert probability == pytest.approx(row["propensity"], rel=1e-6)
        for ours, theirs in zip(parsed, expected, strict=True):
            ours_features, their_features = features(ours), features(theirs)
            # The same feature hashes, in the same order; the values agree to float32 rounding (VW's text parser
            # rounds some decimals a unit in the last place differently from its JSON parser).
            assert [(g, i) for g, i, _ in ours_features] == [(g, i) for g, i, _ in their_features]
            for (_, _, mine), (_, _, text) in zip(ours_features, their_features, strict=True):
                assert mine == pytest.approx(text, rel=1e-6)


def test_a_model_trained_on_dsjson_predicts_as_one_trained_on_text(small_log: pl.DataFrame) -> None:
    cut = small_log.height * 2 // 3
    json_workspace, text_workspace = vw.Workspace(VW_ARGS), vw.Workspace(VW_ARGS)
    json_parser = vw.DSJsonFormatParser(json_workspace)
    from_json = [json_parser.parse_json(line) for line in to_dsjson(small_log)]
    from_text = text_examples(vw.TextFormatParser(text_workspace), small_log)
    for ours, theirs in zip(from_json[:cut], from_text[:cut], strict=True):
        json_workspace.learn_one(ours)
        text_workspace.learn_one(theirs)
    predictions = [json_workspace.predict_one(examples) for examples in from_json[cut:]]
    assert predictions == [text_workspace.predict_one(examples) for examples in from_text[cut:]]


def awkward_log() -> pl.DataFrame:
    """Strings that need escaping in both formats, booleans, nulls, NaN, odd names; numbers exact in float32."""
    return pl.DataFrame(
        {
            "decision_id": ["d1", 'd"2', "d3", "d4"],
            "ts": [datetime(2026, 3, 1, 12, 30, tzinfo=UTC)] * 4,
            "actions": [["no_offer", "coupon"], ["no_offer", "coupon", "installment"], ["trust_badge"], ["coupon"]],
            "action": ["coupon", "installment", "trust_badge", "coupon"],
            "propensity": [0.5, 0.25, 1.0, 1.0],
            "probabilities": [[0.5, 0.5, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]],
            "reward": [1.5, 0.0, -2.0, 12.25],
            "device": ["Mobile App", 'say "hi" \\ now', None, "Ünïcode|x:y\tz"],
            "verified": [True, False, None, True],
            "price": [12.5, float("nan"), None, 0.75],
            "visits": pl.Series([3, 0, 7, None], dtype=pl.Int64),
            "odd name:x": [1.0, 2.0, 4.0, 8.0],
        }
    )


def test_awkward_values_give_the_same_examples_and_a_byte_identical_model() -> None:
    log = awkward_log()
    lines = to_dsjson(log)
    assert json.loads(lines[0])["Timestamp"] == "2026-03-01T12:30:00.000000Z"
    assert json.loads(lines[1])["c"]["u"] == {
        'device=say_"hi"_\\_now': 1,
        "verified=false": 1,
        "visits": 0.0,
        "odd_name_x": 2.0,
    }
    json_workspace, text_workspace = vw.Workspace(VW_ARGS), vw.Workspace(VW_ARGS)
    json_parser = vw.DSJsonFormatParser(json_workspace)
    for line, theirs in zip(lines, text_examples(vw.TextFormatParser(text_workspace), log), strict=True):
        ours = json_parser.parse_json(line)
        assert [features(e) for e in ours] == [features(e) for e in theirs]
        for mine, text in zip(ours, theirs, strict=True):  # ADF labels: VW goes by position, not the action id
            assert (mine.get_label().label is None) == (text.get_label().label is None)
            assert mine.get_label().label is None or mine.get_label().label[1:] == text.get_label().label[1:]
        json_workspace.learn_one(ours)
        text_workspace.learn_one(theirs)
    assert json_workspace.serialize() == text_workspace.serialize()


def test_vw_command_line_reads_the_written_file(small_log: pl.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "log.dsjson"
    assert write_dsjson(small_log, out) == small_log.height
    args = [arg for arg in VW_ARGS if arg != "--quiet"]  # the report is what the test reads
    report, _ = vw.run_cli_driver(["--dsjson", "--strict_parse", *args, "-d", str(out)], onethread=True)
    assert f"number of examples = {small_log.height}\n" in report


def test_writing_in_chunks_gives_the_same_file(small_log: pl.DataFrame, tmp_path: Path) -> None:
    whole, chunked = tmp_path / "whole.dsjson", tmp_path / "chunked.dsjson"
    write_dsjson(small_log, whole, chunk_rows=small_log.height)
    write_dsjson(small_log, chunked, chunk_rows=7)  # string features re-encoded per chunk, same text
    assert chunked.read_text() == whole.read_text() == "".join(line + "\n" for line in to_dsjson(small_log))


def test_a_bad_row_in_a_later_chunk_leaves_no_file(small_log: pl.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "log.dsjson"
    propensity = small_log.get_column("propensity").to_list()
    propensity[-1] = 0.0
    with pytest.raises(ValueError, match=f"row {small_log.height - 1} .*propensity 0.0 is not in"):
        write_dsjson(small_log.with_columns(propensity=pl.Series(propensity)), out, chunk_rows=7)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def bad(log: pl.DataFrame, **columns: Any) -> pl.DataFrame:
    return log.with_columns(**{name: pl.Series(name, values) for name, values in columns.items()})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda log: log.drop("propensity"), r"log: missing column\(s\) \['propensity'\]"),
        (
            lambda log: bad(log, probabilities=["x"] * 4),
            "log: column 'probabilities' has dtype String, expected a list",
        ),
        (
            lambda log: bad(log, reward=[1.0, None, 0.0, 0.0]),
            "log: column 'reward' has 1 null value.s., the first in row 1",
        ),
        (
            lambda log: bad(log, action=["coupon", "trust_badge", "trust_badge", "no_offer"]),
            r"log: row 1 \(decision_id 'd\"2'\): action 'trust_badge' is not among its actions .*\(and 1 more bad row",
        ),
        (
            lambda log: bad(log, probabilities=[[0.5, 0.5]] * 4),
            r"log: row 0 \(decision_id 'd1'\): probabilities \[0.5, 0.5\] do not hold one entry per action of "
            r"\['no_offer', 'coupon', 'installment', 'trust_badge'\] \(and 3 more",
        ),
        (
            lambda log: bad(log, propensity=[0.5, 0.0, 1.0, 1.5]),
            r"log: row 1 \(decision_id 'd\"2'\): propensity 0.0 is not in \(0, 1\] \(and 1 more",
        ),
        (
            lambda log: bad(log, actions=[["coupon", "coupon"], ["installment"], ["trust_badge"], ["coupon"]]),
            r"log: row 0 \(decision_id 'd1'\): actions \['coupon', 'coupon'\] name an action twice",
        ),
        (
            lambda log: bad(log, actions=[["coupon", "free_gift"], ["installment"], ["trust_badge"], ["coupon"]]),
            r"row 0 .*: actions \['coupon', 'free_gift'\] are not all among \['no_offer', 'coupon'",
        ),
        (lambda log: bad(log, reward=[1.0, float("inf"), 0.0, 0.0]), r"row 1 .*: reward inf is not a finite number"),
        (lambda log: bad(log, _secret=[1.0] * 4), "feature column '_secret' starts with '_'"),
        (lambda log: bad(log, price=[1.0, float("-inf"), 0.0, 0.0]), "feature column 'price' is infinite in row 1"),
        (lambda log: log.head(0), "log: no rows"),
    ],
)
def test_bad_logs_are_refused_with_the_problem_named(change: Any, message: str, tmp_path: Path) -> None:
    out = tmp_path / "log.dsjson"
    with pytest.raises(ValueError, match=message):
        write_dsjson(change(awkward_log()), out)
    assert not out.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_exports_a_simulation_folder_and_refuses_a_log_without_propensity(
    store: OfferlabConfig, small_run: SimulationResult, tmp_path: Path
) -> None:
    small_run.write(tmp_path / "sim")
    out = tmp_path / "export" / "log.dsjson"
    result = offerlab("export-dsjson", "--log", str(tmp_path / "sim"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    decisions = pl.read_parquet(tmp_path / "sim" / "decisions.parquet")
    assert f"exported {decisions.height:,} decisions to {out}" in " ".join(result.stdout.split())
    lines = out.read_text().splitlines()
    assert [json.loads(line)["EventId"] for line in lines] == decisions["decision_id"].to_list()

    broken, nothing = tmp_path / "broken.parquet", tmp_path / "nothing.dsjson"
    small_run.bandit_log().drop("propensity").write_parquet(broken)
    result = offerlab("export-dsjson", "--log", str(broken), "--out", str(nothing))
    assert result.returncode == 2
    assert "missing column(s) ['propensity']" in " ".join(result.stderr.split())
    assert not nothing.exists()
