"""Erasing a user: gone from simulator output, offline store, online snapshot, CSV and decision log.

Nothing else is touched; erasing is idempotent; concurrent decision logging loses no line; bad input exits 2.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from experiments.erasure import data_files, erase_users
from features.stores import OfflineStore, OnlineSnapshot
from policies.serving.decision_log import DecisionLog
from simulators.base import SimulationResult
from tests.experiments.test_cli import offerlab


@pytest.fixture
def world(small_run: SimulationResult, tmp_path: Path) -> Path:
    """Write simulator output, an offline store with a snapshot, an online snapshot, a CSV copy and a decision log."""
    sim = tmp_path / "sim"
    small_run.write(sim)
    events, items, users = (pl.scan_parquet(sim / f"{name}.parquet") for name in ("events", "items", "users"))
    store = OfflineStore(tmp_path / "store")
    store.update(events, items, users, until=date(2026, 3, 8))
    snapshot = store.snapshot(date(2026, 3, 8))
    OnlineSnapshot(snapshot.users, snapshot.items, snapshot.as_of).save(tmp_path / "online")
    pl.read_parquet(sim / "users.parquet").write_csv(tmp_path / "users.csv")
    log = DecisionLog(tmp_path / "decision-log")
    for user in ["u0000007", "u0000008", "u0000007"]:
        log.append({"user_id": user, "action": "coupon"})
    return tmp_path


def _busiest_user(folder: Path) -> str:
    decisions = pl.read_parquet(folder / "sim" / "decisions.parquet")
    return str(decisions.group_by("user_id").len().sort("len", "user_id", descending=True).item(0, "user_id"))


def _snapshot(folder: Path) -> dict[Path, pl.DataFrame]:
    return {
        file: pl.read_csv(file) if file.suffix == ".csv" else pl.read_parquet(file) for file in data_files([folder])
    }


def test_erasure_removes_the_user_everywhere_and_nothing_else(world: Path) -> None:
    user = _busiest_user(world)
    before = _snapshot(world)
    theirs = pl.read_parquet(world / "sim" / "decisions.parquet").filter(pl.col("user_id") == user)
    their_decisions = theirs.get_column("decision_id").to_list()
    assert their_decisions

    removed = erase_users([user, "u0000007"], [world])

    after = _snapshot(world)
    assert set(after) == set(before)
    for file, frame in before.items():
        if "user_id" in frame.columns:
            expected = frame.filter(~pl.col("user_id").cast(pl.String).is_in([user, "u0000007"]))
        elif "decision_id" in frame.columns:
            expected = frame.filter(~pl.col("decision_id").is_in(their_decisions))
        else:
            expected = frame
        assert after[file].equals(expected), file  # every other row kept, in order, same dtypes
        assert removed.get(file, 0) == frame.height - expected.height, file
    for name in ("events", "decisions", "users", "outcomes", "truth"):
        assert world / "sim" / f"{name}.parquet" in removed, name
    assert any("store" in file.parts and "daily" in file.parts for file in removed)
    assert OnlineSnapshot.load(world / "online").user(user) is None
    assert OnlineSnapshot.load(world / "online").items_frame.height == before[world / "online" / "items.parquet"].height
    log = DecisionLog.existing(world / "decision-log")
    assert [line["user_id"] for line in log.lines()] == [log.pseudonym("u0000008")]
    assert erase_users([user, "u0000007"], [world]) == {}  # a second erasure finds nothing


def test_decision_logging_during_erasure_loses_no_line(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path)
    writer = DecisionLog(tmp_path)  # another handle, as another process would have
    n = 400

    def append() -> None:
        for i in range(n):
            writer.append({"user_id": "bob", "i": i})
            writer.append({"user_id": "alice", "i": i})

    thread = threading.Thread(target=append)
    thread.start()
    while thread.is_alive():
        log.erase(["alice"])
    thread.join()
    log.erase(["alice"])
    lines = list(log.lines())
    assert [line["i"] for line in lines] == list(range(n))
    assert {line["user_id"] for line in lines} == {log.pseudonym("bob")}


def test_a_log_without_its_salt_is_not_erased_with_a_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFERLAB_PSEUDONYM_SALT", raising=False)
    (tmp_path / "decisions-20260301.jsonl").write_text('{"user_id": "abc"}\n')
    with pytest.raises(FileNotFoundError, match="pseudonyms can't be recomputed"):
        erase_users(["u1"], [tmp_path])
    assert not (tmp_path / ".pseudonym-salt").exists()


def test_cli_erases_and_reports(store: object, world: Path) -> None:
    user = _busiest_user(world)
    result = offerlab("erase", "--user", user, str(world / "sim"), str(world / "online"))
    assert result.returncode == 0, result.stderr
    # events, decisions, outcomes, truth, holdout, suppressions and the online snapshot's users
    assert "rows removed" in result.stdout
    assert "row(s) removed from 7 file(s) under 2 path(s)" in result.stdout
    assert pl.read_parquet(world / "sim" / "events.parquet").filter(pl.col("user_id") == user).height == 0


def test_cli_missing_path_exits_2_and_erases_nothing(store: object, world: Path) -> None:
    user = _busiest_user(world)
    before = _snapshot(world)
    result = offerlab("erase", "--user", user, str(world / "sim"), str(world / "typo"))
    assert result.returncode == 2
    assert "typo does not exist" in " ".join(result.stderr.split())
    assert all(frame.equals(before[file]) for file, frame in _snapshot(world).items())
