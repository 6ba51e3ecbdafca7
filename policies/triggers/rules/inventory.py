"""Inventory rule: an item's stock falls to the low-stock threshold; the users who engaged with it lately hear.

Examples
--------
>>> import polars as pl
>>> from datetime import UTC, datetime
>>> items = pl.DataFrame({"item_id": ["i1", "i2"], "stock": [1, 5]})
>>> events = pl.DataFrame({"type": ["purchase", "view"], "item_id": ["i1", "i1"], "quantity": [2, 0]})
>>> stock_at_start(items, events)["stock"].to_list()
[3, 5]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from policies.triggers.config import InventoryRule
from policies.triggers.rules.base import HOUR_US, group_start, hours_text
from policies.triggers.rules.index import IdIndex, grown, last_of_each

ENGAGEMENTS: tuple[str, ...] = ("view", "favorite", "cart_add")
#: Stock as of a time: item positions in, units out (0 for items without stock).
StockAt = Callable[[np.ndarray], np.ndarray]
_NONE = np.iinfo(np.int64).min
_ENGAGED = pl.Schema({"item_id": pl.String, "user_id": pl.String, "ts": pl.Int64, "seq": pl.Int64})
#: The engagements held: the item's position in the stock's index and the user's in the users' (no text).
_HELD = pl.Schema({"item_position": pl.Int64, "position": pl.Int64, "ts": pl.Int64, "seq": pl.Int64})
#: One firing of :meth:`LowStock.purchase`, a row of ``_FIRINGS``: item, buyer, time, sequence, event, units left.
Firing = tuple[str, str, int, int, str, int]
_FIRINGS = pl.Schema(
    {
        "item_id": pl.String,
        "buyer": pl.String,
        "at": pl.Int64,
        "at_seq": pl.Int64,
        "event_id": pl.String,
        "left": pl.Int64,
    }
)


def units(quantity: pl.Expr) -> pl.Expr:
    """Units a purchase takes from stock: its quantity, or one when the quantity is missing or zero."""
    return pl.when(quantity.is_null() | (quantity <= 0)).then(1).otherwise(quantity).cast(pl.Int64)


class _Replay:
    """A window's purchases replayed forward onto the stock at its start (rewound when asked for an earlier point).

    ``upto(k)`` is the stock after the first ``k`` purchases.
    """

    def __init__(self, start: np.ndarray, where: np.ndarray, left: np.ndarray) -> None:
        self.start, self.where, self.left = start, where, left
        self.units, self.done = start.copy(), 0

    def upto(self, k: int) -> np.ndarray:
        if k < self.done:
            self.units, self.done = self.start.copy(), 0
        if k > self.done:
            where, left = self.where[self.done : k], self.left[self.done : k]
            rows = last_of_each(where)
            self.units[where[rows]] = left[rows]
            self.done = k
        return self.units


def stock_at_start(items: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """``items`` with ``stock`` put back to before ``events``: catalogue stock plus the units purchased in them.

    For a complete log whose items table holds the final stock (the simulator's output), this is the stock
    the engine starts from.
    """
    for frame, name, columns in ((items, "items", ("item_id", "stock")), (events, "events", ("type", "item_id"))):
        for column in columns:
            if column not in frame.columns:
                raise ValueError(f"{name}: missing column {column!r}")
    quantity = pl.col("quantity") if "quantity" in events.columns else pl.lit(None, dtype=pl.Int64)
    sold = events.filter(pl.col("type") == "purchase").group_by("item_id").agg(units(quantity).sum().alias("sold"))
    dtype = items.schema["stock"]
    return (
        items.join(sold, on="item_id", how="left")
        .with_columns((pl.col("stock") + pl.col("sold").fill_null(0)).cast(dtype).alias("stock"))
        .drop("sold")
    )


class Stock:
    """Units in stock per item, in an array by item position (items never given a stock have none).

    Examples
    --------
    >>> stock = Stock()
    >>> stock.set(pl.Series(["i1", "i2"]), pl.Series([3, 0]))
    >>> stock.put("i1", 2)
    >>> stock.get("i1"), stock.get("i9"), stock.of(stock.items.positions(pl.Series(["i2", "i9", "i1"]))).tolist()
    (2, None, [0, 0, 2])
    """

    def __init__(self, items: IdIndex | None = None) -> None:
        self.items = items if items is not None else IdIndex()
        self.units = np.empty(0, dtype=np.int64)

    def _grow(self) -> None:
        self.units = grown(self.units, len(self.items), _NONE)

    def set(self, ids: pl.Series, units: pl.Series) -> None:
        """Set the stock of items (the last row of a repeated item wins)."""
        positions = self.items.positions(ids.cast(pl.String), remember=False)
        self._grow()
        rows = last_of_each(positions)
        self.units[positions[rows]] = units.cast(pl.Int64).to_numpy()[rows]

    def get(self, item_id: str) -> int | None:
        """One item's stock (None if it has none)."""
        position = self.items.position_of(item_id)
        self._grow()
        units = int(self.units[position])
        return None if units == _NONE else units

    def put(self, item_id: str, units: int) -> None:
        """Set one item's stock."""
        position = self.items.position_of(item_id)
        self._grow()
        self.units[position] = units

    def of(self, positions: np.ndarray) -> np.ndarray:
        """Return the stock of the items at ``positions`` (0 for those without one)."""
        self._grow()
        units = self.units[positions]
        return np.where(units == _NONE, 0, units)


class LowStock:
    """Stock crosses from above ``low_stock_threshold`` to at or below it (and above zero) through a purchase.

    Then up to ``max_users_per_item`` of the users who most recently viewed, favourited or cart-added the item
    within ``lookback_hours`` (not the buyer) get a moment at the purchase.

    State: the stock per item and the engagements of the last ``lookback_hours`` (a frame of item and user
    positions in time order, plus a buffer of streamed rows folded in when needed). Users get their positions
    in ``users`` (give the engine's, so that a window's engagements can bring theirs along).
    """

    def __init__(self, rule: InventoryRule, stock: Stock, users: IdIndex | None = None) -> None:
        self.rule = rule
        self.lookback_us = int(rule.lookback_hours * HOUR_US)
        self.stock_ = stock
        self.users = users if users is not None else IdIndex()
        self.engaged_ = pl.DataFrame(schema=_HELD)
        self.buffer_: list[tuple[str, str, int, int]] = []

    def purchase(self, item_id: str, user_id: str, quantity: int, ts: int, seq: int, event_id: str) -> Firing | None:
        """Take a purchase from stock; the firing (a row for :meth:`resolve`) when it crosses the threshold."""
        before = self.stock_.get(item_id)
        if before is None:
            return None
        after = before - quantity
        self.stock_.put(item_id, after)
        threshold = self.rule.low_stock_threshold
        if before > threshold >= after > 0:
            return (item_id, user_id, ts, seq, event_id, after)
        return None

    def purchases(self, bought: pl.DataFrame) -> tuple[pl.DataFrame, Callable[[int], StockAt]]:
        """Take a window's purchases from stock at once; return the firings and the stock as of any time in it.

        The purchases hold ``item_id, user_id, ts, seq, event_id, units`` in stream order, perhaps ``item_position``,
        the item's position in the stock's index; they are taken as a running sum per item. The firings are rows for
        :meth:`resolve`; the stock as of any time in the window is ``stock_at(t)(positions)``: after the purchases
        strictly before ``t``, 0 for items without stock. Purchases of items without stock are ignored, as
        :meth:`purchase` does.

        Examples
        --------
        >>> from policies.triggers.config import InventoryRule
        >>> stock = Stock()
        >>> stock.set(pl.Series(["i1"]), pl.Series([3]))
        >>> rule = LowStock(InventoryRule(low_stock_threshold=1), stock)
        >>> bought = pl.DataFrame({"item_id": ["i1", "i1", "i9"], "user_id": ["a", "b", "c"], "ts": [1, 2, 3],
        ...                        "seq": [0, 1, 2], "event_id": ["e1", "e2", "e3"], "units": [1, 1, 1]})
        >>> firings, stock_at = rule.purchases(bought)
        >>> asked = stock.items.positions(pl.Series(["i1", "i9"]))
        >>> firings["event_id"].to_list(), stock_at(2)(asked).tolist(), stock.get("i1")
        (['e2'], [2, 0], 1)
        """
        stock = self.stock_
        if "item_position" in bought.columns:
            positions = bought["item_position"].to_numpy()
        else:
            positions = stock.items.positions(bought["item_id"], remember=False)
        stock._grow()
        start = stock.units[positions]
        taken = pl.col("units").cum_sum()
        marked = (
            bought.with_columns(pl.Series("position", positions), pl.Series("start", start))
            .filter(pl.col("start") != _NONE)
            .sort("position", "seq")
            .with_columns(
                (taken - pl.when(group_start("position")).then(taken - pl.col("units")).forward_fill()).alias("taken")
            )
            .with_columns((pl.col("start") - pl.col("taken")).alias("left"))
            .with_columns((pl.col("left") + pl.col("units")).alias("before"))
            .sort("seq")
        )
        threshold = self.rule.low_stock_threshold
        crossed = (pl.col("before") > threshold) & (pl.col("left") <= threshold) & (pl.col("left") > 0)
        firings = marked.filter(crossed).select(
            "item_id",
            pl.col("user_id").alias("buyer"),
            pl.col("ts").alias("at"),
            pl.col("seq").alias("at_seq"),
            "event_id",
            "left",
        )
        times, where, left = (marked[c].to_numpy() for c in ("ts", "position", "left"))
        at_start = stock.units.copy()
        replay = _Replay(at_start, where, left)

        def stock_at(t: int) -> StockAt:
            upto = int(np.searchsorted(times, t, side="left"))

            def of(asked: np.ndarray) -> np.ndarray:
                units = replay.upto(upto)
                if len(units) == 0:
                    return stock.of(asked)
                inside = asked < len(units)  # items added after the window began: their stock now
                found = np.where(inside, units[np.where(inside, asked, 0)], stock.of(asked))
                return np.where(found == _NONE, 0, found)

            return of

        rows = last_of_each(where)
        stock.units[where[rows]] = left[rows]
        return firings.cast(_FIRINGS), stock_at

    def engage(self, item_id: str, user_id: str, ts: int, seq: int) -> None:
        """One streamed view, favourite or cart add."""
        self.buffer_.append((item_id, user_id, ts, seq))

    def _held(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Return engagement rows in the held columns.

        The rows hold ``item_id, user_id, ts, seq``, or ``item_position`` and ``position`` in place of the ids.
        """
        if "item_position" in rows.columns:
            item = rows["item_position"]
        else:
            item = pl.Series(self.stock_.items.positions(rows["item_id"], remember=False))
        if "position" in rows.columns:
            user = rows["position"]
        else:
            user = pl.Series(self.users.positions(rows["user_id"], remember=False))
        columns = {"item_position": item, "position": user, "ts": rows["ts"], "seq": rows["seq"]}
        return pl.DataFrame(columns).cast(_HELD)

    def absorb(self, engagements: pl.DataFrame, now: int) -> None:
        """Fold the streamed buffer and a window's later engagements into the state, forgetting the too old."""
        parts = [self.engaged_]
        if self.buffer_:
            parts.append(self._held(pl.DataFrame(self.buffer_, schema=_ENGAGED, orient="row")))
            self.buffer_ = []
        held = pl.concat([*parts, self._held(engagements)])
        edge = now - self.lookback_us
        if held["ts"].is_sorted():  # rows in time order: the too old are a prefix, dropped without a copy
            held = held.slice(held["ts"].search_sorted(edge, side="right"))
        else:
            held = held.filter(pl.col("ts") > edge)
        self.engaged_ = held.rechunk() if held.n_chunks() > 32 else held

    def resolve(self, firings: list[Firing] | pl.DataFrame, engagements: pl.DataFrame | None = None) -> pl.DataFrame:
        """Return the moments of the firings: the most recent engagers of each item before its purchase.

        ``engagements`` are the window's engagement rows not yet absorbed (batch); streamed ones sit in the
        buffer.
        """
        if len(firings) == 0:
            return pl.DataFrame(schema={"moment_id": pl.String, "ts": pl.Int64, "user_id": pl.String})
        fired = firings if isinstance(firings, pl.DataFrame) else pl.DataFrame(firings, schema=_FIRINGS, orient="row")
        items = self.stock_.items.positions(fired["item_id"], remember=False)
        buyers = self.users.positions(fired["buyer"], remember=False)
        fired = fired.with_columns(pl.Series("item_position", items), pl.Series("buyer_position", buyers))
        wanted = np.zeros(len(self.stock_.items), dtype=bool)
        wanted[items] = True

        def of_fired(held: pl.DataFrame) -> pl.DataFrame:  # the rows of the fired items, picked by position
            return held.filter(pl.Series(wanted[held["item_position"].to_numpy()], dtype=pl.Boolean))

        parts = [of_fired(self.engaged_)]
        if engagements is not None:
            parts.append(of_fired(self._held(engagements)))
        if self.buffer_:
            streamed = pl.DataFrame(self.buffer_, schema=_ENGAGED, orient="row")
            parts.append(self._held(streamed.filter(pl.col("item_id").is_in(fired["item_id"].implode()))))
        pool = pl.concat(parts)
        k = self.rule.max_users_per_item
        engagers = (
            fired.join(pool, on="item_position")
            .filter(
                (pl.col("seq") < pl.col("at_seq"))
                & (pl.col("ts") > pl.col("at") - self.lookback_us)
                & (pl.col("position") != pl.col("buyer_position"))
            )
            .group_by("event_id", "position")
            .agg(pl.col("ts").max(), pl.col("item_id", "at", "left").first())
        )
        picked = (
            engagers.with_columns(self.users.ids_of(engagers["position"].to_numpy()).alias("user_id"))
            .sort(["event_id", "ts", "user_id"], descending=[False, True, False])
            .group_by("event_id", maintain_order=True)
            .head(k)
        )
        ago = [hours_text(a - t) for a, t in zip(picked["at"].to_list(), picked["ts"].to_list(), strict=True)]
        return picked.with_columns(pl.Series("ago", ago, dtype=pl.String)).select(
            pl.format("low_stock:{}:{}:{}", "item_id", "user_id", "event_id").alias("moment_id"),
            pl.col("at").alias("ts"),
            "user_id",
            "item_id",
            pl.lit("low_stock").alias("trigger"),
            pl.format("stock of item {} fell to {}; you viewed it {} ago", "item_id", "left", "ago").alias("reason"),
        )
