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

import polars as pl

from policies.triggers.config import BehaviourRule
from policies.triggers.rules.base import HOUR_US, MINUTE_US, Moment, group_start, number_text

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
_VIEWS = pl.Schema({"user_id": pl.String, "key": pl.String, "ts": pl.Int64, "seq": pl.Int64})
_BOUGHT = pl.Schema({"user_id": pl.String, "key": pl.String, "bought": pl.Int64, "seq": pl.Int64})
#: The cart adds still open after a window: ``(due, user_id, item_id, event_id)``.
OpenCart = tuple[int, str, str, str]
_CARTS = pl.Schema({"due": pl.Int64, "user_id": pl.String, "item_id": pl.String, "event_id": pl.String})
_WAITING = pl.Schema([*_CARTS.items(), ("seq", pl.Int64)])


class RepeatViews:
    """The ``repeat_views``-th view of one item (or category) by a user within the window, with no purchase of
    it by that user in the window. State: each (user, key)'s last N view times and last purchase time, held as
    frames between windows (:meth:`batch`) and as dicts while streaming (each form made from the other when the
    mode changes)."""

    def __init__(self, rule: BehaviourRule, category_of: Mapping[str, str]) -> None:
        self.rule = rule
        self.n = rule.repeat_views
        self.window_us = int(rule.repeat_window_hours * HOUR_US)
        self.category_of = category_of
        self._views: dict[_Key, list[int]] | None = {}
        self._purchases: dict[_Key, int] | None = {}
        self._frames: tuple[pl.DataFrame, pl.DataFrame] | None = None

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

    def _to_dicts(self) -> None:
        if self._frames is None:
            return
        views, bought = self._frames
        tails = views.group_by("user_id", "key", maintain_order=True).agg(pl.col("ts"))
        self._views = {(u, k): list(t) for u, k, t in tails.iter_rows()}
        self._purchases = {(u, k): b for u, k, b in bought.select("user_id", "key", "bought").iter_rows()}
        self._frames = None

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

    def _keyed(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.rule.repeat_by == "item":
            key = pl.col("item_id")
        else:
            key = pl.col("item_id").replace_strict(dict(self.category_of), default=None, return_dtype=pl.String)
        return frame.with_columns(key.alias("key")).filter(pl.col("key").is_not_null())

    def _state_frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        if self._frames is not None:
            return self._frames
        assert self._views is not None and self._purchases is not None
        users, keys, times, seqs = [], [], [], []
        for (user, key), stamps in self._views.items():
            for i, t in enumerate(stamps):
                users.append(user)
                keys.append(key)
                times.append(t)
                seqs.append(i - len(stamps))
        views = pl.DataFrame(
            {"user_id": users, "key": keys, "ts": times, "seq": seqs},
            schema=_VIEWS,
        )
        bought = pl.DataFrame(
            {
                "user_id": [u for u, _ in self._purchases],
                "key": [k for _, k in self._purchases],
                "bought": list(self._purchases.values()),
                "seq": [-(2**62)] * len(self._purchases),
            },
            schema=_BOUGHT,
        )
        self._views = self._purchases = None
        self._frames = (views, bought)
        return views, bought

    def batch(self, views: pl.DataFrame, purchases: pl.DataFrame, until: int) -> pl.DataFrame:
        """Every repeat-view moment of a window at once, then the state as of ``until``.

        ``views`` and ``purchases`` hold ``user_id, item_id, ts, seq, event_id`` (``ts`` in microseconds,
        ``seq`` the position in the stream).
        """
        n, window = self.n, self.window_us
        old_views, old_bought = self._state_frames()
        new = self._keyed(views).select("user_id", "key", "ts", "seq", "item_id", "event_id")
        every = pl.concat([old_views, new], how="diagonal")
        codes = [pl.col(c).cast(pl.Categorical).to_physical().alias(f"{c}_code") for c in ("user_id", "key")]
        # grouping needs only equal keys together: sorting by their categorical codes is twice as fast as by text
        every = every.with_columns(codes).sort("user_id_code", "key_code", "seq").drop("user_id_code", "key_code")
        bought = pl.concat(
            [old_bought, self._keyed(purchases).select("user_id", "key", pl.col("ts").alias("bought"), "seq")]
        ).sort("seq")
        start = pl.col("ts") - window
        group = ("user_id", "key")
        gid, ts = pl.col("gid"), pl.col("ts")
        marked = every.with_columns(group_start(*group).cum_sum().alias("gid")).with_columns(
            pl.when(gid.shift(n - 1) == gid).then(ts.shift(n - 1)).alias("back"),
            pl.when(gid.shift(n) == gid).then(ts.shift(n)).alias("before"),
            gid.shift(-n).ne_missing(gid).alias("in_tail"),
            pl.when(gid.shift(-1).ne_missing(gid)).then(ts).backward_fill().alias("latest"),
        )
        candidates = marked.filter(
            pl.col("event_id").is_not_null()
            & (pl.col("back") > start)
            & (pl.col("before").is_null() | (pl.col("before") <= start))
        )
        fired = candidates.sort("seq").join_asof(
            bought, on="seq", by=list(group), strategy="backward", check_sortedness=False
        )
        fired = fired.filter(pl.col("bought").is_null() | (pl.col("bought") <= start))
        what = "item" if self.rule.repeat_by == "item" else "category"
        moments = fired.select(
            (pl.lit("repeat_view:") + pl.col("event_id")).alias("moment_id"),
            "ts",
            "user_id",
            "item_id",
            pl.lit("repeat_view").alias("trigger"),
            pl.format(
                "viewed {} {} {} times in {} h, no purchase",
                pl.lit(what),
                "key",
                pl.lit(n),
                pl.lit(number_text(self.rule.repeat_window_hours)),
            ).alias("reason"),
        )
        tails = marked.filter(pl.col("in_tail") & (pl.col("latest") > until - window))
        tails = tails.select(_VIEWS.names())
        last = (
            bought.group_by("user_id", "key")
            .agg(pl.col("bought", "seq").last())
            .filter(pl.col("bought") > until - window)
        )
        self._frames = (tails, last.select(_BOUGHT.names()).sort("seq"))
        return moments

    def prune(self, now: int) -> None:
        """Forget keys that can no longer count (their last view or purchase left the window)."""
        edge = now - self.window_us
        if self._frames is not None:
            views, bought = self._frames
            recent = pl.col("ts").last().over("user_id", "key") > edge
            self._frames = (views.filter(recent), bought.filter(pl.col("bought") > edge))
            return
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
        """A cart add: open until resolved or due."""
        self.open_.setdefault((user_id, item_id), set()).add(event_id)

    def resolve(self, user_id: str, item_id: str) -> None:
        """A purchase or a cart removal closes every open cart add of that user and item."""
        self.open_.pop((user_id, item_id), None)

    def due(self, user_id: str, item_id: str, event_id: str, due: int) -> Moment | None:
        """The timer of cart add ``event_id`` is due: the moment, if the cart add is still open."""
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
        """Every cart-abandon moment due by ``until`` at once (a forward as-of join of each add against the next
        purchase or removal of its user and item), and the adds still open after ``until``.

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
