"""An in-memory daily feature store, for a process that sees one day of events at a time (the simulator).

It keeps the same daily aggregates as :class:`features.stores.offline.OfflineStore` (built by the same
:func:`~features.stores.offline.daily_aggregates`; with specs, only the sums they read), one compact frame per
day, and builds user and item features as of any midnight from them, for all users or just the few a day's
moments need. The window sums are running sums over the days (:class:`~features.stores.running.RunningSums`):
from one midnight to the next only the days entering or leaving a window are read. The features are finished
by the pipelines' own functions (:func:`~features.pipelines.user.finish_user_features`, and
:func:`~features.pipelines.item.item_features` on one row per item and window), so they equal
:func:`features.pipelines.build_features` on the same events as of the same midnight. The price percentile of
a few items asked for is read from each category's sorted listed prices
(:class:`~features.stores.percentile.SortedPrices`), kept from one midnight to the next.

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

import numpy as np
import polars as pl

from features.ids import IdIndex
from features.pipelines.daily import ENGAGEMENTS, HOURS
from features.pipelines.item import ITEM_WINDOWS, item_features
from features.pipelines.user import (
    HOUR_WINDOW,
    UserFeatureSpec,
    default_aggregations,
    finish_user_features,
    last_column,
    require_columns,
    spec_windows,
    user_features,
)
from features.schemas import EVENTS, ITEMS, USERS
from features.stores.offline import StoreMeta, age_before, daily_aggregates, midnight
from features.stores.percentile import PERCENTILE, SortedPrices
from features.stores.running import RunningSums

_NO_SALES = pl.LazyFrame(schema={"item_id": pl.String, "units_after": pl.Int64})
_ITEM_SUMS = [*ENGAGEMENTS, "units_sold"]
_CODE = "__code"


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each integer column in the smallest integer type that holds its values (exactly)."""
    return frame.with_columns(frame.get_column(c).shrink_dtype() for c, t in frame.schema.items() if t.is_integer())


class DailyFeatureStore:
    """Daily user and item aggregates held in memory, one UTC day at a time, in order.

    ``specs`` (the user feature specs it will be asked for; the first is the default) limit what a day keeps to
    the sums they read; without them it keeps every sum and builds the whole feature set.
    """

    def __init__(
        self, categories: Sequence[str], time_zones: Sequence[str], specs: Sequence[UserFeatureSpec] = ()
    ) -> None:
        self.meta = StoreMeta(list(categories), list(time_zones))
        self.spec = specs[0] if specs else default_aggregations(self.meta.categories)
        # with specs, a day keeps only the user sums they read (the whole feature set needs ten times more memory)
        self._kept = set().union(*(spec.columns() for spec in specs)) if specs else None
        self._users: dict[date, pl.DataFrame] = {}
        self._items: dict[date, pl.DataFrame] = {}  # item codes and sums
        self._user_codes, self._item_codes = IdIndex(name="user_id"), IdIndex(name="item_id")
        self._user_sums: list[tuple[UserFeatureSpec, RunningSums]] = []
        windows: dict[int | None, list[str]] = {w: _ITEM_SUMS for w in ITEM_WINDOWS}
        self._item_sums = RunningSums(windows, lambda frame: frame.get_column(_CODE).to_numpy())
        self._prices = SortedPrices()

    @property
    def days(self) -> list[date]:
        """The days stored, in order."""
        return sorted(self._users)

    def daily_users(self) -> dict[date, pl.DataFrame]:
        """Return the per-user sums kept for each day, by day (a later :meth:`add_day` of a day replaces its frame)."""
        return dict(self._users)

    def add_day(self, events: pl.LazyFrame, items: pl.LazyFrame, users: pl.LazyFrame, day: date) -> None:
        """Aggregate the events of UTC ``day`` (the others in ``events`` are ignored)."""
        users_day, items_day = daily_aggregates(events, items, users, day, self.meta, self._kept)
        self._users[day] = _compact(users_day)
        codes = pl.Series(
            _CODE, self._item_codes.positions(items_day.get_column("item_id"), remember=False), dtype=pl.UInt32
        )
        self._items[day] = _compact(items_day.select(_ITEM_SUMS)).with_columns(codes)

    def _empty_users(self, days: dict[date, pl.DataFrame], as_of: date) -> pl.LazyFrame:
        """No user rows, with the columns of the stored days (of an empty day's aggregates if none)."""
        if not days:
            empty = pl.LazyFrame(schema=EVENTS), pl.LazyFrame(schema=ITEMS), pl.LazyFrame(schema=USERS)
            return daily_aggregates(*empty, as_of, self.meta)[0].lazy().with_columns(age_before(as_of))
        frames = [frame.head(0) for frame in days.values()]
        return pl.concat(frames, how="diagonal_relaxed").lazy().with_columns(age_before(as_of))

    def _running(self, spec: UserFeatureSpec) -> RunningSums:
        """Return the running sums of ``spec`` (made at its first use)."""
        for known, sums in self._user_sums:
            if known == spec:
                return sums
        windows: dict[int | None, list[str]] = {None: list(spec.all_time)}
        for w, columns in spec_windows(spec).items():
            windows[w] = columns
        hours = HOURS if spec.hours else []
        sums = RunningSums(windows, self._encode_users, positive=list(spec.recency), nonzero=hours)
        self._user_sums.append((spec, sums))
        return sums

    def _encode_users(self, frame: pl.DataFrame) -> np.ndarray:
        return self._user_codes.positions(frame.get_column("user_id"), remember=False)

    def user_features(
        self,
        as_of: date,
        users: pl.LazyFrame,
        user_ids: Sequence[str] | pl.Series | None = None,
        spec: UserFeatureSpec | None = None,
    ) -> pl.DataFrame:
        """Return the user features as of midnight of ``as_of``.

        Every user who had signed up, or only ``user_ids``; the whole feature set, or the columns of ``spec``.
        """
        spec = spec or self.spec
        at = midnight(as_of)
        if user_ids is not None:
            users = users.filter(pl.col("user_id").is_in(pl.Series(user_ids, dtype=pl.String).implode()))
        signed_up = pl.col("signup_ts") < pl.lit(at).cast(pl.Datetime("us", "UTC"))
        who = users.filter(signed_up).select("user_id", "signup_ts").collect()
        days = {day: frame for day, frame in self._users.items() if day < as_of and frame.height}
        if not days or not who.height:  # nothing to sum: the pipeline on no rows
            return user_features(self._empty_users(days, as_of), users, at, spec).collect()
        require_columns({c for frame in days.values() for c in frame.columns}, spec)
        sums = self._running(spec)
        sums.update(days, as_of)
        codes = self._user_codes.find(who.get_column("user_id"))
        columns = {f"{c}_{w}d": pl.Series(sums.sums(w, c, codes)) for w, cs in spec_windows(spec).items() for c in cs}
        columns |= {c: pl.Series(sums.sums(None, c, codes)) for c in spec.all_time}
        columns |= {name: sums.age(c, codes, as_of) for c, name in spec.recency.items()}
        if spec.hours:
            columns |= {last_column(h): sums.age(h, codes, as_of, HOUR_WINDOW, positive=False) for h in HOURS}
        return finish_user_features(who.with_columns(**columns).lazy(), at, spec).collect()

    def _item_rows(self, ids: pl.Series, as_of: date) -> pl.LazyFrame:
        """Return daily rows of the items ``ids`` that give their window sums as of ``as_of``.

        One row per item and window, at the window's first age, with the sums of the ages from there to the window's end
        (none where they are all zero).
        """
        days = {day: frame for day, frame in self._items.items() if day < as_of and frame.height}
        self._item_sums.update(days, as_of)
        codes = self._item_codes.find(ids)
        rows, low = [], 0
        below = np.zeros((len(codes), len(_ITEM_SUMS)), dtype=np.int64)
        for w in sorted(ITEM_WINDOWS):
            upto = np.column_stack([self._item_sums.sums(w, c, codes) for c in _ITEM_SUMS])
            part, keep = upto - below, (upto != below).any(axis=1)
            sums = {c: part[keep, j] for j, c in enumerate(_ITEM_SUMS)}
            rows.append(pl.DataFrame({"item_id": ids.filter(keep), **sums, "age": np.full(keep.sum(), low, np.int32)}))
            below, low = upto, w
        return pl.concat(rows).lazy()

    def item_features(
        self,
        as_of: date,
        items: pl.LazyFrame,
        sold_after: pl.LazyFrame | None = None,
        item_ids: Sequence[str] | pl.Series | None = None,
    ) -> pl.DataFrame:
        """Return the item features as of midnight of ``as_of``.

        ``sold_after`` (item_id, units_after) gives back the units sold since then, from the catalogue's current stock
        (none by default). With ``item_ids``, only those items' rows, still ranked (price percentile) among the whole
        catalogue.
        """
        sales = _NO_SALES if sold_after is None else sold_after
        if item_ids is None:
            every = self._item_codes.ids_of(np.arange(len(self._item_codes)))
            return item_features(self._item_rows(every, as_of), items, sales, midnight(as_of)).collect()
        ids = pl.Series("item_id", item_ids, dtype=pl.String).unique()
        catalogue = items.collect()
        mine = pl.col("item_id").is_in(ids.implode())
        asked = catalogue.filter(mine)
        # every feature but the price percentile reads the item's own rows: build them for the wanted items only,
        # and rank those among the whole catalogue listed by then (as item_features does)
        ranked = self._prices.percentile(catalogue, midnight(as_of), asked)
        built = item_features(self._item_rows(ids, as_of), asked.lazy(), sales.filter(mine), midnight(as_of))
        built = built.join(ranked.lazy(), on="item_id", how="left", maintain_order="left")
        return built.with_columns(pl.col(PERCENTILE).alias("price_percentile")).drop(PERCENTILE).collect()
