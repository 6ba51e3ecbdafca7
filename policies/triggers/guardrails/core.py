"""The :class:`Guardrails`: one stateful filter from trigger moments to the moments a policy is asked about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import polars as pl

from features.schemas import CHANNELS, DECIDABLE_MOMENTS, MOMENTS, SUPPRESSIONS, UTC_TS
from features.validation import SchemaError
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import verdicts
from policies.triggers.guardrails.clock import US_PER_DAY, defer_quiet_hours, to_us
from policies.triggers.guardrails.greedy import decide_batch
from policies.triggers.guardrails.holdout import holdout_draw
from policies.triggers.guardrails.inputs import (
    check_channels,
    checked_moments,
    checked_unsubscribes,
    checked_users,
)
from policies.triggers.guardrails.one import OneMoment, Verdict
from policies.triggers.guardrails.recent import RecentSends
from policies.triggers.guardrails.seen import SeenIndex
from policies.triggers.guardrails.sequential import WEEK_US, SequentialRules

#: Columns of the result that the guardrails fill in; an input column of the same name is replaced.
_FILLED = ("channel", "suppressed_by", "why", "__row")
_SENDS = pl.Schema(
    {
        "user_id": pl.String,
        "send_us": pl.Int64,
        "channel": pl.String,
        "trigger": pl.String,
        "item_id": pl.String,
        "local_day": pl.Int64,
        "moment_id": pl.String,
        "rank": pl.Int64,
    }
)


@dataclass(frozen=True)
class GuardrailResult:
    """What :meth:`Guardrails.apply` made of a batch of moments.

    Attributes
    ----------
    kept
        The moments to decide on (DECIDABLE_MOMENTS): each with its channel and final ``send_at``.
    suppressed
        The moments stopped (SUPPRESSIONS): ``suppressed_by`` a short code, ``why`` a sentence.
    """

    kept: pl.DataFrame
    suppressed: pl.DataFrame


def _utc_us(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64)


class Guardrails:
    """The guardrails applied to every trigger moment.

    Consent, opt-out, quiet hours, cooldowns, frequency caps, priority, idempotency and the global holdout.

    Parameters
    ----------
    settings
        The guardrails' settings (``TriggerConfig.guardrails``).
    users
        The users (USERS contract: ``user_id``, ``tz``, ``consent_*``, ``opted_out_at``); more can be added
        with :meth:`add_users`.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from policies.triggers.config import GuardrailSettings
    >>> users = pl.DataFrame({"user_id": ["u1"], "tz": ["Europe/Paris"], "consent_in_app": [True],
    ...     "consent_email": [True], "consent_sms": [False], "opted_out_at": [None]},
    ...     schema_overrides={"opted_out_at": pl.Datetime("us", "UTC")})
    >>> at = [datetime(2026, 3, 4, 21, 30, tzinfo=UTC), datetime(2026, 3, 4, 23, 0, tzinfo=UTC)]
    >>> moments = pl.DataFrame({"moment_id": ["m1", "m2"], "ts": at, "user_id": ["u1", "u1"],
    ...     "item_id": ["i1", "i2"], "trigger": ["best_hour", "cart_abandon"],
    ...     "trigger_kind": ["time", "behaviour"], "send_at": at, "reason": ["", ""]})
    >>> guardrails = Guardrails(GuardrailSettings(holdout_share=0.0), users)
    >>> result = guardrails.apply(moments)
    >>> result.kept.select("moment_id", "channel", "send_at").rows()  # deferred to 08:00 Paris time
    [('m2', 'in_app', datetime.datetime(2026, 3, 5, 7, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))]
    >>> result.suppressed.select("moment_id", "suppressed_by").rows()
    [('m1', 'priority')]
    >>> guardrails.apply(moments).suppressed.get_column("suppressed_by").to_list()
    ['duplicate', 'duplicate']
    """

    def __init__(self, settings: GuardrailSettings, users: pl.DataFrame) -> None:
        self.settings = settings
        self._rules = SequentialRules(settings)
        self._rank = {trigger: i for i, trigger in enumerate(settings.priority)}
        self._users = self._profiles(users).with_row_index("__user")  # users numbered for the batch's arrays
        self._unsubscribed = pl.DataFrame(schema={"user_id": pl.String, "channel": pl.String, "at": pl.Int64})
        self._unsub_wide = self._widen(self._unsubscribed)
        self._seen = pl.DataFrame(schema={"moment_id": pl.String})
        self._seen_index = SeenIndex()  # their hashes, to look a batch's ids up
        self._sends = pl.DataFrame(schema=_SENDS)
        self._recent = RecentSends()  # the sends within the last batch's horizon
        horizon = max(WEEK_US, 2 * US_PER_DAY, self._rules.collision_us, self._rules.trigger_us, self._rules.item_us)
        self._horizon_us = horizon
        self._one = OneMoment(settings, self._rules, self._rank)  # the state by user, for apply_one

    # ---- state -------------------------------------------------------------------------------------------

    def _profiles(self, users: pl.DataFrame) -> pl.DataFrame:
        users = checked_users(users)
        ids = users.get_column("user_id").to_list()
        return users.select(
            "user_id",
            "tz",
            *(pl.col(f"consent_{c}") for c in CHANNELS),
            _utc_us("opted_out_at").alias("opted_out_us"),
            holdout=pl.Series(holdout_draw(ids, self.settings.holdout_salt) < self.settings.holdout_share),
        )

    def add_users(self, users: pl.DataFrame) -> None:
        """Add users who signed up later; a user already known takes the new profile (consents, opt-out).

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> import polars as pl
        >>> from policies.triggers.config import GuardrailSettings
        >>> schema = {"user_id": pl.String, "tz": pl.String, "consent_in_app": pl.Boolean,
        ...     "consent_email": pl.Boolean, "consent_sms": pl.Boolean, "opted_out_at": pl.Datetime("us", "UTC")}
        >>> guardrails = Guardrails(GuardrailSettings(), pl.DataFrame(schema=schema))
        >>> guardrails.add_users(pl.DataFrame([("u1", "UTC", True, False, False, None)], schema=schema, orient="row"))
        >>> guardrails.deliverable(["u1", "u2"], "in_app", [datetime(2026, 1, 1, tzinfo=UTC)] * 2)[1]
        [None, 'user u2 is not among the known users']
        """
        new = self._profiles(users)
        if new.height:
            known = self._users.drop("__user").join(new, on="user_id", how="anti")
            self._users = pl.concat([known, new]).with_row_index("__user")
            self._one.forget_users()

    def observe(self, events: pl.DataFrame) -> None:
        """Learn the unsubscribes of an event log window: from each one's ``ts`` on, its channel is closed.

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> import polars as pl
        >>> from policies.triggers.config import GuardrailSettings
        >>> users = pl.DataFrame({"user_id": ["u1"], "tz": ["UTC"], "consent_in_app": [True],
        ...     "consent_email": [True], "consent_sms": [True], "opted_out_at": [None]},
        ...     schema_overrides={"opted_out_at": pl.Datetime("us", "UTC")})
        >>> guardrails = Guardrails(GuardrailSettings(), users)
        >>> guardrails.observe(pl.DataFrame({"ts": [datetime(2026, 1, 1, 10, tzinfo=UTC)], "user_id": ["u1"],
        ...     "type": ["unsubscribe"], "channel": ["email"]}))
        >>> guardrails.deliverable(["u1"], "email", [datetime(2026, 1, 1, 11, tzinfo=UTC)])
        (array([False]), ['user u1 unsubscribed from email at 2026-01-01 10:00 UTC'])
        """
        new = checked_unsubscribes(events).select("user_id", "channel", _utc_us("ts").alias("at"))
        if new.height:
            both = pl.concat([self._unsubscribed, new])
            self._unsubscribed = both.group_by("user_id", "channel").agg(pl.col("at").min())
            self._unsub_wide = self._widen(self._unsubscribed)
            self._one.forget_users()

    @staticmethod
    def _widen(unsubscribed: pl.DataFrame) -> pl.DataFrame:
        return unsubscribed.group_by("user_id").agg(
            pl.col("at").filter(pl.col("channel") == c).min().alias(f"unsub_{c}") for c in CHANNELS
        )

    def is_holdout(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Whether each user is in the global holdout: a salted hash of the id below ``holdout_share``.

        Examples
        --------
        >>> from policies.triggers.config import GuardrailSettings
        >>> import polars as pl
        >>> guardrails = Guardrails(GuardrailSettings(holdout_share=0.5), pl.DataFrame(schema=dict(
        ...     user_id=pl.String, tz=pl.String, consent_in_app=pl.Boolean, consent_email=pl.Boolean,
        ...     consent_sms=pl.Boolean, opted_out_at=pl.Datetime("us", "UTC"))))
        >>> guardrails.is_holdout(["u1", "u2", "u3", "u4"])
        array([ True,  True, False,  True])
        """
        ids = [str(u) for u in user_ids]
        return holdout_draw(ids, self.settings.holdout_salt) < self.settings.holdout_share

    # ---- the check at delivery ---------------------------------------------------------------------------

    def deliverable(
        self,
        user_ids: Sequence[str] | np.ndarray,
        channels: str | Sequence[str] | np.ndarray,
        at: np.ndarray | Sequence[datetime],
    ) -> tuple[np.ndarray, list[str | None]]:
        """Tell whether each message may go out at its delivery time.

        It may when the user is known, has not opted out, consents to the channel and has not unsubscribed from it, all
        as of ``at``. Returns the mask and, for each refused message, why (``None`` where allowed).

        ``at`` holds aware datetimes, or numpy ``datetime64`` values read as UTC.
        """
        ids = [str(u) for u in user_ids]
        n = len(ids)
        chans = [channels] * n if isinstance(channels, str) else [str(c) for c in channels]
        at_us = self._instants(at)
        if not (len(chans) == len(at_us) == n):
            raise ValueError(f"deliverable: {n} user_ids, {len(chans)} channels and {len(at_us)} times differ")
        check_channels(chans, "deliverable")
        if n == 0:
            return np.zeros(0, dtype=bool), []
        frame = pl.DataFrame({"user_id": ids, "channel": chans, "at": at_us}, schema_overrides={"at": pl.Int64})
        frame = frame.join(self._users, on="user_id", how="left").join(self._unsub_wide, on="user_id", how="left")
        reasons = frame.select(verdicts.undeliverable().alias("why")).get_column("why").to_list()
        return np.array([r is None for r in reasons], dtype=bool), reasons

    @staticmethod
    def _instants(at: np.ndarray | Sequence[datetime]) -> list[int]:
        if isinstance(at, np.ndarray) and np.issubdtype(at.dtype, np.datetime64):
            return cast(list[int], at.astype("datetime64[us]").astype(np.int64).tolist())  # int64 items: ints
        out = []
        for value in at:
            if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise SchemaError(f"deliverable: 'at' holds {value!r}; expected time-zone-aware datetimes")
            out.append(to_us(value))
        return out

    # ---- apply -------------------------------------------------------------------------------------------

    def apply(self, moments: pl.DataFrame) -> GuardrailResult:
        """Keep the moments that pass every guardrail, with their channel and send time; suppress the rest.

        Stateful: moments seen here are never let through again, and what is kept (or held out) counts
        towards later caps, cooldowns and collisions. The order of the checks is under Notes in
        :mod:`policies.triggers.guardrails`.
        """
        m = checked_moments(moments, self.settings.priority)
        self._seen, self._sends = self._one.flush(self._seen, self._sends)  # what apply_one added
        m = m.drop([c for c in _FILLED if c in m.columns])  # the guardrails fill these in
        extras = [c for c in m.columns if c not in MOMENTS]
        if m.height == 0:
            empty = m.with_row_index("__row").with_columns(
                pl.lit(None, pl.String).alias(c) for c in ("__code", "__why", "__channel")
            )
            return self._result(empty, extras)
        s = self.settings
        m = self._canonical(m).with_row_index("__row")
        w = (
            m.select(
                "__row",
                "moment_id",
                "user_id",
                "trigger",
                "item_id",
                _utc_us("ts").alias("ts_us"),
                _utc_us("send_at").alias("send_us"),
                pl.col("trigger").replace_strict(self._rank, return_dtype=pl.Int64).alias("rank"),
                (pl.col("moment_id") == pl.col("moment_id").shift(1)).fill_null(False).alias("twin"),  # sorted by id
            )
            .join(self._seen_index.among(self._seen, m.get_column("moment_id")), on="moment_id", how="left")
            .join(self._users, on="user_id", how="left")
            .join(self._unsub_wide, on="user_id", how="left")
        )
        known = w.get_column("tz").is_not_null().to_numpy()
        send = w.get_column("send_us").to_numpy().copy()
        local_day = np.zeros(len(send), dtype=np.int64)
        if known.any():
            zones = w.get_column("tz").filter(pl.Series(known))
            send[known], local_day[known] = defer_quiet_hours(
                send[known], zones, s.quiet_hours.start, s.quiet_hours.end
            )
        w = w.with_columns(send_us=pl.Series(send), local_day=pl.Series(local_day))
        w = w.with_columns(open_channels=verdicts.open_channels(s.channels))
        code, why = verdicts.stateless(s.channels)
        w = w.with_columns(code=code)
        stopped = w.filter(pl.col("code").is_not_null())  # worded alone: polars computes every branch of a when
        decided = pl.concat(
            [
                stopped.select("__row", "code", why.alias("why"), pl.lit(None, pl.String).alias("channel")),
                self._decide(w.filter(pl.col("code").is_null())).rename({"d_code": "code", "d_why": "why"}),
            ]
        )
        w = w.drop("code").join(decided, on="__row", how="left")
        sent = w.filter(pl.col("channel").is_not_null())
        self._sends = pl.concat([self._sends, sent.select(_SENDS.names()).cast(_SENDS)])
        fresh = w.filter(pl.col("seen").is_null() & ~pl.col("twin")).select("moment_id")
        self._seen = pl.concat([self._seen, fresh])
        if self._seen.n_chunks() > 64 or self._sends.n_chunks() > 64:  # many small calls: keep joins fast
            self._seen, self._sends = self._seen.rechunk(), self._sends.rechunk()
        filled = w.sort("__row").select(  # one row per moment, as in m (in __row order)
            pl.col("code").alias("__code"),
            pl.col("why").alias("__why"),
            pl.col("channel").alias("__channel"),
            pl.col("send_us").cast(UTC_TS).alias("send_at"),
        )
        out = m.drop("send_at").hstack(filled.get_columns())
        return self._result(out, extras)

    def apply_one(self, moment: Mapping[str, Any]) -> Verdict:
        """Run :meth:`apply` on a single moment, in plain Python, for the endpoint.

        It takes tens of µs, plus ~0.1–0.5 ms for quiet hours, and gives the same verdict, code, sentence, channel and
        send time as ``apply`` on a one-row frame, and the same state (later calls of either method see it). ``moment``
        maps the MOMENTS columns (times aware; other keys are ignored) and the :class:`Verdict` holds the SUPPRESSIONS
        columns (``suppressed_by`` and ``why`` ``None`` when kept): ``verdict.row()`` is the row ``apply`` would give.

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> import polars as pl
        >>> from policies.triggers.config import GuardrailSettings
        >>> users = pl.DataFrame({"user_id": ["u1"], "tz": ["Europe/Paris"], "consent_in_app": [True],
        ...     "consent_email": [True], "consent_sms": [False], "opted_out_at": [None]},
        ...     schema_overrides={"opted_out_at": pl.Datetime("us", "UTC")})
        >>> guardrails = Guardrails(GuardrailSettings(holdout_share=0.0), users)
        >>> at = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
        >>> moment = {"moment_id": "m2", "ts": at, "user_id": "u1", "item_id": "i2", "trigger": "cart_abandon",
        ...     "trigger_kind": "behaviour", "send_at": at, "reason": ""}
        >>> verdict = guardrails.apply_one(moment)
        >>> verdict.kept, verdict.channel, verdict.send_at  # deferred to 08:00 Paris time
        (True, 'in_app', datetime.datetime(2026, 3, 5, 7, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
        >>> guardrails.apply_one(moment).why
        'moment m2 was already handled by an earlier call'
        """
        return self._one.apply(moment, self._users, self._unsub_wide, self._seen, self._sends)

    @staticmethod
    def _canonical(m: pl.DataFrame) -> pl.DataFrame:
        """Sort the moments in the canonical order.

        The order is ``moment_id``, ``ts``, ``send_at``, ``user_id``, ``trigger``, ``item_id``, ``reason``: by
        ``moment_id`` alone when the ids are distinct (then the same order, and cheaper), by every column when some id
        repeats.
        """
        by_id = m.sort("moment_id")
        ids = by_id.get_column("moment_id")
        if not (ids == ids.shift(1)).any():
            return by_id
        return m.sort(["moment_id", "ts", "send_at", "user_id", "trigger", "item_id", "reason"], nulls_last=True)

    def _decide(self, candidates: pl.DataFrame) -> pl.DataFrame:
        """Decide on the moments that passed the stateless checks, from the recent kept sends.

        The decisions are ``__row``, ``d_code``, ``d_why`` and the ``channel`` of those kept or held out
        (:func:`decide_batch`: the loop's verdicts, in rounds of array operations).
        """
        schema = {"__row": pl.UInt32, "d_code": pl.String, "d_why": pl.String, "channel": pl.String}
        if candidates.height == 0:
            return pl.DataFrame(schema=schema)
        earliest = candidates.get_column("send_us").min()
        assert isinstance(earliest, int)
        recent = self._recent.after(self._sends, earliest - self._horizon_us)
        decisions = decide_batch(candidates, recent, self._rules)
        held = decisions.filter(pl.col("channel").is_not_null()).join(
            candidates.filter(pl.col("holdout")).select("__row", "user_id"), on="__row"
        )
        held = held.select(
            "__row",
            pl.lit("holdout").alias("d_code"),
            verdicts.held_out(self.settings.holdout_share).alias("d_why"),
            "channel",
        )
        return pl.concat([decisions.join(held, on="__row", how="anti"), held])

    @staticmethod
    def _result(out: pl.DataFrame, extras: list[str]) -> GuardrailResult:
        out = out.rename({"__code": "suppressed_by", "__why": "why", "__channel": "channel"})
        kept = out.filter(pl.col("suppressed_by").is_null()).sort("send_at", "__row")
        suppressed = out.filter(pl.col("suppressed_by").is_not_null()).sort("__row")
        kept = kept.select(*DECIDABLE_MOMENTS.names(), *extras)
        suppressed = suppressed.select(*SUPPRESSIONS.names(), *extras)
        return GuardrailResult(kept=kept, suppressed=suppressed)
