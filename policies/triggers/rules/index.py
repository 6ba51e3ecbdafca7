"""The ids' dense positions the rules keep their state by, and two array helpers for per-position state.

The positions are :class:`features.ids.IdIndex`, shared with the daily feature store. For users, each one's crc32 (the
base of :func:`policies.triggers.rules.base.slot`) is hashed once, not at every tick.

Examples
--------
>>> import polars as pl
>>> index = IdIndex(["u1", "u2"], hashed=True)
>>> index.positions(pl.Series(["u2", "u3", "u1"])).tolist()
[1, 2, 0]
>>> from policies.triggers.rules.base import slot
>>> (index.crc[[0, 2]] % 7).tolist() == [slot("u1", 7), slot("u3", 7)]
True
"""

from __future__ import annotations

import numpy as np

from features.ids import IdIndex, grown

__all__ = ["IdIndex", "grown", "last_of_each"]


def last_of_each(positions: np.ndarray) -> np.ndarray:
    """Return the rows holding each position's last occurrence, in order of position.

    So ``values[positions[rows]] = new[rows]`` keeps the last of repeated positions.

    Examples
    --------
    >>> last_of_each(np.array([3, 1, 3])).tolist()
    [1, 2]
    >>> last_of_each(np.array([], dtype=np.int64)).tolist()
    []
    """
    if len(positions) == 0:
        return np.empty(0, dtype=np.int64)
    last = np.full(int(positions.max()) + 1, -1, dtype=np.int64)
    np.maximum.at(last, positions, np.arange(len(positions)))
    return last[last >= 0]
