"""Read the endpoint's decision log: its ``decisions-*.jsonl`` files, typed, and the outcomes joined to them.

:func:`load_decision_log` reads a folder the endpoint wrote (:mod:`policies.serving.decision_log`) in the
DECISIONS contract; :func:`with_outcomes` joins an OUTCOMES file (``outcomes.parquet`` or ``outcomes.csv``
beside the log, found by :func:`outcomes_file`). :mod:`experiments.inputs` reads a folder like this as one of
the forms a bandit log comes in; :mod:`experiments.log_join` builds the outcomes from events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from features.io import read_frame
from features.pipelines.context import CONTEXT
from features.schemas import DECISIONS, OUTCOMES, schema_of
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


def load_decision_log(folder: str | Path) -> pl.DataFrame:
    """Read the endpoint's decisions (``decisions-*.jsonl`` in ``folder``) in the DECISIONS contract, typed.

    ``ts`` and ``send_at`` as UTC datetimes, ``actions`` and ``probabilities`` as lists, the context columns in
    the dtypes of :data:`~features.pipelines.context.CONTEXT`; context values the request added beside them keep
    the types JSON gave them. A line that is not a JSON object (a torn record, a foreign file) or lacks a
    required column is a ``SchemaError`` naming the file and the line; a value of the wrong type, one naming
    the folder.
    """
    folder = Path(folder)
    files = sorted(folder.glob(PATTERN))
    if not files:
        raise FileNotFoundError(f"{folder}: no decision log files ({PATTERN})")
    rows: list[dict[str, Any]] = []
    for file in files:
        rows.extend(_decision_lines(file))
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


def _decision_lines(file: Path) -> Iterator[dict[str, Any]]:
    """Yield the decisions of one log file.

    A ``SchemaError`` names the file and line (counted from 1) of the first that is not a JSON object holding
    every :data:`REQUIRED` column.
    """
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SchemaError(
                    f"decision log {file}: line {number} is not JSON ({error.msg}): a torn record or a foreign file"
                ) from error
            if not isinstance(row, dict):
                raise SchemaError(f"decision log {file}: line {number} is a JSON {type(row).__name__}, not an object")
            missing = [c for c in REQUIRED if row.get(c) is None]
            if missing:
                raise SchemaError(f"decision log {file}: line {number} has no {missing}; not a logged decision")
            yield row


def outcomes_file(folder: Path) -> Path:
    """Return the OUTCOMES file of a decision-log folder, or raise a ``FileNotFoundError`` naming what is missing."""
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
