"""Dense positions for ids (users, items): each id gets a position ``0..n-1`` once, so per-user and per-item
state lives in numpy arrays indexed by it; for users, each one's crc32 (the base of
:func:`policies.triggers.rules.base.slot`) is hashed once, not at every tick.

A tick looks up the positions of its feature rows once, and its rules reuse them.

Examples
--------
>>> import polars as pl
>>> index = IdIndex(["u1", "u2"], hashed=True)
>>> index.positions(pl.Series(["u2", "u3", "u1"])).tolist()
[1, 2, 0]
>>> index.ids_of(np.array([2, 0])).to_list(), index.position_of("u2")
(['u3', 'u1'], 1)
>>> from policies.triggers.rules.base import slot
>>> (index.crc[[0, 2]] % 7).tolist() == [slot("u1", 7), slot("u3", 7)]
True
>>> grown(np.zeros(2, dtype=np.int8), 4, fill=-1).tolist()
[0, 0, -1, -1]
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import polars as pl

_IDS = pl.Schema({"id": pl.String, "position": pl.Int64})


class IdIndex:
    """Positions of ids in the order first seen, and with ``hashed`` their crc32 (``crc[position]``)."""

    def __init__(self, ids: Iterable[str] = (), hashed: bool = False) -> None:
        self._ids = pl.DataFrame(schema=_IDS)
        self.hashed = hashed
        self.crc = np.empty(0, dtype=np.int64)
        self._last: tuple[pl.Series, np.ndarray] | None = None
        self._dict: dict[str, int] | None = None
        self.add(pl.Series(list(ids), dtype=pl.String))

    def __len__(self) -> int:
        return self._ids.height

    def add(self, ids: pl.Series) -> None:
        """Give positions to the ids not known yet (in the order given)."""
        new = ids.unique(maintain_order=True).rename("id").to_frame().join(self._ids, on="id", how="anti")
        if new.height == 0:
            return
        added = new["id"].to_list()
        start = len(self)
        positions = pl.int_range(start, start + len(added), dtype=pl.Int64, eager=True).alias("position")
        self._ids = pl.concat([self._ids, new.with_columns(positions)])
        if self._dict is not None:
            self._dict.update(zip(added, range(start, start + len(added)), strict=True))
        if self.hashed:
            crc = np.fromiter((zlib.crc32(u.encode()) for u in added), np.int64, len(added))
            self.crc = np.concatenate([self.crc, crc])

    def position_of(self, id_: str) -> int:
        """The position of one id (adding it if unknown): a dict lookup, for event-by-event work."""
        if self._dict is None:
            self._dict = dict(zip(self._ids["id"].to_list(), self._ids["position"].to_list(), strict=True))
        if id_ not in self._dict:
            self.add(pl.Series([id_], dtype=pl.String))
        return self._dict[id_]

    def ids_of(self, positions: np.ndarray) -> pl.Series:
        """The ids at ``positions`` (a Series named ``id``)."""
        return self._ids["id"].gather(positions)

    def positions(self, ids: pl.Series, remember: bool = True) -> np.ndarray:
        """The position of each id (in the order given), adding the unknown ones. With ``remember``, the answer
        is kept for the next call with the same ids (a tick's feature rows); one-off lookups pass False."""
        last = self._last
        if last is not None and last[0].len() == ids.len() and last[0].equals(ids):
            return last[1]
        out = self._lookup(ids)
        if remember:
            self._last = (ids, out)
        return out

    def _lookup(self, ids: pl.Series) -> np.ndarray:
        found = ids.rename("id").to_frame().join(self._ids, on="id", how="left", maintain_order="left")
        if found["position"].null_count():
            self.add(ids.filter(found["position"].is_null()))
            return self._lookup(ids)
        return found["position"].to_numpy()


def last_of_each(positions: np.ndarray) -> np.ndarray:
    """The rows holding each position's last occurrence (so ``values[positions[rows]] = new[rows]`` keeps the
    last of repeated positions).

    Examples
    --------
    >>> last_of_each(np.array([3, 1, 3])).tolist()
    [1, 2]
    """
    _, first = np.unique(positions[::-1], return_index=True)
    return len(positions) - 1 - first


def grown(values: np.ndarray, size: int, fill: object) -> np.ndarray:
    """``values`` extended to ``size`` with ``fill`` (unchanged when already that long)."""
    if len(values) >= size:
        return values
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])
