"""Behaviour rules: repeat views without a purchase (vectorised in batch) and abandoned carts (timers).

Examples
--------
>>> from policies.triggers.config import BehaviourRule
>>> rule = RepeatViews(BehaviourRule(repeat_views=2), category_of={})
>>> rule.push_view("u1", "i1", 0, "e1") is None
True
>>> rule.push_view("u1", "i1", 3_600_000_000, "e2").reason
'viewed item i1 2 times in 24 h, no purchase'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import polars as pl

from policies.triggers.config import BehaviourRule
from policies.triggers.rules.base import HOUR_US, MINUTE_US, Moment, number_text
from policies.triggers.rules.index import IdIndex
from policies.triggers.rules.runs import run_ends, same_as, sorted_by

#: The columns of moments before their send time: what the vectorised rules return.
RAW_MOMENTS = pl.Schema(
    {
        "moment_id": pl.String,
        "ts": pl.Int64,
        "user_id": pl.String,
        "item_id": pl.String,
        "trigger": pl.String,
        "reason": pl.String,
    }
)
_Key = tuple[str, str]
#: The cart adds still open after a window: ``(due, user_id, item_id, event_id)``.
OpenCart = tuple[int, str, str, str]
_CARTS = pl.Schema({"due": pl.Int64, "user_id": pl.String, "item_id": pl.String, "event_id": pl.String})
_WAITING = pl.Schema([*_CARTS.items(), ("seq", pl.Int64)])


class _Rows(NamedTuple):
    """Rows of the array state: user and key positions, a time (of a view, or of a purchase), stream positions."""

    user: np.ndarray
    key: np.ndarray
    ts: np.ndarray
    seq: np.ndarray

    def take(self, rows: np.ndarray) -> _Rows:
        return _Rows(*(column[rows] for column in self))

    def sorted(self, *last: np.ndarray) -> tuple[_Rows, np.ndarray]:
        """Return the rows sorted by user, key, seq (then ``last``), and the order that sorts them."""
        order = sorted_by(self.user, self.key, self.seq, *last)
        return self.take(order), order


def _joined(*parts: _Rows) -> _Rows:
    return _Rows(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


class RepeatViews:
    """A user's ``repeat_views``-th view of one item (or category) in the window, with no purchase of it by them there.

    State: each (user, key)'s last N view times and last purchase time, held as arrays of user and key positions
    between windows (:meth:`batch`) and as dicts while streaming (each form made from the other when the mode
    changes).

    Users get their positions in ``users`` and, by item, items in ``items`` (give the engine's, so that a window's
    views can bring theirs along); by default the rule keeps its own.
    """

    def __init__(
        self,
        rule: BehaviourRule,
        category_of: Mapping[str, str],
        users: IdIndex | None = None,
        items: IdIndex | None = None,
    ) -> None:
        self.rule = rule
        self.n = rule.repeat_views
        self.window_us = int(rule.repeat_window_hours * HOUR_US)
        self.category_of = category_of
        self.users = users if users is not None else IdIndex()
        self.keys = items if items is not None and rule.repeat_by == "item" else IdIndex()
        self._views: dict[_Key, list[int]] | None = {}
        self._purchases: dict[_Key, int] | None = {}
        self._arrays: tuple[_Rows, _Rows] | None = None

    @property
    def views_(self) -> dict[_Key, list[int]]:
        """Each (user, key)'s last N view times (the streaming form of the state)."""
        self._to_dicts()
        assert self._views is not None
        return self._views

    @views_.setter
    def views_(self, value: dict[_Key, list[int]]) -> None:
        self._to_dicts()
        self._views = value

    @property
    def purchases_(self) -> dict[_Key, int]:
        """Each (user, key)'s last purchase time (the streaming form of the state)."""
        self._to_dicts()
        assert self._purchases is not None
        return self._purchases

    @purchases_.setter
    def purchases_(self, value: dict[_Key, int]) -> None:
        self._to_dicts()
        self._purchases = value

    def _pairs(self, rows: _Rows) -> list[_Key]:
        users, keys = self.users.ids_of(rows.user).to_list(), self.keys.ids_of(rows.key).to_list()
        return list(zip(users, keys, strict=True))

    def _to_dicts(self) -> None:
        if self._arrays is None:
            return
        views, bought = self._arrays
        self._views = {}
        for pair, ts in zip(self._pairs(views), views.ts.tolist(), strict=True):
            self._views.setdefault(pair, []).append(ts)
        self._purchases = dict(zip(self._pairs(bought), bought.ts.tolist(), strict=True))
        self._arrays = None

    def _key(self, item_id: str | None) -> str | None:
        if item_id is None or self.rule.repeat_by == "item":
            return item_id
        return self.category_of.get(item_id)

    def _reason(self, key: str) -> str:
        what = "item" if self.rule.repeat_by == "item" else "category"
        hours = number_text(self.rule.repeat_window_hours)
        return f"viewed {what} {key} {self.n} times in {hours} h, no purchase"

    def push_view(self, user_id: str, item_id: str | None, ts: int, event_id: str) -> Moment | None:
        """One view, streaming: the moment it fires, if any."""
        key = self._key(item_id)
        if key is None:
            return None
        times = self.views_.setdefault((user_id, key), [])
        start = ts - self.window_us
        bought = self.purchases_.get((user_id, key))
        n = self.n
        fires = (
            len(times) >= n - 1
            and (n == 1 or times[-(n - 1)] > start)
            and (len(times) < n or times[-n] <= start)
            and (bought is None or bought <= start)
        )
        times.append(ts)
        if len(times) > n:
            del times[0]
        if not fires:
            return None
        return Moment(f"repeat_view:{event_id}", ts, user_id, item_id, "repeat_view", self._reason(key))

    def push_purchase(self, user_id: str, item_id: str | None, ts: int) -> None:
        """One purchase, streaming: no repeat-view moment for this key within the window after it."""
        key = self._key(item_id)
        if key is not None:
            self.purchases_[(user_id, key)] = ts

    def _rows(self, frame: pl.DataFrame) -> tuple[np.ndarray, _Rows]:
        """Return the rows of ``frame`` with a key, and their user and key positions, times and stream positions.

        ``frame`` holds ``user_id, item_id, ts, seq``, perhaps ``position`` and ``item_position``.
        """
        if self.rule.repeat_by == "item":
            key = frame["item_id"]
        else:
            key = frame["item_id"].replace_strict(dict(self.category_of), default=None, return_dtype=pl.String)
        rows = np.flatnonzero(key.is_not_null().to_numpy()) if key.null_count() else np.arange(frame.height)
        part = frame[rows] if len(rows) < frame.height else frame
        user = part["position"] if "position" in part.columns else self.users.positions(part["user_id"], False)
        by_item = self.rule.repeat_by == "item" and "item_position" in part.columns
        codes = part["item_position"] if by_item else self.keys.positions(key.gather(rows), remember=False)
        columns = (user, codes, part["ts"], part["seq"])
        return rows, _Rows(*(np.asarray(c, dtype=np.int64) for c in columns))

    def _state_arrays(self) -> tuple[_Rows, _Rows]:
        if self._arrays is not None:
            return self._arrays
        assert self._views is not None
        assert self._purchases is not None
        pairs = [pair for pair, stamps in self._views.items() for _ in stamps]
        times = [t for stamps in self._views.values() for t in stamps]
        seqs = [i - len(stamps) for stamps in self._views.values() for i in range(len(stamps))]
        views = self._state_rows(pairs, times, seqs)
        bought = self._state_rows(
            list(self._purchases), list(self._purchases.values()), [-(2**62)] * len(self._purchases)
        )
        self._views = self._purchases = None
        self._arrays = (views.sorted()[0], bought.sorted()[0])
        return self._arrays

    def _state_rows(self, pairs: list[_Key], times: list[int], seqs: list[int]) -> _Rows:
        users = self.users.positions(pl.Series([u for u, _ in pairs], dtype=pl.String), remember=False)
        keys = self.keys.positions(pl.Series([k for _, k in pairs], dtype=pl.String), remember=False)
        return _Rows(users, keys, np.asarray(times, dtype=np.int64), np.asarray(seqs, dtype=np.int64))

    def batch(self, views: pl.DataFrame, purchases: pl.DataFrame, until: int) -> pl.DataFrame:
        """Every repeat-view moment of a window at once, then the state as of ``until``.

        ``views`` and ``purchases`` hold ``user_id, item_id, ts, seq, event_id`` (``ts`` in microseconds,
        ``seq`` the position in the stream); views may bring ``position`` and ``item_position``, their user's and
        item's positions in the indexes given at construction. A view fires when the view ``n - 1`` before it
        of the same user and key lies within the window, the one ``n`` before does not, and the user's last
        purchase of the key before it (if any) does not either.

        Examples
        --------
        >>> rule = RepeatViews(BehaviourRule(repeat_views=2), category_of={})
        >>> views = pl.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["i"] * 3, "ts": [0, 5, 6],
        ...                       "seq": [0, 1, 2], "event_id": ["e1", "e2", "e3"]})
        >>> rule.batch(views, views.clear(), until=6)["moment_id"].to_list()
        ['repeat_view:e2']
        """
        n, window = self.n, self.window_us
        old, old_bought = self._state_arrays()
        rows, new = self._rows(views)
        every, order = _joined(old, new).sorted()
        row = np.concatenate([np.full(len(old.ts), -1), rows])[order]
        pair = (every.user, every.key)
        at, start = np.arange(len(every.ts)), every.ts - window
        back = every.ts[np.maximum(at - (n - 1), 0)]
        before = every.ts[np.maximum(at - n, 0)]
        candidate = (row >= 0) & same_as(pair, n - 1) & (back > start) & (~same_as(pair, n) | (before <= start))
        asked = every.take(candidate)
        bought, fired = self._bought(old_bought, self._rows(purchases)[1], asked, asked.ts - window)
        moments = self._moments(views, row[candidate][fired], asked.key[fired])
        latest = every.ts[run_ends(pair)]
        self._arrays = (
            every.take(~same_as(pair, -n) & (latest > until - window)),
            bought.take(bought.ts > until - window),
        )
        return moments

    @staticmethod
    def _bought(old: _Rows, new: _Rows, asked: _Rows, start: np.ndarray) -> tuple[_Rows, np.ndarray]:
        """Return each user and key's last purchase (old and new), and which ``asked`` views have no purchase before.

        The ``asked`` views come in stream order; one has no purchase when its user did not buy its key before it,
        or bought it only at or before ``start``.
        """
        bought = _joined(old, new)
        merged, order = _joined(bought, asked).sorted(np.repeat([0, 1], [len(bought.ts), len(asked.ts)]))
        latest = np.maximum.accumulate(np.where(order < len(bought.ts), np.arange(len(order)), -1))
        # the last purchase at or before each row, if it is of the row's user and key
        seen = latest >= 0
        seen[seen] &= (merged.user[latest[seen]] == merged.user[seen]) & (merged.key[latest[seen]] == merged.key[seen])
        is_asked = order >= len(bought.ts)
        ok = np.empty(len(asked.ts), dtype=bool)
        asked_at = order[is_asked] - len(bought.ts)
        ok[asked_at] = ~seen[is_asked] | (merged.ts[np.maximum(latest[is_asked], 0)] <= start[asked_at])
        last, _ = bought.sorted()
        fired = np.flatnonzero(ok)
        return last.take(~same_as((last.user, last.key), -1)), fired[np.argsort(asked.seq[fired], kind="stable")]

    def _moments(self, views: pl.DataFrame, rows: np.ndarray, keys: np.ndarray) -> pl.DataFrame:
        """Return the moments of the views at ``rows`` whose keys are ``keys``, in the views' order."""
        what = "item" if self.rule.repeat_by == "item" else "category"
        keys = keys[np.argsort(rows, kind="stable")]
        picked = np.zeros(views.height, dtype=bool)
        picked[rows] = True  # a filter keeps the window's chunks (a gather would first copy it into one)
        return views.filter(pl.Series(picked)).select(
            (pl.lit("repeat_view:") + pl.col("event_id")).alias("moment_id"),
            "ts",
            "user_id",
            "item_id",
            pl.lit("repeat_view").alias("trigger"),
            pl.format(
                "viewed {} {} {} times in {} h, no purchase",
                pl.lit(what),
                self.keys.ids_of(keys),
                pl.lit(self.n),
                pl.lit(number_text(self.rule.repeat_window_hours)),
            ).alias("reason"),
        )

    def prune(self, now: int) -> None:
        """Forget keys that can no longer count (their last view or purchase left the window)."""
        edge = now - self.window_us
        self.views_ = {k: v for k, v in self.views_.items() if v[-1] > edge}
        self.purchases_ = {k: v for k, v in self.purchases_.items() if v > edge}


class CartAbandon:
    """A cart add not followed by a purchase (or a cart removal) of that item within ``cart_abandon_minutes``.

    The engine keeps the timers; this keeps which cart adds are still open.
    """

    def __init__(self, rule: BehaviourRule) -> None:
        self.rule = rule
        self.delay_us = rule.cart_abandon_minutes * MINUTE_US
        self.open_: dict[_Key, set[str]] = {}

    def add(self, user_id: str, item_id: str, event_id: str) -> None:
        """Open a cart add, until it is resolved or due."""
        self.open_.setdefault((user_id, item_id), set()).add(event_id)

    def resolve(self, user_id: str, item_id: str) -> None:
        """Close every open cart add of that user and item (on a purchase or a cart removal)."""
        self.open_.pop((user_id, item_id), None)

    def due(self, user_id: str, item_id: str, event_id: str, due: int) -> Moment | None:
        """Return the moment of cart add ``event_id`` whose timer is due, if the cart add is still open."""
        open_adds = self.open_.get((user_id, item_id))
        if not open_adds or event_id not in open_adds:
            return None
        open_adds.discard(event_id)
        if not open_adds:
            del self.open_[(user_id, item_id)]
        reason = f"cart add of item {item_id} not bought for {self.rule.cart_abandon_minutes} min"
        return Moment(f"cart_abandon:{event_id}", due, user_id, item_id, "cart_abandon", reason)

    def batch(
        self, waiting: list[OpenCart], adds: pl.DataFrame, resolves: pl.DataFrame, until: int
    ) -> tuple[pl.DataFrame, list[OpenCart]]:
        """Return every cart-abandon moment due by ``until`` at once, and the adds still open after ``until``.

        A forward as-of join of each add against the next purchase or removal of its user and item.

        ``waiting`` are the timers of earlier adds (``(due, user_id, item_id, event_id)``; those no longer open
        are skipped); ``adds`` hold ``user_id, item_id, ts, seq, event_id`` and ``resolves`` (purchases and
        removals) ``user_id, item_id, ts, seq``, in stream order. An add fires at its due time unless resolved
        by an event strictly before it (an event at exactly the due time comes after the timer).

        Examples
        --------
        >>> rule = CartAbandon(BehaviourRule(cart_abandon_minutes=1))
        >>> adds = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "ts": [0], "seq": [0], "event_id": ["e1"]})
        >>> none = pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String, "ts": pl.Int64, "seq": pl.Int64})
        >>> moments, still_open = rule.batch([], adds, none, until=MINUTE_US)
        >>> moments["moment_id"].to_list(), still_open
        (['cart_abandon:e1'], [])
        """
        earlier = [w for w in waiting if w[3] in self.open_.get((w[1], w[2]), ())]
        old = pl.DataFrame(earlier, schema=_CARTS, orient="row").with_columns(pl.lit(-1, pl.Int64).alias("seq"))
        new = adds.select((pl.col("ts") + self.delay_us).alias("due"), "user_id", "item_id", "event_id", "seq")
        every = pl.concat([old, new.cast(_WAITING)], how="diagonal").sort("seq")
        closed = resolves.select("user_id", "item_id", pl.col("ts").cast(pl.Int64).alias("closed"), "seq").sort("seq")
        marked = every.join_asof(
            closed, on="seq", by=["user_id", "item_id"], strategy="forward", check_sortedness=False
        )
        fires = (pl.col("due") <= until) & (pl.col("closed").is_null() | (pl.col("closed") >= pl.col("due")))
        reason = f" not bought for {self.rule.cart_abandon_minutes} min"
        moments = marked.filter(fires).select(
            (pl.lit("cart_abandon:") + pl.col("event_id")).alias("moment_id"),
            pl.col("due").alias("ts"),
            "user_id",
            "item_id",
            pl.lit("cart_abandon").alias("trigger"),
            (pl.lit("cart add of item ") + pl.col("item_id") + pl.lit(reason)).alias("reason"),
        )
        waiting_after = marked.filter((pl.col("due") > until) & pl.col("closed").is_null())
        still_open: list[OpenCart] = list(waiting_after.select(_CARTS.names()).iter_rows())
        self.open_ = {}
        for _, user, item, event_id in still_open:
            self.open_.setdefault((user, item), set()).add(event_id)
        return moments, still_open
