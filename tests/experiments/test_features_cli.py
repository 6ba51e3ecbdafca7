"""`offerlab features build | store | snapshot` as real processes, and the endpoint completing contexts from them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from features.stores import OnlineSnapshot
from policies.serving.config import OfferlabConfig, configure_mlflow
from simulators.base import SimulationResult
from tests.experiments.test_cli import offerlab

#: feature builds, stores and snapshots through the CLI: skipped by `make quick`
pytestmark = pytest.mark.slow


@pytest.fixture
def logs(small_run: SimulationResult, tmp_path: Path) -> Path:
    small_run.write(tmp_path / "sim")
    return tmp_path / "sim"


def inputs(folder: Path) -> list[str]:
    return ["--events", str(folder / "events.parquet"), "--items", str(folder / "items.parquet"),
            "--users", str(folder / "users.parquet")]  # fmt: skip


def test_build_writes_features_and_logs_a_run(store: OfferlabConfig, logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "features"
    result = offerlab("features", "build", *inputs(logs), "--as-of", "2026-03-06", "--out", str(out))
    assert result.returncode == 0, result.stderr
    users = pl.read_parquet(out / "user_features.parquet")
    items = pl.read_parquet(out / "item_features.parquet")
    assert users.height == pl.read_parquet(logs / "users.parquet").height
    assert {"user_id", "days_since_last_purchase", "views_30d", "revenue_90d"} <= set(users.columns)
    assert {"item_id", "price_percentile", "conversion_rate_30d", "stock", "days_listed"} <= set(items.columns)
    configure_mlflow(store)
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("offerlab-features").experiment_id])
    assert runs[0].data.metrics["user_rows"] == users.height


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.drop("user_id"), "events: missing column 'user_id'"),
        (lambda e: e.with_columns(price=pl.lit("x")), "events: column 'price' has dtype String, expected Float64"),
        (lambda e: pl.concat([e, e.head(2)]), "events: column 'event_id' has 2 duplicate id(s)"),
        (lambda e: e.with_columns(user_id=pl.lit(None, pl.String)), "events: column 'user_id' has"),
    ],
)
def test_bad_events_exit_2_and_write_nothing(
    store: OfferlabConfig, logs: Path, tmp_path: Path, mutate: object, message: str
) -> None:
    events = pl.read_parquet(logs / "events.parquet")
    mutate(events).write_parquet(logs / "events.parquet")  # type: ignore[operator]
    out = tmp_path / "features"
    result = offerlab("features", "build", *inputs(logs), "--as-of", "2026-03-06", "--out", str(out))
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert not out.exists()


def test_bad_as_of_exits_2(store: OfferlabConfig, logs: Path, tmp_path: Path) -> None:
    result = offerlab("features", "build", *inputs(logs), "--as-of", "next tuesday", "--out", str(tmp_path / "f"))
    assert result.returncode == 2
    assert "--as-of: 'next tuesday' is not an ISO date" in result.stderr


def test_store_then_snapshot(store: OfferlabConfig, logs: Path, tmp_path: Path) -> None:
    root, online = tmp_path / "store", tmp_path / "online"
    first = offerlab("features", "store", *inputs(logs), "--store", str(root))
    again = offerlab("features", "store", *inputs(logs), "--store", str(root))
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert "0 day(s) added" in again.stdout
    snap = offerlab("features", "snapshot", "--store", str(root), "--out", str(online))
    assert snap.returncode == 0, snap.stderr
    loaded = OnlineSnapshot.load(online)
    assert loaded.user(pl.read_parquet(logs / "users.parquet")["user_id"][0]) is not None


def test_snapshot_carries_a_churn_models_scores(store: OfferlabConfig, logs: Path, tmp_path: Path) -> None:
    root, online = tmp_path / "store", tmp_path / "online"
    assert offerlab("features", "store", *inputs(logs), "--store", str(root)).returncode == 0
    first, second = pl.read_parquet(logs / "users.parquet")["user_id"].head(2).to_list()
    pl.DataFrame({"user_id": [first], "churn_risk": [0.97]}).write_parquet(tmp_path / "scores.parquet")
    snap = offerlab("features", "snapshot", "--store", str(root), "--out", str(online),
                    "--churn-scores", str(tmp_path / "scores.parquet"))  # fmt: skip
    assert snap.returncode == 0, snap.stderr
    loaded = OnlineSnapshot.load(online)
    assert loaded.user(first)["churn_risk"] == 0.97
    assert loaded.user(second)["churn_risk"] is None  # unscored: the context falls back to the rule


def test_bad_churn_scores_exit_2_and_write_no_snapshot(store: OfferlabConfig, logs: Path, tmp_path: Path) -> None:
    root, online = tmp_path / "store", tmp_path / "online"
    assert offerlab("features", "store", *inputs(logs), "--store", str(root)).returncode == 0
    pl.DataFrame({"user_id": ["u1"], "churn_risk": [1.7]}).write_parquet(tmp_path / "scores.parquet")
    snap = offerlab("features", "snapshot", "--store", str(root), "--out", str(online),
                    "--churn-scores", str(tmp_path / "scores.parquet"))  # fmt: skip
    assert snap.returncode == 2
    assert "churn_risk 1.7 of user 'u1' is not a probability in [0, 1]" in snap.stderr
    assert not online.exists()
