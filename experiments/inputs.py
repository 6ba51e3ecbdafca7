"""Read and check bandit logs, whatever form they come in: the one place a log is read.

A bandit log is a Parquet or CSV file; a JSON-lines file, either a table (one decision per line) or Vowpal
Wabbit's DSJSON (read by :func:`policies.bandits.dsjson_read.read_dsjson`; ``.dsjson`` always, ``.json``,
``.jsonl`` and ``.ndjson`` when a line carries ``_label_cost``); a simulation folder (``decisions.parquet`` +
``outcomes.parquet``); or the endpoint's decision-log folder (``decisions-*.jsonl`` + ``outcomes.parquet`` or
``outcomes.csv``, read by :mod:`experiments.decision_logs`).

Its columns: ``action``, ``reward`` and ``propensity``; optionally ``actions`` (each row's eligible actions: a
list, or a ``|``-separated string), ``probabilities`` (the logging policy's, carried along, not read here),
``position``, ``user_id``; every other column not in the bookkeeping list
(:data:`features.schemas.NON_FEATURE_COLUMNS`) is a context feature. Actions are labelled by integers or text,
as many as there are; integer labels are read as text (7 becomes ``"7"``, and its target column is ``p_7``).

:func:`feedback_from_log` checks a log and turns it into :class:`~policies.base.Feedback`; without a list of
actions it takes the log's own (:func:`log_actions`). Every check runs before anything is computed or written,
and names the column, the row and the value at fault.

Examples
--------
>>> import polars as pl
>>> log = pl.DataFrame({"action": [7, 3, 7], "reward": [1.0, 0.0, 2.0], "propensity": [0.5, 0.25, 0.5],
...     "actions": [[3, 7], [3, 7, 12], [7, 12]], "price": [9.5, 20.0, 4.0]})
>>> feedback = feedback_from_log(log)
>>> feedback.actions, feedback.chosen.tolist()
(('3', '7', '12'), [1, 0, 1])
>>> feedback.eligible.astype(int).tolist()
[[1, 1, 0], [1, 1, 1], [0, 1, 1]]
>>> feedback_from_log(log.with_columns(propensity=pl.Series([0.5, 0.0, 1.5])))
Traceback (most recent call last):
...
features.validation.SchemaError: log: column 'propensity' must lie in (0, 1]; row 1 has 0.0 (2 bad row(s))
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from experiments.decision_logs import load_decision_log as load_decision_log
from experiments.decision_logs import outcomes_file, with_outcomes
from features.io import read_frame
from features.schemas import ACTIONS
from features.validation import SchemaError
from policies.base import Feedback, order_actions, with_text_labels
from policies.serving.decision_log import PATTERN


def load_bandit_log(path: str | Path) -> pl.DataFrame:
    """Read a bandit log from a file, a simulation folder, or a decision-log folder.

    The file is Parquet, CSV or JSON-lines (table or DSJSON); a decision-log folder's decisions are joined with
    their outcomes. Only reads: :func:`feedback_from_log` checks.

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
        return read_log_file(path)
    if not (path / "decisions.parquet").is_file() and any(path.glob(PATTERN)):
        outcomes = outcomes_file(path)
        return with_outcomes(load_decision_log(path), outcomes)
    decisions, outcomes = path / "decisions.parquet", path / "outcomes.parquet"
    for needed in (decisions, outcomes):
        if not needed.is_file():
            raise FileNotFoundError(f"{path} is a folder but has no {needed.name} (nor a decision log, {PATTERN})")
    return read_frame(decisions).join(read_frame(outcomes), on="decision_id", how="left", maintain_order="left")


def read_log_file(path: str | Path) -> pl.DataFrame:
    """Read a bandit log file: Parquet or CSV by suffix, else DSJSON or a table of one decision per line.

    ``.dsjson`` is read as DSJSON; ``.json``, ``.jsonl`` and ``.ndjson`` as DSJSON when their first line carries
    ``_label_cost``, else as a table of one decision per line (or, for a ``.json`` file holding one array, one
    decision per element). Unlabelled DSJSON lines are skipped with a warning that counts them.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in JSON_SUFFIXES or not path.is_file():
        return read_frame(path)
    if suffix == ".dsjson" or _first_line_is_dsjson(path):
        from policies.bandits.dsjson_read import read_dsjson

        read = read_dsjson(path)
        if read.skipped:
            warnings.warn(f"{path}: skipped {read.skipped} DSJSON line(s) without a label (_label_cost)", stacklevel=2)
        return read.log
    try:
        if _first_character(path) == "[":
            return pl.read_json(path)
        return pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.PolarsError as error:
        raise SchemaError(f"{path}: not a table of JSON objects, one per line ({error})") from error


#: JSON file suffixes :func:`read_log_file` reads.
JSON_SUFFIXES: tuple[str, ...] = (".dsjson", ".json", ".jsonl", ".ndjson")


def _first_character(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                return line.lstrip()[0]
    return ""


def _first_line_is_dsjson(path: Path) -> bool:
    with open(path, encoding="utf-8") as handle:
        line = next((line for line in handle if line.strip()), "")
    try:
        first = json.loads(line)
    except json.JSONDecodeError:
        return False  # not one object per line: left to the table reader, which names the fault
    return isinstance(first, dict) and "_label_cost" in first


#: The columns every bandit log has.
REQUIRED_COLUMNS: tuple[str, ...] = ("action", "reward", "propensity")


def check_bandit_log(log: pl.DataFrame) -> pl.DataFrame:
    """Check a bandit log; return it with its action labels as text and its ``actions`` column as lists.

    Integer action labels become text and a ``|``-separated ``actions`` column becomes lists. Raises
    ``SchemaError`` naming the first fault: a missing column, a column of the wrong dtype, no rows, a null, a
    reward that is not a finite number, a propensity outside (0, 1], or a logged action missing from its row's
    eligible ``actions``.

    Examples
    --------
    >>> log = pl.DataFrame({"action": ["b", "a"], "reward": [1.0, 0.0], "propensity": [0.5, 0.5],
    ...     "actions": ["a|b", "b|c"]})
    >>> check_bandit_log(log)
    Traceback (most recent call last):
    ...
    features.validation.SchemaError: log: row 1: action 'a' is not among its eligible actions ['b', 'c'] (1 bad row(s))
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in log.columns]
    if missing:
        raise SchemaError(
            f"log: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; a bandit log "
            f"needs {', '.join(REQUIRED_COLUMNS)} (present: {', '.join(log.columns) or 'none'})"
        )
    action = log.schema["action"]
    if not (action.is_integer() or action in (pl.String, pl.Categorical) or isinstance(action, pl.Enum)):
        raise SchemaError(f"log: column 'action' has dtype {action}; action labels are integers or text")
    for column in ("reward", "propensity"):
        if not log.schema[column].is_numeric():
            raise SchemaError(f"log: column {column!r} has dtype {log.schema[column]}, expected a number")
    if "position" in log.columns and not log.schema["position"].is_integer():
        raise SchemaError(f"log: column 'position' has dtype {log.schema['position']}, expected an integer")
    if log.height == 0:
        raise SchemaError("log: no rows")
    log = _eligible_as_lists(with_text_labels(log).with_columns(pl.col("action").cast(pl.String)))
    for column in [*REQUIRED_COLUMNS, *(c for c in ("actions", "position") if c in log.columns)]:
        nulls = log.get_column(column).is_null()
        if nulls.any():
            raise SchemaError(
                f"log: column {column!r} has {nulls.sum()} null value(s), the first in row {nulls.arg_true()[0]}"
            )
    _check_range(log, "reward", ~pl.col("reward").cast(pl.Float64).is_finite(), "must be a finite number")
    propensity = pl.col("propensity").cast(pl.Float64)
    _check_range(log, "propensity", ~((propensity > 0) & (propensity <= 1)), "must lie in (0, 1]")
    if "actions" in log.columns:
        outside = (~pl.col("actions").list.contains(pl.col("action"))).arg_true()
        bad = log.select(outside).to_series()
        if len(bad):
            row = int(bad[0])
            raise SchemaError(
                f"log: row {row}: action {log['action'][row]!r} is not among its eligible actions "
                f"{log['actions'][row].to_list()} ({len(bad)} bad row(s))"
            )
    return log


def _eligible_as_lists(log: pl.DataFrame) -> pl.DataFrame:
    """``log`` with its ``actions`` column (if any) as lists of text, or a SchemaError for another dtype."""
    if "actions" not in log.columns:
        return log
    dtype = log.schema["actions"]
    if dtype == pl.String:
        return log.with_columns(pl.col("actions").str.split("|"))
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    if inner is None or not (inner in (pl.String, pl.Categorical) or isinstance(inner, pl.Enum)):
        raise SchemaError(
            f"log: column 'actions' has dtype {dtype}; expected lists of action labels (or '|'-separated text)"
        )
    return log.with_columns(pl.col("actions").cast(pl.List(pl.String)))


def _check_range(log: pl.DataFrame, column: str, bad: pl.Expr, rule: str) -> None:
    rows = log.select(bad.arg_true()).to_series()
    if len(rows):
        row = int(rows[0])
        raise SchemaError(
            f"log: column {column!r} {rule}; row {row} has {float(log[column][row])!r} ({len(rows)} bad row(s))"
        )


def log_actions(log: pl.DataFrame) -> tuple[str, ...]:
    """Return the actions of a checked log (the logged ones and every eligible one), in their natural order.

    The order is :func:`policies.base.order_actions`'s: the four offers when every label is one of them,
    integers numerically, other text sorted.

    Examples
    --------
    >>> log_actions(check_bandit_log(pl.DataFrame({"action": [10, 9], "reward": [0, 1], "propensity": [1, 1]})))
    ('9', '10')
    """
    labels = log.get_column("action")
    if "actions" in log.columns:
        labels = pl.concat([labels, log.get_column("actions").explode()])
    return order_actions(labels.drop_nulls().unique().to_list())


def feedback_from_log(log: pl.DataFrame, actions: Sequence[str | int] | None = None) -> Feedback:
    """Check ``log`` (:func:`check_bandit_log`) and build its :class:`~policies.base.Feedback`.

    Parameters
    ----------
    log
        A bandit log, as :func:`load_bandit_log` reads it.
    actions
        The actions the columns of the feedback stand for (integers are read as text); ``None``: the log's own,
        :func:`log_actions`. A logged action missing from them is an error; eligible actions missing from them
        are ignored.
    """
    return feedback_from_checked(check_bandit_log(log), actions)


def feedback_from_checked(log: pl.DataFrame, actions: Sequence[str | int] | None = None) -> Feedback:
    """:func:`feedback_from_log` for a log :func:`check_bandit_log` already returned: the checks are not run again.

    Callers that keep the checked frame for its other columns check once.

    Examples
    --------
    >>> checked = check_bandit_log(pl.DataFrame({"action": [2, 1], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]}))
    >>> feedback_from_checked(checked).actions
    ('1', '2')
    """
    names = log_actions(log) if actions is None else tuple(str(a) for a in actions)
    return Feedback.from_log(log, names)


def target_probs_from_frame(frame: pl.DataFrame, n_rows: int) -> np.ndarray:
    """``(n, 4)`` target probabilities of the four offers from ``p_<action>`` columns.

    Row-aligned with a log of ``n_rows`` rows (kept for callers of the four offers; :mod:`experiments.targets`
    reads any actions).
    """
    from experiments.targets import table_probabilities

    return table_probabilities(frame, ACTIONS, n_rows)


def load_target_probs(path: str | Path, n_rows: int) -> np.ndarray:
    """Read a target-probabilities file (Parquet or CSV) of the four offers and check it against the log."""
    return target_probs_from_frame(read_frame(path), n_rows)


def logging_probabilities(log: pl.DataFrame, actions: Sequence[str]) -> np.ndarray | None:
    """``(n, k)`` probabilities the logging policy gave each of ``actions`` in each round.

    ``None`` when the log has no ``probabilities`` list column.

    A row's list holds either one entry per action of ``actions`` (the decision contract's "full
    probabilities", in that order), or one per action of the row's eligible ``actions`` list, paired with it
    (zero for the actions it does not list).

    Examples
    --------
    >>> log = pl.DataFrame({"actions": [["a", "b"], ["b"]], "probabilities": [[0.25, 0.75], [1.0]]})
    >>> logging_probabilities(log, ("a", "b", "c")).tolist()
    [[0.25, 0.75, 0.0], [0.0, 1.0, 0.0]]
    >>> logging_probabilities(pl.DataFrame({"probabilities": [[0.5, 0.5, 0.0]]}), ("a", "b", "c")).tolist()
    [[0.5, 0.5, 0.0]]
    >>> logging_probabilities(log.drop("probabilities"), ("a", "b")) is None
    True
    """
    if not isinstance(log.schema.get("probabilities"), pl.List):
        return None
    k = len(actions)
    lengths = log.select(p=pl.col("probabilities").list.len().fill_null(0))
    if "actions" in log.columns:
        lists = _eligible_as_lists(with_text_labels(log.select("actions", "probabilities")))
        lengths = lengths.with_columns(a=lists.get_column("actions").list.len().fill_null(0))
    else:
        lists, lengths = log.select("probabilities"), lengths.with_columns(a=pl.lit(k, dtype=pl.UInt32))
    full = lengths.get_column("p") == k
    paired = lengths.get_column("p") == lengths.get_column("a")
    bad = (~full & ~paired).arg_true()
    if len(bad):
        row = int(bad[0])
        raise SchemaError(
            f"log: row {row} has {lengths['p'][row]} probabilities; expected one per action ({k}) or one per "
            f"eligible action ({lengths['a'][row]}) ({len(bad)} bad row(s))"
        )
    probs = np.zeros((log.height, k))
    if full.all():
        values = lists.get_column("probabilities").explode().cast(pl.Float64).fill_null(0.0).to_numpy()
        return values.reshape(log.height, k)
    index = {str(a): i for i, a in enumerate(actions)}
    rows = pl.int_range(pl.len(), dtype=pl.Int64)
    full_rows = lists.with_columns(row=rows).filter(full.to_numpy())
    if full_rows.height:
        probs[full_rows.get_column("row").to_numpy()] = (
            full_rows.get_column("probabilities").explode().cast(pl.Float64).fill_null(0.0).to_numpy().reshape(-1, k)
        )
    pairs = (
        lists.with_columns(row=rows)
        .filter((~full).to_numpy())
        .explode("actions", "probabilities")
        .drop_nulls("actions")
        .with_columns(pl.col("actions").replace_strict(index, default=-1, return_dtype=pl.Int64))
        .filter(pl.col("actions") >= 0)
    )
    probs[pairs.get_column("row").to_numpy(), pairs.get_column("actions").to_numpy()] = (
        pairs.get_column("probabilities").cast(pl.Float64).fill_null(0.0).to_numpy()
    )
    return probs
