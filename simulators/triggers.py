"""The simulator's built-in trigger engine: five kinds of trigger moments and the guardrails before a policy.

A rule is anything with a ``kind`` and ``moments(context) -> Moments``; the
simulator takes any list of rules, so the full trigger engine (a later issue)
plugs in where these built-in ones stand. Guardrails then keep one moment per
user per day (by rule order), enforce the weekly frequency cap, consent, opt-out
and the holdout, and move sends out of quiet hours.

Examples
--------
>>> [rule.kind for rule in default_rules()]
['behaviour', 'inventory', 'social', 'lifecycle', 'time']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simulators.behaviour import US_PER_HOUR, DayActivity, choose_items, local_to_us
from simulators.history import History
from simulators.world import World


@dataclass
class Moments:
    """Trigger moments: who, which item, the trigger (a kind's sub-type), when it fired and when to send
    (µs since the scenario start)."""

    user: np.ndarray
    item: np.ndarray
    trigger: np.ndarray
    ts: np.ndarray
    send_at: np.ndarray

    FIELDS = ("user", "item", "trigger", "ts", "send_at")

    @classmethod
    def empty(cls) -> Moments:
        ints = np.empty(0, np.int64)
        return cls(ints, ints, np.empty(0, object), ints, ints)

    @classmethod
    def concat(cls, parts: Sequence[Moments]) -> Moments:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.FIELDS))

    def take(self, index: np.ndarray) -> Moments:
        return Moments(*(getattr(self, f)[index] for f in self.FIELDS))

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class TriggerContext:
    """What a rule may read: the world, the observable history, today's activity and recent views."""

    world: World
    history: History
    day: int
    today: DayActivity
    recent_views: list[tuple[np.ndarray, np.ndarray]]  # (user, item) per recent day, newest last
    new_items: np.ndarray
    stock_at_start: np.ndarray
    rng: np.random.Generator


class TriggerRule(Protocol):
    kind: str

    def moments(self, context: TriggerContext) -> Moments: ...


def _at_local_hour(context: TriggerContext, users: np.ndarray, hours: np.ndarray) -> np.ndarray:
    return local_to_us(context.world, users, context.day, hours.astype(float))


class BehaviourTrigger:
    """Abandoned carts and repeat views of an item not bought: sent an hour after the session."""

    kind = "behaviour"

    def moments(self, context: TriggerContext) -> Moments:
        v = context.today.views
        pair = v.user * context.world.items.n + v.item
        _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
        bought_pairs = np.isin(pair, pair[v.bought])
        carted_pairs = np.isin(pair, pair[v.carted])
        abandon = np.flatnonzero(v.carted & ~bought_pairs)
        repeat = np.flatnonzero((v.revisit | (counts[inverse] >= 2)) & ~carted_pairs)
        index = np.concatenate([abandon, repeat])
        trigger = np.array(["cart_abandon"] * len(abandon) + ["repeat_view"] * len(repeat), dtype=object)
        return Moments(v.user[index], v.item[index], trigger, v.ts[index], v.ts[index] + US_PER_HOUR)


class InventoryTrigger:
    """An item fell to its last units today: a scarcity alert to users who viewed it recently."""

    kind = "inventory"

    def moments(self, context: TriggerContext) -> Moments:
        threshold = context.world.scenario.triggers.low_stock_threshold
        stock = context.world.items.stock
        start = context.stock_at_start
        low = np.flatnonzero((stock[: len(start)] <= threshold) & (stock[: len(start)] > 0) & (start > threshold))
        if not len(low) or not context.recent_views:
            return Moments.empty()
        users = np.concatenate([u for u, _ in context.recent_views])
        items = np.concatenate([i for _, i in context.recent_views])
        hit = np.isin(items, low)
        pairs = np.unique(users[hit] * context.world.items.n + items[hit])
        users, items = pairs // context.world.items.n, pairs % context.world.items.n
        # the most recent viewers first would need timestamps; a random few per item keeps alerts scarce
        order = np.lexsort((context.rng.random(len(items)), items))
        users, items = users[order], items[order]
        rank = np.arange(len(items)) - np.searchsorted(items, items, side="left")
        keep = rank < context.world.scenario.triggers.inventory_max_per_item
        users, items = users[keep], items[keep]
        when = {int(i): int(t) for i, t in zip(context.today.sold_items, context.today.sold_ts, strict=True)}
        sent = np.array([when.get(int(i), context.day * 24 * US_PER_HOUR) for i in items], dtype=np.int64)
        return Moments(users, items, np.full(len(users), "low_stock", dtype=object), sent, sent + US_PER_HOUR // 2)


class SocialTrigger:
    """A followed merchant listed something new: priority notice to its followers."""

    kind = "social"

    def moments(self, context: TriggerContext) -> Moments:
        if not len(context.new_items):
            return Moments.empty()
        merchants = context.world.items.merchant[context.new_items]
        which, users = context.history.followers_of(merchants)
        cap = context.world.scenario.triggers.social_max_per_listing
        rank = np.arange(len(which)) - np.searchsorted(which, which, side="left")
        keep = rank < cap
        items, users = context.new_items[which[keep]], users[keep]
        listed = _at_local_hour(context, users, np.full(len(users), 9.0))
        send = np.maximum(listed, _at_local_hour(context, users, context.history.preferred_hour()[users]))
        kind = np.full(len(users), "new_listing", dtype=object)
        return Moments(users, items, kind, listed, send)


class LifecycleTrigger:
    """Lapsing users (declining or churned, as observed) get a retention moment every few days."""

    kind = "lifecycle"

    def moments(self, context: TriggerContext) -> Moments:
        t, life = context.world.scenario.triggers, context.world.scenario.lifecycle
        inactive = context.history.days_inactive(context.day)
        users = np.flatnonzero(
            (inactive >= life.declining_days)
            & (np.arange(context.world.users.n) % t.lifecycle_cadence_days == context.day % t.lifecycle_cadence_days)
        )
        items = _remembered_items(context, users, recommend=True)
        send = _at_local_hour(context, users, context.history.preferred_hour()[users])
        return Moments(users, items, np.full(len(users), "lapsing", dtype=object), send - US_PER_HOUR, send)


class TimeTrigger:
    """A periodic reminder of the item a recently active user looked at, sent at their observed best hour."""

    kind = "time"

    def moments(self, context: TriggerContext) -> Moments:
        t = context.world.scenario.triggers
        inactive = context.history.days_inactive(context.day)
        slot = np.arange(context.world.users.n) % t.time_cadence_days == (context.day + 3) % t.time_cadence_days
        users = np.flatnonzero(slot & (inactive < context.world.scenario.lifecycle.declining_days))
        items = _remembered_items(context, users)
        users, items = users[items >= 0], items[items >= 0]
        send = _at_local_hour(context, users, context.history.preferred_hour()[users])
        return Moments(users, items, np.full(len(users), "best_hour", dtype=object), send - US_PER_HOUR, send)


def _remembered_items(context: TriggerContext, users: np.ndarray, recommend: bool = False) -> np.ndarray:
    """The item each user viewed last, if still on sale; else a recommended one (or -1 without ``recommend``)."""
    items = context.world.users.last_viewed[users]
    on_sale = np.zeros(len(items), dtype=bool)
    on_sale[items >= 0] = context.world.items.stock[items[items >= 0]] > 0
    items = np.where(on_sale, items, -1)
    if recommend and (items < 0).any():
        items[items < 0] = choose_items(context.world, users[items < 0], context.day, context.rng)
    return items


def default_rules() -> list[TriggerRule]:
    """The five built-in kinds, in priority order (one moment per user per day: the first rule wins)."""
    return [BehaviourTrigger(), InventoryTrigger(), SocialTrigger(), LifecycleTrigger(), TimeTrigger()]


#: The trigger kind of each trigger sub-type.
TRIGGER_KIND = {
    "cart_abandon": "behaviour",
    "repeat_view": "behaviour",
    "low_stock": "inventory",
    "new_listing": "social",
    "lapsing": "lifecycle",
    "best_hour": "time",
}
