"""The business report's bad input, named, and the ``offerlab report`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result
from typer.testing import CliRunner

from experiments.business import (
    business_report,
    load_business_log,
)
from experiments.business.toy import toy_log
from experiments.cli import application
from features.validation import SchemaError


def offerlab(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


# --- bad input -------------------------------------------------------------------------------------------------------
@pytest.fixture
def toy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "log"
    toy_log().write(folder)
    return folder


def test_a_missing_file_is_named(toy_folder: Path) -> None:
    (toy_folder / "holdout.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"no holdout.parquet or holdout.csv; a business report needs"):
        load_business_log(toy_folder)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_business_log(toy_folder / "nowhere")


@pytest.mark.parametrize(
    ("name", "column", "message"),
    [
        ("events", "price", r"events.parquet: missing column\(s\) \['price'\]"),
        ("decisions", "send_at", r"decisions.parquet: missing column\(s\) \['send_at'\]"),
        ("outcomes", "offer_cost", r"outcomes.parquet: missing column\(s\) \['offer_cost'\]"),
        ("holdout", "trigger_kind", r"holdout.parquet: missing column\(s\) \['trigger_kind'\]"),
        ("items", "merchant_id", r"items.parquet: missing column\(s\) \['merchant_id'\]"),
    ],
)
def test_a_missing_column_is_named(toy_folder: Path, name: str, column: str, message: str) -> None:
    path = toy_folder / f"{name}.parquet"
    pl.read_parquet(path).drop(column).write_parquet(path)
    with pytest.raises(SchemaError, match=message):
        load_business_log(toy_folder)


def test_a_log_without_holdout_moments_is_refused(toy_folder: Path) -> None:
    path = toy_folder / "holdout.parquet"
    pl.read_parquet(path).clear().write_parquet(path)
    with pytest.raises(SchemaError, match="no holdout moments, so no holdout users to compare with"):
        load_business_log(toy_folder)


def test_a_decision_without_outcome_and_a_user_in_both_groups_are_refused(toy_folder: Path) -> None:
    outcomes = toy_folder / "outcomes.parquet"
    pl.read_parquet(outcomes).filter(pl.col("decision_id") != "d3").write_parquet(outcomes)
    with pytest.raises(SchemaError, match=r"no outcome for 1 of 4 decision\(s\), e.g. \['d3'\]"):
        load_business_log(toy_folder)
    log = toy_log()
    both = replace(log, holdout=log.holdout.with_columns(user_id=pl.Series(["t1", "h2"])))
    with pytest.raises(
        SchemaError, match=r"1 user\(s\) are both in the decision log and in the holdout, e.g. \['t1'\]"
    ):
        business_report(both, n_bootstrap=10)


def test_null_values_in_a_read_column_are_named(toy_folder: Path) -> None:
    path = toy_folder / "events.parquet"
    pl.read_parquet(path).with_columns(price=pl.lit(None, dtype=pl.Float64)).write_parquet(path)
    with pytest.raises(SchemaError, match=r"column 'price' has 5 null value\(s\)"):
        load_business_log(toy_folder)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"window_days": 0}, "window_days must be positive; got 0"),
        ({"alpha": 1.5}, r"alpha must lie in \(0, 1\); got 1.5"),
        ({"take_rate": 2.0}, r"take_rate must lie in \[0, 1\]; got 2.0"),
        ({"n_bootstrap": 0}, "n_bootstrap must be a positive integer; got 0"),
    ],
)
def test_bad_settings_are_named(settings_: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        business_report(toy_log(), **settings_)  # type: ignore[arg-type]


# --- the command line ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_command_writes_both_files_and_exits_0(toy_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = offerlab("report", "--log", str(toy_folder), "--out", str(out), "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    assert (out / "report.json").is_file()
    assert (out / "report.html").is_file()
    assert "3 users had trigger moments" in result.stdout
    assert "Conversion rate" in result.stdout
    document = json.loads((out / "report.json").read_text())
    assert document["source"] == str(toy_folder)
    assert document["settings"]["n_bootstrap"] == 100
    printed = offerlab("report", "--log", str(toy_folder), "--out", str(out), "--bootstrap", "100", "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {k: v for k, v in document.items() if k != "source"}


def in_process(*args: str) -> Result:
    """Run the command line in this process (bad input never reaches a model or a server)."""
    return CliRunner().invoke(application(), list(args))


def test_the_command_exits_2_on_a_folder_without_holdout(toy_folder: Path, tmp_path: Path) -> None:
    path = toy_folder / "holdout.parquet"
    pl.read_parquet(path).clear().write_parquet(path)
    out = tmp_path / "report"
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "no holdout moments" in result.stderr
    assert not out.exists()  # nothing written on bad input
    path.unlink()
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2
    assert "no holdout.parquet or holdout.csv" in result.stderr


def test_the_command_exits_2_on_a_file_as_out(toy_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "file.txt"
    out.write_text("x")
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2
    assert "is a file; give a folder" in " ".join(result.stderr.split())
