"""Daily rules, run at each tick: the best-hour reminder (time) and lifecycle transitions and churn risk.

Both keep their per-user state in numpy arrays indexed by the users' positions in a shared
:class:`~policies.triggers.rules.index.IdIndex`, and decide a tick with a few array steps over all users;
polars only builds the (few) moments. Streamed views wait in a small dict until the next tick, so the
engine in windows and event by event share one state.

Examples
--------
>>> from policies.triggers.config import LifecycleRule
>>> import polars as pl
>>> rule = Lifecycle(LifecycleRule(churn_threshold=0.5), signups={"a": 0}, scorer=None)
>>> features = pl.DataFrame({"user_id": ["a"], "account_age_days": [400.0], "days_since_last_session": [3],
...                          "purchases_30d": [0], "purchases_90d": [0], "sessions_30d": [4]})
>>> rule.tick(features, 86_400_000_000)  # the first tick only records stages
[]
>>> later = features.with_columns(pl.lit(12).alias("days_since_last_session"))
>>> [m.reason for m in rule.tick(later, 2 * 86_400_000_000)]
['stage changed from growing to declining (12 days since last session; churn risk 0.31)']
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.lifecycle import LIFECYCLE_INPUTS, LIFECYCLE_STAGES, ChurnScorer, scored, with_lifecycle
from policies.triggers.config import LifecycleRule, TimeRule
from policies.triggers.rules.base import DAY_US, Moment
from policies.triggers.rules.behaviour import RAW_MOMENTS
from policies.triggers.rules.index import IdIndex, grown, last_of_each
from policies.triggers.rules.inventory import Stock, StockAt

_STAGE = pl.Enum(LIFECYCLE_STAGES)
_NEVER = np.iinfo(np.int64).min
_NONE = pl.DataFrame(schema=RAW_MOMENTS)


def _moments(frame: pl.DataFrame) -> list[Moment]:
    return [Moment(*row) for row in frame.select(RAW_MOMENTS.names()).iter_rows()]


#: The UTC date of a moment's ``ts`` (microseconds), as in its id.
_DATE = pl.col("ts").cast(pl.Datetime("us", "UTC")).dt.date().cast(pl.String)


class _Pending:
    """Rows a rule decided tick by tick (plain columns, no text yet), formatted together when drained.

    They are concatenated and given their users' ids only when drained, so the moments of many ticks are formatted in
    one pass.
    """

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []

    def __len__(self) -> int:
        return len(self._parts)

    def add(self, now: int, **columns: np.ndarray | pl.Series | list[str]) -> None:
        """One tick's rows (every column the same length; none: nothing kept)."""
        size = len(next(iter(columns.values())))
        if size:
            frame = pl.DataFrame({name: values for name, values in columns.items()})
            self._parts.append(frame.with_columns(pl.lit(now, dtype=pl.Int64).alias("ts")))

    def drain(self, users: IdIndex | None = None) -> pl.DataFrame | None:
        """Every row since the last drain (None if none), with ``user_id`` from ``position`` given ``users``."""
        if not self._parts:
            return None
        frame, self._parts = pl.concat(self._parts), []
        if users is not None:
            frame = frame.with_columns(users.ids_of(frame["position"].to_numpy()).alias("user_id"))
        return frame.rechunk()  # polars 2.1 panics formatting chunked columns


class BestHour:
    """At each tick, users due today who viewed something lately get a reminder of the last item they viewed.

    Due today is by slot; lately is within ``active_within_days``; the item must still have stock. State: each user's
    last view time and item (arrays by position), plus the views streamed since the last tick.
    """

    def __init__(self, rule: TimeRule, stock: Stock, users: IdIndex | None = None) -> None:
        self.rule = rule
        self.stock = stock
        self.users = users if users is not None else IdIndex(hashed=True)
        self.last_ts_ = np.empty(0, dtype=np.int64)
        self.last_item_ = np.empty(0, dtype=np.int64)
        self.recent_: dict[str, tuple[int, str]] = {}
        self._pending = _Pending()

    def view(self, user_id: str, item_id: str | None, ts: int) -> None:
        """Streaming: a view."""
        if item_id is not None:
            self.recent_[user_id] = (ts, item_id)

    def views(self, views: pl.DataFrame) -> None:
        """Take a batch: a run of views before the next tick.

        The views hold ``user_id, item_id, ts`` in stream order; ``position`` and ``item_position``, the user's
        and the item's, if known.
        """
        self._fold()
        seen = views.filter(pl.col("item_id").is_not_null()) if views["item_id"].null_count() else views
        if seen.height:
            if "position" in seen.columns:
                positions = seen["position"].to_numpy()
            else:
                positions = self.users.positions(seen["user_id"], remember=False)
            if "item_position" in seen.columns:
                items = seen["item_position"].to_numpy()
            else:
                items = self.stock.items.positions(seen["item_id"], remember=False)
            self._record(positions, seen["ts"].to_numpy(), items)

    def _fold(self) -> None:
        if self.recent_:
            users = list(self.recent_)
            ts = np.fromiter((self.recent_[u][0] for u in users), np.int64, len(users))
            items = np.fromiter((self.stock.items.position_of(self.recent_[u][1]) for u in users), np.int64, len(users))
            self._record(self.users.positions(pl.Series(users, dtype=pl.String), remember=False), ts, items)
            self.recent_ = {}

    def _record(self, positions: np.ndarray, ts: np.ndarray, items: np.ndarray) -> None:
        last = last_of_each(positions)
        self._grow()
        self.last_ts_[positions[last]] = ts[last]
        self.last_item_[positions[last]] = items[last]

    def _grow(self) -> None:
        self.last_ts_ = grown(self.last_ts_, len(self.users), _NEVER)
        self.last_item_ = grown(self.last_item_, len(self.users), -1)

    def tick_frame(self, now: int, preferred: pl.DataFrame, stock_at: StockAt | None = None) -> pl.DataFrame:
        """Return the reminders of the tick at ``now`` (``RAW_MOMENTS``).

        ``preferred`` holds ``user_id, preferred_hour`` (null or absent: the fallback hour) and ``stock_at`` the
        stock as of ``now`` (default: the shared stock dict).
        """
        hours = np.full(len(self.users), -1, dtype=np.int64)
        if preferred.height:
            hours[self.users.positions(preferred["user_id"])] = preferred["preferred_hour"].fill_null(-1).to_numpy()
        self.record(now, hours, stock_at)
        return self.drain()

    def record(self, now: int, hours: np.ndarray, stock_at: StockAt | None = None) -> None:
        """Decide the tick at ``now`` and keep its reminders for :meth:`drain`.

        ``hours`` holds each user's preferred hour by position, -1 for none.
        """
        self._fold()
        self._grow()
        cadence = self.rule.cadence_days
        active = self.last_ts_ > now - self.rule.active_within_days * DAY_US
        due = np.flatnonzero(active & (self.users.crc[: len(active)] % cadence == (now // DAY_US) % cadence))
        items = self.last_item_[due]
        kept = (stock_at or self.stock.of)(items) > 0
        hour = grown(hours, len(self.users), -1)[due[kept]]
        hour = np.where(hour >= 0, hour, self.rule.fallback_hour)
        self._pending.add(now, position=due[kept], item=items[kept], hour=hour)

    def drain(self) -> pl.DataFrame:
        """Return the reminders recorded since the last drain (``RAW_MOMENTS``), formatted at once."""
        frame = self._pending.drain(self.users)
        if frame is None:
            return _NONE
        frame = frame.with_columns(self.stock.items.ids_of(frame["item"].to_numpy()).alias("item_id")).rechunk()
        return frame.select(
            pl.format("best_hour:{}:{}", "user_id", _DATE).alias("moment_id"),
            "ts",
            "user_id",
            "item_id",
            pl.lit("best_hour").alias("trigger"),
            pl.format(
                "reminder of item {} at your best hour {}:00", "item_id", pl.col("hour").cast(pl.String).str.zfill(2)
            ).alias("reason"),
        )

    def tick(self, now: int, preferred: dict[str, int]) -> list[Moment]:
        """Return the reminders of the tick at ``now``, as a list."""
        frame = pl.DataFrame(
            {"user_id": list(preferred), "preferred_hour": list(preferred.values())},
            schema={"user_id": pl.String, "preferred_hour": pl.Int64},
        )
        return _moments(self.tick_frame(now, frame))


class Lifecycle:
    """At each tick: each user's stage against the previous tick's, onboarding of sign-ups, and churn risk.

    Churn risk counts at or above the threshold, once per ``churn_cadence_days`` (by slot). State: each user's stage at
    the previous tick (an array of stage codes by position, -1 before the first).
    """

    def __init__(
        self, rule: LifecycleRule, signups: dict[str, int], scorer: ChurnScorer | None, users: IdIndex | None = None
    ) -> None:
        self.rule = rule
        self.signups = pl.DataFrame(
            {"user_id": list(signups), "signup": list(signups.values())},
            schema={"user_id": pl.String, "signup": pl.Int64},
        ).sort("signup", "user_id")
        self.scorer = scorer
        self.users = users if users is not None else IdIndex(hashed=True)
        self.stage_ = np.empty(0, dtype=np.int8)
        self.last_tick_: int | None = None
        self._changes, self._joined, self._risks = _Pending(), _Pending(), _Pending()

    def tick_frame(self, features: pl.DataFrame, now: int) -> pl.DataFrame:
        """Return the lifecycle moments (``RAW_MOMENTS``) of the tick at ``now`` from the users' features then."""
        self.record(features, now)
        return self.drain()

    def tick(self, features: pl.DataFrame, now: int) -> list[Moment]:
        """Return the lifecycle moments of the tick at ``now``, as a list."""
        return _moments(self.tick_frame(features, now))

    def record(self, features: pl.DataFrame, now: int) -> None:
        """Decide the tick at ``now`` from the users' features as of ``now`` and keep its moments for :meth:`drain`."""
        missing = [c for c in ("user_id", *LIFECYCLE_INPUTS) if c not in features.columns]
        if missing:
            raise ValueError(f"user features: missing column {missing[0]!r}")
        positions = self.users.positions(features["user_id"])
        staged = with_lifecycle(scored(features, self.scorer) if features.height else features, self.rule.stages)
        staged = staged.with_columns(pl.col("lifecycle_stage").cast(_STAGE))
        risk = staged["churn_risk"].to_numpy()
        code = staged["lifecycle_stage"].to_physical().to_numpy().astype(np.int8)
        self.stage_ = grown(self.stage_, len(self.users), -1)
        before = self.stage_[positions]
        previous_tick, self.last_tick_ = self.last_tick_, now
        if previous_tick is not None:
            wanted = [LIFECYCLE_STAGES.index(s) for s in self.rule.transitions if s in LIFECYCLE_STAGES]
            rows = np.flatnonzero((before >= 0) & (before != code) & np.isin(code, wanted))
            idle = staged["days_since_last_session"].gather(rows).cast(pl.Int64)
            why = [f"; churn risk {r:.2f}" for r in risk[rows].tolist()]
            self._changes.add(
                now, position=positions[rows], before=before[rows], stage=code[rows], idle=idle, risk_text=why
            )
            if "onboarding" in self.rule.transitions:
                signup = self.signups["signup"].to_numpy()
                start, stop = np.searchsorted(signup, [previous_tick, now], side="left")
                self._joined.add(now, row=np.arange(start, stop))
        if staged.height:
            cadence = self.rule.churn_cadence_days
            due = self.users.crc[positions] % cadence == (now // DAY_US) % cadence
            keep = (risk >= self.rule.churn_threshold) & due
            self._risks.add(now, position=positions[keep], risk=risk[keep])
        self.stage_[positions] = code

    def drain(self) -> pl.DataFrame:
        """Return the moments recorded since the last drain (``RAW_MOMENTS``), formatted at once."""
        if not (self._changes or self._joined or self._risks):
            return _NONE
        made = [self._transitions(), self._onboarding(), self._churn()]
        parts = [p.cast(RAW_MOMENTS) for p in made if p is not None]
        return pl.concat(parts) if parts else _NONE

    def _onboarding(self) -> pl.DataFrame | None:
        joined = self._joined.drain()
        if joined is None:
            return None
        day = pl.col("signup").cast(pl.Datetime("us", "UTC")).dt.date().cast(pl.String)
        return (
            self.signups[joined["row"].to_numpy()]
            .with_columns(joined["ts"])
            .select(
                pl.format("onboarding:{}:{}", "user_id", _DATE).alias("moment_id"),
                "ts",
                "user_id",
                pl.lit(None, dtype=pl.String).alias("item_id"),
                pl.lit("onboarding").alias("trigger"),
                pl.format("signed up {}: welcome", day).alias("reason"),
            )
        )

    def _transitions(self) -> pl.DataFrame | None:
        changed = self._changes.drain(self.users)
        if changed is None:
            return None
        names = pl.Series(LIFECYCLE_STAGES, dtype=pl.String)
        changed = changed.with_columns(
            names.gather(changed["stage"]).alias("lifecycle_stage"), names.gather(changed["before"]).alias("before")
        )
        idle = pl.col("idle")
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
                pl.col("risk_text"),
                pl.lit(")"),
            ]
        )
        return changed.select(
            pl.format("{}:{}:{}", "lifecycle_stage", "user_id", _DATE).alias("moment_id"),
            "ts",
            "user_id",
            pl.lit(None, dtype=pl.String).alias("item_id"),
            pl.col("lifecycle_stage").alias("trigger"),
            reason.alias("reason"),
        )

    def _churn(self) -> pl.DataFrame | None:
        risks = self._risks.drain(self.users)
        if risks is None:
            return None
        threshold = self.rule.churn_threshold
        reasons = [f"churn risk {r:.2f} ≥ {threshold:.2f}" for r in risks["risk"].to_list()]
        return risks.with_columns(pl.Series("reason", reasons, dtype=pl.String)).select(
            pl.format("churn_risk:{}:{}", "user_id", _DATE).alias("moment_id"),
            "ts",
            "user_id",
            pl.lit(None, dtype=pl.String).alias("item_id"),
            pl.lit("churn_risk").alias("trigger"),
            "reason",
        )
