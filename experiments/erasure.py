"""Erase a user's data from data files, files keyed by decision, and the endpoint's decision logs.

That is every row of theirs in the Parquet and CSV files under some folders (simulator output, the offline
feature store, the online snapshot, event logs), the rows of their decisions in files keyed by ``decision_id``
alone (outcomes, truth), and every line of theirs in the endpoint's decision logs (found by pseudonym).

Each file is rewritten atomically (a temp file, then a rename), only if it held the user; a file without a
``user_id`` column is left alone. Erasing twice removes nothing the second time. A running endpoint serving an
online snapshot folder notices the rewritten files and reloads them within a second.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import polars as pl
>>> folder = Path(tempfile.mkdtemp())
>>> pl.DataFrame({"user_id": ["u1", "u2", "u1"], "views": [1, 2, 3]}).write_parquet(folder / "events.parquet")
>>> [(path.name, rows) for path, rows in erase_users(["u1"], [folder]).items()]
[('events.parquet', 2)]
>>> pl.read_parquet(folder / "events.parquet").get_column("user_id").to_list()
['u2']
>>> erase_users(["u1"], [folder])
{}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from features.io import atomic_path
from policies.serving.decision_log import PATTERNS, DecisionLog

USER_KEY = "user_id"
DECISION_KEY = "decision_id"


def data_files(paths: Iterable[Path]) -> list[Path]:
    """List the Parquet and CSV files at or under ``paths`` (hidden folders and files skipped).

    A path that does not exist is an error, so a typo can't pass for 'nothing to erase'.
    """
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"erase: {path} does not exist")
        candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in candidates:
            hidden = any(part.startswith(".") for part in file.relative_to(path).parts) if file != path else False
            if not hidden and file.suffix in (".parquet", ".csv"):
                found.add(file)
    return sorted(found)


def decision_logs(paths: Iterable[Path]) -> list[Path]:
    """Folders at or under ``paths`` holding decision log files (decisions or suppressions)."""
    folders = set()
    for path in paths:
        for pattern in PATTERNS:
            if path.is_dir():
                folders |= {file.parent for file in path.rglob(pattern)}
            elif path.match(pattern):
                folders.add(path.parent)
    return sorted(folders)


def _scan(path: Path) -> pl.LazyFrame:
    if path.suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False)  # every column as text: ids stay as written
    return pl.scan_parquet(path, hive_partitioning=False)


def decisions_of(frame: pl.LazyFrame, user_ids: Sequence[str]) -> list[str]:
    """Return the ``decision_id`` of the rows of ``user_ids`` in one file's ``frame`` (which has both columns)."""
    theirs = frame.filter(pl.col(USER_KEY).cast(pl.String).is_in(list(user_ids)))
    return theirs.select(pl.col(DECISION_KEY).cast(pl.String)).collect().to_series().drop_nulls().to_list()


def erase_from_file(path: Path, column: str, values: Sequence[str]) -> int:
    """Remove the rows whose ``column`` is one of ``values`` from one Parquet or CSV file that has ``column``.

    The number of rows removed is returned (a file without such rows is left untouched).
    """
    if not values:
        return 0
    frame = _scan(path)
    theirs = pl.col(column).cast(pl.String).is_in(list(values)).fill_null(False)
    removed = int(frame.select(theirs.sum()).collect().item())
    if removed:
        with atomic_path(path) as tmp:
            if path.suffix == ".csv":
                frame.filter(~theirs).sink_csv(tmp)
            else:
                frame.filter(~theirs).sink_parquet(tmp)
    return removed


def erase_users(user_ids: Sequence[str], paths: Iterable[Path]) -> dict[Path, int]:
    """Erase ``user_ids`` from every data file and decision log at or under ``paths``.

    Returns the rows (or lines) removed per file that held any.

    Rows keyed only by the ``decision_id`` of an erased user's decision (outcomes, truth) go first, then the
    rows keyed by ``user_id``, so an erasure cut short can simply be run again.
    """
    if not user_ids or any(not str(user_id).strip() for user_id in user_ids):
        raise ValueError(f"erase: user ids must be non-empty, got {list(user_ids)!r}")
    paths = list(paths)
    columns = {file: set(_scan(file).collect_schema().names()) for file in data_files(paths)}
    by_user = [file for file, names in columns.items() if USER_KEY in names]
    by_decision = [file for file, names in columns.items() if USER_KEY not in names and DECISION_KEY in names]
    decisions = sorted(
        {d for file in by_user if DECISION_KEY in columns[file] for d in decisions_of(_scan(file), user_ids)}
    )
    removed: dict[Path, int] = {}
    for key, values, files in ((DECISION_KEY, decisions, by_decision), (USER_KEY, list(user_ids), by_user)):
        for file in files:
            rows = erase_from_file(file, key, values)
            if rows:
                removed[file] = rows
    for folder in decision_logs(paths):
        removed |= DecisionLog.existing(folder).erase(user_ids)
    return removed
