"""Action labels and action sets: which actions each row of a log may take, as a mask, and its distinct patterns.

Logs name their actions by text (the four offers) or by integers (other experiments); the ``actions`` column of
a row lists the eligible ones, as a list or as ``|``-separated text. :mod:`policies.base` re-exports these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from features.schemas import ACTIONS
from features.validation import SchemaError

_INTEGER = re.compile(r"-?[0-9]+")


def with_text_labels(log: pl.DataFrame) -> pl.DataFrame:
    """``log`` with integer action labels as text: the ``action`` column, and the ``actions`` column's members.

    Examples
    --------
    >>> with_text_labels(pl.DataFrame({"action": [7], "actions": [[3, 7]]})).rows()
    [('7', ['3', '7'])]
    """
    casts: list[pl.Expr] = []
    if "action" in log.columns and log.schema["action"].is_integer():
        casts.append(pl.col("action").cast(pl.String))
    dtype = log.schema.get("actions")
    if isinstance(dtype, pl.List) and dtype.inner.is_integer():
        casts.append(pl.col("actions").cast(pl.List(pl.String)))
    return log.with_columns(casts) if casts else log


def order_actions(labels: Iterable[str]) -> tuple[str, ...]:
    """Return the natural order of a set of action labels.

    The four offers (all of them, in :data:`~features.schemas.ACTIONS` order) when every label is one of them;
    integers numerically; any other labels sorted as text.

    Examples
    --------
    >>> order_actions(["coupon", "no_offer"])
    ('no_offer', 'coupon', 'installment', 'trust_badge')
    >>> order_actions(["10", "9", "-1"])
    ('-1', '9', '10')
    >>> order_actions(["b", "a", "10"])
    ('10', 'a', 'b')
    """
    distinct = set(labels)
    if distinct <= set(ACTIONS):
        return ACTIONS
    if all(_INTEGER.fullmatch(label) for label in distinct):
        return tuple(sorted(distinct, key=lambda label: (int(label), label)))
    return tuple(sorted(distinct))


#: Up to this many rows, :func:`eligibility_mask` reads the members in a loop (the same mask, without planning).
FEW_ROWS = 16


def eligibility_mask(log: pl.DataFrame, actions: Sequence[str]) -> np.ndarray:
    """Build the ``(n, k)`` mask from a log's optional ``actions`` column (list or ``|``-separated string).

    Members that are not among ``actions`` are ignored.

    Examples
    --------
    >>> eligibility_mask(pl.DataFrame({"actions": ["b|a", "c"]}), ("a", "b")).tolist()
    [[True, True], [False, False]]
    """
    n = log.height
    if "actions" not in log.columns:
        return np.ones((n, len(actions)), dtype=bool)
    column = with_text_labels(log.select("actions")).get_column("actions")
    if column.dtype == pl.String:
        column = column.str.split("|")
    if not isinstance(column.dtype, pl.List):
        raise SchemaError(f"log: column 'actions' has dtype {column.dtype}, expected a list of action names")
    index = {a: i for i, a in enumerate(actions)}
    if n <= FEW_ROWS:  # a request's rows: a plain loop, not a polars plan (~1.4 ms)
        mask = np.zeros((n, len(actions)), dtype=bool)
        for row, listed in enumerate(column.to_list()):
            codes = [index[a] for a in listed or () if a in index]
            mask[row, codes] = True
        return mask
    members = (
        pl.DataFrame({"actions": column.cast(pl.List(pl.String))})
        .with_row_index("row")
        .explode("actions")
        .select("row", code=pl.col("actions").replace_strict(index, default=None, return_dtype=pl.Int64))
        .drop_nulls("code")
    )
    mask = np.zeros((n, len(actions)), dtype=bool)
    mask[members.get_column("row").to_numpy(), members.get_column("code").to_numpy()] = True
    return mask


def eligible_patterns(eligible: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Return the distinct rows of a boolean mask as lists of their true columns, and which of them each row is.

    The patterns come in order of first appearance; rows share the few distinct patterns.

    Examples
    --------
    >>> codes, patterns = eligible_patterns(np.array([[True, False, True], [True, True, True], [True, False, True]]))
    >>> codes.tolist(), patterns
    ([0, 1, 0], [[0, 2], [0, 1, 2]])
    """
    codes = np.packbits(eligible, axis=1, bitorder="little").astype(np.int64)
    code = (codes * (256 ** np.arange(codes.shape[1]))).sum(axis=1)
    _, first, which = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first)  # number the patterns by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[which.reshape(-1)], [np.flatnonzero(eligible[i]).tolist() for i in first[order]]
