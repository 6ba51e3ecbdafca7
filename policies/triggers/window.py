"""A window of events for :meth:`policies.triggers.engine.TriggerEngine.run`: checked, numbered and cut in parts.

Each part is what one vectorised rule reads.

Examples
--------
>>> from datetime import UTC, datetime
>>> events = pl.DataFrame({"event_id": ["e1", "e2"], "ts": [datetime(2026, 3, 1, tzinfo=UTC)] * 2,
...                        "user_id": ["u1", "u1"], "type": ["cart_add", "purchase"], "item_id": ["i1", "i1"]})
>>> window = Window.of(prepare(events, now=None, seq=10))
>>> window.adds["seq"].to_list(), window.resolves["seq"].to_list(), window.purchases["units"].to_list()
([10], [11], [1])
>>> from policies.triggers.rules.index import IdIndex
>>> users, items = IdIndex(["u0", "u1"]), IdIndex(["i0", "i1"])
>>> window = Window.of(prepare(events, now=None, seq=10), users, items)
>>> window.purchases.select("position", "item_position").row(0)
(1, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.schemas import EVENTS
from policies.triggers.rules.base import from_us
from policies.triggers.rules.index import IdIndex
from policies.triggers.rules.inventory import ENGAGEMENTS, units

#: The event columns the engine reads (the rest of the contract may be absent).
EVENT_COLUMNS: tuple[str, ...] = ("event_id", "ts", "user_id", "type", "item_id", "merchant_id", "price", "quantity")
_OPTIONAL = ("merchant_id", "price", "quantity")


def require(frame: pl.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise a ``ValueError`` naming the first of ``columns`` missing from ``frame``."""
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{name}: missing column {column!r}; present: {', '.join(frame.columns)}")


def prepare(events: pl.DataFrame, now: int | None, seq: int) -> pl.DataFrame:
    """Check the events (columns, nulls, sorted by ts, none before ``now``) and add ``us`` and ``seq``.

    ``us`` is ts in microseconds and ``seq`` the position in the stream, from ``seq``.
    """
    require(events, "events", tuple(c for c in EVENT_COLUMNS if c not in _OPTIONAL))
    missing = [pl.lit(None, dtype=EVENTS[c]).alias(c) for c in _OPTIONAL if c not in events.columns]
    frame = events.with_columns(missing) if missing else events
    casts = [pl.col(c).cast(EVENTS[c]) for c in EVENT_COLUMNS if c != "ts" and frame.schema[c] != EVENTS[c]]
    frame = frame.with_columns(casts) if casts else frame
    if not isinstance(frame.schema["ts"], pl.Datetime):
        raise ValueError(f"events: column 'ts' has dtype {frame.schema['ts']}, expected {EVENTS['ts']}")
    for column in ("event_id", "ts", "user_id", "type"):
        nulls = frame[column].null_count()
        if nulls:
            row = int(frame[column].is_null().arg_max() or 0)
            raise ValueError(f"events: column {column!r} is null at row {row}")
    us = frame["ts"].dt.replace_time_zone(None).dt.cast_time_unit("us").dt.epoch("us")
    back = np.flatnonzero(np.diff(us.to_numpy()) < 0)
    if len(back):
        row = int(back[0]) + 1
        raise ValueError(
            f"events: not sorted by ts at row {row} (event {frame['event_id'][row]} at {frame['ts'][row]} "
            f"comes after {frame['ts'][row - 1]})"
        )
    if now is not None and us[0] < now:
        raise ValueError(
            f"events: row 0 (event {frame['event_id'][0]}) at {frame['ts'][0]} is before the time already "
            f"processed ({from_us(now)})"
        )
    return frame.with_columns(us.alias("us"), pl.int_range(seq, seq + frame.height, dtype=pl.Int64).alias("seq"))


@dataclass(frozen=True)
class Window:
    """The parts of a prepared window (all in stream order, ``ts`` in microseconds).

    Attributes
    ----------
    views, purchases, adds
        Views, purchases and cart adds with an item: ``user_id, item_id, ts, seq, event_id`` (purchases also
        ``units``, the units taken from stock).
    resolves
        Purchases and cart removals with an item (they close the user's open cart adds of it).
    engaged
        Views, favourites and cart adds with an item: ``item_id, user_id, ts, seq``.
    favourites
        Favourites: ``item_id, user_id, ts, seq``.
    follows
        Follows and unfollows of a merchant: ``merchant_id, user_id, ts, seq, on``.
    priced
        Events with an item and a price: ``item_id, price, ts, seq, event_id``.
    """

    views: pl.DataFrame
    purchases: pl.DataFrame
    adds: pl.DataFrame
    resolves: pl.DataFrame
    engaged: pl.DataFrame
    favourites: pl.DataFrame
    follows: pl.DataFrame
    priced: pl.DataFrame

    @classmethod
    def of(cls, frame: pl.DataFrame, users: IdIndex | None = None, items: IdIndex | None = None) -> Window:
        """Cut a frame from :func:`prepare` (each part straight from it, in one parallel collect).

        Given the indexes, views, purchases and engagements also hold ``position`` (the user's) and ``item_position``,
        and priced events ``item_position``.
        """
        ts = pl.col("us").alias("ts")
        events, kind, item = frame.lazy(), pl.col("type"), pl.col("item_id").is_not_null()
        item_at: list[str] = []  # the position columns: of items, and of users
        user_at: list[str] = []
        if items is not None:
            events = events.with_columns(_positions(frame["item_id"], items).alias("item_position"))
            item_at = ["item_position"]
        if users is not None:  # the users of views, purchases and engagements
            rows = frame["item_id"].is_not_null() & frame["type"].is_in([*ENGAGEMENTS, "purchase"])
            events = events.with_columns(_positions(frame["user_id"], users, rows).alias("position"))
            user_at = ["position"]
        where = [*item_at, *user_at]
        picked: list[str | pl.Expr] = ["user_id", "item_id", ts, "seq", "event_id"]
        engaged: list[str | pl.Expr] = ["item_id", "user_id", ts, "seq"]
        taken = units(pl.col("quantity")).alias("units")
        priced: list[str | pl.Expr] = ["item_id", "price", ts, "seq", "event_id", *item_at]
        follows = kind.is_in(["follow_merchant", "unfollow_merchant"]) & pl.col("merchant_id").is_not_null()
        parts = [
            events.filter(item & (kind == "view")).select(*picked, *where),
            events.filter(item & (kind == "purchase")).select(*picked, *where, taken),
            events.filter(item & (kind == "cart_add")).select(picked),
            events.filter(item & kind.is_in(["purchase", "cart_remove"])).select("user_id", "item_id", ts, "seq"),
            events.filter(item & kind.is_in(ENGAGEMENTS)).select(*engaged, *where),
            events.filter(item & (kind == "favorite")).select(engaged),
            events.filter(follows).select("merchant_id", "user_id", ts, "seq", (kind == "follow_merchant").alias("on")),
            events.filter(item & pl.col("price").is_not_null()).select(priced),
        ]
        return cls(*pl.collect_all(parts))


def _positions(ids: pl.Series, index: IdIndex, rows: pl.Series | None = None) -> pl.Series:
    """Return the position of each id in ``index`` (of the ``rows`` only, if given; -1 for the others and null ids)."""
    if rows is None and not ids.null_count():
        return pl.Series(index.positions(ids, remember=False), dtype=pl.Int64)
    known = (ids.is_not_null() if rows is None else rows & ids.is_not_null()).to_numpy()
    out = np.full(len(ids), -1, dtype=np.int64)
    out[known] = index.positions(ids.filter(known), remember=False)
    return pl.Series(out, dtype=pl.Int64)
