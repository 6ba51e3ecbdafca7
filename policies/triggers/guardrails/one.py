"""The guardrails for a single moment in plain Python: the fast path behind :meth:`Guardrails.apply_one`.

:class:`StateIndex` keeps the guardrails' state (polars frames, the batch path's source of truth) indexed by
user in Python dicts, built lazily and extended incrementally as the frames grow, and holds what
:meth:`~policies.triggers.guardrails.Guardrails.apply_one` added until the next batch call writes it to the
frames (:meth:`StateIndex.flush`). The checks themselves are the package's: quiet hours by
:func:`~policies.triggers.guardrails.clock.defer_one`, sentences by
:mod:`~policies.triggers.guardrails.verdicts`, priority, cooldowns and caps by
:class:`~policies.triggers.guardrails.sequential.SequentialRules`.

Examples
--------
>>> from datetime import datetime, UTC
>>> verdict = Verdict("m1", datetime(2026, 3, 4, tzinfo=UTC), "u1", None, "best_hour", "time",
...     datetime(2026, 3, 4, tzinfo=UTC), "", None, "unknown_user", "user u1 is not among the known users")
>>> verdict.kept, sorted(verdict.row())[-3:]
(False, ['ts', 'user_id', 'why'])
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import polars as pl

from features.schemas import CHANNELS, DECIDABLE_MOMENTS, MOMENTS
from features.validation import SchemaError
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import verdicts
from policies.triggers.guardrails.clock import defer_one, fmt_us, to_us
from policies.triggers.guardrails.sequential import Candidate, Send, SequentialRules

_UTC = ZoneInfo("UTC")  # what polars gives back for a Datetime("us", "UTC") value
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_REQUIRED = ("moment_id", "ts", "user_id", "trigger", "send_at")


class Verdict(NamedTuple):
    """What the guardrails made of one moment: the moment in the SUPPRESSIONS columns.

    ``suppressed_by`` and ``why`` are ``None`` when it is kept. ``send_at`` is the send time after quiet hours;
    ``channel`` is the one chosen (also filled in for a holdout suppression, as :meth:`Guardrails.apply` does).
    """

    moment_id: str
    ts: datetime
    user_id: str
    item_id: str | None
    trigger: str
    trigger_kind: str | None
    send_at: datetime
    reason: str | None
    channel: str | None
    suppressed_by: str | None
    why: str | None

    @property
    def kept(self) -> bool:
        """Whether the moment passed every guardrail (the policy is asked about it)."""
        return self.suppressed_by is None

    def row(self) -> dict[str, Any]:
        """Return the moment as a row of ``apply``'s ``kept`` (DECIDABLE_MOMENTS) or ``suppressed`` (SUPPRESSIONS)."""
        row = self._asdict()
        if self.kept:
            return {c: row[c] for c in DECIDABLE_MOMENTS.names()}
        return row


class Profile(NamedTuple):
    """A user's row of the guardrails' users: zone, consent per channel, opt-out and the holdout flag."""

    tz: str
    consent: dict[str, bool]
    opted_out_us: int | None
    holdout: bool


def utc(us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime (with polars' ``ZoneInfo('UTC')``)."""
    return _EPOCH + timedelta(microseconds=us)


def checked_moment(moment: Mapping[str, Any], triggers: Mapping[str, int]) -> dict[str, Any]:
    """Check one moment like :func:`~policies.triggers.guardrails.inputs.checked_moments`.

    The MOMENTS keys present, ids, user, trigger and times not null, times aware, the trigger known.
    """
    missing = [c for c in MOMENTS.names() if c not in moment]
    if missing:
        raise SchemaError(f"moment: missing key(s) {missing}; expected the MOMENTS columns")
    nulls = [c for c in _REQUIRED if moment[c] is None]
    if nulls:
        raise SchemaError(f"moment: null value(s) in {nulls}")
    for column in ("ts", "send_at"):
        value = moment[column]
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise SchemaError(f"moment: {column!r} holds {value!r}; expected a time-zone-aware datetime")
    if moment["trigger"] not in triggers:
        known = ", ".join(triggers)
        raise SchemaError(f"moment: unknown trigger {moment['trigger']!r} in 'trigger'; known: {known}")
    return {c: moment[c] for c in MOMENTS.names()}


class OneMoment:
    """The guardrails' state by user, and the checks of one moment over it.

    ``profiles`` and ``unsubscribed`` are rebuilt from the frames when they change (:meth:`forget_users`);
    ``seen`` and ``sends`` read the rows the state frames gained since the last look (the frames only grow),
    and what single moments add waits in ``new_seen`` / ``new_sends`` until :meth:`flush`.
    """

    def __init__(self, settings: GuardrailSettings, rules: SequentialRules, rank: Mapping[str, int]) -> None:
        self.settings, self.rules, self.rank = settings, rules, rank
        self.profiles: dict[str, Profile] | None = None
        self.unsubscribed: dict[str, dict[str, int]] = {}
        self.seen: set[str] = set()
        self.sends: dict[str, list[Send]] = {}
        self._seen_rows = self._send_rows = 0
        self.new_seen: list[str] = []
        self.new_sends: list[tuple[Any, ...]] = []

    # ---- the state ---------------------------------------------------------------------------------------

    def forget_users(self) -> None:
        """Note that the users or the unsubscribes changed: rebuild their dicts at the next look."""
        self.profiles = None

    def _users(self, users: pl.DataFrame, unsub_wide: pl.DataFrame) -> dict[str, Profile]:
        if self.profiles is None:
            consents = [f"consent_{c}" for c in CHANNELS]
            columns = ["user_id", "tz", *consents, "opted_out_us", "holdout"]
            self.profiles = {
                u: Profile(tz, dict(zip(CHANNELS, flags, strict=True)), opted, bool(held))
                for u, tz, *flags, opted, held in users.select(columns).iter_rows()
            }
            unsub = [f"unsub_{c}" for c in CHANNELS]
            self.unsubscribed = {
                u: {c: at for c, at in zip(CHANNELS, ats, strict=True) if at is not None}
                for u, *ats in unsub_wide.select("user_id", *unsub).iter_rows()
            }
        return self.profiles

    def _catch_up(self, seen: pl.DataFrame, sends: pl.DataFrame) -> None:
        """Index the rows the state frames gained (from batch calls) since the last look."""
        if seen.height > self._seen_rows:
            self.seen.update(seen.get_column("moment_id").slice(self._seen_rows).to_list())
            self._seen_rows = seen.height
        if sends.height > self._send_rows:
            columns = ["user_id", "send_us", "channel", "trigger", "item_id", "local_day", "moment_id", "rank"]
            for user_id, *send in sends.slice(self._send_rows).select(columns).iter_rows():
                self.sends.setdefault(user_id, []).append(Send._make((*send, fmt_us(send[0]))))
            self._send_rows = sends.height

    def flush(self, seen: pl.DataFrame, sends: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the state frames with what single moments added since the last look.

        The last look indexed the frames up to their height, so the added rows count as indexed.
        """
        if self.new_seen:
            seen = pl.concat([seen, pl.DataFrame({"moment_id": self.new_seen}, schema=seen.schema)])
            self.new_seen, self._seen_rows = [], seen.height
        if self.new_sends:
            sends = pl.concat([sends, pl.DataFrame(self.new_sends, schema=sends.schema, orient="row")])
            self.new_sends, self._send_rows = [], sends.height
        return seen, sends

    # ---- one moment --------------------------------------------------------------------------------------

    def apply(
        self, moment: Mapping[str, Any], users: pl.DataFrame, unsub_wide: pl.DataFrame, seen: pl.DataFrame,
        sends: pl.DataFrame,
    ) -> Verdict:  # fmt: skip
        """Judge one moment, in the order of the checks of :meth:`Guardrails.apply`, updating the state."""
        m = checked_moment(moment, self.rank)
        profiles = self._users(users, unsub_wide)
        self._catch_up(seen, sends)
        moment_id, user_id = m["moment_id"], m["user_id"]
        send_us = to_us(m["send_at"])
        out = {**m, "ts": utc(to_us(m["ts"])), "channel": None}

        def verdict(code: str | None, why: str | None) -> Verdict:
            return Verdict(**{**out, "send_at": utc(send_us), "suppressed_by": code, "why": why})

        profile = profiles.get(user_id)
        local_day = 0
        if profile is not None:  # quiet hours first: every later check (and the answer) is at the send time
            q = self.settings.quiet_hours
            send_us, local_day = defer_one(send_us, profile.tz, q.start, q.end)
        if moment_id in self.seen:
            return verdict("duplicate", verdicts.already_handled(moment_id))
        self.seen.add(moment_id)
        self.new_seen.append(moment_id)
        if profile is None:
            return verdict("unknown_user", verdicts.unknown_user(user_id))
        send_text = fmt_us(send_us)
        if profile.opted_out_us is not None and profile.opted_out_us <= send_us:
            return verdict("opted_out", verdicts.opted_out_why(user_id, fmt_us(profile.opted_out_us), send_text))
        unsub = self.unsubscribed.get(user_id, {})
        open_channels = 0
        for i, c in enumerate(self.settings.channels):
            if profile.consent[c] and (c not in unsub or send_us < unsub[c]):
                open_channels |= 1 << i
        if open_channels == 0:
            closed = [
                verdicts.channel_closed(c, fmt_us(unsub[c]) if profile.consent[c] else None)
                for c in self.settings.channels
            ]
            return verdict("no_consent", verdicts.no_open_channel(user_id, send_text, ", ".join(closed)))
        candidate = Candidate(
            0, user_id, send_us, to_us(m["ts"]), self.rank[m["trigger"]], moment_id, m["trigger"], m["item_id"],
            local_day, send_text, open_channels,
        )  # fmt: skip
        history = self.sends.setdefault(user_id, [])
        code, why, channel = self.rules.decide(candidate, history, profile.tz)
        if channel is not None:
            self.new_sends.append((user_id, *history[-1][:7]))
            out["channel"] = channel
            if profile.holdout:
                code, why = "holdout", verdicts.held_out_why(self.settings.holdout_share, user_id, channel)
        return verdict(code, why)
