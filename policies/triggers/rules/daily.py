"""Daily rules, run at each tick: the best-hour reminder (time) and lifecycle transitions and churn risk.

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

import numpy as np
import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS, ChurnScorer, RecencyChurnScorer, lifecycle_stage
from policies.triggers.config import LifecycleRule, TimeRule
from policies.triggers.rules.base import DAY_US, Moment, day_of, slot


class BestHour:
    """At each tick, users due today (by slot) who viewed something within ``active_within_days`` get a reminder
    of the last item they viewed, if it still has stock. State: each user's last view."""

    def __init__(self, rule: TimeRule, stock: dict[str, int]) -> None:
        self.rule = rule
        self.stock = stock
        self.last_view_: dict[str, tuple[int, str]] = {}

    def view(self, user_id: str, item_id: str | None, ts: int) -> None:
        """Streaming: a view."""
        if item_id is not None:
            self.last_view_[user_id] = (ts, item_id)

    def views(self, views: pl.DataFrame) -> None:
        """Batch: a run of views (``user_id, item_id, ts`` in stream order) before the next tick."""
        last = views.filter(pl.col("item_id").is_not_null()).group_by("user_id").agg(pl.col("ts", "item_id").last())
        for user, ts, item in last.iter_rows():
            self.last_view_[user] = (ts, item)

    def tick(self, now: int, preferred: dict[str, int]) -> list[Moment]:
        """The reminders of the tick at ``now``."""
        cadence = self.rule.cadence_days
        today = (now // DAY_US) % cadence
        edge = now - self.rule.active_within_days * DAY_US
        date = day_of(now)
        moments = []
        for user, (ts, item) in sorted(self.last_view_.items()):
            if ts > edge and slot(user, cadence) == today and self.stock.get(item, 0) > 0:
                hour = preferred.get(user, self.rule.fallback_hour)
                reason = f"reminder of item {item} at your best hour {hour:02d}:00"
                moments.append(Moment(f"best_hour:{user}:{date}", now, user, item, "best_hour", reason))
        return moments


class Lifecycle:
    """At each tick, each user's stage against their stage at the previous tick; onboarding of new sign-ups;
    churn risk at or above the threshold once per ``churn_cadence_days`` (by slot)."""

    def __init__(self, rule: LifecycleRule, signups: dict[str, int], scorer: ChurnScorer | None) -> None:
        self.rule = rule
        self.signups = signups
        self.scorer: ChurnScorer = scorer if scorer is not None else RecencyChurnScorer()
        self.stages_: dict[str, str] = {}
        self.last_tick_: int | None = None

    def tick(self, features: pl.DataFrame, now: int) -> list[Moment]:
        """The lifecycle moments of the tick at ``now`` from the users' features as of ``now``."""
        missing = [c for c in ("user_id", *LIFECYCLE_INPUTS) if c not in features.columns]
        if missing:
            raise ValueError(f"user features: missing column {missing[0]!r}")
        date = day_of(now)
        staged = features.with_columns(lifecycle_stage(self.rule.stages))
        users = staged["user_id"].to_list()
        stages = staged["lifecycle_stage"].to_list()
        idle = staged["days_since_last_session"].to_list()
        moments: list[Moment] = []
        previous_tick, self.last_tick_ = self.last_tick_, now
        if previous_tick is not None:
            moments += self._transitions(users, stages, idle, date, now)
            if "onboarding" in self.rule.transitions:
                for user in sorted(u for u, t in self.signups.items() if previous_tick <= t < now):
                    reason = f"signed up {day_of(self.signups[user])}: welcome"
                    moments.append(Moment(f"onboarding:{user}:{date}", now, user, None, "onboarding", reason))
        self.stages_.update(zip(users, stages, strict=True))
        moments += self._churn(staged, users, now, date)
        return moments

    def _transitions(
        self, users: list[str], stages: list[str], idle: list[int | None], date: str, now: int
    ) -> list[Moment]:
        moments = []
        for user, stage, days in zip(users, stages, idle, strict=True):
            before = self.stages_.get(user)
            if before is None or before == stage or stage not in self.rule.transitions:
                continue
            since = "no session yet" if days is None else f"{days} days since last session"
            reason = f"stage changed from {before} to {stage} ({since})"
            moments.append(Moment(f"{stage}:{user}:{date}", now, user, None, stage, reason))
        return moments

    def _churn(self, staged: pl.DataFrame, users: list[str], now: int, date: str) -> list[Moment]:
        if not users:
            return []
        risk = np.asarray(self.scorer.score(staged), dtype=float)
        cadence = self.rule.churn_cadence_days
        today = (now // DAY_US) % cadence
        threshold = self.rule.churn_threshold
        moments = []
        for user, r in zip(users, risk.tolist(), strict=True):
            if r >= threshold and slot(user, cadence) == today:
                reason = f"churn risk {r:.2f} ≥ {threshold:.2f}"
                moments.append(Moment(f"churn_risk:{user}:{date}", now, user, None, "churn_risk", reason))
        return moments
