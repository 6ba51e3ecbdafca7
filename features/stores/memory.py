"""An in-memory daily feature store, for a process that sees one day of events at a time (the simulator).

It keeps the same daily aggregates as :class:`features.stores.offline.OfflineStore` (built by the same
:func:`~features.stores.offline.daily_aggregates`) as frames in memory, and builds user and item features as of
any midnight from them with the same pipeline functions, for all users or just the few a day's moments need.
So its features equal :func:`features.pipelines.build_features` on the same events as of the same midnight.

Examples
--------
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
>>> store = DailyFeatureStore(["bags"], ["UTC"])
>>> store.user_features(date(2026, 3, 1), users).select("views_7d", "days_since_last_session").row(0)
(0, None)
>>> store.add_day(events, items, users, date(2026, 3, 1))
>>> store.add_day(events, items, users, date(2026, 3, 2))
>>> store.user_features(date(2026, 3, 3), users).select("views_7d", "purchases_1d").row(0)
(1, 1)
>>> sold = pl.LazyFrame({"item_id": ["i1"], "units_after": [1]})
>>> store.item_features(date(2026, 3, 2), items, sold).select("stock").item()  # one unit sold on 2 March
1
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from features.pipelines.item import item_features
from features.pipelines.user import UserFeatureSpec, default_aggregations, user_features
from features.schemas import EVENTS, ITEMS, USERS
from features.stores.offline import StoreMeta, age_before, daily_aggregates, midnight

_NO_SALES = pl.LazyFrame(schema={"item_id": pl.String, "units_after": pl.Int64})


class _Codes:
    """Integer codes of the ids in column ``key`` (given in order of first sight), and each day's rows as codes:
    a few ids are picked from many days' rows by comparing integers rather than hashing every row's text."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.index = pl.DataFrame(schema={key: pl.String, "__code": pl.UInt32})
        self.by_day: dict[date, pl.Series] = {}

    def encode(self, day: date, ids: pl.Series) -> None:
        """Remember the code of each row of ``day`` (new ids get the next codes), as a column ``__code``."""
        frame = ids.to_frame(self.key)
        new = frame.unique(maintain_order=True).join(self.index, on=self.key, how="anti")
        if new.height:
            numbered = new.with_row_index("__code", offset=self.index.height).select(self.key, "__code")
            self.index = pl.concat([self.index, numbered]).rechunk()
        self.by_day[day] = frame.join(self.index, on=self.key, how="left", maintain_order="left").get_column("__code")

    def codes(self, ids: pl.Series) -> pl.Series:
        """The codes of the ids already seen among ``ids``."""
        return ids.to_frame(self.key).join(self.index, on=self.key, how="inner").get_column("__code")


class DailyFeatureStore:
    """Daily user and item aggregates held in memory, one UTC day at a time, in order.

    ``specs`` (the user feature specs it will be asked for; the first is the default) limit what a day keeps to
    the sums they read; without them it keeps every sum and builds the whole feature set."""

    def __init__(
        self, categories: Sequence[str], time_zones: Sequence[str], specs: Sequence[UserFeatureSpec] = ()
    ) -> None:
        self.meta = StoreMeta(list(categories), list(time_zones))
        self.spec = specs[0] if specs else default_aggregations(self.meta.categories)
        # with specs, a day keeps only the user sums they read (the whole feature set needs ten times more memory)
        self._kept = set().union(*(spec.columns() for spec in specs)) if specs else None
        self._users: dict[date, pl.DataFrame] = {}
        self._items: dict[date, pl.DataFrame] = {}
        self._user_codes, self._item_codes = _Codes("user_id"), _Codes("item_id")

    @property
    def days(self) -> list[date]:
        return sorted(self._users)

    def daily_users(self) -> dict[date, pl.DataFrame]:
        """The per-user sums kept for each day, by day (a later :meth:`add_day` of a day replaces its frame)."""
        return dict(self._users)

    def add_day(self, events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, day: date) -> None:
        """Aggregate the events of UTC ``day`` (the others in ``events`` are ignored)."""
        users_day, self._items[day] = daily_aggregates(events, items, users, day, self.meta)
        if self._kept is not None:
            users_day = users_day.select(c for c in users_day.columns if c in {"user_id", "date", *self._kept})
        self._users[day] = users_day
        self._user_codes.encode(day, users_day.get_column("user_id"))
        self._item_codes.encode(day, self._items[day].get_column("item_id"))

    def _daily(
        self, parts: dict[date, pl.DataFrame], as_of: date, ids: tuple[_Codes, pl.Series] | None = None
    ) -> pl.LazyFrame:
        """The days before ``as_of``, in order; with ``ids``, only the rows of those users or items."""
        days = [day for day, frame in sorted(parts.items()) if day < as_of and frame.height]
        frames = [parts[day] for day in days]
        if not frames:  # nothing yet: an empty day's aggregates carry the columns
            empty_users, empty_items = daily_aggregates(
                pl.LazyFrame(schema=EVENTS), pl.LazyFrame(schema=ITEMS), pl.LazyFrame(schema=USERS), as_of, self.meta
            )
            frames = [empty_users if parts is self._users else empty_items]
        lazy = [frame.lazy() for frame in frames]  # lazily, so only the columns a build reads are gathered
        if ids is None:
            return pl.concat(lazy, how="diagonal_relaxed").with_columns(age_before(as_of))
        codes, wanted = ids
        mine = pl.col("__code").is_in(codes.codes(wanted).implode())
        lazy = [part.with_columns(codes.by_day[day]) for day, part in zip(days, lazy, strict=True)] if days else lazy
        coded = pl.concat(lazy, how="diagonal_relaxed").with_columns(age_before(as_of))
        return coded.filter(mine).drop("__code") if days else coded.head(0)

    def user_features(
        self,
        as_of: date,
        users: pl.LazyFrame,
        user_ids: Sequence[str] | pl.Series | None = None,
        spec: UserFeatureSpec | None = None,
    ) -> pl.DataFrame:
        """User features as of midnight of ``as_of``: every user who had signed up, or only ``user_ids``; the
        whole feature set, or the columns of ``spec``."""
        if user_ids is None:
            daily = self._daily(self._users, as_of)
        else:
            wanted = pl.Series("user_id", user_ids, dtype=pl.String).unique()
            daily = self._daily(self._users, as_of, (self._user_codes, wanted))
            users = users.filter(pl.col("user_id").is_in(wanted.implode()))
        return user_features(daily, users, midnight(as_of), spec or self.spec).collect()

    def item_features(
        self,
        as_of: date,
        items: pl.LazyFrame,
        sold_after: pl.LazyFrame | None = None,
        item_ids: Sequence[str] | pl.Series | None = None,
    ) -> pl.DataFrame:
        """Item features as of midnight of ``as_of``; ``sold_after`` (item_id, units_after) gives back the units
        sold since then, from the catalogue's current stock (none by default). With ``item_ids``, only those
        items' rows, still ranked (price percentile) among the whole catalogue."""
        sales = _NO_SALES if sold_after is None else sold_after
        if item_ids is None:
            return item_features(self._daily(self._items, as_of), items, sales, midnight(as_of)).collect()
        ids = pl.Series("item_id", item_ids, dtype=pl.String).unique()
        daily = self._daily(self._items, as_of, (self._item_codes, ids))
        mine = pl.col("item_id").is_in(ids.implode())
        # every feature but the price percentile reads the item's own rows: build them for the wanted items only,
        # and rank those among the whole catalogue listed by then (as item_features does)
        listed = items.filter(pl.col("listed_at") < pl.lit(midnight(as_of)).cast(pl.Datetime("us", "UTC")))
        ranked = listed.select(
            "item_id",
            (pl.col("price").rank("max").over("category") / pl.len().over("category")).alias("__percentile"),
        ).filter(mine)
        built = item_features(daily, items.filter(mine), sales.filter(mine), midnight(as_of))
        built = built.join(ranked, on="item_id", how="left", maintain_order="left")
        return built.with_columns(pl.col("__percentile").alias("price_percentile")).drop("__percentile").collect()
