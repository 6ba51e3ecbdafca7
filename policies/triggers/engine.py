"""The trigger engine: one state, fed a window of events at a time (batch) or one event at a time (streaming).

Rules live in :mod:`policies.triggers.rules`; settings in :class:`policies.triggers.config.TriggerConfig`.
Time moves with the events: before an event at ``ts`` is taken in, every timer and daily tick due at or
before ``ts`` fires, so an event at exactly a deadline comes after it. Moments are returned in the
``MOMENTS`` schema, sorted by ``(ts, moment_id)``.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> import polars as pl
>>> from policies.triggers.config import load_trigger_config
>>> t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
>>> items = pl.DataFrame({"item_id": ["i1"], "merchant_id": ["m1"], "category": ["bags"], "price": [50.0],
...                       "listed_at": [t0 - timedelta(days=9)], "stock": [4]})
>>> users = pl.DataFrame({"user_id": ["u1"], "signup_ts": [t0 - timedelta(days=99)], "tz": ["Europe/Berlin"]})
>>> events = pl.DataFrame({"event_id": ["e1", "e2", "e3"], "ts": [t0 + timedelta(minutes=m) for m in (0, 5, 9)],
...                        "user_id": ["u1"] * 3, "type": ["view"] * 3, "item_id": ["i1"] * 3})
>>> engine = TriggerEngine(load_trigger_config(), items, users)
>>> engine.run(events).select("moment_id", "reason").row(0)
('repeat_view:e3', 'viewed item i1 3 times in 24 h, no purchase')
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from features.lifecycle import ChurnScorer
from features.schemas import EVENTS, MOMENTS, TRIGGER_KINDS
from policies.triggers.config import TriggerConfig
from policies.triggers.rules.base import (
    DAY_US,
    HOUR_US,
    Moment,
    from_us,
    to_us,
)
from policies.triggers.rules.behaviour import RAW_MOMENTS, CartAbandon, RepeatViews
from policies.triggers.rules.daily import BestHour, Lifecycle
from policies.triggers.rules.index import IdIndex
from policies.triggers.rules.inventory import ENGAGEMENTS, LowStock, Stock, StockAt
from policies.triggers.rules.social import Social
from policies.triggers.sending import BestHours, moment_send_times, zones_by_position
from policies.triggers.sources import SOURCE_COLUMNS, EventLogFeatureSource, UserFeatureSource
from policies.triggers.window import EVENT_COLUMNS, Window, prepare
from policies.triggers.window import require as _require

__all__ = ["EVENT_COLUMNS", "TriggerEngine"]
_STATEFUL = frozenset({"cart_add", "cart_remove", "purchase", "favorite", "follow_merchant", "unfollow_merchant"})


class TriggerEngine:
    """Trigger moments from an event log, in windows (:meth:`run`) or event by event (:meth:`push`).

    Parameters
    ----------
    config
        The rules' settings (``config.rules``) and the daily tick hour.
    items
        The catalogue with ``stock`` as of the engine's start (see
        :func:`policies.triggers.rules.inventory.stock_at_start`).
    users
        ``user_id, signup_ts, tz``.
    features
        Where the daily rules read user features; by default an :class:`EventLogFeatureSource` over the
        events the engine has taken in.
    scorer
        Churn risk for the lifecycle rule (default :class:`features.lifecycle.RecencyChurnScorer`).

    Notes
    -----
    Consecutive windows give the moments one window over all of them gives, and :meth:`push` of each event
    followed by :meth:`advance` gives what :meth:`run` gives. Send times at the best hour use each user's
    ``preferred_hour`` as of the latest daily tick at or before the moment (the fallback hour before the
    first tick).
    """

    def __init__(
        self,
        config: TriggerConfig,
        items: pl.DataFrame,
        users: pl.DataFrame,
        features: UserFeatureSource | None = None,
        scorer: ChurnScorer | None = None,
    ) -> None:
        _require(users, "users", ("user_id", "signup_ts", "tz"))
        self.config = config
        rules = config.rules
        self._stock = Stock()
        self._category: dict[str, str] = {}
        self._merchant: dict[str, str] = {}
        self._price: dict[str, float] = {}
        signup = users["signup_ts"].dt.epoch("us").to_list()
        self._signups: dict[str, int] = dict(zip(users["user_id"].to_list(), signup, strict=True))
        self._own_source: EventLogFeatureSource | None = None
        if features is None:
            features = self._own_source = EventLogFeatureSource(pl.DataFrame(schema=EVENTS), items.head(0), users)
        self.features: UserFeatureSource = features
        self._log: list[dict[str, Any]] = []
        self._index = index = IdIndex(users["user_id"].cast(pl.String).to_list(), hashed=True)
        self._repeat = RepeatViews(rules.behaviour, self._category, index, self._stock.items)
        self._cart = CartAbandon(rules.behaviour)
        self._low = LowStock(rules.inventory, self._stock, index)
        self._zones = zones_by_position(index, users)
        self._hours = BestHours(index, rules.time.fallback_hour)
        self._best = BestHour(rules.time, self._stock, index)
        self._social = Social(rules.social, self._merchant, self._price, self._stock.items)
        self._lifecycle = Lifecycle(rules.lifecycle, self._signups, scorer, index)
        self._next_tick: int | None = None
        self._carts: list[tuple[int, int, str, str, str]] = []
        self._listed: list[tuple[int, int, str]] = []
        self._listings: list[tuple[int, str]] = []
        self._order = 0
        self._seq = 0
        self._start: int | None = None
        self._now: int | None = None
        self._moments: list[Moment] = []
        self._frames: list[pl.DataFrame] = []
        self._pending_views: pl.DataFrame | None = None
        self._pending_ts = np.empty(0, dtype=np.int64)
        self._pending_at = 0
        self.add_items(items)

    # ---------------------------------------------------------------- inputs
    def add_items(self, items: pl.DataFrame) -> None:
        """Add listings (or restock known ones): their stock, price and merchant, and a new-listing timer.

        The timer is at ``listed_at`` for those listed at or after the engine's start.
        """
        _require(items, "items", ("item_id", "merchant_id", "category", "price", "listed_at", "stock"))
        ids = items["item_id"].to_list()
        self._stock.set(items["item_id"], items["stock"])
        self._category.update(zip(ids, items["category"].to_list(), strict=True))
        self._merchant.update(zip(ids, items["merchant_id"].to_list(), strict=True))
        self._social.add_prices(zip(ids, items["price"].to_list(), strict=True))
        listed = items["listed_at"].dt.epoch("us").to_list()
        for item, at in zip(ids, listed, strict=True):
            if at is not None:
                self._list(at, item)
        if self._own_source is not None and self._start is not None:
            self._own_source.add_items(items)
        elif self._own_source is not None:
            self._own_source.items = pl.concat([self._own_source.items, items], how="diagonal_relaxed")

    def _list(self, at: int, item: str) -> None:
        if self._start is None:
            self._listings.append((at, item))
        elif at >= self._start:
            heapq.heappush(self._listed, (at, self._order, item))
            self._order += 1

    def _begin(self, now: int) -> None:
        self._start = now
        hour = self.config.tick_hour_utc * HOUR_US
        self._next_tick = (now - hour + DAY_US - 1) // DAY_US * DAY_US + hour
        for at, item in self._listings:
            self._list(at, item)
        self._listings = []

    # ---------------------------------------------------------------- time
    def _fire_due(self, now: int) -> None:
        """Fire the timers due at or before ``now``: ticks, cart timers, listings.

        They touch separate state, so their order among themselves does not matter.
        """
        social = self.config.rules.social
        self._fire_ticks(now)
        while self._carts and self._carts[0][0] <= now:
            due, _, user, item, event_id = heapq.heappop(self._carts)
            moment = self._cart.due(user, item, event_id, due)
            if moment is not None:
                self._moments.append(moment)
        for due, item in self._pop_listed(now):
            if social.enabled and social.new_listing:
                self._moments.extend(self._social.listed(item, due))

    def _fire_ticks(self, now: int, stock_at: Callable[[int], StockAt] | None = None) -> None:
        while self._next_tick is not None and self._next_tick <= now:
            self._tick(self._next_tick, None if stock_at is None else stock_at(self._next_tick))
            self._next_tick += DAY_US

    def _pop_listed(self, now: int) -> list[tuple[int, str]]:
        due = []
        while self._listed and self._listed[0][0] <= now:
            at, _, item = heapq.heappop(self._listed)
            due.append((at, item))
        return due

    def _needs_features(self) -> bool:
        rules = self.config.rules
        best = any(r.enabled and r.at_best_hour for r in (rules.behaviour, rules.inventory, rules.social))
        return rules.time.enabled or rules.lifecycle.enabled or best

    def _tick(self, now: int, stock_at: StockAt | None = None) -> None:
        if self._pending_views is not None:
            upto = int(np.searchsorted(self._pending_ts, now, side="left"))
            if upto > self._pending_at:
                self._best.views(self._pending_views.slice(self._pending_at, upto - self._pending_at))
                self._pending_at = upto
        if not self._needs_features():
            return
        if self._own_source is not None and self._log:
            self._own_source.extend(pl.DataFrame(self._log, schema=EVENTS))
            self._log = []
        features = self.features.user_features(from_us(now))
        _require(features, "user features", SOURCE_COLUMNS)
        self._hours.add(now, self._index.positions(features["user_id"]), features["preferred_hour"].cast(pl.Int64))
        rules = self.config.rules
        if rules.lifecycle.enabled:
            self._lifecycle.record(features, now)
        if rules.time.enabled:
            self._best.record(now, self._hours.hours[-1], stock_at)

    def advance(self, now: datetime) -> pl.DataFrame:
        """Fire every timer and daily tick due at or before ``now``; the moments they make."""
        at = to_us(now)
        if self._now is not None and at < self._now:
            raise ValueError(f"advance: {now} is before the time already processed ({from_us(self._now)})")
        if self._start is None:
            self._begin(at)
        self._fire_due(at)
        self._now = at
        return self._flush()

    # ---------------------------------------------------------------- one event
    def _handle(self, row: tuple[Any, ...]) -> None:
        event_id, ts, user, kind, item, merchant, price, quantity, seq, previous = row
        rules = self.config.rules
        if kind == "cart_add" and item is not None:
            if rules.behaviour.enabled:
                self._cart.add(user, item, event_id)
                heapq.heappush(self._carts, (ts + self._cart.delay_us, self._order, user, item, event_id))
                self._order += 1
        elif kind == "cart_remove" and item is not None:
            self._cart.resolve(user, item)
        elif kind == "purchase" and item is not None:
            self._cart.resolve(user, item)
            self._repeat.push_purchase(user, item, ts)
            taken = quantity if quantity is not None and quantity > 0 else 1
            fired = self._low.purchase(item, user, taken, ts, seq, event_id)
            if fired is not None and rules.inventory.enabled:
                self._frames.append(self._low.resolve([fired]))
        elif kind == "favorite":
            self._social.favourite(user, item, ts)
        elif kind in ("follow_merchant", "unfollow_merchant"):
            self._social.follow(user, merchant, ts, kind == "follow_merchant")
        if previous is not None and rules.social.enabled:
            self._moments.extend(self._social.price_seen(item, price, ts, event_id, previous))

    def push(self, event: Mapping[str, Any]) -> pl.DataFrame:
        """Take in one event (a mapping with the event columns); the moments due up to it and made by it."""
        for column in ("event_id", "ts", "user_id", "type"):
            if event.get(column) is None:
                raise ValueError(f"event: missing column {column!r}")
        ts = to_us(event["ts"])
        if self._now is not None and ts < self._now:
            raise ValueError(
                f"event {event['event_id']}: ts {event['ts']} is before the time already processed "
                f"({from_us(self._now)}); events must be sorted by ts"
            )
        if self._start is None:
            self._begin(ts)
        self._fire_due(ts)
        self._now = ts
        seq, self._seq = self._seq, self._seq + 1
        user, kind, item, price = event["user_id"], event["type"], event.get("item_id"), event.get("price")
        rules = self.config.rules
        if kind == "view" and item is not None:
            if rules.behaviour.enabled:
                moment = self._repeat.push_view(user, item, ts, event["event_id"])
                if moment is not None:
                    self._moments.append(moment)
            self._best.view(user, item, ts)
        if kind in ENGAGEMENTS and item is not None:
            self._low.engage(item, user, ts, seq)
            if len(self._low.buffer_) > 50_000:
                self._low.absorb(pl.DataFrame(schema=self._low.engaged_.schema), ts)
        previous = None
        if price is not None and item is not None and rules.social.price_drop:
            previous = self._social.price_drop_of(item, float(price))
        if kind in _STATEFUL or previous is not None:
            row = (event["event_id"], ts, user, kind, item, event.get("merchant_id"), price)
            self._handle((*row, event.get("quantity"), seq, previous))
        if self._own_source is not None:
            self._log.append({c: event.get(c) for c in EVENTS.names()})
        return self._flush()

    # ---------------------------------------------------------------- a window
    def run(self, events: pl.DataFrame, until: datetime | None = None) -> pl.DataFrame:
        """Take in a window of events, fire timers and ticks up to ``until``, and return the window's moments.

        The events come sorted by ts, none before what was processed; ``until`` defaults to the last event's ts.

        Every rule is vectorised over the window: cart timers as a forward as-of join against purchases and
        removals, stock crossings as running sums per item, listings and price drops as joins against the
        follow and favourite state; the daily ticks fire in order, each with the stock as of its time.
        """
        if events.height == 0:
            return self.advance(until) if until is not None else self._flush()
        frame = prepare(events, self._now, self._seq)
        last = int(frame["us"][-1])
        end = last if until is None else to_us(until)
        if end < last:
            raise ValueError(f"run: until {until} is before the last event ({from_us(last)})")
        self._seq += frame.height
        if self._start is None:
            self._begin(int(frame["us"][0]))
        rules = self.config.rules
        window = Window.of(frame, self._index, self._stock.items)
        views = window.views
        if rules.behaviour.enabled:
            self._frames.append(self._repeat.batch(views, window.purchases, end))
        drops = None
        if rules.social.price_drop:
            marks = self._social.price_drops(window.priced.select("item_id", "price", "item_position"))
            drops = window.priced.with_columns(marks["previous"]).filter(marks["drop"])
        if self._own_source is not None:
            self._own_source.extend(events.select([c for c in EVENTS.names() if c in events.columns]))
        self._pending_views, self._pending_ts, self._pending_at = views, views["ts"].to_numpy(), 0
        firings, stock_at = self._low.purchases(window.purchases)
        self._fire_ticks(end, stock_at)
        self._best.views(views.slice(self._pending_at))
        self._pending_views = None
        if rules.behaviour.enabled:
            waiting = [(due, user, item, event_id) for due, _, user, item, event_id in self._carts]
            carts, still_open = self._cart.batch(waiting, window.adds, window.resolves, end)
            self._carts = [(due, self._order + k, u, i, e) for k, (due, u, i, e) in enumerate(still_open)]
            self._order += len(self._carts)
            heapq.heapify(self._carts)
            self._frames.append(carts)
        listed = self._pop_listed(end)
        if listed and rules.social.enabled and rules.social.new_listing:
            self._frames.append(self._social.listings(listed, window.follows))
        if drops is not None and drops.height and rules.social.enabled:
            self._frames.append(self._social.drop_moments(drops, window.favourites))
        self._social.favourites(window.favourites)
        self._social.follows(window.follows)
        if rules.inventory.enabled and firings.height:
            self._frames.append(self._low.resolve(firings, window.engaged))
        self._low.absorb(window.engaged, end)
        self._now = end
        return self._flush()

    # ---------------------------------------------------------------- output
    def _flush(self) -> pl.DataFrame:
        self._frames.extend(f for f in (self._lifecycle.drain(), self._best.drain()) if f.height)
        if not self._moments and not self._frames:
            return pl.DataFrame(schema=MOMENTS)
        listed = pl.DataFrame(
            [(m.moment_id, m.ts, m.user_id, m.item_id, m.trigger, m.reason) for m in self._moments],
            schema=RAW_MOMENTS,
            orient="row",
        )
        parts = [listed, *(_raw(f) for f in self._frames)]
        raw = pl.concat(parts) if len(parts) > 1 else listed
        self._moments, self._frames = [], []
        send = moment_send_times(raw, self.config.rules, self._hours, self._index, self._zones)
        self._hours.keep_last()
        frame = raw.with_columns(
            pl.col("ts").cast(MOMENTS["ts"]),
            pl.col("trigger").replace_strict(TRIGGER_KINDS, return_dtype=pl.String).alias("trigger_kind"),
            send.alias("send_at").cast(pl.Int64).cast(MOMENTS["send_at"]),
        )
        return frame.select(MOMENTS.names()).sort("ts", "moment_id")


def _raw(frame: pl.DataFrame) -> pl.DataFrame:
    """Put a rule's moments in the :data:`RAW_MOMENTS` columns and types (cast only when they differ)."""
    if frame.schema != RAW_MOMENTS:
        frame = frame.select(RAW_MOMENTS.names())
    return frame if frame.schema == RAW_MOMENTS else frame.cast(RAW_MOMENTS)
