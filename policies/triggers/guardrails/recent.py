"""The kept sends within a batch's horizon, without reading the whole state each time.

A batch reads the kept sends after its cutoff (its earliest send less the horizon: 7 days, the cooldowns and
``collision_hours``). The state keeps every send for the life of the guardrails, many times more rows than a
horizon holds, and only grows (at its end). The sends found for one batch are kept apart with their cutoff:
the next batch, whose cutoff is usually later, filters those and the rows the state gained since, not the
whole state (a batch with an earlier cutoff reads the whole state again). The rows are the same, in the same
order.

Examples
--------
>>> import polars as pl
>>> sends = pl.DataFrame({"send_us": [5, 20, 30]})
>>> recent = RecentSends()
>>> recent.after(sends, 10).get_column("send_us").to_list()
[20, 30]
>>> sends = pl.concat([sends, pl.DataFrame({"send_us": [8, 40]})])  # the state grew
>>> recent.after(sends, 25).get_column("send_us").to_list(), recent.after(sends, 0).get_column("send_us").to_list()
([30, 40], [5, 20, 30, 8, 40])
"""

from __future__ import annotations

import polars as pl


class RecentSends:
    """The sends of a growing state after the last cutoff asked for, and how many state rows they cover."""

    def __init__(self) -> None:
        self.frame: pl.DataFrame | None = None
        self.cutoff = 0
        self.rows = 0

    def after(self, sends: pl.DataFrame, cutoff: int) -> pl.DataFrame:
        """Return the rows of ``sends`` (the state, which only grows at its end) with ``send_us`` after ``cutoff``."""
        if self.frame is None or cutoff < self.cutoff or sends.height < self.rows:
            candidates = sends
        else:
            candidates = pl.concat([self.frame, sends.slice(self.rows)])
        self.frame = candidates.filter(pl.col("send_us") > cutoff)
        if self.frame.n_chunks() > 16:
            self.frame = self.frame.rechunk()
        self.cutoff, self.rows = cutoff, sends.height
        return self.frame
