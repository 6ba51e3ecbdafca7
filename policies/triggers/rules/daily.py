"""Daily rules, run at each tick: the best-hour reminder (time) and lifecycle transitions and churn risk.

Both keep their state in frames and decide a tick with a few vectorised steps, whether the engine runs in
windows or event by event (streamed views wait in a small buffer until the next tick).

Examples
--------
>>> from policies.triggers.config import LifecycleRule
>>> import polars as pl
>>> rule = Lifecycle(LifecycleRule(churn_threshold=0.5), signups={"a": 0}, scorer=None)
>>> features = pl.DataFrame({"user_id": ["a"], "account_age_days": [400.0], "days_since_last_session": [3],
...                          "purchases_90d": [0], "sessions_30d": [4]})
>>> rule.tick(features, 86_400_000_000)  # the first tick only records stages
[]
>>> later = features.with_columns(pl.lit(12).alias("days_since_last_session"))
>>> [m.reason for m in rule.tick(later, 2 * 86_400_000_000)]
['stage changed from growing to declining (12 days since last session)']
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS, ChurnScorer, RecencyChurnScorer, lifecycle_stage
from policies.triggers.config import LifecycleRule, TimeRule
from policies.triggers.rules.base import DAY_US, Moment, day_of
from policies.triggers.rules.behaviour import RAW_MOMENTS

_LAST = pl.Schema({"user_id": pl.String, "ts": pl.Int64, "item_id": pl.String})
_LAST_CRC = pl.Schema([*_LAST.items(), ("crc", pl.Int64)])
_STAGES = pl.Schema({"user_id": pl.String, "stage": pl.String, "crc": pl.Int64})
#: Stock of items as of a tick: the item ids in, their stock out (0 for unknown items).
StockAt = Callable[[pl.Series], pl.Series]


class Slots:
    """Each user's crc32 (the base of :func:`policies.triggers.rules.base.slot`).

    Examples
    --------
    >>> from policies.triggers.rules.base import slot
    >>> Slots().of(pl.Series(["u1", "u2"]), 7).to_list() == [slot("u1", 7), slot("u2", 7)]
    True
    """

    def of(self, users: pl.Series, cadence: int) -> pl.Series:
        """The slot in ``range(cadence)`` of each user (in the order given)."""
        return (self.crc(users) % cadence).alias("slot")

    @staticmethod
    def crc(users: pl.Series) -> pl.Series:
        """The crc32 of each user id (in the order given; hashing is cheaper than looking it up in a frame)."""
        return pl.Series("crc", [zlib.crc32(u.encode()) for u in users.to_list()], dtype=pl.Int64)


def _moments(frame: pl.DataFrame) -> list[Moment]:
    return [Moment(*row) for row in frame.select(RAW_MOMENTS.names()).iter_rows()]


class BestHour:
    """At each tick, users due today (by slot) who viewed something within ``active_within_days`` get a reminder
    of the last item they viewed, if it still has stock. State: each user's last view (a frame, plus the views
    streamed since the last tick)."""

    def __init__(self, rule: TimeRule, stock: dict[str, int], slots: Slots | None = None) -> None:
        self.rule = rule
        self.stock = stock
        self.slots = slots if slots is not None else Slots()
        self.last_ = pl.DataFrame(schema=_LAST_CRC)
        self.recent_: dict[str, tuple[int, str]] = {}

    def view(self, user_id: str, item_id: str | None, ts: int) -> None:
        """Streaming: a view."""
        if item_id is not None:
            self.recent_[user_id] = (ts, item_id)

    def views(self, views: pl.DataFrame) -> None:
        """Batch: a run of views (``user_id, item_id, ts`` in stream order) before the next tick."""
        self._fold()
        last = views.filter(pl.col("item_id").is_not_null()).group_by("user_id").agg(pl.col("ts", "item_id").last())
        self._merge(last.select(_LAST.names()).cast(_LAST))

    def _fold(self) -> None:
        if self.recent_:
            users = list(self.recent_)
            rows = {"user_id": users, "ts": [self.recent_[u][0] for u in users]}
            self._merge(pl.DataFrame(rows | {"item_id": [self.recent_[u][1] for u in users]}, schema=_LAST))
            self.recent_ = {}

    def _merge(self, last: pl.DataFrame) -> None:
        if last.height:
            last = last.with_columns(self.slots.crc(last["user_id"]).alias("crc"))
            self.last_ = pl.concat([self.last_.join(last, on="user_id", how="anti"), last])

    def tick_frame(self, now: int, preferred: pl.DataFrame, stock_at: StockAt | None = None) -> pl.DataFrame:
        """The reminders of the tick at ``now`` (``RAW_MOMENTS``); ``preferred`` holds ``user_id,
        preferred_hour`` and ``stock_at`` the stock as of ``now`` (default: the shared stock dict)."""
        self._fold()
        cadence = self.rule.cadence_days
        today = (now // DAY_US) % cadence
        self.last_ = self.last_.filter(pl.col("ts") > now - self.rule.active_within_days * DAY_US)
        due = self.last_.filter(pl.col("crc") % cadence == today)
        if stock_at is None:
            stock = self.stock

            def stock_at(items: pl.Series) -> pl.Series:
                return pl.Series([stock.get(i, 0) for i in items.to_list()], dtype=pl.Int64)

        due = due.filter(stock_at(due["item_id"]) > 0).join(preferred, on="user_id", how="left")
        hour = pl.col("preferred_hour").fill_null(self.rule.fallback_hour).cast(pl.Int64)
        return due.sort("user_id").select(
            pl.format("best_hour:{}:{}", "user_id", pl.lit(day_of(now))).alias("moment_id"),
            pl.lit(now, dtype=pl.Int64).alias("ts"),
            "user_id",
            "item_id",
            pl.lit("best_hour").alias("trigger"),
            pl.format(
                "reminder of item {} at your best hour {}:00", "item_id", hour.cast(pl.String).str.zfill(2)
            ).alias("reason"),
        )

    def tick(self, now: int, preferred: dict[str, int]) -> list[Moment]:
        """The reminders of the tick at ``now``, as a list."""
        frame = pl.DataFrame(
            {"user_id": list(preferred), "preferred_hour": list(preferred.values())},
            schema={"user_id": pl.String, "preferred_hour": pl.Int64},
        )
        return _moments(self.tick_frame(now, frame))


class Lifecycle:
    """At each tick, each user's stage against their stage at the previous tick; onboarding of new sign-ups;
    churn risk at or above the threshold once per ``churn_cadence_days`` (by slot)."""

    def __init__(
        self, rule: LifecycleRule, signups: dict[str, int], scorer: ChurnScorer | None, slots: Slots | None = None
    ) -> None:
        self.rule = rule
        self.signups = pl.DataFrame(
            {"user_id": list(signups), "signup": list(signups.values())},
            schema={"user_id": pl.String, "signup": pl.Int64},
        )
        self.scorer: ChurnScorer = scorer if scorer is not None else RecencyChurnScorer()
        self.slots = slots if slots is not None else Slots()
        self.stages_ = pl.DataFrame(schema=_STAGES)
        self.last_tick_: int | None = None

    def tick_frame(self, features: pl.DataFrame, now: int) -> pl.DataFrame:
        """The lifecycle moments (``RAW_MOMENTS``) of the tick at ``now`` from the users' features as of ``now``."""
        missing = [c for c in ("user_id", *LIFECYCLE_INPUTS) if c not in features.columns]
        if missing:
            raise ValueError(f"user features: missing column {missing[0]!r}")
        date = day_of(now)
        staged = features.with_columns(lifecycle_stage(self.rule.stages)).join(
            self.stages_.rename({"stage": "before"}), on="user_id", how="left", maintain_order="left"
        )
        new = staged["crc"].is_null().arg_true()
        if new.len():  # users seen for the first time: their crc32 once
            crc = self.slots.crc(staged["user_id"].gather(new))
            staged = staged.with_columns(staged["crc"].scatter(new, crc))
        parts = []
        previous_tick, self.last_tick_ = self.last_tick_, now
        if previous_tick is not None:
            parts.append(self._transitions(staged, date, now))
            if "onboarding" in self.rule.transitions:
                joined = self.signups.filter((pl.col("signup") >= previous_tick) & (pl.col("signup") < now))
                day = pl.col("signup").cast(pl.Datetime("us", "UTC")).dt.date().cast(pl.String)
                parts.append(
                    joined.sort("user_id").select(
                        pl.format("onboarding:{}:{}", "user_id", pl.lit(date)).alias("moment_id"),
                        pl.lit(now, dtype=pl.Int64).alias("ts"),
                        "user_id",
                        pl.lit(None, dtype=pl.String).alias("item_id"),
                        pl.lit("onboarding").alias("trigger"),
                        pl.format("signed up {}: welcome", day).alias("reason"),
                    )
                )
        stages = staged.select("user_id", pl.col("lifecycle_stage").alias("stage"), "crc").cast(_STAGES)
        self.stages_ = pl.concat([self.stages_.join(stages, on="user_id", how="anti"), stages])
        parts.append(self._churn(staged, now, date))
        return pl.concat([p.cast(RAW_MOMENTS) for p in parts])

    def tick(self, features: pl.DataFrame, now: int) -> list[Moment]:
        """The lifecycle moments of the tick at ``now``, as a list."""
        return _moments(self.tick_frame(features, now))

    def _transitions(self, staged: pl.DataFrame, date: str, now: int) -> pl.DataFrame:
        changed = staged.filter(
            pl.col("before").is_not_null()
            & (pl.col("before") != pl.col("lifecycle_stage"))
            & pl.col("lifecycle_stage").is_in(list(self.rule.transitions))
        )
        idle = pl.col("days_since_last_session")
        # plain concatenation: polars 1.x can panic formatting a when/then column inside pl.format
        since = (
            pl.when(idle.is_null())
            .then(pl.lit("no session yet"))
            .otherwise(pl.concat_str([idle.cast(pl.String), pl.lit(" days since last session")]))
        )
        reason = pl.concat_str(
            [
                pl.lit("stage changed from "),
                pl.col("before"),
                pl.lit(" to "),
                pl.col("lifecycle_stage"),
                pl.lit(" ("),
                since,
                pl.lit(")"),
            ]
        )
        return changed.select(
            pl.format("{}:{}:{}", "lifecycle_stage", "user_id", pl.lit(date)).alias("moment_id"),
            pl.lit(now, dtype=pl.Int64).alias("ts"),
            "user_id",
            pl.lit(None, dtype=pl.String).alias("item_id"),
            pl.col("lifecycle_stage").alias("trigger"),
            reason.alias("reason"),
        )

    def _churn(self, staged: pl.DataFrame, now: int, date: str) -> pl.DataFrame:
        if staged.height == 0:
            return pl.DataFrame(schema=RAW_MOMENTS)
        risk = np.asarray(self.scorer.score(staged), dtype=float)
        cadence = self.rule.churn_cadence_days
        threshold = self.rule.churn_threshold
        due = ((staged["crc"] % cadence) == (now // DAY_US) % cadence).to_numpy()
        keep = (risk >= threshold) & due
        users = staged["user_id"].filter(pl.Series(keep)).rechunk()  # polars 2.1 panics formatting chunked ids
        reasons = [f"churn risk {r:.2f} ≥ {threshold:.2f}" for r in risk[keep].tolist()]
        return pl.DataFrame(
            {"user_id": users, "reason": reasons}, schema={"user_id": pl.String, "reason": pl.String}
        ).select(
            pl.format("churn_risk:{}:{}", "user_id", pl.lit(date)).alias("moment_id"),
            pl.lit(now, dtype=pl.Int64).alias("ts"),
            "user_id",
            pl.lit(None, dtype=pl.String).alias("item_id"),
            pl.lit("churn_risk").alias("trigger"),
            "reason",
        )
