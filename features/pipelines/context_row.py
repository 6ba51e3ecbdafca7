"""The context of one moment at a time, for the decision endpoint: the batch definition, split where it is cheap.

:func:`~features.pipelines.context.context_features` builds contexts for a frame of moments with polars; asked
for one moment it spends milliseconds planning joins. The endpoint asks for one moment per request, so the same
definition is used in two parts:

- what depends on the user or the item only is computed once per online snapshot, by the batch definition
  itself (:func:`~features.pipelines.context.user_side`, :func:`~features.pipelines.context.item_side`), and
  looked up by id (:class:`ContextSides`);
- what depends on the moment (the trigger's kind, the local hour and weekday of the send, the price against the
  user's usual) is computed per moment by :func:`one_context`, through the scalar forms kept beside the polars
  expressions in :mod:`features.pipelines.context` (``local_fields``, ``price_vs_usual``).

``tests/features/test_context_row.py`` checks, over many moments, that this gives exactly the row
``context_features`` gives.

Examples
--------
>>> from datetime import datetime, UTC
>>> sides = ContextSides.of(
...     pl.DataFrame({"user_id": ["u1"], "mean_log_viewed_price": [4.0], "account_age_days": [3.0]}),
...     pl.DataFrame({"item_id": ["i1"], "price": [109.2]}),
... )
>>> row = one_context("cart_abandon", "email", datetime(2026, 3, 2, 18, 30, tzinfo=UTC), "Asia/Tokyo",
...                   sides.user("u1"), sides.item("i1"))
>>> row["local_hour"], row["weekday"], row["trigger_kind"], round(row["log_price_vs_usual"], 2), row["region"]
(3, 2, 'behaviour', 0.69, 'Asia/Tokyo')
>>> row["lifecycle_stage"], list(row) == list(CONTEXT)
('new', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from features.lifecycle import LifecycleThresholds
from features.pipelines.context import (
    CONTEXT,
    ITEM_CONTEXT,
    USER_CONTEXT,
    item_side,
    local_fields,
    price_vs_usual,
    user_side,
)
from features.schemas import TRIGGER_KINDS


@dataclass(frozen=True)
class ContextSides:
    """The user and item sides of every context, computed once, with a row index by id."""

    users: pl.DataFrame
    items: pl.DataFrame
    user_rows: dict[str, int]
    item_rows: dict[str, int]

    @classmethod
    def of(
        cls, user_features: pl.DataFrame, items: pl.DataFrame, thresholds: LifecycleThresholds | None = None
    ) -> ContextSides:
        """Build the sides of the users in ``user_features`` and of the items in ``items``.

        ``items`` holds features and catalogue attributes in one frame, as an online snapshot holds them.
        """
        users = user_side(user_features.lazy(), thresholds).collect()
        listed = item_side(items.lazy(), catalogue=items.lazy()).collect()
        return cls(
            users,
            listed,
            {u: i for i, u in enumerate(users.get_column("user_id").to_list())},
            {k: i for i, k in enumerate(listed.get_column("item_id").to_list())},
        )

    def user(self, user_id: str) -> dict[str, Any] | None:
        """Return the user's side (None for a user without features)."""
        at = self.user_rows.get(user_id)
        return self.users.row(at, named=True) if at is not None else None

    def item(self, item_id: str | None) -> dict[str, Any] | None:
        """Return the item's side (None without an item, or for an item not listed)."""
        at = self.item_rows.get(item_id) if item_id is not None else None
        return self.items.row(at, named=True) if at is not None else None


def one_context(
    trigger: str,
    channel: str,
    send_at: datetime,
    tz: str | None,
    user: Mapping[str, Any] | None,
    item: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return every :data:`CONTEXT` column of one moment, in order, from its user's and item's sides.

    The sides come from :class:`ContextSides`; the columns of a missing side are None.
    """
    hour, weekday = local_fields(send_at, tz)
    user, item = user or {}, item or {}
    own = {
        "trigger": trigger,
        "trigger_kind": TRIGGER_KINDS.get(trigger, "other"),
        "channel": channel,
        "local_hour": hour,
        "weekday": weekday,
        "region": tz,
        "log_price_vs_usual": price_vs_usual(item.get("log_price"), user.get("mean_log_viewed_price")),
    }
    sides = {**{c: user.get(c) for c in USER_CONTEXT}, **{c: item.get(c) for c in ITEM_CONTEXT}}
    return {c: own[c] if c in own else sides[c] for c in CONTEXT}


def context_frame(context: Mapping[str, Any]) -> pl.DataFrame:
    """Return one context (column → value) as a one-row frame.

    Each column of :data:`~features.pipelines.context.CONTEXT` is in its declared type (others as polars infers
    them).

    Examples
    --------
    >>> dict(context_frame({"local_hour": 9, "price": 12, "note": "x"}).schema)
    {'local_hour': Int8, 'price': Float64, 'note': String}
    """
    typed = {c: CONTEXT[c] for c in context if c in CONTEXT}
    return pl.DataFrame([dict(context)], schema_overrides=typed, orient="row")
