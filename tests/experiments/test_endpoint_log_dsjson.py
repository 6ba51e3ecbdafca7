"""The endpoint's own rotated decision log, out as DSJSON (issue 12, item 2).

A served policy decides a few dozen moments into a log rotated every few lines, outcomes are posted for some,
``offerlab log join`` and ``offerlab export-dsjson`` turn the folder into DSJSON, and the export holds every
acknowledged decision once, with the probabilities, action and reward the endpoint answered and was told,
readable back and learnable by VW.

One served world (module scope) feeds every test; bad input works on copies of its log folder.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest
import vowpal_wabbit_next as vw
from typer.testing import CliRunner, Result

import experiments.cli
from experiments.inputs import load_bandit_log
from features.schemas import ACTIONS, EVENTS, OUTCOMES, feature_columns
from policies.bandits.dsjson_read import read_dsjson
from policies.bandits.vw_format import UNSAFE
from policies.serving.decision_log import PATTERN
from policies.serving.outcomes import OUTCOMES_FILE
from policies.serving.server import build_app, serving_in_background
from simulators.base import SimulationResult
from tests.conftest import activate_store, register_champion
from tests.policies.test_endpoint import reachable_rows, request_from

TOKEN = "dsjson-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Decisions asked of the endpoint, and the log's rotation size: a few decisions per file.
DECISIONS = 36
ROTATION_BYTES = 4096
#: The cost rates given to ``offerlab log join``; the expected rewards below are computed from them here.
TAKE_RATE, COUPON, INSTALLMENT, BADGE = 0.1, 0.2, 0.05, 1.5


@dataclass(frozen=True)
class Served:
    """What the endpoint answered and was told, and where the log, the join and the export are."""

    folder: Path
    answers: dict[str, dict]  # decision_id -> the endpoint's answer (and the eligible actions asked with)
    posted: dict[str, tuple[bool, float]]  # decision_id -> (converted, revenue) posted
    events: Path
    joined: Path
    export: Path
    work: Path
    summary: dict  # what offerlab log join --json printed


def offerlab(*args: str) -> Result:
    """Run an ``offerlab`` command in-process."""
    return CliRunner().invoke(experiments.cli.application(), list(args))


def succeed(*args: str) -> str:
    """Run an ``offerlab`` command that must succeed; its standard output."""
    result = offerlab(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def expected_reward(action: str, converted: bool, revenue: float) -> float:
    """Return the join's reward with no redemption events (every converted offer charged), from this module's rates."""
    cost = {"coupon": COUPON * revenue, "installment": INSTALLMENT * revenue, "trust_badge": BADGE}.get(action, 0.0)
    return TAKE_RATE * revenue - (cost if converted else 0.0)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    empty_tracking_db: Path,
    small_run: SimulationResult,
    small_log: pl.DataFrame,
) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("endpoint-dsjson")
    with pytest.MonkeyPatch.context() as patch:
        store = activate_store(work, empty_tracking_db, patch)
        register_champion(store, small_log.head(2000), "endpoint-dsjson-test")
        serving = store.serving.model_copy(update={"log_rotation_bytes": ROTATION_BYTES, "log_rotation_every": None})
        app = build_app(store.model_copy(update={"serving": serving}), seed=0, users=small_run.users, api_token=TOKEN)
        rows = reachable_rows(small_log, small_run.users)
        answers: dict[str, dict] = {}
        posted: dict[str, tuple[bool, float]] = {}
        with serving_in_background(app) as url, httpx.Client(headers=AUTH, timeout=10) as http:
            for row in range(rows.height):
                body = request_from(rows, row)
                answer = http.post(f"{url}/v1/decide", json=body).raise_for_status().json()
                if answer["decision_id"] is not None:  # decided, not suppressed: acknowledged and logged
                    answers[answer["decision_id"]] = answer | {"asked": body["actions"]}
                if len(answers) == DECISIONS:
                    break
            for i, decision_id in enumerate(answers):
                if i % 3 == 2:
                    continue  # a third get no outcome: no purchase, reward 0
                outcome = (i % 3 == 0, 10.0 + i if i % 3 == 0 else 0.0)
                body = {"decision_id": decision_id, "converted": outcome[0], "revenue": outcome[1]}
                assert http.post(f"{url}/v1/outcome", json=body).status_code == 201
                posted[decision_id] = outcome
            again = http.post(f"{url}/v1/outcome", json=body)  # the last one again: idempotent, kept once
            assert again.status_code == 200
            assert again.json()["duplicate"] is True
        events = work / "events.parquet"
        session = {"event_id": "e1", "ts": datetime.now(UTC), "user_id": "someone", "type": "session_start"}
        pl.DataFrame([session], schema=EVENTS).write_parquet(events)  # no purchase nor redemption: posted outcomes
        folder, joined, export = Path(store.serving.decision_log), work / "joined.parquet", work / "export.dsjson"
        rates = ["--take-rate", str(TAKE_RATE), "--coupon-discount", str(COUPON)]
        rates += ["--installment-fee-rate", str(INSTALLMENT), "--badge-cost", str(BADGE)]
        join = ["log", "join", "--decisions", str(folder), "--events", str(events), "--out", str(joined), "--json"]
        summary = json.loads(succeed(*join, *rates).splitlines()[-1])
        succeed("export-dsjson", "--log", str(joined), "--out", str(export))
        yield Served(folder, answers, posted, events, joined, export, work, summary)


def dsjson_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_decisions_land_in_several_rotated_files(served: Served) -> None:
    files = sorted(served.folder.glob(PATTERN))
    assert len(served.answers) == DECISIONS
    assert len(files) >= 4, [f.name for f in files]
    assert all(f.stat().st_size < ROTATION_BYTES * 2 for f in files)
    logged = [json.loads(line)["decision_id"] for f in files for line in f.read_text().splitlines()]
    assert logged == list(served.answers)  # in the order they were acknowledged, across the files
    assert served.summary["decisions"] == DECISIONS
    assert served.summary["from_posted_outcomes"] == len(served.posted)
    assert served.summary["from_events"] == 0


def test_every_acknowledged_decision_is_exported_once_as_answered_and_posted(served: Served) -> None:
    lines = dsjson_lines(served.export)
    assert Counter(line["EventId"] for line in lines) == dict.fromkeys(served.answers, 1)
    for line in lines:
        answer = served.answers[line["EventId"]]
        actions = [entry["a"] for entry in line["c"]["_multi"]]
        assert [next(iter(a)) for a in actions] == answer["asked"]  # the eligible actions, in the asked order
        chosen = answer["asked"][line["_label_Action"] - 1]
        assert chosen == answer["action"]
        assert line["_labelIndex"] == line["_label_Action"] - 1
        assert line["_label_probability"] == answer["probability"]
        ranked = [answer["asked"][i - 1] for i in line["a"]]  # "a": the chosen action first, "p" follows it
        assert ranked[0] == answer["action"]
        assert line["p"] == [answer["probabilities"][a] for a in ranked]
        converted, revenue = served.posted.get(line["EventId"], (False, 0.0))
        assert -line["_label_cost"] == pytest.approx(expected_reward(answer["action"], converted, revenue))


def test_the_export_reads_back_as_the_joined_log(served: Served) -> None:
    read = read_dsjson(served.export, actions=ACTIONS)
    assert read.skipped == 0
    joined = pl.read_parquet(served.joined)
    columns = ["decision_id", "actions", "action", "propensity", "probabilities", "reward"]
    assert read.log.select(columns).rows() == joined.select(columns).rows()
    for row in read.log.iter_rows(named=True):
        answer = served.answers[row["decision_id"]]
        assert row["probabilities"] == [answer["probabilities"].get(a, 0.0) for a in ACTIONS]
    assert read.log.height == load_bandit_log(served.export).height == DECISIONS
    for column in feature_columns(joined):  # the context the endpoint logged: numbers as floats, text as VW hashes it
        logged, back = joined.get_column(column), read.log.get_column(column)
        if logged.dtype.is_numeric():
            assert back.to_list() == logged.cast(pl.Float64).to_list(), column
        elif logged.dtype == pl.String:
            assert back.to_list() == logged.str.to_lowercase().str.replace_all(UNSAFE, "_").to_list(), column
        else:
            assert back.to_list() == logged.to_list(), column


def test_the_raw_folder_exports_once_its_outcomes_are_beside_it(served: Served) -> None:
    raw = served.work / "raw-folder"
    shutil.copytree(served.folder, raw)
    refused = offerlab("export-dsjson", "--log", str(raw), "--out", str(served.work / "raw.dsjson"))
    assert refused.exit_code == 2
    assert "is a decision log without outcomes: no outcomes.parquet or outcomes.csv" in " ".join(refused.stderr.split())
    assert not (served.work / "raw.dsjson").exists()
    pl.read_parquet(served.joined).select(OUTCOMES.names()).write_parquet(raw / "outcomes.parquet")
    succeed("export-dsjson", "--log", str(raw), "--out", str(served.work / "raw.dsjson"))
    assert (served.work / "raw.dsjson").read_text() == served.export.read_text()


def test_vw_learns_from_the_export(served: Served) -> None:
    workspace = vw.Workspace(["--cb_explore_adf", "--quiet", "--random_seed", "1"])
    parser = vw.DSJsonFormatParser(workspace)
    for text in served.export.read_text().splitlines():
        line, examples = json.loads(text), parser.parse_json(text)
        labels = [example.get_label() for example in examples[1:]]  # after the shared example, one per action
        assert all(isinstance(label, vw.CBLabel) for label in labels)
        labelled = [k for k, label in enumerate(labels) if isinstance(label, vw.CBLabel) and label.label is not None]
        assert labelled == [line["_labelIndex"]]  # VW sees the chosen action, its cost and probability, once
        chosen = labels[labelled[0]]
        assert isinstance(chosen, vw.CBLabel)
        assert chosen.label is not None
        assert chosen.label[1:] == pytest.approx((line["_label_cost"], line["_label_probability"]))
        workspace.learn_one(examples)
    # A distribution over the last line's actions: [(action index, probability), ...] for --cb_explore_adf.
    chances: list[tuple[int, float]] = workspace.predict_one(parser.parse_json(text))  # type: ignore[assignment]
    assert sorted(index for index, _ in chances) == list(range(len(line["a"])))
    assert sum(chance for _, chance in chances) == pytest.approx(1.0)
    trained = json.loads(
        succeed("train", "--log", str(served.export), "--chunks", "2", "--no-register", "--json").splitlines()[-1]
    )
    assert trained["n_rounds"] == DECISIONS


def spoil_torn(folder: Path) -> tuple[Path, int]:
    """Append a half record to the last file, as a crash mid-write leaves it; return the file and the torn line."""
    last = sorted(folder.glob(PATTERN))[-1]
    lines = len(last.read_text().splitlines())
    with open(last, "a", encoding="utf-8") as handle:
        handle.write('{"decision_id": "torn", "user_id": "ab')
    return last, lines + 1


def spoil_foreign(folder: Path) -> tuple[Path, int]:
    """Copy the posted outcomes in under a decision file's name: JSON lines, but not decisions."""
    foreign = folder / "decisions-99991231T235959-000000.jsonl"
    shutil.copyfile(folder / OUTCOMES_FILE, foreign)
    return foreign, 1


def spoil_middle(folder: Path) -> tuple[Path, int]:
    """Overwrite a line in the middle of an earlier file with text that is not JSON (a foreign writer)."""
    middle = sorted(folder.glob(PATTERN))[1]
    lines = middle.read_text().splitlines()
    lines[2] = "decision_id,action,propensity"
    middle.write_text("\n".join(lines) + "\n")
    return middle, 3


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (spoil_torn, "is not JSON (Unterminated string starting at): a torn record or a foreign file"),
        (spoil_foreign, "has no ['ts', 'user_id', 'actions', 'action', 'propensity']; not a logged decision"),
        (spoil_middle, "is not JSON (Expecting value): a torn record or a foreign file"),
    ],
)
@pytest.mark.parametrize("command", ["export-dsjson", "log join"])
def test_a_torn_or_foreign_file_exits_2_naming_file_and_line_and_writes_nothing(
    served: Served, tmp_path: Path, spoil: Callable[[Path], tuple[Path, int]], problem: str, command: str
) -> None:
    folder = tmp_path / "decision-log"
    shutil.copytree(served.folder, folder)
    pl.read_parquet(served.joined).select(OUTCOMES.names()).write_parquet(folder / "outcomes.parquet")
    bad_file, line = spoil(folder)
    out = tmp_path / "out" / ("export.dsjson" if command == "export-dsjson" else "joined.parquet")
    out.parent.mkdir()
    if command == "export-dsjson":
        result = offerlab("export-dsjson", "--log", str(folder), "--out", str(out))
    else:
        result = offerlab("log", "join", "--decisions", str(folder), "--events", str(served.events), "--out", str(out))
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"decision log {bad_file}: line {line} {problem}" in " ".join(result.stderr.split())
    assert list(out.parent.iterdir()) == []  # nothing written, not even half a file
