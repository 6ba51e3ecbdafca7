"""One day of organic behaviour: sessions by local hour, the view → cart → purchase funnel,
and the behaviour-trigger moments it leaves behind (abandoned carts, repeat views).

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> rng = np.random.default_rng(3)
>>> world = World.create(load_scenario("small").model_copy(update={"n_users": 300}), rng)
>>> days = [simulate_day(world, d, rng) for d in range(2)]
>>> sorted(set(days[1].moments.trigger))
['cart_abandon', 'repeat_view']
>>> bool((world.items.stock >= 0).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulators.world import World, sigmoid

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR


@dataclass
class EventBatch:
    """Events as parallel arrays (timestamps in µs since the scenario start, indices into the world)."""

    ts: list[np.ndarray] = field(default_factory=list)
    user: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    item: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        kind: str,
        ts: np.ndarray,
        user: np.ndarray,
        item: np.ndarray | None = None,
        channel: np.ndarray | None = None,
    ) -> None:
        n = len(ts)
        if n == 0:
            return
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.user.append(np.asarray(user, dtype=np.int64))
        self.kind.append(np.full(n, kind, dtype=object))
        self.item.append(np.full(n, -1, dtype=np.int64) if item is None else np.asarray(item, dtype=np.int64))
        self.channel.append(np.full(n, None, dtype=object) if channel is None else np.asarray(channel, dtype=object))

    def extend(self, other: EventBatch) -> None:
        for name in ("ts", "user", "kind", "item", "channel"):
            getattr(self, name).extend(getattr(other, name))


@dataclass
class Moments:
    """Trigger moments: who, which item, when (µs since start), the local hour, and the trigger kind."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    local_hour: np.ndarray
    trigger: np.ndarray


@dataclass
class Day:
    events: EventBatch
    moments: Moments


def _choose_items(world: World, users: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
    """For each view, the most price-relevant of three random items on sale that day."""
    items = world.items
    on_sale = np.flatnonzero((items.stock > 0) & (items.listed_day <= day))
    candidates = on_sale[rng.integers(0, len(on_sale), (len(users), 3))]
    distance = np.abs(np.log(items.price[candidates]) - world.users.usual_log_price[users, None])
    return candidates[np.arange(len(users)), distance.argmin(axis=1)]


def _sell(world: World, item: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Keep the purchases that stock allows (in ``order``), decrement stock; return the mask of sales."""
    stock = world.items.stock
    sold = np.zeros(len(item), dtype=bool)
    for index in np.argsort(order, kind="stable"):
        if stock[item[index]] > 0:
            stock[item[index]] -= 1
            sold[index] = True
    return sold


def simulate_day(world: World, day: int, rng: np.random.Generator) -> Day:
    """Simulate the organic activity of every user on ``day``; return its events and trigger moments."""
    s, u = world.scenario, world.users
    events = EventBatch()
    sessions = rng.poisson(u.activity)
    s_user = np.repeat(np.arange(u.n), sessions)
    local_hour = np.mod(u.active_hour[s_user] + rng.normal(0, 3.0, len(s_user)), 24.0)
    s_ts = (day * US_PER_DAY + (local_hour - u.tz_offset[s_user]) * US_PER_HOUR).astype(np.int64)
    events.add("session_start", s_ts, s_user)

    n_views = 1 + rng.poisson(max(s.views_per_session - 1.0, 0.0), len(s_user))
    v_session = np.repeat(np.arange(len(s_user)), n_views)
    v_user = s_user[v_session]
    v_rank = np.arange(len(v_session)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    v_ts = s_ts[v_session] + (v_rank + 1) * 60_000_000
    v_item = _choose_items(world, v_user, day, rng) if len(v_user) else np.empty(0, dtype=np.int64)
    last = u.last_viewed[v_user]
    revisit = (rng.random(len(v_user)) < s.revisit_share) & (last >= 0)
    revisit[revisit] = world.items.stock[last[revisit]] > 0
    v_item[revisit] = last[revisit]
    events.add("view", v_ts, v_user, v_item)
    u.last_viewed[v_user[np.argsort(v_ts, kind="stable")]] = v_item[np.argsort(v_ts, kind="stable")]

    log_gap = np.log(world.items.price[v_item]) - u.usual_log_price[v_user]
    p_cart = sigmoid(s.cart_logit + u.baseline_logit[v_user] - 0.5 * s.price_elasticity * np.maximum(log_gap, 0))
    carted = rng.random(len(v_user)) < p_cart
    c_ts = v_ts[carted] + 30_000_000
    events.add("cart_add", c_ts, v_user[carted], v_item[carted])

    p_buy = sigmoid(s.buy_logit + u.baseline_logit[v_user[carted]] - s.price_elasticity * log_gap[carted])
    wants = rng.random(int(carted.sum())) < p_buy
    b_user, b_item, b_ts = v_user[carted][wants], v_item[carted][wants], c_ts[wants] + 120_000_000
    sold = _sell(world, b_item, b_ts)
    events.add("checkout_start", b_ts[sold] - 60_000_000, b_user[sold], b_item[sold])
    events.add("purchase", b_ts[sold], b_user[sold], b_item[sold])

    abandon = np.flatnonzero(carted)[~(wants & _expand(sold, wants))]
    moments = _moments(world, v_user, v_item, v_ts, v_session, local_hour, carted, abandon, revisit)
    return Day(events, moments)


def _expand(sold: np.ndarray, wants: np.ndarray) -> np.ndarray:
    full = np.zeros(len(wants), dtype=bool)
    full[np.flatnonzero(wants)] = sold
    return full


def _moments(
    world: World,
    v_user: np.ndarray,
    v_item: np.ndarray,
    v_ts: np.ndarray,
    v_session: np.ndarray,
    session_hour: np.ndarray,
    carted: np.ndarray,
    abandon: np.ndarray,
    revisit: np.ndarray,
) -> Moments:
    """Abandoned carts first, then repeat views (an item seen before, not carted); one moment per user per day."""
    pair = v_user * world.items.n + v_item
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    carted_pairs = np.isin(pair, pair[carted])
    repeat = np.flatnonzero((revisit | (counts[inverse] >= 2)) & ~carted_pairs)
    index = np.concatenate([abandon, repeat])
    trigger = np.concatenate(
        [np.full(len(abandon), "cart_abandon", dtype=object), np.full(len(repeat), "repeat_view", dtype=object)]
    )
    priority = np.concatenate([np.zeros(len(abandon)), np.ones(len(repeat))])
    order = np.lexsort((v_ts[index], priority, v_user[index]))
    index, trigger = index[order], trigger[order]
    first = np.ones(len(index), dtype=bool)
    first[1:] = v_user[index][1:] != v_user[index][:-1]
    index, trigger = index[first], trigger[first]
    hour = np.floor(session_hour[v_session[index]]).astype(np.int64)
    return Moments(v_user[index], v_item[index], v_ts[index] + 30 * 60_000_000, hour, trigger)
