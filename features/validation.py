"""Check a frame against a contract schema, with errors that name the problem.

Examples
--------
>>> import polars as pl
>>> from features.schemas import BANDIT_LOG
>>> log = pl.DataFrame({"action": ["coupon"], "reward": [1.0]})
>>> validate(log, BANDIT_LOG, "bandit_log")
Traceback (most recent call last):
...
features.validation.SchemaError: bandit_log: missing column 'propensity' (expected Float64); present: action, reward
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl


class SchemaError(ValueError):
    """A frame does not meet its contract; the message names the column and the fault."""


def _compatible(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    if expected.is_float() and (actual.is_float() or actual.is_integer()):
        return True
    if expected.is_integer() and actual.is_integer():
        return True
    if isinstance(expected, pl.Datetime) and isinstance(actual, pl.Datetime):
        return True
    if isinstance(expected, pl.List) and isinstance(actual, pl.List):
        return _compatible(actual.inner, expected.inner)
    return expected == pl.String and actual in (pl.Categorical, pl.Enum)


def validate(
    frame: pl.DataFrame,
    schema: pl.Schema,
    name: str,
    *,
    unique: str | None = None,
    not_null: Iterable[str] = (),
) -> pl.DataFrame:
    """Return ``frame`` cast to ``schema``'s dtypes, or raise :class:`SchemaError`.

    Extra columns are kept (context features travel beside the contract columns).
    Integer columns where floats are expected are widened; anything else of the
    wrong dtype is an error.

    Parameters
    ----------
    frame
        The frame to check.
    schema
        The contract, from :mod:`features.schemas`.
    name
        What the frame is, for the message (``"events"``, ``"bandit_log"``).
    unique
        An id column that must be present, non-null and unique.
    not_null
        Further columns that must not hold nulls.
    """
    present = frame.columns
    for column, dtype in schema.items():
        if column not in frame.columns:
            raise SchemaError(f"{name}: missing column {column!r} (expected {dtype}); present: {', '.join(present)}")
        actual = frame.schema[column]
        if not _compatible(actual, dtype):
            raise SchemaError(f"{name}: column {column!r} has dtype {actual}, expected {dtype}")
    if frame.height == 0:
        raise SchemaError(f"{name}: no rows")
    checks = [*([unique] if unique else []), *not_null]
    for column in checks:
        if column not in frame.columns:
            raise SchemaError(f"{name}: missing column {column!r}; present: {', '.join(present)}")
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise SchemaError(f"{name}: column {column!r} has {nulls} null value(s) of {frame.height} rows")
    if unique:
        dupes = frame.height - frame.get_column(unique).n_unique()
        if dupes:
            raise SchemaError(f"{name}: column {unique!r} has {dupes} duplicate id(s) of {frame.height} rows")
    casts = {c: d for c, d in schema.items() if frame.schema[c] != d}
    return frame.cast(pl.Schema(casts)) if casts else frame


def validate_lazy(
    frame: pl.LazyFrame,
    schema: pl.Schema,
    name: str,
    *,
    unique: str | None = None,
    not_null: Iterable[str] = (),
) -> pl.LazyFrame:
    """Validate lazily, as :func:`validate` does; return the frame cast to the contract.

    Checks names and dtypes from the plan's schema, then null and duplicate ids in one pass over only the
    columns concerned.
    """
    present = frame.collect_schema()
    for column, dtype in schema.items():
        if column not in present:
            raise SchemaError(
                f"{name}: missing column {column!r} (expected {dtype}); present: {', '.join(present.names())}"
            )
        if not _compatible(present[column], dtype):
            raise SchemaError(f"{name}: column {column!r} has dtype {present[column]}, expected {dtype}")
    checks = [*([unique] if unique else []), *not_null]
    stats = [pl.len().alias("__rows")]
    stats += [pl.col(c).null_count().alias(f"__nulls_{c}") for c in checks]
    if unique:
        stats.append(pl.col(unique).n_unique().alias("__unique"))
    row = frame.select(stats).collect().row(0, named=True)
    if row["__rows"] == 0:
        raise SchemaError(f"{name}: no rows")
    for column in checks:
        if row[f"__nulls_{column}"]:
            raise SchemaError(
                f"{name}: column {column!r} has {row[f'__nulls_{column}']} null value(s) of {row['__rows']} rows"
            )
    if unique and row["__unique"] != row["__rows"]:
        raise SchemaError(
            f"{name}: column {unique!r} has {row['__rows'] - row['__unique']} duplicate id(s) of {row['__rows']} rows"
        )
    casts = {c: d for c, d in schema.items() if present[c] != d}
    return frame.cast(pl.Schema(casts)) if casts else frame
