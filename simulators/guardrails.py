"""Guardrails of the built-in trigger engine: one moment per user per day, deduplication, a weekly
frequency cap, consent and opt-out, and quiet hours.

Examples
--------
>>> import numpy as np
>>> defer_quiet_hours(np.array([23.5, 3.0, 12.0]), quiet_start=22, quiet_end=8)
array([8.5, 5. , 0. ])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulators.behaviour import US_PER_DAY, US_PER_HOUR
from simulators.channels import reachable_channel
from simulators.history import History
from simulators.triggers import Moments
from simulators.world import World


def defer_quiet_hours(local_hour: np.ndarray, quiet_start: int, quiet_end: int) -> np.ndarray:
    """Hours to wait so that a send at ``local_hour`` lands at ``quiet_end`` rather than in quiet hours."""
    hour = np.mod(local_hour, 24.0)
    wait = np.zeros(len(hour))
    if quiet_start > quiet_end:  # quiet hours span midnight
        late = hour >= quiet_start
        early = hour < quiet_end
        wait[late] = 24.0 - hour[late] + quiet_end
        wait[early] = quiet_end - hour[early]
    else:
        inside = (hour >= quiet_start) & (hour < quiet_end)
        wait[inside] = quiet_end - hour[inside]
    return wait


@dataclass
class Guardrails:
    """Stateful filter from candidate moments to the moments a policy is asked about."""

    cooldown_days: int = 7
    _recent: list[np.ndarray] = field(default_factory=list)  # (user, item) keys decided, per recent day

    def apply(self, world: World, history: History, moments: Moments, day: int) -> tuple[Moments, np.ndarray]:
        """Return the moments that pass, with their channel (``None`` for holdout users, kept for uplift)."""
        if not len(moments):
            return moments, np.empty(0, dtype=object)
        u, m = world.users, world.scenario.messaging
        key = moments.user * world.items.n + moments.item
        seen = np.isin(key, np.concatenate(self._recent)) if self._recent else np.zeros(len(key), dtype=bool)
        capped = history.decisions_7d()[moments.user] >= m.max_per_week
        channel = reachable_channel(world, moments.user, day)
        ok = ~seen & ~capped & ((channel != None) | u.holdout[moments.user])  # noqa: E711 - elementwise
        index = np.flatnonzero(ok)
        # one moment per user per day: the first in rule order
        _, first = np.unique(moments.user[index], return_index=True)
        index = np.sort(index[first])
        kept = moments.take(index)
        local = np.mod((kept.send_at % US_PER_DAY) / US_PER_HOUR + u.tz_offset[kept.user], 24.0)
        wait = defer_quiet_hours(local, m.quiet_start, m.quiet_end) * US_PER_HOUR
        kept.send_at = kept.send_at + np.ceil(wait).astype(np.int64)
        channel = channel[index]
        opted = u.opted_out_day[kept.user]
        holdout = u.holdout[kept.user]
        sendable = holdout | ~((opted >= 0) & (kept.send_at >= opted * US_PER_DAY))  # opted out by the send time?
        kept, channel, index = kept.take(np.flatnonzero(sendable)), channel[sendable], index[sendable]
        channel[u.holdout[kept.user]] = None
        recent = self._recent[-(self.cooldown_days - 1) :] if self.cooldown_days > 1 else []
        self._recent = [*recent, key[index]]
        return kept, channel
