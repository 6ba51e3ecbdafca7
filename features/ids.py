"""Dense positions for ids (users, items): each id gets a position ``0..n-1`` once, in the order first seen.

Per-user and per-item state lives in numpy arrays indexed by it. The trigger engine's rules and the daily
feature store both keep their state this way.

Ids are looked up through a private categorical mapping (polars keeps its hash table of the ids from call to
call), so a lookup hashes only the ids asked for, not the whole index again; a code's position is an array
lookup. With ``hashed``, each id's crc32 is computed once, when it gets its position (the trigger engine's
slots and holdout draws read it).

Examples
--------
>>> import polars as pl
>>> index = IdIndex(["u1", "u2"], hashed=True, name="user_id")
>>> index.positions(pl.Series(["u2", "u3", "u1"])).tolist()
[1, 2, 0]
>>> index.find(pl.Series(["u3", "u9"])).tolist()  # -1: never seen (and not added)
[2, -1]
>>> index.ids_of(np.array([2, 0])).to_list(), index.position_of("u2"), len(index)
(['u3', 'u1'], 1, 3)
>>> int(index.crc[0]) == zlib.crc32(b"u1")
True
>>> grown(np.zeros(2, dtype=np.int8), 4, fill=-1).tolist()
[0, 0, -1, -1]
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import polars as pl
from numpy.typing import NDArray


class IdIndex:
    """Positions of ids in the order first seen, and with ``hashed`` their crc32 (``crc[position]``).

    :meth:`ids_of` names its Series ``name``.
    """

    def __init__(self, ids: Iterable[str] = (), hashed: bool = False, name: str = "id") -> None:
        self._dtype = pl.Categorical(pl.Categories.random())
        self._alive = pl.Series([], dtype=self._dtype)  # the mapping lives as long as a series uses it
        self._ids = pl.Series(name, [], dtype=pl.String)  # by position
        self._at = np.empty(0, dtype=np.int64)  # the position of each categorical code (-1: none yet)
        self.hashed = hashed
        self.crc = np.empty(0, dtype=np.int64)
        self._last: tuple[pl.Series, np.ndarray] | None = None
        self._dict: dict[str, int] | None = None
        self.add(pl.Series(list(ids), dtype=pl.String))

    def __len__(self) -> int:
        """Return the number of ids with a position."""
        return self._ids.len()

    def add(self, ids: pl.Series) -> None:
        """Give positions to the ids not known yet (in the order given)."""
        self._lookup(ids)

    def position_of(self, id_: str) -> int:
        """Return the position of one id (adding it if unknown): a dict lookup, for event-by-event work."""
        if self._dict is None:
            self._dict = dict(zip(self._ids.to_list(), range(len(self)), strict=True))
        if id_ not in self._dict:
            self.add(pl.Series([id_], dtype=pl.String))
        return self._dict[id_]

    def ids_of(self, positions: np.ndarray) -> pl.Series:
        """Return the ids at ``positions``."""
        return self._ids.gather(positions)

    def positions(self, ids: pl.Series, remember: bool = True) -> np.ndarray:
        """Return the position of each id (in the order given), adding the unknown ones.

        With ``remember``, the answer is kept for the next call with the same ids (a tick's feature rows); one-off
        lookups pass False.
        """
        last = self._last
        if last is not None and last[0].len() == ids.len() and last[0].equals(ids):
            return last[1]
        out = self._lookup(ids)
        if remember:
            self._last = (ids, out)
        return out

    def find(self, ids: pl.Series) -> np.ndarray:
        """Return the position of each id, -1 for an id never given one (nothing is added)."""
        codes = self._codes(ids)
        out = np.full(len(codes), -1, dtype=np.int64)
        inside = codes < len(self._at)
        out[inside] = self._at[codes[inside]]
        return out

    def _codes(self, ids: pl.Series) -> NDArray[np.int64]:
        if ids.null_count():
            raise ValueError("ids: null id")
        return ids.cast(pl.String).cast(self._dtype).to_physical().to_numpy().astype(np.int64, copy=False)

    def _lookup(self, ids: pl.Series) -> np.ndarray:
        codes = self._codes(ids)
        if len(codes) == 0:
            return np.empty(0, dtype=np.int64)
        if codes.max() >= len(self._at):
            self._at = grown(self._at, int(codes.max()) + 1, fill=-1)
        out = self._at[codes]
        new = np.flatnonzero(out < 0)
        if len(new):
            self._append(ids, codes, new)
            out = self._at[codes]
        return out

    def _append(self, ids: pl.Series, codes: np.ndarray, new: np.ndarray) -> None:
        """Positions for the rows ``new`` of ``ids`` (unknown ids), in the order first seen."""
        unique, first = np.unique(codes[new], return_index=True)
        order = np.argsort(first, kind="stable")
        start = len(self)
        self._at[unique[order]] = np.arange(start, start + len(order))
        added = ids.gather(new[first[order]]).cast(pl.String).rename(self._ids.name)
        self._ids = pl.concat([self._ids, added], rechunk=True)
        if self._dict is not None:
            self._dict.update(zip(added.to_list(), range(start, start + len(order)), strict=True))
        if self.hashed:
            crc = np.fromiter((zlib.crc32(u.encode()) for u in added.to_list()), np.int64, len(added))
            self.crc = np.concatenate([self.crc, crc])


def grown(values: np.ndarray, size: int, fill: object) -> np.ndarray:
    """``values`` extended to ``size`` with ``fill`` (unchanged when already that long)."""
    if len(values) >= size:
        return values
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])
