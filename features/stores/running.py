"""Per-entity sums of daily rows over trailing windows of days, kept up to date as the midnight moves on.

A daily frame holds one row per entity (user or item) of one day, with counts and value sums. As of midnight
``D`` a stored day ``d < D`` has age ``(D - d) - 1``: a ``w``-day window sums the days of age ``< w`` (window
``None``: every day before ``D``, all-time sums), and the recency of a column is the age of the latest day where
it is positive (or non-zero). Sums are held in arrays indexed by the entities' integer codes, so moving from one
midnight to the next costs the rows of the days that enter or leave a window, not the rows of every day again.

Notes
-----
Counts are integers: a day entering a window is added and one leaving it subtracted, exactly. Value sums (floats)
are only ever added, in day order: when a day leaves their window, or a day older than those summed enters it,
they are summed again from the window's first day, so a float sum is always ``0.0 + first day + second day + …``
whatever the order of the calls. A stored day whose frame is replaced, or a midnight earlier than a day already
read, starts everything again from the stored days.

Examples
--------
>>> from datetime import date
>>> import polars as pl
>>> days = {date(2026, 3, d): pl.DataFrame({"code": [0, 1], "sessions": [d, 0], "spent": [0.5, 2.0]})
...         for d in (1, 2, 3)}
>>> sums = RunningSums({2: ["sessions", "spent"], None: ["sessions"]}, lambda f: f["code"].to_numpy(), ["sessions"])
>>> sums.update(days, date(2026, 3, 4))  # ages 2, 1, 0: the 2-day window holds the 2nd and 3rd
>>> codes = np.array([0, 1, 7])  # 7: never seen
>>> sums.sums(2, "sessions", codes).to_list(), sums.sums(None, "sessions", codes).to_list()
([5, 0, 0], [6, 0, 0])
>>> sums.sums(2, "spent", codes).to_list()
[1.0, 4.0, 0.0]
>>> sums.age("sessions", codes, date(2026, 3, 4)).to_list()  # the latest day with sessions was the day before
[0, None, None]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import numpy as np
import polars as pl

_NONE = np.iinfo(np.int64).min  # no day with such a value

Window = int | None


class RunningSums:
    """Sums of the columns of each window (``windows``: window -> columns) and the latest days where the
    ``positive`` columns are above zero and the ``nonzero`` ones differ from zero, per code (``codes_of`` gives
    the code of each row of a daily frame)."""

    def __init__(
        self,
        windows: Mapping[Window, Sequence[str]],
        codes_of: Callable[[pl.DataFrame], np.ndarray],
        positive: Sequence[str] = (),
        nonzero: Sequence[str] = (),
    ) -> None:
        self.windows = {w: list(dict.fromkeys(columns)) for w, columns in windows.items()}
        self.codes_of = codes_of
        self.latest = {(c, True) for c in positive} | {(c, False) for c in nonzero}
        self._reset(frozenset())

    def _reset(self, floats: frozenset[str]) -> None:
        self._floats = floats  # columns summed as floats (in day order)
        self._read: dict[tuple[date, str], np.ndarray | None] = {}  # columns read during one update
        self._size = 0  # the length of every array: codes below it have a place
        self._frames: dict[date, pl.DataFrame] = {}
        self._rows: dict[date, np.ndarray] = {}
        self._once: dict[date, bool] = {}  # whether each code appears once in the day (it does in daily sums)
        self._in: dict[Window, list[date]] = {w: [] for w in self.windows}
        self._sums = {(w, c): self._empty(c, 0) for w, columns in self.windows.items() for c in columns}
        self._last = {key: np.full(0, _NONE, dtype=np.int64) for key in self.latest}  # the day's ordinal

    def _empty(self, column: str, size: int) -> np.ndarray:
        return np.zeros(size, dtype=np.float64 if column in self._floats else np.int64)

    def update(self, days: Mapping[date, pl.DataFrame], as_of: date) -> None:
        """Bring the sums to midnight of ``as_of``: ``days`` are the stored frames by day (the days from
        ``as_of`` on are not read)."""
        days = {d: frame for d, frame in days.items() if d < as_of and frame.height}
        if any(days.get(d) is not frame for d, frame in self._frames.items()):
            self._reset(self._floats)
        new = sorted(days.keys() - self._frames.keys())
        floats = self._floats.union(c for d in new for c, t in days[d].schema.items() if t.is_float())
        if floats != self._floats:  # a column read as floats from now on (its sums are floats)
            self._reset(floats)
            new = sorted(days)
        for d in new:
            self._absorb(d, days[d])
        for w in self.windows:
            self._move(w, sorted(d for d in days if w is None or (as_of - d).days - 1 < w))
        self._read.clear()

    def _values(self, day: date, column: str) -> np.ndarray | None:
        """A day's values of ``column`` (None if its frame has no such column), read once per update."""
        if (day, column) not in self._read:
            frame = self._frames[day]
            if column not in frame.columns:
                values = None
            else:
                series = frame.get_column(column)
                values = (series.fill_null(0) if series.null_count() else series).to_numpy()
                values = values.astype(np.float64 if column in self._floats else np.int64, copy=False)
            self._read[day, column] = values
        return self._read[day, column]

    def _absorb(self, day: date, frame: pl.DataFrame) -> None:
        rows = np.asarray(self.codes_of(frame), dtype=np.int64)
        self._frames[day], self._rows[day] = frame, rows
        self._once[day] = not rows.size or int(np.bincount(rows).max()) == 1
        self._grow(int(rows.max()) + 1 if rows.size else 0)
        for column, positive in self.latest:
            values = self._values(day, column)
            if values is not None:
                seen = rows[values > 0] if positive else rows[values != 0]
                last = self._last[column, positive]
                last[seen] = np.maximum(last[seen], day.toordinal())

    def _grow(self, size: int) -> None:
        if size <= self._size:
            return
        size = max(size, 2 * self._size)
        for (w, c), sums in self._sums.items():
            self._sums[w, c] = np.concatenate([sums, self._empty(c, size - self._size)])
        for key, last in self._last.items():
            self._last[key] = np.concatenate([last, np.full(size - self._size, _NONE, dtype=np.int64)])
        self._size = size

    def _add(self, day: date, w: Window, columns: list[str], sign: int) -> None:
        for c in columns:
            values = self._values(day, c)
            if values is None:
                continue
            rows, sums = self._rows[day], self._sums[w, c]
            if self._once[day]:  # each code once: a plain indexed addition (the same sums as ``np.add.at``)
                sums[rows] += values if sign > 0 else -values
            else:
                np.add.at(sums, rows, values if sign > 0 else -values)

    def _move(self, w: Window, target: list[date]) -> None:
        """Make window ``w`` hold the days ``target`` (in order)."""
        current = self._in[w]
        held = set(current)
        entering = [d for d in target if d not in held]
        leaving = sorted(held - set(target))
        counts = [c for c in self.windows[w] if c not in self._floats]
        values = [c for c in self.windows[w] if c in self._floats]
        for d in entering:
            self._add(d, w, counts, 1)
        for d in leaving:
            self._add(d, w, counts, -1)
        if values and (leaving or (current and entering and entering[0] < current[-1])):
            for c in values:  # summed again from the window's first day, in day order
                self._sums[w, c][:] = 0.0
            entering = target
        for d in entering:
            self._add(d, w, values, 1)
        self._in[w] = target

    def _gather(self, array: np.ndarray, codes: np.ndarray, missing: float | int) -> np.ndarray:
        known = (codes >= 0) & (codes < len(array))
        out = array[np.where(known, codes, 0)] if len(array) else np.zeros(len(codes), dtype=array.dtype)
        out[~known] = missing
        return out

    def sums(self, w: Window, column: str, codes: np.ndarray) -> pl.Series:
        """The sums of ``column`` over window ``w`` for ``codes`` (zero for a code never seen, or -1)."""
        return pl.Series(self._gather(self._sums[w, column], codes, 0))

    def age(
        self, column: str, codes: np.ndarray, as_of: date, within: int | None = None, positive: bool = True
    ) -> pl.Series:
        """Days from the latest day where ``column`` was positive (or non-zero) to the day before ``as_of``, as
        Int32; null for none, or none within the last ``within`` days."""
        last = self._gather(self._last[column, positive], codes, _NONE)
        age = (as_of.toordinal() - 1 - last).astype(np.float64)  # exact: small integers; NaN marks the missing
        missing = (last == _NONE) if within is None else (last == _NONE) | (age >= within)
        return pl.Series(np.where(missing, np.nan, age), nan_to_null=True).cast(pl.Int32)
