"""The world's summarised past made visible: the offers of past campaigns, as events before the first decision.

The world's :class:`~simulators.history.History` starts from a summary of each account's past; the platform
only sees events, so the offers in that summary are written into the log's warm-up.
"""

from __future__ import annotations

import numpy as np

from simulators.behaviour import US_PER_DAY, US_PER_HOUR, EventBatch
from simulators.channels import reachable_channel
from simulators.history import History
from simulators.world import World


def past_campaigns(world: World, history: History, days: int, rng: np.random.Generator) -> EventBatch:
    """Return the events of the offers each user was offered before the log began (the summarised past).

    The coupons and installment plans offered, and which were used, are spread over the first half of a
    ``days``-long warm-up, on the first channel the user consents to: so the platform's offer-use features have a
    past, and the last week before the first decision holds no message. The holdout and users without consent get
    none.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> rng = np.random.default_rng(0)
    >>> world = World.create(load_scenario("default").with_size(n_users=200), rng)
    >>> events = past_campaigns(world, History.prehistory(world, rng), 14, rng)
    >>> sent = np.concatenate([ts for ts, kind in zip(events.ts, events.kind) if kind == "offer_sent"])
    >>> len(sent) > 0, bool((sent < -7 * US_PER_DAY).all())
    (True, True)
    """
    events = EventBatch()
    if days < 2:
        return events
    reachable = reachable_channel(world, np.arange(world.users.n), -days)
    unreachable = np.array([channel is None for channel in reachable], dtype=bool)
    for offer, offered, used in (
        ("coupon", history.coupon_offers, history.coupon_redemptions),
        ("installment", history.installment_offers, history.installment_uses),
    ):
        offered = np.where(unreachable | world.users.holdout, 0, offered)
        users = np.repeat(np.arange(len(offered)), offered)
        rank = np.arange(len(users)) - np.repeat(np.cumsum(offered) - offered, offered)
        redeemed = rank < used[users]
        sent = ((-days + rng.random(len(users)) * (days // 2)) * US_PER_DAY).astype(np.int64)
        channel = reachable[users]
        kind = np.full(len(users), offer, dtype=object)
        events.add("offer_sent", sent, users, None, channel, kind)
        later = sent[redeemed] + US_PER_HOUR
        events.add("offer_redeemed", later, users[redeemed], None, channel[redeemed], kind[redeemed])
    return events
