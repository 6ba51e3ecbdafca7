"""The latest time of each (key, user) pair (a merchant's followers, an item's favourites), in two forms.

Dicts ``key -> {user: ts}`` while streaming and one frame ``key, user_id, ts`` between windows, each made from the
other when the mode changes. Windows then select and replace pairs with a filter and a join, with no Python
loop over the pairs.

Examples
--------
>>> follows = LatestPairs("merchant_id")
>>> follows.dicts.setdefault("m1", {})["u1"] = 5
>>> window = pl.DataFrame({"merchant_id": ["m1", "m2"], "user_id": ["u1", "u2"], "ts": [9, 9], "on": [False, True]})
>>> follows.replace(window, keep=pl.col("on"))
>>> follows.of(["m1", "m2"]).rows(), follows.dicts
([('m2', 'u2', 9)], {'m2': {'u2': 9}})
>>> follows.add(pl.DataFrame({"merchant_id": ["m2"], "user_id": ["u2"], "ts": [12]}))
>>> follows.frame().rows()
[('m2', 'u2', 12)]
"""

from __future__ import annotations

import polars as pl


class LatestPairs:
    """Each (``key``, user) pair's latest time (pairs without one are absent)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.schema = pl.Schema({key: pl.String, "user_id": pl.String, "ts": pl.Int64})
        self._dicts: dict[str, dict[str, int]] | None = {}
        self._parts: list[pl.DataFrame] | None = None  # the window form: a pair's last row holds its time

    @property
    def dicts(self) -> dict[str, dict[str, int]]:
        """The streaming form: ``key -> {user: ts}``."""
        if self._parts is not None:
            self._dicts = {}
            for key, user, ts in self.frame().iter_rows():
                self._dicts.setdefault(key, {})[user] = ts
            self._parts = None
        assert self._dicts is not None
        return self._dicts

    @dicts.setter
    def dicts(self, value: dict[str, dict[str, int]]) -> None:
        self._dicts, self._parts = value, None

    def _rows(self) -> list[pl.DataFrame]:
        if self._parts is None:
            assert self._dicts is not None
            rows = [(key, user, ts) for key, users in self._dicts.items() for user, ts in users.items()]
            self._parts, self._dicts = [pl.DataFrame(rows, schema=self.schema, orient="row")], None
        return self._parts

    def frame(self) -> pl.DataFrame:
        """Return the window form: ``key, user_id, ts``, one row per pair."""
        parts = self._rows()
        if len(parts) > 1:
            parts[:] = [_latest(pl.concat(parts), self.key)]
        return parts[0]

    def of(self, keys: list[str]) -> pl.DataFrame:
        """Return the pairs of ``keys``."""
        parts = self._rows()
        mine = pl.concat(parts).filter(pl.col(self.key).is_in(keys))
        return mine if len(parts) == 1 else _latest(mine, self.key)  # one part: one row per pair already

    def add(self, latest: pl.DataFrame) -> None:
        """Put the pairs of ``latest`` (``key, user_id, ts``, one row per pair) in place of theirs.

        They are appended: the last row of a pair counts.
        """
        self._rows().append(latest.select(self.schema.names()).cast(self.schema))

    def replace(self, latest: pl.DataFrame, keep: pl.Expr) -> None:
        """Put the pairs of ``latest`` (``key, user_id, ts``, one row per pair) in place of theirs; keep where ``keep``.

        The pairs where ``keep`` does not hold are removed.
        """
        pairs = [self.key, "user_id"]
        old = self.frame().join(latest.select(pairs), on=pairs, how="anti")
        self._parts = [pl.concat([old, latest.filter(keep).select(self.schema.names()).cast(self.schema)])]


def _latest(rows: pl.DataFrame, key: str) -> pl.DataFrame:
    """Return the last row of each (``key``, user) pair, in the order of their last rows."""
    return rows.unique([key, "user_id"], keep="last", maintain_order=True)
