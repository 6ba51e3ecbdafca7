"""Channels: who can be reached where, when a message is read, and how messages tire people.

Examples
--------
>>> import numpy as np
>>> hour_fit(np.array([20.0, 23.0, 8.0]), np.array([20.0, 20.0, 20.0]), width=2.5).round(2)
array([1.  , 0.49, 0.  ])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from features.schemas import CHANNELS
from simulators.world import World, sigmoid

#: Channels in order of preference: a user is messaged on the first one they consent to.
CHANNEL_ORDER = CHANNELS


def reachable_channel(world: World, users: np.ndarray, day: int) -> np.ndarray:
    """Return the channel each user can be messaged on, or ``None``: opted out, or no consent left."""
    u = world.users
    channel = np.full(len(users), None, dtype=object)
    for name in reversed(CHANNEL_ORDER):
        channel[u.consent[name][users]] = name
    opted_out = (u.opted_out_day[users] >= 0) & (u.opted_out_day[users] <= day)
    channel[opted_out] = None
    return channel


def channel_setting(world: World, channel: np.ndarray, setting: str) -> np.ndarray:
    """Return a logit setting of each message's channel; -9.0 (all but never) on a channel the scenario does not run.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> from simulators.world import World
    >>> world = World.create(load_scenario("default").with_size(n_users=10), np.random.default_rng(0))
    >>> channel = np.array(["email", None, "pigeon"], dtype=object)
    >>> bool(channel_setting(world, channel, "open_logit")[0] == world.scenario.messaging.channels["email"].open_logit)
    True
    >>> channel_setting(world, channel, "open_logit")[1:].tolist()
    [-9.0, -9.0]
    """
    values = np.full(len(channel), -9.0)
    for name, settings in world.scenario.messaging.channels.items():
        values[channel == name] = getattr(settings, setting)
    return values


def hour_fit(send_hour: np.ndarray, active_hour: np.ndarray, width: float) -> np.ndarray:
    """1 at the user's peak hour, falling off as a Gaussian of the circular distance in hours."""
    distance = np.abs(np.mod(send_hour - active_hour + 12.0, 24.0) - 12.0)
    fit: npt.NDArray[np.float64] = np.exp(-0.5 * (distance / width) ** 2)
    return fit


def open_probability(
    world: World, users: np.ndarray, channel: np.ndarray, send_hour: np.ndarray, recent: np.ndarray
) -> np.ndarray:
    """P(open) of a message: the channel's base rate, the hour's fit to the user's peak, and fatigue."""
    m = world.scenario.messaging
    base = channel_setting(world, channel, "open_logit")
    fit = hour_fit(send_hour, world.users.active_hour[users], m.hour_fit_width)
    return sigmoid(base + m.hour_fit_lift * (2.0 * fit - 1.0) - m.fatigue_open * recent)


def unsubscribe_probability(world: World, channel: np.ndarray, recent: np.ndarray) -> np.ndarray:
    """P(unsubscribe from the channel) on receiving one more message."""
    m = world.scenario.messaging
    base = channel_setting(world, channel, "unsubscribe_logit")
    return sigmoid(base + m.fatigue_unsubscribe * recent)
