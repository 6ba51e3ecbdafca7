"""The offline feature store: daily aggregates in Parquet partitioned by date, and snapshots built from them.

Layout under the store's root::

    meta.json                               categories and time zones, fixed at the first build
    daily/users/date=YYYY-MM-DD/part.parquet    per-user sums of that (UTC) day
    daily/items/date=YYYY-MM-DD/part.parquet    per-item sums of that day
    snapshots/users/date=YYYY-MM-DD/part.parquet    user features as of that day's midnight
    snapshots/items/date=YYYY-MM-DD/part.parquet    item features as of that day's midnight

Adding a day reads only that day's events. A snapshot as of midnight ``D`` sums
the partitions before ``D`` (ages are calendar days), so building day by day as
events arrive gives exactly what one full rebuild gives, and both equal
:func:`features.pipelines.build_features` as of ``D``. Every file is written to a
temporary name and renamed.

Examples
--------
>>> import tempfile
>>> from datetime import date, datetime, timezone
>>> import polars as pl
>>> utc = timezone.utc
>>> events = pl.LazyFrame({
...     "event_id": ["e1", "e2"], "user_id": ["u1", "u1"], "type": ["view", "purchase"],
...     "ts": [datetime(2026, 3, 1, 9, tzinfo=utc), datetime(2026, 3, 2, 10, tzinfo=utc)],
...     "item_id": ["i1", "i1"], "merchant_id": ["m1"] * 2, "price": [40.0] * 2, "quantity": [0, 1],
...     "channel": [None] * 2, "offer": [None] * 2,
... }, schema_overrides={"channel": pl.String, "offer": pl.String})
>>> items = pl.LazyFrame({
...     "item_id": ["i1"], "merchant_id": ["m1"], "category": ["bags"], "price": [40.0], "stock": [0],
...     "listed_at": [datetime(2026, 2, 1, tzinfo=utc)], "merchant_verified": [True], "merchant_rating": [4.8],
...     "authenticated": [True],
... })
>>> users = pl.LazyFrame({"user_id": ["u1"], "signup_ts": [datetime(2026, 1, 1, tzinfo=utc)], "tz": ["UTC"]})
>>> store = OfflineStore(tempfile.mkdtemp())
>>> store.update(events, items, users, until=date(2026, 3, 3))
[datetime.date(2026, 3, 1), datetime.date(2026, 3, 2)]
>>> store.snapshot(date(2026, 3, 3)).users.select("views_7d", "purchases_1d").row(0)  # the stored snapshot
(1, 1)
>>> store.snapshot(date(2026, 3, 2), items, users).items.select("stock").item()  # one unit sold on 2 March
1
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from features.io import write_bytes, write_frame
from features.pipelines.build import FeatureSet, categories_of, time_zones_of
from features.pipelines.daily import item_daily, user_daily, user_event_flags
from features.pipelines.item import item_features
from features.pipelines.user import default_aggregations, user_features


def midnight(day: date) -> datetime:
    """Return midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def age_before(as_of: date) -> pl.Expr:
    """Return the ``age`` of a daily row (``date`` column) as seen from midnight of ``as_of``: 0 for the day before."""
    return ((pl.lit(as_of) - pl.col("date")).dt.total_days().cast(pl.Int32) - 1).alias("age")


def daily_aggregates(
    events: pl.LazyFrame,
    items: pl.LazyFrame,
    users: pl.LazyFrame,
    day: date,
    meta: StoreMeta,
    columns: Collection[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the per-user and per-item sums of one UTC ``day`` of ``events`` (other days are ignored).

    With ``columns``, only those per-user sums (the others are not computed).
    """
    today = events.filter(pl.col("ts").dt.date() == day).with_columns(pl.lit(day).alias("date"))
    families = user_event_flags(today, items, users, "date", meta.categories, meta.time_zones)
    if columns is not None:
        families = _only(families, ["user_id", "date"], set(columns))
    user_frame, item_frame = pl.collect_all([user_daily(families, "date"), item_daily(today, "date")])
    return user_frame, item_frame


def _only(families: list[pl.LazyFrame], keys: list[str], columns: set[str]) -> list[pl.LazyFrame]:
    """Reduce the families to ``keys`` and their indicators among ``columns`` (those without any left out)."""
    reduced = []
    for family in families:
        mine = [name for name in family.collect_schema().names() if name in columns and name not in keys]
        if mine:
            reduced.append(family.select(*keys, *mine))
    return reduced or [families[0].select(keys)]


@dataclass(frozen=True)
class StoreMeta:
    """What must stay fixed across partitions: the category and time-zone lists."""

    categories: list[str]
    time_zones: list[str]


class OfflineStore:
    """Date-partitioned Parquet feature store under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # --- layout --------------------------------------------------------------------------------------------------
    def _partition(self, kind: str, entity: str, day: date) -> Path:
        return self.root / kind / entity / f"date={day.isoformat()}" / "part.parquet"

    def days(self) -> list[date]:
        """Days whose daily aggregates are in the store."""
        folder = self.root / "daily" / "users"
        return (
            sorted(date.fromisoformat(p.name.removeprefix("date=")) for p in folder.glob("date=*"))
            if folder.exists()
            else []
        )

    def meta(self, items: pl.LazyFrame | None = None, users: pl.LazyFrame | None = None) -> StoreMeta:
        """Return the store's fixed lists; written from ``items`` and ``users`` at the first build."""
        path = self.root / "meta.json"
        if path.exists():
            return StoreMeta(**json.loads(path.read_text()))
        if items is None or users is None:
            raise FileNotFoundError(f"{self.root} is not a feature store yet (no meta.json)")
        meta = StoreMeta(categories_of(items), time_zones_of(users))
        write_bytes(json.dumps(meta.__dict__).encode(), path)
        return meta

    # --- building ------------------------------------------------------------------------------------------------
    def add_day(self, events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, day: date) -> None:
        """Aggregate one UTC day of events into its partitions (replacing them if present)."""
        user_frame, item_frame = daily_aggregates(events, items, users, day, self.meta(items, users))
        write_frame(user_frame, self._partition("daily", "users", day))
        write_frame(item_frame, self._partition("daily", "items", day))

    def update(
        self,
        events: pl.LazyFrame,
        items: pl.LazyFrame,
        users: pl.LazyFrame,
        until: date,
        since: date | None = None,
        rebuild: bool = False,
        on_day: Callable[[date], None] | None = None,
    ) -> list[date]:
        """Add the days the store lacks, write the snapshot as of ``until``, and return the days added.

        Every day from ``since`` (default: the first event's day) up to, not including, ``until`` that the store
        lacks is added (all of them with ``rebuild``).
        """
        if since is None:
            first = events.select(pl.col("ts").min()).collect().item()
            if first is None:
                raise ValueError("events: no rows")
            since = first.date()
        have = set() if rebuild else set(self.days())
        added = []
        for offset in range((until - since).days):
            day = since + timedelta(days=offset)
            if day not in have:
                self.add_day(events, items, users, day)
                added.append(day)
            if on_day is not None:
                on_day(day)
        self.write_snapshot(items, users, until)
        return added

    # --- reading -------------------------------------------------------------------------------------------------
    def _daily(self, entity: str, days: Iterable[date]) -> pl.LazyFrame:
        paths = [self._partition("daily", entity, d) for d in days]
        paths = [p for p in paths if p.exists()]
        if not paths:
            raise FileNotFoundError(f"{self.root}: no daily {entity} partitions for the days asked")
        return pl.scan_parquet(paths)

    def snapshot(self, as_of: date, items: pl.LazyFrame | None = None, users: pl.LazyFrame | None = None) -> FeatureSet:
        """User and item features as of midnight of ``as_of``, from the daily partitions (stored snapshot if any)."""
        stored_users = self._partition("snapshots", "users", as_of)
        stored_items = self._partition("snapshots", "items", as_of)
        if items is None or users is None:
            if not (stored_users.exists() and stored_items.exists()):
                raise FileNotFoundError(f"{self.root}: no snapshot as of {as_of}; build one with items and users")
            return FeatureSet(midnight(as_of), pl.read_parquet(stored_users), pl.read_parquet(stored_items))
        return self._compute_snapshot(items, users, as_of)

    def _compute_snapshot(self, items: pl.LazyFrame, users: pl.LazyFrame, as_of: date) -> FeatureSet:
        meta = self.meta(items, users)
        days = self.days()
        before = [d for d in days if d < as_of]
        after = [d for d in days if d >= as_of]
        user_daily_frame = self._daily("users", before).with_columns(age_before(as_of))
        item_daily_frame = self._daily("items", before).with_columns(age_before(as_of))
        sold_after = (
            self._daily("items", after).group_by("item_id").agg(pl.col("units_sold").sum().alias("units_after"))
            if after
            else pl.LazyFrame(schema={"item_id": pl.String, "units_after": pl.Int64})
        )
        at = midnight(as_of)
        user_plan = user_features(user_daily_frame, users, at, default_aggregations(meta.categories))
        item_plan = item_features(item_daily_frame, items, sold_after, at)
        user_frame, item_frame = pl.collect_all([user_plan, item_plan])
        return FeatureSet(at, user_frame, item_frame)

    def write_snapshot(self, items: pl.LazyFrame, users: pl.LazyFrame, as_of: date) -> FeatureSet:
        """Compute and store the snapshot as of midnight of ``as_of``."""
        features = self._compute_snapshot(items, users, as_of)
        write_frame(features.users, self._partition("snapshots", "users", as_of))
        write_frame(features.items, self._partition("snapshots", "items", as_of))
        return features
