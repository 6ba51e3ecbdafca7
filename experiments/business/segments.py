"""Merchant segments: the one place that says which merchants the report groups together.

The catalogue holds no segment field (only ``merchant_verified`` and ``merchant_rating``, which describe trust,
not size), so merchants are tiered by size: their number of listings in the catalogue. Merchants are ranked by
listing count (ties broken by merchant id) and cut into three tiers of (nearly) equal numbers of merchants:
``small``, ``medium`` and ``large``. Listings are what a merchant brings to the marketplace before any offer is
sent, so the tier does not depend on what the offers did.

Examples
--------
>>> import polars as pl
>>> items = pl.DataFrame({"item_id": list("abcdefg"), "merchant_id": ["m1", "m2", "m2", "m3", "m3", "m3", "m4"]})
>>> merchant_segments(items).sort("merchant_id").rows()
[('m1', 1, 'small'), ('m2', 2, 'medium'), ('m3', 3, 'large'), ('m4', 1, 'small')]
"""

from __future__ import annotations

import polars as pl

#: The segmentation in words, for the report's reader.
SEGMENTATION = (
    "The catalogue holds no segment field, so merchants are tiered by size: merchants ranked by their number of "
    "listings (ties broken by merchant id) and cut into three tiers of (nearly) equal numbers of merchants, small, "
    "medium and large."
)
#: The tiers, from fewest listings to most.
SIZE_TIERS: tuple[str, ...] = ("small", "medium", "large")
#: The segment of a purchase or decision whose merchant the catalogue does not know.
UNKNOWN_SEGMENT = "unknown"


def merchant_segments(items: pl.DataFrame) -> pl.DataFrame:
    """Each merchant's listing count and size tier: ``merchant_id``, ``listings``, ``segment``.

    Parameters
    ----------
    items
        The catalogue: one row per listing with its ``merchant_id``.

    Notes
    -----
    With ``M`` merchants ranked ``r = 0 .. M - 1`` by ``(listings, merchant_id)``, a merchant's tier is
    ``SIZE_TIERS[floor(3 r / M)]``: the bottom third small, the top third large.
    """
    counts = items.group_by("merchant_id").agg(listings=pl.len()).sort("listings", "merchant_id")
    rank = pl.int_range(pl.len(), dtype=pl.Int64)
    tier = rank * len(SIZE_TIERS) // pl.len()
    return counts.with_columns(
        listings=pl.col("listings").cast(pl.Int64),
        segment=tier.replace_strict(dict(enumerate(SIZE_TIERS)), return_dtype=pl.String),
    )
