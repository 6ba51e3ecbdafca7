from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from features.io import atomic_path, read_frame, write_frame
from features.schemas import BANDIT_LOG, EVENTS, feature_columns
from features.validation import SchemaError, validate


def events(**overrides: object) -> pl.DataFrame:
    base = {
        "event_id": ["e1", "e2"],
        "ts": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
        "user_id": ["u1", "u2"],
        "type": ["view", "purchase"],
        "item_id": ["i1", "i1"],
        "merchant_id": ["m1", "m1"],
        "price": [10.0, 10.0],
        "quantity": [0, 1],
        "channel": [None, None],
        "offer": [None, None],
    }
    base.update(overrides)
    return pl.DataFrame(base, schema_overrides={"channel": pl.String, "offer": pl.String, "quantity": pl.Int32})


def test_valid_events_pass_and_keep_extra_columns() -> None:
    frame = events().with_columns(extra=pl.lit(1))
    assert validate(frame, EVENTS, "events", unique="event_id").columns[-1] == "extra"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (events().drop("user_id"), "events: missing column 'user_id' (expected String); present: event_id, ts, type,"),
        (events(price=["a", "b"]), "events: column 'price' has dtype String, expected Float64"),
        (events(event_id=["e1", None]), "events: column 'event_id' has 1 null value(s) of 2 rows"),
        (events(event_id=["e1", "e1"]), "events: column 'event_id' has 1 duplicate id(s) of 2 rows"),
        (events().clear(), "events: no rows"),
    ],
)
def test_bad_events_name_the_problem(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(SchemaError) as error:
        validate(frame, EVENTS, "events", unique="event_id")
    assert str(error.value).startswith(message)


def test_integer_rewards_are_widened_to_float() -> None:
    log = pl.DataFrame({"action": ["coupon"], "reward": [1], "propensity": [1]})
    assert validate(log, BANDIT_LOG, "log").schema["reward"] == pl.Float64


def test_feature_columns_skip_bookkeeping() -> None:
    log = pl.DataFrame(
        {
            "decision_id": ["d"],
            "action": ["coupon"],
            "reward": [1.0],
            "trigger": ["x"],
            "price": [1.0],
            "p_coupon": [1.0],
        }
    )
    assert feature_columns(log) == ["trigger", "price"]


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "frame.parquet"
    write_frame(pl.DataFrame({"x": [1]}), target)

    def crash_mid_write() -> None:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash mid-write"):
        crash_mid_write()
    assert read_frame(target)["x"].to_list() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["frame.parquet"]


def test_read_frame_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_frame(tmp_path / "missing.parquet")
    (tmp_path / "log.json").write_text("{}")
    with pytest.raises(ValueError, match=r"unknown format '\.json'"):
        read_frame(tmp_path / "log.json")
