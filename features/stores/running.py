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
>>> sums.sums(2, "sessions", codes).tolist(), sums.sums(None, "sessions", codes).tolist()
([5, 0, 0], [6, 0, 0])
>>> sums.sums(2, "spent", codes).tolist()
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
_COUNTS, _VALUES = "counts", "values"  # the two kinds of sums: integers, and floats summed in day order
_DTYPE = {_COUNTS: np.int64, _VALUES: np.float64}

Window = int | None


class RunningSums:
    """Per code: sums of the columns of each window, and the latest days with a positive or non-zero value.

    ``windows`` maps a window to its columns; the latest days are those where the ``positive`` columns are above
    zero and the ``nonzero`` ones differ from zero (``codes_of`` gives the code of each row of a daily frame).
    """

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
        self._read: dict[tuple[date, tuple[str, ...]], np.ndarray] = {}  # days' columns read during one update
        self._size = 0  # the rows of every array: codes below it have a place
        self._frames: dict[date, pl.DataFrame] = {}
        self._rows: dict[date, np.ndarray] = {}
        self._once: dict[date, bool] = {}  # whether each code appears once in the day (it does in daily sums)
        self._in: dict[Window, list[date]] = {w: [] for w in self.windows}
        # per window, the counts and the value sums: one row per code, one column per daily column
        self._columns = {
            (w, kind): [c for c in columns if (c in floats) == (kind == _VALUES)]
            for w, columns in self.windows.items()
            for kind in (_COUNTS, _VALUES)
        }
        self._sums = {key: np.zeros((0, len(columns)), dtype=_DTYPE[key[1]]) for key, columns in self._columns.items()}
        self._last = {key: np.full(0, _NONE, dtype=np.int64) for key in self.latest}  # the day's ordinal

    def update(self, days: Mapping[date, pl.DataFrame], as_of: date) -> None:
        """Bring the sums to midnight of ``as_of``.

        ``days`` are the stored frames by day (the days from ``as_of`` on are not read).
        """
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

    def _block(self, day: date, columns: list[str], kind: str) -> np.ndarray:
        """Return a day's values of ``columns``, one row per row of its frame (zeros for a column it lacks).

        It is read once per update.
        """
        if (day, tuple(columns)) not in self._read:
            frame = self._frames[day]
            block: np.ndarray = np.zeros((frame.height, len(columns)), dtype=_DTYPE[kind])
            for j, column in enumerate(columns):
                if column in frame.columns:
                    series = frame.get_column(column)
                    block[:, j] = (series.fill_null(0) if series.null_count() else series).to_numpy()
            self._read[day, tuple(columns)] = block
        return self._read[day, tuple(columns)]

    def _absorb(self, day: date, frame: pl.DataFrame) -> None:
        rows = np.asarray(self.codes_of(frame), dtype=np.int64)
        self._frames[day], self._rows[day] = frame, rows
        self._once[day] = not rows.size or int(np.bincount(rows).max()) == 1
        self._grow(int(rows.max()) + 1 if rows.size else 0)
        for column, positive in self.latest:
            if column in frame.columns:
                values = self._block(day, [column], _VALUES if column in self._floats else _COUNTS)[:, 0]
                seen = rows[values > 0] if positive else rows[values != 0]
                last = self._last[column, positive]
                last[seen] = np.maximum(last[seen], day.toordinal())

    def _grow(self, size: int) -> None:
        if size <= self._size:
            return
        size = max(size, 2 * self._size)
        more = size - self._size
        for block, sums in self._sums.items():
            self._sums[block] = np.concatenate([sums, np.zeros((more, sums.shape[1]), dtype=sums.dtype)])
        for latest, last in self._last.items():
            self._last[latest] = np.concatenate([last, np.full(more, _NONE, dtype=np.int64)])
        self._size = size

    def _add(self, day: date, w: Window, kind: str, sign: int) -> None:
        columns = self._columns[w, kind]
        if not columns:
            return
        block, rows, sums = self._block(day, columns, kind), self._rows[day], self._sums[w, kind]
        if self._once[day]:  # each code once: a plain indexed addition (the same sums as ``np.add.at``)
            sums[rows] = np.take(sums, rows, axis=0) + (block if sign > 0 else -block)
        else:
            np.add.at(sums, rows, block if sign > 0 else -block)

    def _move(self, w: Window, target: list[date]) -> None:
        """Make window ``w`` hold the days ``target`` (in order)."""
        current = self._in[w]
        held = set(current)
        entering = [d for d in target if d not in held]
        leaving = sorted(held - set(target))
        for d in entering:
            self._add(d, w, _COUNTS, 1)
        for d in leaving:
            self._add(d, w, _COUNTS, -1)
        if leaving or (current and entering and entering[0] < current[-1]):
            self._sums[w, _VALUES][:] = 0.0  # value sums: summed again from the window's first day, in day order
            entering = target
        for d in entering:
            self._add(d, w, _VALUES, 1)
        self._in[w] = target

    def _gather(self, array: np.ndarray, codes: np.ndarray, missing: float | int) -> np.ndarray:
        known = (codes >= 0) & (codes < len(array))
        out = array[np.where(known, codes, 0)] if len(array) else np.zeros(len(codes), dtype=array.dtype)
        out[~known] = missing
        return out

    def sums(self, w: Window, column: str, codes: np.ndarray) -> np.ndarray:
        """Return the sums of ``column`` over window ``w`` for ``codes`` (zero for a code never seen, or -1)."""
        kind = _VALUES if column in self._floats else _COUNTS
        j = self._columns[w, kind].index(column)
        return self._gather(self._sums[w, kind][:, j], codes, 0)

    def age(
        self, column: str, codes: np.ndarray, as_of: date, within: int | None = None, positive: bool = True
    ) -> pl.Series:
        """Return the days from the latest day where ``column`` was positive (or non-zero) to the day before ``as_of``.

        As Int32; null for none, or none within the last ``within`` days.
        """
        last = self._gather(self._last[column, positive], codes, _NONE)
        age = (as_of.toordinal() - 1 - last).astype(np.float64)  # exact: small integers; NaN marks the missing
        missing = (last == _NONE) if within is None else (last == _NONE) | (age >= within)
        return pl.Series(np.where(missing, np.nan, age), nan_to_null=True).cast(pl.Int32)
