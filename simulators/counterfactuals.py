"""Figures only the simulator can know: what an untriggered promotion would have converted.

Examples
--------
>>> from simulators.history import History
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> rng = np.random.default_rng(0)
>>> world = World.create(load_scenario("default").with_size(n_users=200), rng)
>>> rate = blast_conversion(world, History.prehistory(world, rng), day=0, rng=np.random.default_rng(1), size=500)
>>> 0.0 <= rate <= 1.0
True
"""

from __future__ import annotations

import numpy as np

from simulators.behaviour import choose_items
from simulators.history import History
from simulators.offers import COUPON, respond
from simulators.world import World


def blast_conversion(world: World, history: History, day: int, rng: np.random.Generator, size: int = 5000) -> float:
    """Return the true conversion of an ordinary promotion: the mean P(buy) over a sample of ``size`` users.

    The promotion is a coupon sent in-app at a random hour to random non-churned users about a random relevant
    item, with no trigger behind it; the sample is drawn with ``rng``. NaN when every user has churned.
    """
    active = np.flatnonzero(~world.users.churned)
    if not len(active):
        return float("nan")
    users = active[rng.integers(0, len(active), size)]
    items = choose_items(world, users, day, rng)
    trigger = np.full(size, "blast", dtype=object)
    channel = np.full(size, "in_app", dtype=object)
    response = respond(world, history, users, items, trigger, channel, rng.uniform(0, 24, size))
    return float(response.conversion()[:, COUPON].mean())
