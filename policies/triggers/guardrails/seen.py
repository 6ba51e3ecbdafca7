"""The moment ids handled so far, looked up without reading them all: their hashes, sorted.

The guardrails keep the ids they handled in a frame (the state, which :mod:`~policies.triggers.guardrails.one`
reads too), millions of rows after a long simulation. A batch's ids are looked up by binary search among the
hashes of the frame's ids (kept sorted, and extended as the frame grows); only ids whose hash is there (a
repeat, or in rare cases another id with the same 64-bit hash) are then looked up in the frame itself, so the
answer is exact.

Examples
--------
>>> import polars as pl
>>> seen = pl.DataFrame({"moment_id": ["m1", "m2"]})
>>> index = SeenIndex()
>>> index.among(seen, pl.Series("moment_id", ["m2", "m3"])).rows()
[('m2', True)]
>>> seen = pl.concat([seen, pl.DataFrame({"moment_id": ["m3"]})])  # the frame grew: the index follows
>>> index.among(seen, pl.Series("moment_id", ["m3", "m4"])).rows()
[('m3', True)]
"""

from __future__ import annotations

import numpy as np
import polars as pl


class SeenIndex:
    """The sorted hashes of the ids of a growing frame of handled moment ids."""

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.rows = 0  # rows of the frame already hashed

    def among(self, seen: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
        """Return the distinct ids among ``ids`` that the frame ``seen`` holds, with a ``seen`` column (``True``)."""
        if seen.height > self.rows:  # the frame only grows
            new = np.sort(seen.get_column("moment_id").slice(self.rows).hash().to_numpy())
            self.hashes = np.insert(self.hashes, np.searchsorted(self.hashes, new), new)
            self.rows = seen.height
        hashes = ids.hash().to_numpy()
        order = np.argsort(hashes)  # sorted needles: the binary searches walk the hashes in order (cache-friendly)
        at = np.empty(len(hashes), dtype=np.int64)
        at[order] = np.searchsorted(self.hashes, hashes[order])
        at = np.minimum(at, max(len(self.hashes) - 1, 0))
        maybe = self.hashes[at] == hashes if len(self.hashes) else np.zeros(len(ids), dtype=bool)
        frame = ids.filter(pl.Series(maybe)).unique().to_frame("moment_id")
        if frame.height:
            frame = seen.join(frame, on="moment_id", how="semi").unique()
        return frame.with_columns(seen=pl.lit(True))
