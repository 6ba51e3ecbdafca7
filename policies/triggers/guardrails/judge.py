"""The stateful checks of :class:`~policies.triggers.guardrails.sequential.SequentialRules`, vectorised.

Many candidates at once, each against its own history of kept sends, given as (candidate, send) pairs
(:func:`~policies.triggers.guardrails.table.pairs`).

Notes
-----
Every check of the loop is a count or a minimum over a candidate's history, in any order:

- ``priority``: the kept send less than ``collision_hours`` away that is first by ``(rank, send_us,
  moment_id)``; ``cooldown_trigger`` / ``cooldown_item``: the one of the same trigger (item) less than the
  cooldown away that is first by ``(send_us, moment_id)`` (only read when nothing collides, as in the loop).
  A user's kept sends are ``collision_hours`` apart (each was checked against all the sends that near), so
  no two share a send time and ``moment_id`` never decides. Items are compared by their codes in the table
  (hashes: :func:`~policies.triggers.guardrails.greedy.decide_batch` checks the strings of every
  ``cooldown_item`` it words or acts on);
- ``cap_day`` on a channel: the sends on it on the candidate's local day, against ``per_day``;
- ``cap_week`` on a channel: the loop tries every rolling week that would hold the send, the one ending with it
  and the ones ending with each later send ``a`` within 7 days, in time order, and stops at the first holding
  ``per_week`` sends already. The first is a count of the sends in ``(t - 7 d, t]``; the later ones (needed
  only when the 7 days either side hold ``per_week`` sends or more) are counts of the sends in
  ``(a - 7 d, a]``, read by binary search over the candidate's sends sorted by time.

The first channel in ``settings.channels`` order that is open and has room takes the moment; with none, the
code is the refusal of the first open channel and the sentence lists every open channel's.

Examples
--------
>>> import polars as pl
>>> from policies.triggers.config import GuardrailSettings
>>> from policies.triggers.guardrails.sequential import SequentialRules
>>> from policies.triggers.guardrails.table import Table, pairs
>>> H = 3_600_000_000
>>> candidates = pl.DataFrame({"__row": [0, 1], "__user": [0, 1], "user_id": ["u1", "u2"], "send_us": [30 * H] * 2,
...     "ts_us": [0, 0], "rank": [9, 9], "moment_id": ["m1", "m2"], "trigger": ["best_hour"] * 2,
...     "item_id": [None, None], "local_day": [1, 1], "open_channels": [1, 1]},
...     schema_overrides={"__row": pl.UInt32, "item_id": pl.String})
>>> recent = pl.DataFrame({"user_id": ["u1"], "send_us": [20 * H], "channel": ["in_app"], "trigger":
...     ["cart_abandon"], "item_id": ["i1"], "local_day": [0], "moment_id": ["m0"], "rank": [0]})
>>> table = Table.of(candidates, recent, ("in_app", "email", "sms"))
>>> judged = np.arange(2)
>>> verdict = judge(table, SequentialRules(GuardrailSettings()), judged, *pairs(table, judged, np.zeros(2, bool)))
>>> [CODES[c] for c in verdict.code], verdict.channel.tolist(), verdict.send.tolist()  # m0 (row 0) wins over m1
(['priority', None], [-1, 0], [0, -1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies.triggers.guardrails.sequential import WEEK_US, SequentialRules
from policies.triggers.guardrails.table import Table

#: The verdicts (``KEPT`` has no code) and, per channel, ``CLOSED`` and ``ROOM`` besides the two caps.
KEPT, PRIORITY, COOLDOWN_TRIGGER, COOLDOWN_ITEM, CAP_DAY, CAP_WEEK, CLOSED, ROOM = range(8)
CODES = (None, "priority", "cooldown_trigger", "cooldown_item", "cap_day", "cap_week")
_NONE = np.iinfo(np.int64).max
_SHIFT = 41  # bits of a time relative to the candidate's send, shifted by 7 days: 0 < t < 14 days < 2**41 us


@dataclass(frozen=True)
class Judgement:
    """The verdict on each judged candidate.

    ``code`` is one of ``KEPT`` .. ``CAP_WEEK``; ``channel`` the index of the channel taken (-1 if none);
    ``send`` the table row of the send a priority or cooldown sentence names (-1 otherwise). Per candidate and
    channel of ``settings.channels``: ``refusal`` (``CLOSED``, ``ROOM``, ``CAP_DAY`` or ``CAP_WEEK``),
    ``counted`` (the messages that fill the cap) and ``anchor`` (the end of the full rolling week).
    """

    code: np.ndarray
    channel: np.ndarray
    send: np.ndarray
    refusal: np.ndarray
    counted: np.ndarray
    anchor: np.ndarray

    @classmethod
    def empty(cls, n: int, n_channels: int) -> Judgement:
        """Room for the verdicts on ``n`` candidates, filled in by :meth:`put`."""
        one, per_channel = np.full(n, -1, dtype=np.int64), np.zeros((n, n_channels), dtype=np.int64)
        return cls(one, one.copy(), one.copy(), per_channel, per_channel.copy(), per_channel.copy())

    def put(self, at: np.ndarray, other: Judgement) -> None:
        """Write ``other``'s verdicts at the places ``at``."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[at] = getattr(other, name)


def _least(owner: np.ndarray, n: int, where: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Per candidate, the least ``key`` among its pairs that meet ``where`` (``_NONE`` if none)."""
    out = np.full(n, _NONE, dtype=np.int64)
    np.minimum.at(out, owner[where], key[where])
    return out


def _earliest(table: Table, owner: np.ndarray, row: np.ndarray, n: int, where: np.ndarray) -> np.ndarray:
    """Per candidate, the table row of the earliest send among its pairs that meet ``where`` (-1 if none)."""
    send = table.send[row]
    least = _least(owner, n, where, send)
    hit = where & (send == least[owner])
    out = np.full(n, -1, dtype=np.int64)
    out[owner[hit]] = row[hit]
    return out


def _count(owner: np.ndarray, n: int, where: np.ndarray) -> np.ndarray:
    return np.bincount(owner[where], minlength=n)


def _later_weeks(
    owner: np.ndarray, times: np.ndarray, sends: np.ndarray, per_week: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the candidates with a full rolling week ending with a later send.

    For sends ``times`` on a channel within 7 days of their candidate's (``owner``; ``sends`` per candidate):
    the candidates, the end of the first such week and the sends it holds.
    """
    keys = np.sort((owner << _SHIFT) + (times - sends[owner] + WEEK_US))
    held = np.searchsorted(keys, keys, side="right") - np.searchsorted(keys, keys - WEEK_US, side="right")
    after = (keys & ((1 << _SHIFT) - 1)) - WEEK_US  # time after the candidate's send
    full = (after > 0) & (held >= per_week)
    candidates, first = np.unique(keys[full] >> _SHIFT, return_index=True)  # keys sorted: the earliest week
    return candidates, sends[candidates] + after[full][first], held[full][first]


def judge(table: Table, rules: SequentialRules, judged: np.ndarray, owner: np.ndarray, row: np.ndarray) -> Judgement:
    """Judge the candidates ``judged`` (indices among the table's candidates) against the pairs' sends.

    The pairs are ``(owner, row)``.
    """
    n = len(judged)
    at = table.n_recent + judged
    sends, days, open_channels = table.send[at], table.day[at], table.open_channels[judged]
    t, h, rank = sends[owner], table.send[row], table.rank[row]
    gap = np.abs(h - t)
    collides = gap < rules.collision_us
    first_rank = _least(owner, n, collides, rank)  # the winner: the least rank, then the earliest send
    winner = _earliest(table, owner, row, n, collides & (rank == first_rank[owner]))
    same_trigger = _earliest(table, owner, row, n, (rank == table.rank[at][owner]) & (gap < rules.trigger_us))
    item = at[owner]
    same_item = ~table.no_item[item] & (table.item[row] == table.item[item]) & (gap < rules.item_us)
    same_item = _earliest(table, owner, row, n, same_item)

    shape = (n, len(rules.caps))
    refusal, counted, anchor = np.full(shape, CLOSED), np.zeros(shape, np.int64), np.repeat(sends[:, None], shape[1], 1)
    free = ((winner < 0) & (same_trigger < 0) & (same_item < 0))[owner]  # the caps of the others are not read
    owner, row, t, h = owner[free], row[free], t[free], h[free]
    channel = table.channel[row]
    for i, (_, per_day, per_week) in enumerate(rules.caps):
        on = channel == i
        today = _count(owner, n, on & (table.day[row] == days[owner]))
        week = on & (h > t - WEEK_US) & (h < t + WEEK_US)
        around, before = _count(owner, n, week), _count(owner, n, week & (h <= t))
        is_open = ((open_channels >> i) & 1) == 1
        refusal[:, i] = np.where(
            ~is_open, CLOSED, np.where(today >= per_day, CAP_DAY, np.where(before >= per_week, CAP_WEEK, ROOM))
        )
        counted[:, i] = np.where(refusal[:, i] == CAP_DAY, today, before)
        unsure = (refusal[:, i] == ROOM) & (around >= per_week)  # a rolling week ending later may be full
        if unsure.any():
            pick = week & unsure[owner]
            full, ends, held = _later_weeks(owner[pick], h[pick], sends, per_week)
            refusal[full, i], anchor[full, i], counted[full, i] = CAP_WEEK, ends, held

    room = refusal == ROOM
    first_open = np.argmax(refusal != CLOSED, axis=1)
    code = np.where(room.any(axis=1), KEPT, refusal[np.arange(n), first_open])
    named = np.full(n, -1, dtype=np.int64)
    for stop, send in ((COOLDOWN_ITEM, same_item), (COOLDOWN_TRIGGER, same_trigger), (PRIORITY, winner)):
        code, named = np.where(send >= 0, stop, code), np.where(send >= 0, send, named)  # the last one read wins
    return Judgement(code, np.where(code == KEPT, np.argmax(room, axis=1), -1), named, refusal, counted, anchor)
