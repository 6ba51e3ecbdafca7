"""A batch's stateful checks as arrays: one table of candidates and recent sends, and the pairs the checks read.

The table holds the candidates and their users' recent kept sends; the pairs are (candidate, kept send).

Notes
-----
The table's rows are the recent sends (first, grouped by user) and then the candidates in the loop's order:
user by user, each user's in priority order (``rank``, ``ts``, ``moment_id``). Only integers are sorted:
users are numbered (``__user``, the row of the user's profile), a trigger is its ``rank`` (one rank per
trigger), and ``__row`` numbers the candidates in ``moment_id`` order (the guardrails' canonical order), so it
breaks the ties of ``rank`` and ``ts`` as ``moment_id`` does. Items are coded by hash.

A candidate's history is its user's recent sends and the user's candidates kept before it (:func:`pairs`): two
runs of rows, since the kept candidates, taken in the table's order, come user by user in priority order.

Examples
--------
>>> import polars as pl
>>> H = 3_600_000_000
>>> candidates = pl.DataFrame({"__row": [0, 1, 2], "__user": [0, 0, 1], "user_id": ["u1", "u1", "u2"],
...     "send_us": [30 * H, 20 * H, 9 * H], "ts_us": [0, 0, 0], "rank": [9, 0, 0], "moment_id": ["m1", "m2", "m3"],
...     "trigger": ["best_hour", "cart_abandon", "cart_abandon"], "item_id": [None, "i1", "i1"],
...     "local_day": [1, 0, 0], "open_channels": [1, 1, 1]}, schema_overrides={"__row": pl.UInt32})
>>> recent = pl.DataFrame({"user_id": ["u2", "u1", "u3"], "send_us": [2 * H, 1 * H, 0], "channel": ["email",
...     "in_app", "sms"], "trigger": ["lapsed"] * 3, "item_id": [None, None, "i1"], "local_day": [0, 0, 0],
...     "moment_id": ["k1", "k2", "k3"], "rank": [6, 6, 6]})
>>> table = Table.of(candidates, recent, ("in_app", "email", "sms"))
>>> table.n_recent, table.column("moment_id", np.arange(5)).to_list()  # recent sends by user, then the loop's
(2, ['k2', 'k1', 'm2', 'm1', 'm3'])
>>> table.channel.tolist(), table.no_item.tolist()
([0, 1, -1, -1, -1], [True, True, False, True, False])
>>> kept = np.array([True, False, False])  # m2 was kept
>>> owner, row = pairs(table, np.array([1, 2]), kept)  # the histories of m1 and m3
>>> owner.tolist(), table.column("moment_id", row).to_list()
([0, 0, 1], ['k2', 'm2', 'k1'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

#: The columns the sentences read, of the recent sends and the candidates.
WORDS = ("moment_id", "trigger", "item_id", "send_us", "local_day")


def _array(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).cast(pl.Int64).to_numpy()


@dataclass(frozen=True)
class Table:
    """The recent sends (rows ``0 .. n_recent - 1``) and the candidates (the rest) of a batch, as arrays.

    Per row: ``user`` (number), ``send`` (µs), ``channel`` (index in ``settings.channels``; -1 for another
    channel, or a candidate not kept yet: the batch fills it in for the candidates it keeps), ``rank`` (the
    trigger), ``item`` (a hash; ``no_item`` where null) and ``day`` (local day). Per candidate: ``start`` (its
    user's first candidate, counted among the candidates), ``recent_from`` / ``recent_to`` (the run of its
    user's recent sends) and ``open_channels``. ``frame`` holds the recent sends then the candidates in their
    input order (``__row``, ``tz`` and :data:`WORDS`); ``source`` maps a table row to its row there.
    """

    n_recent: int
    user: np.ndarray
    send: np.ndarray
    channel: np.ndarray
    rank: np.ndarray
    item: np.ndarray
    no_item: np.ndarray
    day: np.ndarray
    start: np.ndarray
    recent_from: np.ndarray
    recent_to: np.ndarray
    open_channels: np.ndarray
    source: np.ndarray
    frame: pl.DataFrame

    @classmethod
    def of(
        cls, candidates: pl.DataFrame, recent: pl.DataFrame, channels: Sequence[str], exact_items: bool = False
    ) -> Table:
        """Build the table of ``candidates`` and the ``recent`` kept sends.

        The candidates hold ``__row`` in ``moment_id`` order, ``__user``, ``user_id``, ``ts_us``, ``rank``,
        ``open_channels``, :data:`WORDS` and, if the sentences need it, ``tz``; the ``recent`` kept sends are the
        guardrails' state, and recent sends of other users are left out. Items are coded by a hash of
        the string (two items may share one, so a match must be checked), or with ``exact_items`` by the rank of
        the string.
        """
        loop = np.lexsort([_array(candidates, c) for c in ("__row", "ts_us", "rank", "__user")])
        users_ = _array(candidates, "__user")[loop]
        first = np.flatnonzero(np.diff(users_, prepend=-1))  # each user's first candidate
        mine = recent.join(candidates.select("user_id", "__user")[loop[first]], on="user_id")
        extra = ["tz"] if "tz" in candidates.columns else []
        frame = pl.concat([mine.select(WORDS), candidates.select(*WORDS, "__row", *extra)], how="diagonal_relaxed")
        n_recent = mine.height
        recent_users = _array(mine, "__user")
        by_user = np.argsort(recent_users, kind="stable")
        source = np.r_[by_user, n_recent + loop]
        index = {c: i for i, c in enumerate(channels)}
        channel = mine.select(pl.col("channel").replace_strict(index, default=-1, return_dtype=pl.Int64))
        items = frame.get_column("item_id")
        counts = np.bincount(recent_users, minlength=users_.max(initial=0) + 1)  # recent sends per user
        ends = np.cumsum(counts)
        return cls(
            n_recent=n_recent,
            user=np.r_[recent_users[by_user], users_],
            send=frame.get_column("send_us").to_numpy()[source],
            channel=np.r_[channel.to_series().to_numpy()[by_user], np.full(len(loop), -1)],
            rank=np.r_[_array(mine, "rank"), _array(candidates, "rank")][source],
            item=(items.rank("dense").cast(pl.UInt64).fill_null(0) if exact_items else items.hash()).to_numpy()[source],
            no_item=items.is_null().to_numpy()[source],
            day=frame.get_column("local_day").to_numpy()[source],
            start=np.repeat(first, np.diff(np.r_[first, len(users_)])),
            recent_from=(ends - counts)[users_],
            recent_to=ends[users_],
            open_channels=_array(candidates, "open_channels")[loop],
            source=source,
            frame=frame,
        )

    def column(self, name: str, rows: np.ndarray) -> pl.Series:
        """Return the values of a ``frame`` column at table ``rows``."""
        return self.frame.get_column(name).gather(self.source[rows])


def _before(table: Table, judged: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per candidate in ``judged``, where its user's kept candidates start and how many come before it.

    The start is the place among the kept candidates of its user's first.
    """
    before = np.r_[0, np.cumsum(kept)]  # kept candidates before each candidate
    first = before[table.start[judged]]
    return first, before[judged] - first


def kept_before(table: Table, judged: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """How many of its user's candidates that ``kept`` marks come before each candidate in ``judged``."""
    return _before(table, judged, kept)[1]


def pairs(table: Table, judged: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the history of each candidate in ``judged`` (indices among the candidates, ascending).

    Its user's recent sends, then the user's candidates that ``kept`` marks and that come before it. Returns, per pair,
    the place of its candidate in ``judged`` (ascending) and the table row of its send.
    """
    first_kept, n_kept = _before(table, judged, kept)
    n_recent = table.recent_to[judged] - table.recent_from[judged]
    lengths = n_recent + n_kept
    owner = np.repeat(np.arange(len(judged)), lengths)
    at = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # place in the history
    from_recent = at < n_recent[owner]
    row = np.empty(len(owner), dtype=np.int64)
    row[from_recent] = table.recent_from[judged][owner[from_recent]] + at[from_recent]
    later = ~from_recent
    kept_rows = table.n_recent + np.flatnonzero(kept)
    row[later] = kept_rows[first_kept[owner[later]] + at[later] - n_recent[owner[later]]]
    return owner, row
