"""Reading and writing contract frames so that nothing is ever half-written.

Every write goes to a temporary file beside its target and is renamed into place,
so a reader sees the old file or the new one, never a torn one.

Examples
--------
>>> import tempfile, polars as pl
>>> from pathlib import Path
>>> target = Path(tempfile.mkdtemp()) / "log.parquet"
>>> write_frame(pl.DataFrame({"x": [1, 2]}), target)
>>> read_frame(target).height
2
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

READERS: dict[str, Callable[[Path], pl.DataFrame]] = {".parquet": pl.read_parquet, ".csv": pl.read_csv}


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(data: bytes, target: str | Path) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_frame(frame: pl.DataFrame, target: str | Path) -> None:
    """Write ``frame`` as Parquet or CSV (by suffix) atomically."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)


def read_frame(path: str | Path) -> pl.DataFrame:
    """Read a Parquet or CSV file, with a clear error for a missing file or unknown format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown format {path.suffix!r}; expected one of {sorted(READERS)}")
    return reader(path)


def scan_frame(path: str | Path) -> pl.LazyFrame:
    """Scan a Parquet file, a folder of Parquet files (read as one table), or a CSV file, lazily."""
    path = Path(path)
    if path.is_dir():
        parts = sorted(path.rglob("*.parquet"))
        if not parts:
            raise FileNotFoundError(f"{path} is a folder with no .parquet files")
        return pl.scan_parquet(parts)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".parquet":
        return pl.scan_parquet(path)
    if path.suffix.lower() == ".csv":
        return pl.scan_csv(path, try_parse_dates=True)
    raise ValueError(f"{path}: unknown format {path.suffix!r}; expected one of ['.csv', '.parquet'] or a folder")
