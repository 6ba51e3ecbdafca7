"""Integer codes of ids (user or item ids), given in order of first sight.

A store that sums many days' rows per user or item keeps its sums in arrays indexed by code: a day's rows are
added by position, and a few ids are picked by their codes, instead of hashing every row's text again.

Notes
-----
The codes are found through a hash table of the ids' 64-bit hashes (open addressing, probed for every id at
once), and every id found is checked against the id its code stands for. Should two different ids share a hash
(about one chance in 10^7 for a million ids), ids are found by a join on their text instead: a code always
stands for one id.

Examples
--------
>>> import polars as pl
>>> codes = Codes("user_id")
>>> codes.encode(pl.Series(["u2", "u1", "u2"])).tolist()
[0, 1, 0]
>>> codes.encode(pl.Series(["u3", "u1"])).tolist(), len(codes)
([2, 1], 3)
>>> codes.find(pl.Series(["u1", "u9"])).tolist()  # -1: never seen
[1, -1]
>>> codes.ids([2, 0]).to_list()
['u3', 'u2']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

_CODE = "__code"


class Codes:
    """Codes of the ids of column ``key``: 0, 1, 2, … in order of first sight."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._ids = pl.Series(key, [], dtype=pl.String)  # by code
        self._chunks: list[pl.Series] = []  # ids given codes since _ids was last gathered into one chunk
        self._hashes = np.zeros(0, dtype=np.uint64)  # by code
        # slot -> code (-1: empty), at least twice as many slots as codes; None once two ids share a hash
        self._table: np.ndarray | None = np.full(8, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._hashes)

    def _all_ids(self) -> pl.Series:
        if self._chunks:
            self._ids = pl.concat([self._ids, *self._chunks], rechunk=True)
            self._chunks = []
        return self._ids

    def _probe(self, hashes: np.ndarray) -> np.ndarray:
        """The code whose id has each hash, -1 for none."""
        assert self._table is not None
        mask = np.uint64(len(self._table) - 1)
        slots = (hashes & mask).astype(np.int64)
        found = np.full(len(hashes), -1, dtype=np.int64)
        todo = np.arange(len(hashes) if len(self) else 0)
        while todo.size:
            code = self._table[slots[todo]]
            filled = code >= 0
            same = filled & (self._hashes[np.where(filled, code, 0)] == hashes[todo])
            found[todo[same]] = code[same]
            todo = todo[filled & ~same]  # a slot taken by another hash: try the next one
            slots[todo] = (slots[todo] + 1) & int(mask)
        return found

    def _place(self, codes: np.ndarray) -> None:
        """Put ``codes`` (new, with distinct hashes) in the table, doubling it as it fills."""
        assert self._table is not None
        if 2 * len(self) > len(self._table):
            size = len(self._table)
            while 2 * len(self) > size:
                size *= 2
            self._table = np.full(size, -1, dtype=np.int64)
            codes = np.arange(len(self))
        mask = np.uint64(len(self._table) - 1)
        slots = (self._hashes[codes] & mask).astype(np.int64)
        todo = np.arange(len(codes))
        while todo.size:
            free = self._table[slots[todo]] < 0
            # of several codes aiming at one free slot, the first takes it; the others try the next slot
            first = np.zeros(len(todo), dtype=bool)
            _, at = np.unique(slots[todo[free]], return_index=True)
            first[np.flatnonzero(free)[at]] = True
            self._table[slots[todo[first]]] = codes[todo[first]]
            todo = todo[~first]
            slots[todo] = (slots[todo] + 1) & int(mask)

    def _join(self, text: pl.Series) -> np.ndarray:
        index = self._all_ids().to_frame().with_row_index(_CODE)
        joined = text.to_frame().join(index, on=self.key, how="left", maintain_order="left").get_column(_CODE)
        return joined.cast(pl.Int64).fill_null(-1).to_numpy()

    def _lookup(self, ids: pl.Series) -> tuple[pl.Series, np.ndarray]:
        """``ids`` as text, and their codes (-1 for none)."""
        text = ids.cast(pl.String).rename(self.key)
        if self._table is None:
            return text, self._join(text)
        codes = self._probe(text.hash().to_numpy())
        known = codes >= 0
        if known.any() and not (self._all_ids().gather(codes[known]) == text.filter(pl.Series(known))).all():
            return text, self._join(text)  # an id with the hash of another: told apart by its text
        return text, codes

    def encode(self, ids: pl.Series) -> np.ndarray:
        """The code of each of ``ids`` (int64), giving the next codes to ids not seen before."""
        text, codes = self._lookup(ids)
        unseen = codes < 0
        if not unseen.any():
            return codes
        rows = text.filter(pl.Series(unseen))
        new = rows.unique(maintain_order=True)
        hashes = new.hash().to_numpy()
        first = len(self)
        self._chunks.append(new)
        if self._table is not None and len(np.unique(hashes)) == len(hashes) and (self._probe(hashes) < 0).all():
            self._hashes = np.concatenate([self._hashes, hashes])
            self._place(np.arange(first, len(self)))
        else:  # two ids with one hash: from now on, ids are found by their text
            self._hashes = np.concatenate([self._hashes, hashes])
            self._table = None
        codes[unseen] = self._lookup(rows)[1]
        return codes

    def find(self, ids: pl.Series) -> np.ndarray:
        """The codes of ``ids`` (int64), -1 for an id never seen."""
        return self._lookup(ids)[1]

    def ids(self, codes: Sequence[int] | np.ndarray) -> pl.Series:
        """The ids of ``codes``."""
        return self._all_ids().gather(np.asarray(codes, dtype=np.int64))
