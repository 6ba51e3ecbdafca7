"""Read and check what the lab's commands take in: bandit logs and target-probability files.

Every check runs before anything is written, so bad input leaves no trace.

Examples
--------
>>> import polars as pl
>>> log = pl.DataFrame({"action": ["coupon", "no_offer"], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]})
>>> try:
...     target_probs_from_frame(pl.DataFrame({"p_coupon": [1.0, 1.0]}), n_rows=2)
... except ValueError as error:
...     print(error)
target-probs: missing column(s) ['p_no_offer', 'p_installment', 'p_trust_badge']; expected one p_<action> column per
action
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from features.io import read_frame
from features.schemas import ACTIONS
from features.validation import SchemaError


def load_bandit_log(path: str | Path) -> pl.DataFrame:
    """A bandit log from a Parquet/CSV file, or from a simulation folder (decisions joined with outcomes)."""
    path = Path(path)
    if path.is_dir():
        decisions, outcomes = path / "decisions.parquet", path / "outcomes.parquet"
        for needed in (decisions, outcomes):
            if not needed.is_file():
                raise FileNotFoundError(f"{path} is a folder but has no {needed.name}")
        return read_frame(decisions).join(read_frame(outcomes), on="decision_id", how="left", maintain_order="left")
    return read_frame(path)


def target_probs_from_frame(frame: pl.DataFrame, n_rows: int) -> np.ndarray:
    """``(n, k)`` target probabilities from ``p_<action>`` columns, row-aligned with a log of ``n_rows`` rows."""
    missing = [f"p_{a}" for a in ACTIONS if f"p_{a}" not in frame.columns]
    if missing:
        raise SchemaError(f"target-probs: missing column(s) {missing}; expected one p_<action> column per action")
    if frame.height != n_rows:
        raise SchemaError(f"target-probs: has {frame.height} rows but the log has {n_rows}; they must be row-aligned")
    columns = [f"p_{a}" for a in ACTIONS]
    for column in columns:
        if not frame.schema[column].is_numeric():
            raise SchemaError(f"target-probs: column {column!r} has dtype {frame.schema[column]}, expected a number")
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise SchemaError(f"target-probs: column {column!r} has {nulls} null value(s)")
    return frame.select(columns).to_numpy().astype(float)


def load_target_probs(path: str | Path, n_rows: int) -> np.ndarray:
    """Read a target-probabilities file (Parquet or CSV) and check it against the log."""
    return target_probs_from_frame(read_frame(path), n_rows)
