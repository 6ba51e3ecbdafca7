"""Send times of raw moments: a delay per trigger, or the user's best local hour.

The send time of a moment at the best hour uses the user's ``preferred_hour`` as of the latest daily tick at
or before the moment (:class:`BestHours`, one array by user position per tick), else the fallback hour, in
the user's time zone (UTC when unknown).

Examples
--------
>>> from policies.triggers.config import RuleSettings
>>> from policies.triggers.rules.index import IdIndex
>>> index = IdIndex(["u1"])
>>> raw = pl.DataFrame({"user_id": ["u1"], "ts": [0], "trigger": ["cart_abandon"]})
>>> rules = {"cart_abandon": RuleSettings(send_delay_minutes=30)}
>>> zones = np.array([None], dtype=object)
>>> send_times(raw, rules, BestHours(index, fallback=19), index.positions(raw["user_id"]), zones).to_list()
[1800000000]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.schemas import TRIGGER_KINDS
from policies.triggers.config import Rules, RuleSettings
from policies.triggers.rules.base import MINUTE_US, next_local_hour, next_local_hours
from policies.triggers.rules.index import IdIndex, grown, last_of_each

#: Up to this many moments, send times are computed row by row (streaming); more, per time zone at once.
_ROW_BY_ROW = 32


def rule_of(rules: Rules, trigger: str) -> RuleSettings:
    """Return the settings of the rule that fires ``trigger`` (its send delay or best hour).

    Examples
    --------
    >>> from policies.triggers.config import load_trigger_config
    >>> rule_of(load_trigger_config().rules, "cart_abandon").send_delay_minutes
    30
    """
    kind = TRIGGER_KINDS[trigger]
    by_kind = {"behaviour": rules.behaviour, "inventory": rules.inventory, "time": rules.time, "social": rules.social}
    return by_kind.get(kind, rules.lifecycle)


class BestHours:
    """Each user's preferred hour as of each daily tick (an array by user position per tick; -1 for none).

    Examples
    --------
    >>> index = IdIndex(["u1", "u2"])
    >>> hours = BestHours(index, fallback=19)
    >>> hours.add(100, index.positions(pl.Series(["u1", "u2"])), pl.Series([8, None]))
    >>> hours.at(np.array([0, 1, 0]), np.array([150, 150, 50])).tolist()  # u2 has none; 50 is before the tick
    [8, 19, 19]
    """

    def __init__(self, users: IdIndex, fallback: int) -> None:
        self.users = users
        self.fallback = fallback
        self.ticks: list[int] = []
        self.hours: list[np.ndarray] = []

    def add(self, tick: int, positions: np.ndarray, hours: pl.Series) -> None:
        """Record the preferred hours (null: none) of the users at ``positions`` as of the tick at ``tick``."""
        row = np.full(len(self.users), -1, dtype=np.int16)
        row[positions] = hours.fill_null(-1).to_numpy()
        self.ticks.append(tick)
        self.hours.append(row)

    def keep_last(self) -> None:
        """Forget every tick but the latest (moments are never placed before it again)."""
        self.ticks, self.hours = self.ticks[-1:], self.hours[-1:]

    def at(self, positions: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Return the hour of each (user position, time): the preferred hour as of the latest tick at or before it."""
        snapshot = np.searchsorted(np.asarray(self.ticks, dtype=np.int64), ts, side="right") - 1
        out = np.full(len(positions), self.fallback, dtype=np.int64)
        for k in np.unique(snapshot[snapshot >= 0]).tolist():
            rows = np.flatnonzero(snapshot == k)
            hour = grown(self.hours[k], len(self.users), -1)[positions[rows]]
            out[rows] = np.where(hour >= 0, hour, self.fallback)
        return out


def send_times(
    raw: pl.DataFrame,
    rules: dict[str, RuleSettings],
    hours: BestHours,
    positions: np.ndarray,
    zones: np.ndarray,
) -> pl.Series:
    """Return the send time of each raw moment, vectorised: delays per trigger, best hours per time zone.

    The moments hold ``user_id, ts, trigger``; ``positions`` are their users' positions and ``zones`` the time zone
    by position.
    """
    best = {t: rules[t].at_best_hour for t in rules}
    delay = {t: rules[t].send_delay_minutes * MINUTE_US for t in rules}
    at_best = raw["trigger"].replace_strict(best, return_dtype=pl.Boolean).to_numpy()
    send = (raw["ts"] + raw["trigger"].replace_strict(delay, return_dtype=pl.Int64)).to_numpy().copy()
    rows = np.flatnonzero(at_best)
    if rows.size:
        ts = raw["ts"].to_numpy()[rows]
        who = positions[rows]
        hour = pl.Series(hours.at(who, ts), dtype=pl.Int64)
        tz = pl.Series(grown(zones, len(hours.users), None)[who].tolist(), dtype=pl.String)
        send[rows] = next_local_hours(pl.Series(ts, dtype=pl.Int64), hour, tz).to_numpy()
    return pl.Series("send_at", send, dtype=pl.Int64)


def zones_by_position(index: IdIndex, users: pl.DataFrame) -> np.ndarray:
    """Each user's time zone by position in ``index`` (the last row of a repeated user wins; None: UTC)."""
    positions = index.positions(users["user_id"].cast(pl.String), remember=False)
    zones = np.full(len(index), None, dtype=object)
    rows = last_of_each(positions)
    zones[positions[rows]] = np.asarray(users["tz"].cast(pl.String).to_list(), dtype=object)[rows]
    return zones


def _send_time(rule: RuleSettings, hours: BestHours, index: IdIndex, zones: np.ndarray, user: str, ts: int) -> int:
    """One moment's send time (the streaming path of :func:`moment_send_times`)."""
    if not rule.at_best_hour:
        return ts + rule.send_delay_minutes * MINUTE_US
    position = index.position_of(user)
    hour = int(hours.at(np.array([position]), np.array([ts], dtype=np.int64))[0])
    return next_local_hour(ts, hour, zones[position] if position < len(zones) else None)


def moment_send_times(
    raw: pl.DataFrame, rules: Rules, hours: BestHours, index: IdIndex, zones: np.ndarray
) -> pl.Series:
    """Return the send time of each raw moment: row by row for a few (an event at a time), else :func:`send_times`.

    Both give the same times.
    """
    if raw.height <= _ROW_BY_ROW:
        rows = zip(raw["trigger"].to_list(), raw["user_id"].to_list(), raw["ts"].to_list(), strict=True)
        times = [_send_time(rule_of(rules, t), hours, index, zones, u, ts) for t, u, ts in rows]
        return pl.Series("send_at", times, dtype=pl.Int64)
    by_trigger = {t: rule_of(rules, t) for t in TRIGGER_KINDS}
    return send_times(raw, by_trigger, hours, index.positions(raw["user_id"], remember=False), zones)
