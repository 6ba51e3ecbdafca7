"""Daily rules, run at each tick: the best-hour reminder (time) and lifecycle transitions and churn risk.

Both keep their per-user state in numpy arrays indexed by the users' positions in a shared
:class:`~policies.triggers.rules.users.UserIndex`, and decide a tick with a few array steps over all users;
polars only builds the (few) moments. Streamed views wait in a small dict until the next tick, so the
engine in windows and event by event share one state.

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

from collections.abc import Callable

import numpy as np
import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS, LIFECYCLE_STAGES, ChurnScorer, RecencyChurnScorer, lifecycle_stage
from policies.triggers.config import LifecycleRule, TimeRule
from policies.triggers.rules.base import DAY_US, Moment, day_of
from policies.triggers.rules.behaviour import RAW_MOMENTS
from policies.triggers.rules.users import UserIndex, grown, last_of_each

#: Stock of items as of a tick: the item ids in, their stock out (0 for unknown items).
StockAt = Callable[[pl.Series], pl.Series]
_STAGE = pl.Enum(LIFECYCLE_STAGES)
_NEVER = np.iinfo(np.int64).min


def _moments(frame: pl.DataFrame) -> list[Moment]:
    return [Moment(*row) for row in frame.select(RAW_MOMENTS.names()).iter_rows()]


class BestHour:
    """At each tick, users due today (by slot) who viewed something within ``active_within_days`` get a reminder
    of the last item they viewed, if it still has stock. State: each user's last view time and item (arrays by
    position), plus the views streamed since the last tick."""

    def __init__(self, rule: TimeRule, stock: dict[str, int], users: UserIndex | None = None) -> None:
        self.rule = rule
        self.stock = stock
        self.users = users if users is not None else UserIndex()
        self.last_ts_ = np.empty(0, dtype=np.int64)
        self.last_item_ = np.empty(0, dtype=object)
        self.recent_: dict[str, tuple[int, str]] = {}

    def view(self, user_id: str, item_id: str | None, ts: int) -> None:
        """Streaming: a view."""
        if item_id is not None:
            self.recent_[user_id] = (ts, item_id)

    def views(self, views: pl.DataFrame) -> None:
        """Batch: a run of views (``user_id, item_id, ts`` in stream order, and ``position``, the user's position,
        if known) before the next tick."""
        self._fold()
        seen = views.filter(pl.col("item_id").is_not_null())
        if seen.height:
            if "position" in seen.columns:
                positions = seen["position"].to_numpy()
            else:
                positions = self.users.positions(seen["user_id"], remember=False)
            self._record(positions, seen["ts"].to_numpy(), seen["item_id"].to_numpy())

    def _fold(self) -> None:
        if self.recent_:
            users = list(self.recent_)
            ts = np.fromiter((self.recent_[u][0] for u in users), np.int64, len(users))
            items = np.array([self.recent_[u][1] for u in users], dtype=object)
            self._record(self.users.positions(pl.Series(users, dtype=pl.String), remember=False), ts, items)
            self.recent_ = {}

    def _record(self, positions: np.ndarray, ts: np.ndarray, items: np.ndarray) -> None:
        self._grow()
        last = last_of_each(positions)
        self.last_ts_[positions[last]] = ts[last]
        self.last_item_[positions[last]] = items[last]

    def _grow(self) -> None:
        self.last_ts_ = grown(self.last_ts_, len(self.users), _NEVER)
        self.last_item_ = grown(self.last_item_, len(self.users), None)

    def tick_frame(self, now: int, preferred: pl.DataFrame, stock_at: StockAt | None = None) -> pl.DataFrame:
        """The reminders of the tick at ``now`` (``RAW_MOMENTS``); ``preferred`` holds ``user_id,
        preferred_hour`` (null or absent: the fallback hour) and ``stock_at`` the stock as of ``now`` (default:
        the shared stock dict)."""
        self._fold()
        self._grow()
        cadence = self.rule.cadence_days
        active = self.last_ts_ > now - self.rule.active_within_days * DAY_US
        due = np.flatnonzero(active & (self.users.crc[: len(active)] % cadence == (now // DAY_US) % cadence))
        hours = np.full(len(self.users), self.rule.fallback_hour, dtype=np.int64)
        if preferred.height:
            known = preferred["preferred_hour"].is_not_null().to_numpy()
            at = self.users.positions(preferred["user_id"])
            hours[at[known]] = preferred["preferred_hour"].to_numpy()[known]
        ids = self.users.ids_of(due)
        items = pl.Series("item_id", self.last_item_[due].tolist(), dtype=pl.String)
        if stock_at is None:
            stock = self.stock

            def stock_at(items: pl.Series) -> pl.Series:
                return pl.Series([stock.get(i, 0) for i in items.to_list()], dtype=pl.Int64)

        frame = pl.DataFrame([ids, items, pl.Series("hour", hours[due], dtype=pl.Int64)])
        frame = frame.filter(stock_at(items) > 0)
        return frame.select(
            pl.format("best_hour:{}:{}", "user_id", pl.lit(day_of(now))).alias("moment_id"),
            pl.lit(now, dtype=pl.Int64).alias("ts"),
            "user_id",
            "item_id",
            pl.lit("best_hour").alias("trigger"),
            pl.format(
                "reminder of item {} at your best hour {}:00", "item_id", pl.col("hour").cast(pl.String).str.zfill(2)
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
    churn risk at or above the threshold once per ``churn_cadence_days`` (by slot). State: each user's stage at
    the previous tick (an array of stage codes by position, -1 before the first)."""

    def __init__(
        self, rule: LifecycleRule, signups: dict[str, int], scorer: ChurnScorer | None, users: UserIndex | None = None
    ) -> None:
        self.rule = rule
        self.signups = pl.DataFrame(
            {"user_id": list(signups), "signup": list(signups.values())},
            schema={"user_id": pl.String, "signup": pl.Int64},
        ).sort("signup", "user_id")
        self.scorer: ChurnScorer = scorer if scorer is not None else RecencyChurnScorer()
        self.users = users if users is not None else UserIndex()
        self.stage_ = np.empty(0, dtype=np.int8)
        self.last_tick_: int | None = None

    def tick_frame(self, features: pl.DataFrame, now: int) -> pl.DataFrame:
        """The lifecycle moments (``RAW_MOMENTS``) of the tick at ``now`` from the users' features as of ``now``."""
        missing = [c for c in ("user_id", *LIFECYCLE_INPUTS) if c not in features.columns]
        if missing:
            raise ValueError(f"user features: missing column {missing[0]!r}")
        date = day_of(now)
        positions = self.users.positions(features["user_id"])
        staged = features.with_columns(lifecycle_stage(self.rule.stages).cast(_STAGE))
        code = staged["lifecycle_stage"].to_physical().to_numpy().astype(np.int8)
        self.stage_ = grown(self.stage_, len(self.users), -1)
        before = self.stage_[positions]
        parts = []
        previous_tick, self.last_tick_ = self.last_tick_, now
        if previous_tick is not None:
            parts.append(self._transitions(staged, before, code, date, now))
            if "onboarding" in self.rule.transitions:
                parts.append(self._onboarding(previous_tick, now, date))
        parts.append(self._churn(staged, positions, now, date))
        self.stage_[positions] = code
        parts = [p for p in parts if p.height]
        return pl.concat([p.cast(RAW_MOMENTS) for p in parts]) if parts else pl.DataFrame(schema=RAW_MOMENTS)

    def tick(self, features: pl.DataFrame, now: int) -> list[Moment]:
        """The lifecycle moments of the tick at ``now``, as a list."""
        return _moments(self.tick_frame(features, now))

    def _onboarding(self, previous_tick: int, now: int, date: str) -> pl.DataFrame:
        signup = self.signups["signup"].to_numpy()
        start, stop = np.searchsorted(signup, [previous_tick, now], side="left")
        if start == stop:
            return pl.DataFrame(schema=RAW_MOMENTS)
        day = pl.col("signup").cast(pl.Datetime("us", "UTC")).dt.date().cast(pl.String)
        return self.signups.slice(int(start), int(stop - start)).select(
            pl.format("onboarding:{}:{}", "user_id", pl.lit(date)).alias("moment_id"),
            pl.lit(now, dtype=pl.Int64).alias("ts"),
            "user_id",
            pl.lit(None, dtype=pl.String).alias("item_id"),
            pl.lit("onboarding").alias("trigger"),
            pl.format("signed up {}: welcome", day).alias("reason"),
        )

    def _transitions(
        self, staged: pl.DataFrame, before: np.ndarray, code: np.ndarray, date: str, now: int
    ) -> pl.DataFrame:
        wanted = [LIFECYCLE_STAGES.index(s) for s in self.rule.transitions if s in LIFECYCLE_STAGES]
        rows = np.flatnonzero((before >= 0) & (before != code) & np.isin(code, wanted))
        columns = ["user_id", "lifecycle_stage", "days_since_last_session"]
        changed = staged.select(columns)[rows].with_columns(
            pl.col("lifecycle_stage").cast(pl.String),
            pl.Series("before", np.asarray(LIFECYCLE_STAGES, dtype=object)[before[rows]].tolist(), dtype=pl.String),
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

    def _churn(self, staged: pl.DataFrame, positions: np.ndarray, now: int, date: str) -> pl.DataFrame:
        if staged.height == 0:
            return pl.DataFrame(schema=RAW_MOMENTS)
        risk = np.asarray(self.scorer.score(staged), dtype=float)
        cadence = self.rule.churn_cadence_days
        threshold = self.rule.churn_threshold
        due = self.users.crc[positions] % cadence == (now // DAY_US) % cadence
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
