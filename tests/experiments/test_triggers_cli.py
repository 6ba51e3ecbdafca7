"""`offerlab triggers run` as a real process, on a small simulated log (1,500 users x 5 days, seed 0)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient
from polars.testing import assert_frame_equal

from features.schemas import DECIDABLE_MOMENTS, MOMENTS, SUPPRESSIONS, TRIGGER_KIND_NAMES
from policies.bandits.baselines import UniformRandom
from policies.serving.config import OfferlabConfig, configure_mlflow
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
from tests.conftest import activate_store
from tests.experiments.test_cli import offerlab

#: the trigger engine over simulated logs through the CLI: skipped by `make quick`
pytestmark = pytest.mark.slow

SCHEMAS = {"moments.parquet": MOMENTS, "kept.parquet": DECIDABLE_MOMENTS, "suppressions.parquet": SUPPRESSIONS}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    scenario = load_scenario("default").with_size(n_users=1500, days=5)
    MarketplaceSimulator(scenario).run(UniformRandom(), seed=0).write(folder)
    return folder


def inputs(folder: Path, events: Path | None = None) -> list[str]:
    return ["--events", str(events or folder / "events.parquet"), "--items", str(folder / "items.parquet"),
            "--users", str(folder / "users.parquet")]  # fmt: skip


def event_dates(log: Path) -> tuple[date, date]:
    """Return the UTC dates of the first and the last event."""
    dates = pl.read_parquet(log / "events.parquet").get_column("ts").dt.date()
    first, last = dates.min(), dates.max()
    assert isinstance(first, date)
    assert isinstance(last, date)
    return first, last


@dataclass(frozen=True)
class Run:
    out: Path
    counts: dict
    config: OfferlabConfig


def files(out: Path) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(out / name) for name in SCHEMAS}


@pytest.fixture(scope="module")
def full_run(log: Path, tmp_path_factory: pytest.TempPathFactory, empty_tracking_db: Path) -> Iterator[Run]:
    """One run over the whole log, with its own MLflow store (the ``store`` fixture is per test)."""
    root = tmp_path_factory.mktemp("full")
    with pytest.MonkeyPatch.context() as patch:
        config = activate_store(root, empty_tracking_db, patch)
        result = offerlab("triggers", "run", *inputs(log), "--out", str(root / "out"), "--json")
        assert result.returncode == 0, result.stderr
        yield Run(root / "out", json.loads(result.stdout), config)


def test_files_meet_their_schemas_and_match_the_counts(full_run: Run, log: Path) -> None:
    frames, counts = files(full_run.out), full_run.counts
    for name, frame in frames.items():
        assert frame.schema == SCHEMAS[name], name
    moments, kept, suppressed = frames.values()
    assert (counts["moments"], counts["kept"], counts["suppressed"]) == (moments.height, kept.height, suppressed.height)
    assert kept.height > 100
    assert suppressed.height > 100
    by_kind = dict(moments.get_column("trigger_kind").value_counts().iter_rows())
    assert counts["moments_by_kind"] == {kind: by_kind.get(kind, 0) for kind in TRIGGER_KIND_NAMES}
    assert sum(1 for n in counts["moments_by_kind"].values() if n) >= 4, counts["moments_by_kind"]
    assert counts["suppressed_by"] == dict(suppressed.get_column("suppressed_by").value_counts().iter_rows())
    first, last = event_dates(log)
    assert counts["days"] == (last - first).days + 1


def test_kept_and_suppressed_partition_the_moments(full_run: Run) -> None:
    moments, kept, suppressed = files(full_run.out).values()
    ids = Counter(moments.get_column("moment_id").to_list())
    assert (
        Counter(kept.get_column("moment_id").to_list()) + Counter(suppressed.get_column("moment_id").to_list()) == ids
    )
    assert not set(kept.get_column("moment_id")) & set(suppressed.get_column("moment_id"))
    whys = suppressed.get_column("why")
    assert whys.null_count() == 0
    assert (whys.str.len_chars() > 10).all()
    assert suppressed.get_column("suppressed_by").null_count() == 0
    assert kept.get_column("channel").null_count() == 0
    assert (kept.get_column("send_at") >= kept.get_column("ts")).all()


def test_the_run_is_tracked_with_its_files(full_run: Run) -> None:
    configure_mlflow(full_run.config)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(full_run.config.experiment("triggers"))
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == full_run.counts["run_id"]
    assert run.data.metrics["moments"] == full_run.counts["moments"]
    assert run.data.metrics["kept"] == full_run.counts["kept"]
    assert run.data.metrics["moments_behaviour"] == full_run.counts["moments_by_kind"]["behaviour"]
    for reason, n in full_run.counts["suppressed_by"].items():
        assert run.data.metrics[f"suppressed_{reason}"] == n
    assert run.data.params["config"] == "default"
    assert {"events", "items", "users", "since", "until", "out"} <= set(run.data.params)
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == sorted(SCHEMAS)


def test_a_second_run_gives_identical_files(store: OfferlabConfig, full_run: Run, log: Path, tmp_path: Path) -> None:
    result = offerlab("triggers", "run", *inputs(log), "--out", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr
    assert "suppressed_by" in result.stdout
    assert "behaviour" in result.stdout
    for name, frame in files(tmp_path / "again").items():
        assert_frame_equal(frame, files(full_run.out)[name])


def test_since_and_until_give_the_full_runs_window(
    store: OfferlabConfig, full_run: Run, log: Path, tmp_path: Path
) -> None:
    until = datetime.combine(event_dates(log)[1], time(), tzinfo=UTC)
    since = until - timedelta(days=2)
    result = offerlab(
        "triggers", "run", *inputs(log), "--out", str(tmp_path / "window"),
        "--since", since.isoformat(), "--until", until.isoformat(), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    window = files(tmp_path / "window")
    assert window["moments.parquet"].height > 0
    for name, frame in files(full_run.out).items():
        expected = frame.filter((pl.col("ts") >= since) & (pl.col("ts") < until))
        assert_frame_equal(window[name], expected)
    assert json.loads(result.stdout)["moments"] < full_run.counts["moments"]


def drop_user_id(log: Path, tmp: Path) -> list[str]:
    pl.read_parquet(log / "events.parquet").drop("user_id").write_parquet(tmp / "events.parquet")
    return inputs(log, tmp / "events.parquet")


def zero_repeat_views(log: Path, tmp: Path) -> list[str]:
    (tmp / "triggers.yaml").write_text("rules:\n  behaviour:\n    repeat_views: 0\n")
    return [*inputs(log), "--config", str(tmp / "triggers.yaml")]


def unsorted_events(log: Path, tmp: Path) -> list[str]:
    events = pl.read_parquet(log / "events.parquet")
    pl.concat([events.slice(1), events.head(1)]).write_parquet(tmp / "events.parquet")  # the first event last
    return inputs(log, tmp / "events.parquet")


def unknown_time_zone(log: Path, tmp: Path) -> list[str]:
    users = pl.read_parquet(log / "users.parquet")
    users.with_columns(
        tz=pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("Mars/Olympus")).otherwise("tz")
    ).write_parquet(tmp / "users.parquet")
    args = inputs(log)
    args[args.index("--users") + 1] = str(tmp / "users.parquet")
    return args


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (drop_user_id, "events: missing column 'user_id'"),
        (zero_repeat_views, "trigger config triggers.yaml: rules.behaviour.repeat_views: Input should be greater"),
        (lambda log, tmp: inputs(tmp), "no such file: "),
        (lambda log, tmp: [*inputs(log), "--config", str(tmp / "nope.yaml")], "nope.yaml does not exist"),
        (unsorted_events, "events: not sorted by ts at row "),
        (unknown_time_zone, "users: unknown time zone(s) ['Mars/Olympus']"),
        (lambda log, tmp: [*inputs(log), "--until", "soon"], "--until: 'soon' is not an ISO date or timestamp"),
        (
            lambda log, tmp: [*inputs(log), "--since", "2026-03-09", "--until", "2026-03-02"],
            "--since 2026-03-09T00:00:00+00:00 is not before --until 2026-03-02T00:00:00+00:00",
        ),
        (lambda log, tmp: [*inputs(log), "--since", "2030-01-01"], "is after the last event"),
        (lambda log, tmp: [*inputs(log), "--until", "2001-01-01"], "is at or before the first event"),
    ],
    ids=[
        "missing-column",
        "bad-config-field",
        "missing-file",
        "missing-config",
        "unsorted",
        "unknown-zone",
        "bad-time",
        "since-after-until",
        "since-after-log",
        "until-before-log",
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    store: OfferlabConfig, log: Path, tmp_path: Path, make_args: Callable[[Path, Path], list[str]], message: str
) -> None:
    out = tmp_path / "out"
    result = offerlab("triggers", "run", *make_args(log, tmp_path), "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert not out.exists()


def test_a_churn_models_scores_drive_the_lifecycle_rule(store: OfferlabConfig, log: Path, tmp_path: Path) -> None:
    user_ids = pl.read_parquet(log / "users.parquet")["user_id"]
    at_risk = set(user_ids.head(60).to_list())
    scores = pl.DataFrame({"user_id": user_ids, "churn_risk": [0.99 if u in at_risk else 0.01 for u in user_ids]})
    scores.write_parquet(tmp_path / "scores.parquet")
    result = offerlab("triggers", "run", *inputs(log), "--out", str(tmp_path / "scored"),
                      "--churn-scores", str(tmp_path / "scores.parquet"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    churn = files(tmp_path / "scored")["moments.parquet"].filter(pl.col("trigger") == "churn_risk")
    assert churn.height
    assert set(churn["user_id"].to_list()) <= at_risk  # the scores decide, not the rule
    assert set(churn["reason"].to_list()) == {"churn risk 0.99 ≥ 0.60"}


def test_bad_churn_scores_exit_2_and_write_nothing(store: OfferlabConfig, log: Path, tmp_path: Path) -> None:
    pl.DataFrame({"user_id": ["u1", "u1"], "churn_risk": [0.2, 0.3]}).write_parquet(tmp_path / "scores.parquet")
    result = offerlab("triggers", "run", *inputs(log), "--out", str(tmp_path / "out"),
                      "--churn-scores", str(tmp_path / "scores.parquet"))  # fmt: skip
    assert result.returncode == 2
    assert "user 'u1' is scored 2 times" in result.stderr
    assert not (tmp_path / "out").exists()
