"""Runs of equal keys in arrays sorted by them: the numpy stand-in for grouping by integer codes.

The codes are positions of users and items; the rules that use it look back a few rows within a group.

Examples
--------
>>> user, item = np.array([0, 0, 0, 1]), np.array([5, 5, 6, 5])
>>> same_as((user, item), 1).tolist()  # the row before belongs to the same (user, item)
[False, True, False, False]
>>> same_as((user, item), -1).tolist()  # the row after does
[True, False, False, False]
>>> run_ends((user, item)).tolist()  # each row's run ends at this row
[1, 1, 2, 3]
>>> sorted_by(np.array([1, 0, 1]), np.array([7, 9, 3])).tolist()
[1, 2, 0]
>>> sorted_by(np.array([1, 0, 1, 1]), np.array([3, 9, 3, -2**62])).tolist()  # stable; ranges too wide to fold
[1, 3, 0, 2]
"""

from __future__ import annotations

import numpy as np


def sorted_by(*keys: np.ndarray) -> np.ndarray:
    """Return the order that sorts rows by integer ``keys`` (the first the most significant), stable.

    The keys are folded into one integer when their ranges allow, and sorted by a plain (unstable, fast)
    sort when that integer has no repeats (so the order is the only one); otherwise by a stable sort.
    """
    code, span = np.zeros(len(keys[0]), dtype=np.int64), 1
    for key in keys:
        low, high = (int(key.min()), int(key.max())) if len(key) else (0, 0)
        span *= high - low + 1
        if span >= 2**62:
            return np.lexsort(keys[::-1])
        code = code * (high - low + 1) + (key - low)
    order = np.argsort(code)
    ordered = code[order]
    if np.any(ordered[1:] == ordered[:-1]):
        return np.argsort(code, kind="stable")
    return order


def same_as(keys: tuple[np.ndarray, ...], k: int) -> np.ndarray:
    """Tell, on rows sorted by ``keys``, whether the row ``k`` before (``k > 0``) or ``-k`` after has the same keys.

    False where there is no such row; ``k = 0`` is True everywhere.
    """
    size = len(keys[0])
    out = np.zeros(size, dtype=bool)
    if k == 0:
        out[:] = True
    elif abs(k) < size:
        near = np.ones(size - abs(k), dtype=bool)
        for key in keys:
            near &= key[abs(k) :] == key[: size - abs(k)]
        if k > 0:
            out[k:] = near
        else:
            out[: size + k] = near
    return out


def run_ends(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """On rows sorted by ``keys``: the last row of each row's run of equal keys."""
    ends = np.flatnonzero(~same_as(keys, -1))  # rows whose successor differs: the ends of runs
    run = np.cumsum(~same_as(keys, 1)) - 1  # each row's run, counted from 0
    return np.take(ends, run)
