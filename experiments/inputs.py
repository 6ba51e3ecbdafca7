"""Read and check what the lab's commands take in: bandit logs and target-probability files.

A bandit log is a Parquet/CSV file, a simulation folder (``decisions.parquet`` + ``outcomes.parquet``), or the
endpoint's decision-log folder (``decisions-*.jsonl`` + ``outcomes.parquet`` or ``outcomes.csv``).

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

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.io import read_frame
from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS, DECISIONS, OUTCOMES, schema_of
from features.validation import SchemaError, validate
from policies.serving.decision_log import PATTERN

#: The columns of a decision log line, in the simulator's order: the contract, the moment, the context.
DECISION_LOG = schema_of(
    {
        **DECISIONS,
        "item_id": pl.String,
        "moment_id": pl.String,
        "reason": pl.String,
        **{c: t for c, t in CONTEXT.items() if c not in DECISIONS},
    }
)
OUTCOME_FILES: tuple[str, ...] = ("outcomes.parquet", "outcomes.csv")
#: What every decision line must hold (OPE and training read these).
REQUIRED: tuple[str, ...] = ("decision_id", "ts", "user_id", "actions", "action", "propensity")


def load_bandit_log(path: str | Path) -> pl.DataFrame:
    """A bandit log from a Parquet/CSV file, a simulation folder, or a decision-log folder (decisions joined
    with outcomes).

    Examples
    --------
    >>> import tempfile
    >>> from policies.serving.decision_log import DecisionLog
    >>> folder = tempfile.mkdtemp()
    >>> DecisionLog(folder).append({"decision_id": "d1", "user_id": "u1", "actions": ["no_offer", "coupon"],
    ...     "action": "coupon", "propensity": 0.5})
    >>> load_bandit_log(folder)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... is a decision log without outcomes: no outcomes.parquet or outcomes.csv ...
    >>> pl.DataFrame({"decision_id": ["d1"], "converted": [True], "revenue": [20.0], "offer_cost": [2.0],
    ...     "reward": [18.0]}).write_parquet(f"{folder}/outcomes.parquet")
    >>> load_bandit_log(folder).select("decision_id", "action", "propensity", "reward").rows()
    [('d1', 'coupon', 0.5, 18.0)]
    """
    path = Path(path)
    if not path.is_dir():
        return read_frame(path)
    if not (path / "decisions.parquet").is_file() and any(path.glob(PATTERN)):
        outcomes = outcomes_file(path)
        return with_outcomes(load_decision_log(path), outcomes)
    decisions, outcomes = path / "decisions.parquet", path / "outcomes.parquet"
    for needed in (decisions, outcomes):
        if not needed.is_file():
            raise FileNotFoundError(f"{path} is a folder but has no {needed.name} (nor a decision log, {PATTERN})")
    return read_frame(decisions).join(read_frame(outcomes), on="decision_id", how="left", maintain_order="left")


def load_decision_log(folder: str | Path) -> pl.DataFrame:
    """The endpoint's decisions (``decisions-*.jsonl`` in ``folder``) in the DECISIONS contract, typed: ``ts``
    and ``send_at`` as UTC datetimes, ``actions`` and ``probabilities`` as lists, the context columns in the
    dtypes of :data:`~features.pipelines.context.CONTEXT`; context values the request added beside them keep
    the types JSON gave them. A line missing a contract column, or holding a value of the wrong type, is a
    ``SchemaError`` naming the file."""
    folder = Path(folder)
    files = sorted(folder.glob(PATTERN))
    if not files:
        raise FileNotFoundError(f"{folder}: no decision log files ({PATTERN})")
    rows: list[dict[str, Any]] = []
    for file in files:
        with open(file, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    stamps = [c for c, t in DECISION_LOG.items() if isinstance(t, pl.Datetime)]
    as_text = {c: pl.String if c in stamps else t for c, t in DECISION_LOG.items()}
    extras = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in DECISION_LOG]
    try:
        frame = pl.from_dicts(rows, schema=as_text)
        if extras:
            frame = frame.hstack(pl.from_dicts([{k: r.get(k) for k in extras} for r in rows], infer_schema_length=None))
        frame = frame.with_columns(pl.col(stamps).str.to_datetime(time_zone="UTC", time_unit="us"))
    except (pl.exceptions.PolarsError, TypeError, ValueError) as error:
        raise SchemaError(f"decision log {folder}: a line does not fit the DECISIONS contract: {error}") from error
    return validate(frame, DECISIONS, f"decision log {folder}", unique="decision_id", not_null=REQUIRED)


def outcomes_file(folder: Path) -> Path:
    """The OUTCOMES file of a decision-log folder, or a ``FileNotFoundError`` naming what is missing."""
    for name in OUTCOME_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{folder} is a decision log without outcomes: no {' or '.join(OUTCOME_FILES)} "
        f"(columns {', '.join(OUTCOMES)}); OPE and training need each decision's reward"
    )


def with_outcomes(decisions: pl.DataFrame, outcomes: Path) -> pl.DataFrame:
    """``decisions`` joined with the ``outcomes`` file (OUTCOMES contract); every decision needs its outcome."""
    frame = validate(read_frame(outcomes), OUTCOMES, str(outcomes), unique="decision_id", not_null=["reward"])
    joined = decisions.join(frame, on="decision_id", how="left", maintain_order="left")
    missing = joined.filter(pl.col("reward").is_null()).get_column("decision_id")
    if missing.len():
        raise SchemaError(
            f"{outcomes}: no outcome for {missing.len()} of {decisions.height} logged decision(s), "
            f"e.g. {missing.head(3).to_list()}"
        )
    return joined


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
