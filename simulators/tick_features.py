"""The engine's daily user features in a simulation, kept up to date one stored day at a time.

At every midnight the trigger engine asks for a few user features of every user (the lifecycle stages and the
best hour: :data:`~simulators.embedded_platform.TICK_SPEC`). Built from the daily store, each tick would sum
every stored day again; here the window sums are running sums (a day is added when it enters a window and
subtracted when it leaves it) and the recencies are running maxima of the last date with a non-zero count, so a
tick costs one day's rows and one pass over the users. The features are the same as
:meth:`features.stores.memory.DailyFeatureStore.user_features` (a test holds them together on every tick of a
simulation).

Notes
-----
As of midnight ``D`` a stored day ``d < D`` has age ``a = (D - d) - 1`` days; a ``w``-day window sums the days
with ``a < w``. The recency of a column is the smallest age of a day where it is non-zero, ``D - 1 - max d``;
the latest session at a local hour within the 90-day window is that recency when it is below 90, else none.
Integer counts only: sums of floats depend on the order of addition, so a spec with value sums, or with
derived rates, is built by the store instead; so is any tick for which the stored days are not the ones
already summed plus new ones (a day replaced, or a midnight earlier than the last), after which the sums
start again from the store's days.

Examples
--------
>>> from datetime import UTC, date, datetime
>>> from features.pipelines.user import UserFeatureSpec
>>> from features.stores.memory import DailyFeatureStore
>>> spec = UserFeatureSpec(windows={2: ["sessions"]}, all_time=[], recency={"sessions": "since"}, hours=False)
>>> store = DailyFeatureStore([], ["UTC"], specs=(spec,))
>>> users = pl.DataFrame({"user_id": ["u1", "u2"], "signup_ts": [datetime(2026, 1, 1, tzinfo=UTC)] * 2})
>>> store._users = {date(2026, 3, d): pl.DataFrame({"user_id": ["u1"], "date": [date(2026, 3, d)],
...     "sessions": [1]}, schema_overrides={"sessions": pl.Int32}) for d in (1, 2, 3)}
>>> rolling = RollingUserFeatures(store, users, spec)
>>> rolling.user_features(date(2026, 3, 4)).rows()
[('u1', 2, 0, 62.0), ('u2', 0, None, 62.0)]
>>> rolling.user_features(date(2026, 3, 4)).equals(store.user_features(date(2026, 3, 4), users.lazy(), spec=spec))
True
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from features.pipelines.daily import HOURS, VALUE_SUMS
from features.pipelines.user import HOUR_WINDOW, UserFeatureSpec, derived_columns
from features.stores.memory import DailyFeatureStore
from features.stores.offline import midnight
from policies.triggers.rules.index import IdIndex

_NONE = -(2**40)  # no day with a non-zero count (far below any day's ordinal, and no overflow in differences)


def _ages(last_day: int, latest: np.ndarray, window: int | None) -> pl.Series:
    """Return the days from each user's latest non-zero day to ``last_day`` (age 0: the day before the midnight).

    As Int32; null without such a day, or when it lies outside ``window``.
    """
    age = (last_day - latest).astype(np.float64)  # exact: ages are small integers; NaN marks the missing
    missing = (latest == _NONE) if window is None else (latest == _NONE) | (age >= window)
    return pl.Series(np.where(missing, np.nan, age), nan_to_null=True).cast(pl.Int32)


class RollingUserFeatures:
    """The user features of ``spec`` (integer counts, no derived rates) as of successive midnights.

    For every user in ``users`` who had signed up; other specs, and ticks that do not follow on, are the store's.
    """

    def __init__(self, store: DailyFeatureStore, users: pl.DataFrame, spec: UserFeatureSpec) -> None:
        self.store = store
        self.users = users.select("user_id", "signup_ts").sort("user_id")  # the output's order
        self.spec = spec
        self.windows = {w: list(columns) for w, columns in spec.windows.items()}
        if spec.hours:
            self.windows.setdefault(HOUR_WINDOW, []).extend(HOURS)
        self.counts = [f"{c}_{w}d" for w, columns in self.windows.items() for c in columns] + list(spec.all_time)
        self.supported = not any(c.startswith(VALUE_SUMS) for c in self.counts) and not [
            e for e in derived_columns() if all(n in self.counts for n in e.meta.root_names())
        ]
        self._index = IdIndex(self.users.get_column("user_id").to_list())  # position: the row in ``users``
        self._latest = sorted({*spec.recency, *(HOURS if spec.hours else [])})
        self._reset()

    def _reset(self) -> None:
        n = self.users.height
        self._absorbed: dict[date, pl.DataFrame] = {}
        # per day: the rows of known users (None: all), their positions, and whether no user has two rows
        self._at: dict[date, tuple[np.ndarray | None, np.ndarray, bool]] = {}
        self._in_window: dict[int, set[date]] = {w: set() for w in self.windows}
        self._sums = {(w, c): np.zeros(n, dtype=np.int64) for w, columns in self.windows.items() for c in columns}
        self._all_time = {c: np.zeros(n, dtype=np.int64) for c in self.spec.all_time}
        self._last = {c: np.full(n, _NONE, dtype=np.int64) for c in self._latest}  # the day's ordinal

    def _column(self, day: date, column: str) -> np.ndarray:
        """Return a day's counts of the users in ``users`` (rows of other users left out), in :attr:`_at`'s order."""
        known = self._at[day][0]
        values = self._absorbed[day].get_column(column).to_numpy()
        return values if known is None else values[known]

    def _sum_into(self, sums: np.ndarray, day: date, column: str, sign: int = 1) -> None:
        """Add (``sign`` 1) or subtract (-1) a day's counts of ``column`` to ``sums`` (by user row)."""
        _, at, once = self._at[day]
        values = self._column(day, column)
        if not once:
            np.add.at(sums, at, sign * values.astype(np.int64))
        elif sign > 0:
            sums[at] += values
        else:
            sums[at] -= values

    def _add(self, day: date, w: int, sign: int) -> None:
        for c in self.windows[w]:
            self._sum_into(self._sums[w, c], day, c, sign)

    def _absorb(self, day: date, frame: pl.DataFrame) -> None:
        position = self._index.positions(frame.get_column("user_id"), remember=False)
        known = position < self.users.height
        at = position[known]
        self._absorbed[day] = frame
        self._at[day] = None if known.all() else known, at, bool(np.bincount(at, minlength=1).max() <= 1)
        for c in self.spec.all_time:
            self._sum_into(self._all_time[c], day, c)
        for c in self._latest:
            seen = at[self._column(day, c) > 0]
            self._last[c][seen] = np.maximum(self._last[c][seen], day.toordinal())

    def user_features(self, as_of: date) -> pl.DataFrame:
        """Return the features as of midnight of ``as_of``, the same frame as the store's."""
        if not self.supported:
            return self.store.user_features(as_of, self.users.lazy(), spec=self.spec)
        days = {d: f for d, f in self.store.daily_users().items() if d < as_of and f.height}
        if any(days.get(d) is not f for d, f in self._absorbed.items()) or any(d >= as_of for d in self._absorbed):
            self._reset()
        for d in sorted(days.keys() - self._absorbed.keys()):
            self._absorb(d, days[d])
        ages = {d: (as_of - d).days - 1 for d in days}
        for w in self.windows:
            wanted = {d for d, age in ages.items() if age < w}
            for d in sorted(wanted - self._in_window[w]):
                self._add(d, w, 1)
            for d in sorted(self._in_window[w] - wanted):
                self._add(d, w, -1)
            self._in_window[w] = wanted
        return self._frame(as_of)

    def _preferred_hour(self, last_day: int, n: int) -> pl.Series:
        """Return :func:`~features.pipelines.user.preferred_hour` of the first ``n`` users from the running sums.

        Per hour the key (sessions, then recency of the latest one within the window, then the hour), in place over
        integer arrays; the largest key modulo 24, null without sessions.
        """
        best, sessions = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
        key, term = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        oldest = last_day - (HOUR_WINDOW - 1)  # the latest session's recency counts from 0 on this day
        for hour, h in enumerate(HOURS):
            counts = self._sums[HOUR_WINDOW, h][:n]
            np.subtract(self._last[h][:n], oldest, out=term)  # no session (_NONE) or an older one: negative
            np.maximum(term, 0, out=term)
            np.multiply(counts, HOUR_WINDOW * 24, out=key)
            key += term * 24 + hour
            np.maximum(best, key, out=best)
            sessions += counts
        return pl.Series(np.ma.masked_array(best % 24, mask=sessions <= 0), dtype=pl.Int64).cast(pl.Int8)

    def empty(self, as_of: date) -> pl.DataFrame:
        """Return the columns of :meth:`user_features` with no user (nothing summed)."""
        return self._frame(as_of, 0)

    def _frame(self, as_of: date, n: int | None = None) -> pl.DataFrame:
        """Return the output of :func:`features.pipelines.user.user_features` from the running sums.

        Of the first ``n`` users only, if given.
        """
        n = self.users.height if n is None else n
        last_day = as_of.toordinal() - 1
        hours = {f"{h}_{HOUR_WINDOW}d" for h in HOURS} if self.spec.hours else set()
        columns: dict[str, pl.Series] = {}
        for (w, c), values in self._sums.items():
            if f"{c}_{w}d" not in hours:  # the session hours only make the preferred hour
                columns[f"{c}_{w}d"] = pl.Series(values[:n], dtype=pl.Int64).cast(pl.Int32)
        for c, values in self._all_time.items():
            columns[c] = pl.Series(values[:n], dtype=pl.Int64).cast(pl.Int32)
        for column, name in self.spec.recency.items():
            columns[name] = _ages(last_day, self._last[column][:n], None)
        if self.spec.hours:
            columns["preferred_hour"] = self._preferred_hour(last_day, n)
        as_of_lit = pl.lit(midnight(as_of)).cast(pl.Datetime("us", "UTC"))
        frame = self.users.head(n).with_columns(**columns).filter(pl.col("signup_ts") < as_of_lit)
        frame = frame.with_columns(
            ((as_of_lit - pl.col("signup_ts")).dt.total_seconds() / 86_400).alias("account_age_days")
        )
        order = [
            "user_id",
            *(c for c in self.counts if c not in hours),
            *self.spec.recency.values(),
            "account_age_days",
            *(["preferred_hour"] if self.spec.hours else []),
        ]
        return frame.select(order).sort("user_id")
