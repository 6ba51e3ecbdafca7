"""The price percentile of a few listings among every listing of their category.

The catalogue's prices are kept sorted from one midnight to the next.

The percentile is :func:`features.pipelines.item.item_features`' (``rank("max")`` of the price within the
category, over the category's count): the share of the category's listings, listed before the midnight, priced
at or below the item. Ranking the whole catalogue for a few items sorts every price again each day; here each
category's listed prices stay sorted, and the next midnight's catalogue adds only what was listed since, as long
as it is the same catalogue with listings appended (else, or for an earlier midnight, they are sorted again).

Examples
--------
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> utc = timezone.utc
>>> items = pl.DataFrame({
...     "item_id": ["a", "b", "c", "d"], "category": ["bags", "bags", "bags", "home"],
...     "price": [10.0, 30.0, 30.0, 5.0], "listed_at": [datetime(2026, 1, d, tzinfo=utc) for d in (1, 1, 3, 1)],
... })
>>> prices = SortedPrices()
>>> asked = items.filter(pl.col("item_id").is_in(["a", "c", "d"]))  # c is not listed yet on 2 January
>>> prices.percentile(items, datetime(2026, 1, 2, tzinfo=utc), asked).sort("item_id").rows()
[('a', 0.5), ('d', 1.0)]
>>> prices.percentile(items, datetime(2026, 1, 4, tzinfo=utc), asked).sort("item_id").rows()
[('a', 0.3333333333333333), ('c', 1.0), ('d', 1.0)]
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

_COLUMNS = ["category", "price", "listed_at"]
PERCENTILE = "__percentile"


def _ranked(items: pl.LazyFrame, at: datetime, wanted: pl.Series) -> pl.DataFrame:
    """Rank every listing for the percentile (the pipeline's expression): for catalogues it cannot sort."""
    listed = items.filter(pl.col("listed_at") < pl.lit(at).cast(pl.Datetime("us", "UTC")))
    percentile = pl.col("price").rank("max").over("category") / pl.len().over("category")
    return (
        listed.select("item_id", percentile.alias(PERCENTILE))
        .filter(pl.col("item_id").is_in(wanted.implode()))
        .collect()
    )


def _by_category(frame: pl.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Each category of ``frame`` (no null among them) and the mask of its rows."""
    categories = frame.get_column("category")
    return [(category, (categories == category).to_numpy()) for category in categories.unique().to_list()]


class SortedPrices:
    """Each category's listed prices, sorted, as of the last midnight asked for."""

    def __init__(self) -> None:
        self._seen = pl.DataFrame(schema={c: pl.Null for c in _COLUMNS})  # the catalogue's columns last seen
        self._at: datetime | None = None
        self._sorted: dict[str, np.ndarray] = {}

    def _catch_up(self, catalogue: pl.DataFrame, at: datetime) -> None:
        """Make the sorted prices those of ``catalogue`` listed before ``at``."""
        n = self._seen.height
        listed = pl.col("listed_at") < pl.lit(at).cast(pl.Datetime("us", "UTC"))
        same = (
            self._at is not None
            and at >= self._at
            and catalogue.height >= n
            and all(catalogue.get_column(c).head(n).equals(self._seen.get_column(c)) for c in _COLUMNS)
        )
        if same:  # what was listed since: earlier rows newly listed, and new rows
            since = pl.col("listed_at") >= pl.lit(self._at).cast(pl.Datetime("us", "UTC"))
            added = catalogue.with_row_index("__row").filter(listed & (since | (pl.col("__row") >= n)))
        else:
            self._sorted, added = {}, catalogue.filter(listed)
        prices = added.get_column("price").to_numpy()
        for category, rows in _by_category(added):
            new = np.sort(prices[rows])
            have = self._sorted.get(category, np.zeros(0))
            self._sorted[category] = np.insert(have, np.searchsorted(have, new), new)
        self._seen, self._at = catalogue.select(_COLUMNS), at

    def percentile(self, items: pl.DataFrame, at: datetime, asked: pl.DataFrame) -> pl.DataFrame:
        """Return ``item_id`` and ``__percentile`` of the rows ``asked`` listed before ``at``.

        ``asked`` are rows of the catalogue ``items``; the percentile is among the listings of ``items``.
        """
        price = items.get_column("price")
        listed = pl.col("listed_at") < pl.lit(at).cast(pl.Datetime("us", "UTC"))
        if items.get_column("category").null_count() or price.null_count() or (price.is_nan() | (price == 0)).any():
            return _ranked(items.lazy(), at, asked.get_column("item_id"))  # nulls, NaN, signed zeros: as the pipeline
        self._catch_up(items, at)
        asked = asked.filter(listed)
        prices, percentile = asked.get_column("price").to_numpy(), np.zeros(asked.height)
        for category, rows in _by_category(asked):
            at_or_below = np.searchsorted(self._sorted[category], prices[rows], side="right")
            percentile[rows] = at_or_below / len(self._sorted[category])
        return asked.select("item_id").with_columns(pl.Series(PERCENTILE, percentile))
