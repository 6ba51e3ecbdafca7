"""One day of organic behaviour: sessions by local hour, the purchase funnel, follows, and churn.

The funnel runs view → favourite → cart → checkout → purchase.

Examples
--------
>>> import numpy as np
>>> from simulators.history import History
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> rng = np.random.default_rng(3)
>>> world = World.create(load_scenario("default").with_size(n_users=300), rng)
>>> history = History.prehistory(world, rng)
>>> day = simulate_day(world, history, 0, rng)
>>> int(day.views.user.size) > 0, bool((world.items.stock >= 0).all())
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulators.history import History
from simulators.world import World, sigmoid

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR


@dataclass
class EventBatch:
    """Events in parts, one kind of event each, as parallel arrays.

    Timestamps are in µs since the scenario start, users and items are indices into the world. A part without
    items, channels or offers holds ``None`` for them, not a filled array, so that the many organic events cost
    nothing there.

    Examples
    --------
    >>> batch = EventBatch()
    >>> batch.add("view", np.array([5, 7]), np.array([0, 1]), np.array([3, 4]))
    >>> batch.add("unsubscribe", np.array([9]), np.array([1]), None, np.array(["email"], dtype=object))
    >>> batch.kind, batch.item[1], batch.channel[0], batch.channel[1].tolist()
    (['view', 'unsubscribe'], None, None, ['email'])
    """

    kind: list[str] = field(default_factory=list)
    ts: list[np.ndarray] = field(default_factory=list)
    user: list[np.ndarray] = field(default_factory=list)
    item: list[np.ndarray | None] = field(default_factory=list)
    channel: list[np.ndarray | None] = field(default_factory=list)
    offer: list[np.ndarray | None] = field(default_factory=list)

    def add(
        self,
        kind: str,
        ts: np.ndarray,
        user: np.ndarray,
        item: np.ndarray | None = None,
        channel: np.ndarray | None = None,
        offer: np.ndarray | None = None,
    ) -> None:
        """Append a part of events of one ``kind``; an empty part is left out."""
        if len(ts) == 0:
            return
        self.kind.append(kind)
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.user.append(np.asarray(user, dtype=np.int64))
        self.item.append(None if item is None else np.asarray(item, dtype=np.int64))
        self.channel.append(None if channel is None else np.asarray(channel, dtype=object))
        self.offer.append(None if offer is None else np.asarray(offer, dtype=object))

    def extend(self, other: EventBatch) -> None:
        """Append the parts of ``other``, in its order."""
        for name in ("kind", "ts", "user", "item", "channel", "offer"):
            getattr(self, name).extend(getattr(other, name))


@dataclass
class Views:
    """Today's views with what became of them."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    local_hour: np.ndarray
    revisit: np.ndarray
    carted: np.ndarray
    bought: np.ndarray


@dataclass
class DayActivity:
    """What one day of organic behaviour produced."""

    events: EventBatch
    views: Views
    sold_items: np.ndarray  # items sold today (one entry per unit)
    sold_ts: np.ndarray


def local_to_us(world: World, users: np.ndarray, day: int, local_hour: np.ndarray) -> np.ndarray:
    """µs since the scenario start of ``local_hour`` on ``day`` in each user's time zone."""
    local_us = day * US_PER_DAY + (local_hour - world.users.tz_offset[users]) * US_PER_HOUR
    us: npt.NDArray[np.int64] = local_us.astype(np.int64)
    return us


def choose_items(world: World, users: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
    """Choose for each view the most relevant of three random items on sale.

    The most relevant is near the user's usual price, and on a verified merchant for trust-concerned users.
    """
    items = world.items
    on_sale = np.flatnonzero((items.stock > 0) & (items.listed_day <= day))
    candidates = on_sale[rng.integers(0, len(on_sale), (len(users), 3))]
    distance = np.abs(np.log(items.price[candidates]) - world.users.usual_log_price[users, None])
    unverified = ~world.merchant_verified[items.merchant[candidates]]
    avoid = world.scenario.funnel.trust_avoids_unverified * world.users.trust_concern[users, None]
    score = -distance - 3.0 * avoid * unverified + rng.gumbel(0, 0.3, candidates.shape)
    chosen: npt.NDArray[np.int64] = candidates[np.arange(len(users)), score.argmax(axis=1)]
    return chosen


def finds_stock(items: np.ndarray, order: np.ndarray, wants: np.ndarray, stock: np.ndarray) -> np.ndarray:
    """Whether each row's purchase, were it wanted, would find its item in stock, the other rows' wants as given.

    Purchases of an item are served first come, first served: in ``order`` (ties by row), row ``i`` gets its item
    if fewer than its ``stock`` other wanting rows of the same item come before it. The answer for row ``i`` does
    not depend on ``wants[i]``: it is fixed by the others and by ``i``'s place in the queue.

    Parameters
    ----------
    items, order, wants
        Per row: the item, when the purchase would happen (any sortable number), whether it is wanted.
    stock
        Per row: the units its item has before any of these rows buy.

    Examples
    --------
    Item 0 has one unit and row 1, first in the queue, wants it: rows 2 and 0 would come too late, whatever they
    want. Item 1 has none left:

    >>> finds_stock(
    ...     items=np.array([0, 0, 0, 1]), order=np.array([3, 1, 2, 5]),
    ...     wants=np.array([True, True, False, False]), stock=np.array([1, 1, 1, 0]),
    ... ).tolist()
    [False, True, False, False]
    """
    n = len(items)
    if not n:
        return np.zeros(0, dtype=bool)
    queue = np.lexsort((np.arange(n), order, items))  # by item, then in order, ties by row
    wanting = wants[queue].astype(np.int64)
    before = np.cumsum(wanting) - wanting  # wanting rows strictly before, over all items
    queued = items[queue]
    starts = np.r_[True, queued[1:] != queued[:-1]]
    before -= np.maximum.accumulate(np.where(starts, before, 0))  # ... counted from the start of the row's item
    result = np.empty(n, dtype=bool)
    result[queue] = before < stock[queue]
    return result


def sell(world: World, item: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Keep the purchases that stock allows; take the sold units from stock and return the sold mask.

    Purchases are served first come, first served by ``order``, ties in the given order (:func:`finds_stock`).

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> world = World.create(load_scenario("default").with_size(n_users=10), np.random.default_rng(0))
    >>> world.items.stock[:2] = [1, 2]
    >>> sell(world, np.array([0, 1, 0, 1, 1]), np.array([5, 4, 3, 2, 2])).tolist(), world.items.stock[:2].tolist()
    ([False, False, True, True, True], [0, 0])
    """
    stock = world.items.stock
    sold = finds_stock(item, order, np.ones(len(item), dtype=bool), stock[item])
    np.subtract.at(stock, item[sold], 1)
    return sold


def simulate_day(world: World, history: History, day: int, rng: np.random.Generator) -> DayActivity:
    """Simulate the organic activity of every user on ``day``; update stock, follows and churn."""
    s, u, f = world.scenario, world.users, world.scenario.funnel
    events = EventBatch()
    signed_up = u.account_age_days + day >= 0  # warm-up days come before some accounts exist
    sessions = rng.poisson(np.where(u.churned | ~signed_up, 0.0, u.activity))
    s_user = np.repeat(np.arange(u.n), sessions)
    local_hour = np.mod(u.active_hour[s_user] + rng.normal(0, s.population.session_hour_sd, len(s_user)), 24.0)
    s_ts = local_to_us(world, s_user, day, local_hour)
    events.add("session_start", s_ts, s_user)
    history.record_sessions(s_user, local_hour, day)

    n_views = 1 + rng.poisson(f.views_per_session - 1.0, len(s_user))
    v_session = np.repeat(np.arange(len(s_user)), n_views)
    v_user = s_user[v_session]
    v_last = np.cumsum(n_views) - 1  # each session's last view
    v_rank = np.arange(len(v_session)) - np.repeat(v_last + 1 - n_views, n_views)
    v_ts = s_ts[v_session] + (v_rank + 1) * US_PER_MINUTE
    v_item = choose_items(world, v_user, day, rng) if len(v_user) else np.empty(0, dtype=np.int64)
    last = u.last_viewed[v_user]
    revisit = (rng.random(len(v_user)) < f.revisit_share) & (last >= 0)
    revisit[revisit] = world.items.stock[last[revisit]] > 0
    v_item[revisit] = last[revisit]
    events.add("view", v_ts, v_user, v_item)
    # the view a user saw last is the last of one of their sessions (views follow each other within one): of
    # those, the latest, the later session on a tie (as a stable sort of all views by time would leave it)
    order = v_last[np.argsort(v_ts[v_last], kind="stable")]
    u.last_viewed[v_user[order]] = v_item[order]
    merchant = world.items.merchant[v_item]
    log_price = np.log(world.items.price[v_item])
    history.record_views(v_user, log_price, ~world.merchant_verified[merchant])

    follows = history.follows(v_user, merchant)
    log_gap = log_price - u.usual_log_price[v_user]
    appeal = u.baseline_logit[v_user] - 0.5 * f.price_elasticity * np.maximum(log_gap, 0) + f.follower_lift * follows
    favourite = rng.random(len(v_user)) < sigmoid(f.favourite_logit + appeal)
    events.add("favorite", v_ts[favourite] + 20_000_000, v_user[favourite], v_item[favourite])
    carted = rng.random(len(v_user)) < sigmoid(f.cart_logit + appeal + 0.8 * favourite)
    c_ts = v_ts + 30_000_000
    events.add("cart_add", c_ts[carted], v_user[carted], v_item[carted])

    buy_logit = f.buy_logit + u.baseline_logit[v_user] - f.price_elasticity * log_gap + f.follower_lift * follows
    wants = carted & (rng.random(len(v_user)) < sigmoid(buy_logit))
    b_index = np.flatnonzero(wants)
    b_ts = c_ts[b_index] + 2 * US_PER_MINUTE
    sold = sell(world, v_item[b_index], b_ts)
    bought = np.zeros(len(v_user), dtype=bool)
    bought[b_index[sold]] = True
    events.add("checkout_start", b_ts[sold] - US_PER_MINUTE, v_user[bought], v_item[bought])
    events.add("purchase", b_ts[sold], v_user[bought], v_item[bought])
    history.record_purchases(v_user[bought], log_price[bought])

    # a purchase or a favourite may lead to following the merchant
    engaged = (bought | favourite) & ~follows
    follow = engaged & (rng.random(len(v_user)) < sigmoid(f.follow_logit + u.baseline_logit[v_user] + 1.0 * bought))
    events.add("follow_merchant", v_ts[follow] + 3 * US_PER_MINUTE, v_user[follow], v_item[follow])
    history.record_follows(v_user[follow], merchant[follow])

    update_churn(world, history, day, sessions > 0, rng)
    views = Views(v_user, v_item, v_ts, local_hour[v_session], revisit, carted, bought)
    return DayActivity(events, views, v_item[bought], b_ts[sold])


def update_churn(world: World, history: History, day: int, active: np.ndarray, rng: np.random.Generator) -> None:
    """Inactive users churn with a hazard that grows with days of inactivity; active users are not churned."""
    u, life = world.users, world.scenario.lifecycle
    inactive = np.maximum(history.days_inactive(day), 0)
    hazard = np.clip(u.churn_hazard * (1.0 + life.inactivity_hazard * inactive), 0, 1)
    u.churned |= ~active & (rng.random(u.n) < hazard)
    u.churned &= ~active
