"""Reading the folder a business report is built from, with errors that name the missing file or column.

A folder written by ``offerlab simulate --out`` holds everything the report needs: ``events``, ``items``,
``decisions``, ``outcomes`` and ``holdout`` (each as ``NAME.parquet`` or ``NAME.csv``), and, from a simulation
only, ``truth``. Only the columns the report reads are checked and kept; the purchases are filtered out of the
event log before it is read into memory.

Examples
--------
>>> import tempfile
>>> try:
...     load_business_log(tempfile.mkdtemp())
... except FileNotFoundError as error:
...     print(str(error).split(": ", 1)[1])
no events.parquet or events.csv; a business report needs events, items, decisions, outcomes, holdout (as written by
offerlab simulate --out)
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from experiments.business.base import BusinessLog
from features.io import scan_frame
from features.schemas import ACTIONS, EVENTS, TRIGGER_KINDS, TRUTH_FACTS, UTC_TS, schema_of
from features.validation import SchemaError, validate_lazy

#: The files a report needs, in the order they are looked for.
REQUIRED_FILES: tuple[str, ...] = ("events", "items", "decisions", "outcomes", "holdout")
#: The suffixes a file may have, the first found wins.
SUFFIXES: tuple[str, ...] = (".parquet", ".csv")

#: The columns read from each file (others are ignored).
PURCHASE_COLUMNS = schema_of({c: EVENTS[c] for c in ("user_id", "ts", "type", "merchant_id", "price", "quantity")})
ITEM_COLUMNS = schema_of({"item_id": pl.String, "merchant_id": pl.String})
DECISION_COLUMNS = schema_of(
    {
        "decision_id": pl.String,
        "user_id": pl.String,
        "send_at": UTC_TS,
        "trigger": pl.String,
        "action": pl.String,
        "item_id": pl.String,
    }
)
OUTCOME_COLUMNS = schema_of(
    {"decision_id": pl.String, "converted": pl.Boolean, "revenue": pl.Float64, "offer_cost": pl.Float64}
)
HOLDOUT_COLUMNS = schema_of({"user_id": pl.String, "ts": UTC_TS, "trigger_kind": pl.String})
TRUTH_COLUMNS = schema_of(
    {"decision_id": pl.String, "q_no_offer": pl.Float64, **{fact: pl.Boolean for fact in TRUTH_FACTS}}
)
Q_COLUMNS: tuple[str, ...] = tuple(f"q_{a}" for a in ACTIONS)


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name.parquet`` or ``folder/name.csv``, whichever exists first, else ``None``."""
    for suffix in SUFFIXES:
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    return None


def load_business_log(folder: str | Path) -> BusinessLog:
    """Read the purchases, items, decisions, holdout moments and, if present, the simulator's truth of ``folder``.

    The decisions are joined with their outcomes.

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a folder, or lacks one of :data:`REQUIRED_FILES`.
    features.validation.SchemaError
        A file lacks a column the report reads, a decision has no outcome, or the holdout has no moments.

    Examples
    --------
    >>> import tempfile
    >>> from experiments.business.toy import toy_log
    >>> folder = tempfile.mkdtemp()
    >>> toy_log().write(folder)
    >>> log = load_business_log(folder)
    >>> log.purchases.height, log.decisions.height, sorted(log.holdout.get_column("user_id").unique())
    (5, 4, ['h1', 'h2'])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    paths: dict[str, Path] = {}
    for name in REQUIRED_FILES:
        path = find_file(folder, name)
        if path is None:
            raise FileNotFoundError(
                f"{folder}: no {name}.parquet or {name}.csv; a business report needs "
                f"{', '.join(REQUIRED_FILES)} (as written by offerlab simulate --out)"
            )
        paths[name] = path
    holdout = _read(paths["holdout"], HOLDOUT_COLUMNS, "holdout", allow_empty=True)
    if holdout.height == 0:
        raise SchemaError(
            f"{paths['holdout']}: no holdout moments, so no holdout users to compare with; the report needs a "
            "global holdout (scenario holdout_share > 0)"
        )
    purchases = _read(paths["events"], PURCHASE_COLUMNS, "events", keep=pl.col("type") == "purchase", allow_empty=True)
    decisions = _with_trigger_kind(_read(paths["decisions"], DECISION_COLUMNS, "decisions", optional=("trigger_kind",)))
    outcomes = _read(paths["outcomes"], OUTCOME_COLUMNS, "outcomes", optional=("reward", "delivered"))
    truth_path = find_file(folder, "truth")
    truth = None if truth_path is None else _read(truth_path, TRUTH_COLUMNS, "truth", optional=Q_COLUMNS)
    return BusinessLog(
        purchases=purchases.drop("type"),
        items=_read(paths["items"], ITEM_COLUMNS, "items"),
        decisions=join_outcomes(decisions, outcomes, str(paths["outcomes"])),
        holdout=holdout,
        truth=truth,
    )


def join_outcomes(decisions: pl.DataFrame, outcomes: pl.DataFrame, source: str) -> pl.DataFrame:
    """Every decision with its outcome; a decision without one is a :class:`SchemaError` naming a few."""
    joined = decisions.join(outcomes, on="decision_id", how="left", maintain_order="left")
    missing = joined.filter(pl.col("converted").is_null()).get_column("decision_id")
    if missing.len():
        raise SchemaError(
            f"{source}: no outcome for {missing.len()} of {decisions.height} decision(s), "
            f"e.g. {missing.head(3).to_list()}"
        )
    return joined


def _with_trigger_kind(decisions: pl.DataFrame) -> pl.DataFrame:
    """Add the decisions' trigger kind: the logged column, or the kind of the logged trigger (``other`` if unknown)."""
    if "trigger_kind" in decisions.columns:
        return decisions
    return decisions.with_columns(
        pl.col("trigger").replace_strict(TRIGGER_KINDS, default="other").alias("trigger_kind")
    )


def _read(
    path: Path,
    schema: pl.Schema,
    name: str,
    *,
    keep: pl.Expr | None = None,
    optional: tuple[str, ...] = (),
    allow_empty: bool = False,
) -> pl.DataFrame:
    """Read the ``schema`` columns (and any ``optional`` ones present) of the rows of ``path`` that ``keep`` selects.

    They are checked against ``schema``: no nulls but in ``item_id``, and at least one row unless ``allow_empty``.
    """
    frame = scan_frame(path)
    present = frame.collect_schema().names()
    missing = [c for c in schema if c not in present]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {missing} that the business report reads; present: {present}")
    columns = [*schema, *(c for c in optional if c in present and c not in schema)]
    frame = frame.select(columns)
    if keep is not None:
        frame = frame.filter(keep)
    if allow_empty and frame.select(pl.len()).collect().item() == 0:
        return frame.collect().cast(schema, strict=False)
    return validate_lazy(frame, schema, f"{name} ({path})", not_null=[c for c in schema if c != "item_id"]).collect()
