"""The stateful part of the guardrails: priority, cooldowns and frequency caps, one user's moments at a time.

A user's candidates are taken in priority order (``settings.priority``, then ``ts``, then ``moment_id``); each
is checked against the sends already kept for that user (earlier calls and this one) and, when it passes,
joins them. Checks are symmetric in time (a kept send later than the candidate counts too) so that the result
never breaks a cap or a cooldown whatever the order in which moments arrive.

Examples
--------
>>> from policies.triggers.config import GuardrailSettings
>>> H = 3_600_000_000
>>> rules = SequentialRules(GuardrailSettings())
>>> sends: list[Send] = []
>>> first = Candidate(0, "u1", 10 * H, 10 * H, 0, "m1", "cart_abandon", "i1", 0, "1970-01-01 10:00 UTC", 0b111)
>>> rules.decide(first, sends, "UTC")
(None, None, 'in_app')
>>> second = first._replace(row=1, moment_id="m2", send_us=40 * H, send_text="1970-01-02 16:00 UTC")
>>> code, why, _ = rules.decide(second, sends, "UTC")
>>> print(code); print(why)
cooldown_trigger
cart_abandon was kept for this user at 1970-01-01 10:00 UTC (m1), less than 72 h from 1970-01-02 16:00 UTC
"""

from __future__ import annotations

from typing import NamedTuple

from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails.clock import US_PER_DAY, US_PER_HOUR, fmt_day, fmt_us
from policies.triggers.guardrails.wording import (
    cap_day,
    cap_week,
    collides,
    item_cooling,
    messages,
    trigger_cooling,
    week_before,
    week_up_to,
)

WEEK_US = 7 * US_PER_DAY


class Send(NamedTuple):
    """A kept (or held-out) send in the guardrails' state."""

    send_us: int
    channel: str
    trigger: str
    item_id: str | None
    local_day: int
    moment_id: str
    rank: int
    send_text: str


class Candidate(NamedTuple):
    """A moment that passed the stateless checks.

    ``open_channels`` has bit ``i`` set when the user can be reached on ``settings.channels[i]`` at the send time
    (consent, no unsubscribe).
    """

    row: int
    user_id: str
    send_us: int
    ts_us: int
    rank: int
    moment_id: str
    trigger: str
    item_id: str | None
    local_day: int
    send_text: str
    open_channels: int


def _earlier(send: Send, than: Send | None) -> bool:
    return than is None or (send.send_us, send.moment_id) < (than.send_us, than.moment_id)


class SequentialRules:
    """Priority, cooldowns and caps of :class:`GuardrailSettings` applied to one candidate at a time."""

    def __init__(self, settings: GuardrailSettings) -> None:
        self.settings = settings
        self.collision_us = round(settings.collision_hours * US_PER_HOUR)
        self.trigger_us = round(settings.cooldowns.per_trigger_hours * US_PER_HOUR)
        self.item_us = round(settings.cooldowns.per_item_hours * US_PER_HOUR)
        self.caps = [(c, settings.caps[c].per_day, settings.caps[c].per_week) for c in settings.channels]
        #: the hours of the collision window and of the two cooldowns, as the sentences write them
        cooldowns = settings.cooldowns
        self.hours = tuple(
            f"{h:g}" for h in (settings.collision_hours, cooldowns.per_trigger_hours, cooldowns.per_item_hours)
        )

    def decide(self, c: Candidate, sends: list[Send], zone: str) -> tuple[str | None, str | None, str | None]:
        """Decide ``(code, why, channel)`` of one candidate against the user's ``sends``.

        The candidate is appended to them when kept (``code`` is ``None``).
        """
        t = c.send_us
        winner = same_trigger = same_item = None  # one pass over the user's sends
        for s in sends:
            gap = abs(s.send_us - t)
            if gap < self.collision_us:
                if winner is None or (s.rank, s.send_us, s.moment_id) < (winner.rank, winner.send_us, winner.moment_id):
                    winner = s
            elif winner is None:
                if s.trigger == c.trigger and gap < self.trigger_us and _earlier(s, same_trigger):
                    same_trigger = s
                if c.item_id is not None and s.item_id == c.item_id and gap < self.item_us and _earlier(s, same_item):
                    same_item = s
        if winner is not None:
            why = collides(c.trigger, c.send_text, winner.moment_id, winner.trigger, winner.send_text, self.hours[0])
            return "priority", why, None
        if same_trigger is not None:
            why = trigger_cooling(c.trigger, same_trigger.send_text, same_trigger.moment_id, self.hours[1], c.send_text)
            return "cooldown_trigger", why, None
        if same_item is not None:
            item = str(c.item_id)  # same_item is only set for a candidate with an item
            why = item_cooling(item, same_item.moment_id, same_item.send_text, self.hours[2], c.send_text)
            return "cooldown_item", why, None
        refusals: list[tuple[str, str]] = []
        for i, (channel, per_day, per_week) in enumerate(self.caps):
            if not (c.open_channels >> i) & 1:
                continue
            refusal = self._capped(channel, per_day, per_week, c, sends, zone)
            if refusal is None:
                sends.append(Send(t, channel, c.trigger, c.item_id, c.local_day, c.moment_id, c.rank, c.send_text))
                return None, None, channel
            refusals.append(refusal)
        return refusals[0][0], "; ".join(why for _, why in refusals), None

    def _capped(
        self, channel: str, per_day: int, per_week: int, c: Candidate, sends: list[Send], zone: str
    ) -> tuple[str, str] | None:
        on_channel = [s for s in sends if s.channel == channel]
        today = sum(1 for s in on_channel if s.local_day == c.local_day)
        if today >= per_day:
            return "cap_day", cap_day(messages(today, channel), fmt_day(c.local_day), zone, per_day)
        t = c.send_us
        times = [s.send_us for s in on_channel if t - WEEK_US < s.send_us < t + WEEK_US]
        if len(times) < per_week:  # no 7-day window around this send can be full
            return None
        for anchor in sorted({t, *(a for a in times if a > t)}):  # every rolling week that holds this send
            others = sum(1 for a in times if anchor - WEEK_US < a <= anchor)
            if others + 1 > per_week:
                where = week_before(c.send_text) if anchor == t else week_up_to(fmt_us(anchor))
                return "cap_week", cap_week(messages(others, channel), where, per_week)
        return None
