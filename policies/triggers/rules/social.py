"""Social rules: a followed merchant lists an item (a timer at ``listed_at``); a favourited item gets cheaper.

Examples
--------
>>> from policies.triggers.config import SocialRule
>>> social = Social(SocialRule(), merchant_of={"i9": "m1"}, price_of={"i9": 100.0})
>>> social.follow("u1", "m1", 0, True)
>>> [m.reason for m in social.listed("i9", 10)]
['merchant m1 you follow listed item i9']
>>> social.favourite("u2", "i9", 5)
>>> [m.moment_id for m in social.price_seen("i9", 80.0, 20, "e7")]
['price_drop:i9:u2:e7']
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from policies.triggers.config import SocialRule
from policies.triggers.rules.base import DAY_US, Moment, group_start
from policies.triggers.rules.index import IdIndex, grown
from policies.triggers.rules.pairs import LatestPairs

_FOLLOWS = pl.Schema(
    {"merchant_id": pl.String, "user_id": pl.String, "ts": pl.Int64, "seq": pl.Int64, "on": pl.Boolean}
)
_FAVOURITES = pl.Schema({"item_id": pl.String, "user_id": pl.String, "ts": pl.Int64, "seq": pl.Int64})
_LISTED = pl.Schema({"due": pl.Int64, "item_id": pl.String, "merchant_id": pl.String})


class _Known:
    """The last known price of each item, by item position (a float, and whether there is one)."""

    def __init__(self) -> None:
        self.price = np.empty(0, dtype=np.float64)
        self.known = np.empty(0, dtype=bool)

    def set(self, positions: np.ndarray, prices: Iterable[float | None]) -> None:
        """Set the prices (None: none) of the items at ``positions``."""
        listed = list(prices)
        if len(positions):
            size = int(positions.max()) + 1
            self.price, self.known = grown(self.price, size, np.nan), grown(self.known, size, False)
        self.price[positions] = np.array([np.nan if p is None else p for p in listed], dtype=np.float64)
        self.known[positions] = np.array([p is not None for p in listed], dtype=bool)

    def of(self, positions: np.ndarray) -> pl.Series:
        """Return the known prices of the items at ``positions`` (null for none), as ``known``."""
        inside = positions < len(self.price)
        at = np.where(inside, positions, 0)
        price = self.price[at] if len(self.price) else np.full(len(positions), np.nan)
        known = inside & self.known[at] if len(self.known) else np.zeros(len(positions), dtype=bool)
        return pl.Series("known", np.ma.masked_array(price, mask=~known), dtype=pl.Float64)


class Social:
    """Follows per merchant, favourites per item and the last known price per item; the two social rules."""

    def __init__(
        self, rule: SocialRule, merchant_of: dict[str, str], price_of: dict[str, float], items: IdIndex | None = None
    ) -> None:
        self.rule = rule
        self.merchant_of = merchant_of
        self.price_ = price_of
        self.items = items if items is not None else IdIndex()
        self._followers = LatestPairs("merchant_id")  # each merchant's followers: since when
        self._favourites = LatestPairs("item_id")  # each item's favourites: when last
        self._known: _Known | None = None  # price_ by item position, for windows (None: build it from price_)

    def add_prices(self, prices: Iterable[tuple[str, float]]) -> None:
        """Prices of new listings (known items keep their last price; the first price of an item counts)."""
        new: dict[str, float] = {}
        for item, price in prices:
            if item not in self.price_ and item not in new:
                new[item] = price
        self.price_.update(new)
        if self._known is not None and new:
            self._known.set(self.items.positions(pl.Series(list(new), dtype=pl.String), False), list(new.values()))

    @property
    def followers_(self) -> dict[str, dict[str, int]]:
        """Each merchant's followers and when they followed (the streaming form of the state)."""
        return self._followers.dicts

    @property
    def favourites_(self) -> dict[str, dict[str, int]]:
        """Each item's favouriting users and when they last favourited it (the streaming form of the state)."""
        return self._favourites.dicts

    def follow(self, user_id: str, merchant_id: str | None, ts: int, on: bool) -> None:
        """Take a follow_merchant (``on``) or unfollow_merchant event."""
        if merchant_id is None:
            return
        followers = self.followers_.setdefault(merchant_id, {})
        followers.pop(user_id, None)
        if on:
            followers[user_id] = ts

    def favourite(self, user_id: str, item_id: str | None, ts: int) -> None:
        """Take a favorite event."""
        if item_id is not None:
            likers = self.favourites_.setdefault(item_id, {})
            likers.pop(user_id, None)
            likers[user_id] = ts

    def listed(self, item_id: str, ts: int) -> list[Moment]:
        """Return the moments of an item past its ``listed_at``: its merchant's latest followers (at most the cap)."""
        merchant = self.merchant_of.get(item_id)
        followers = self.followers_.get(merchant, {}) if merchant is not None else {}
        chosen = sorted(followers.items(), key=lambda uf: (-uf[1], uf[0]))[: self.rule.max_followers_per_listing]
        reason = f"merchant {merchant} you follow listed item {item_id}"
        return [Moment(f"new_listing:{item_id}:{user}", ts, user, item_id, "new_listing", reason) for user, _ in chosen]

    def price_drops(self, prices: pl.DataFrame) -> pl.DataFrame:
        """Tell, for each row of ``prices``, whether it drops far enough below the item's last known price.

        ``prices`` holds ``item_id, price``, in stream order (``item_position`` too if known). The result has
        ``drop`` (at least the share below the last known price) and that price (``previous``); the last known
        prices move on to the window's last ones.
        """
        if "item_position" in prices.columns:
            position = prices["item_position"].to_numpy()
        else:
            position = self.items.positions(prices["item_id"], remember=False)
        if self._known is None:
            self._known = _Known()
            self._known.set(
                self.items.positions(pl.Series(list(self.price_), dtype=pl.String), False), self.price_.values()
            )
        marked = prices.select("item_id", "price").with_row_index("row")
        marked = marked.with_columns(self._known.of(position), pl.Series("position", position))
        # an item whose prices in the window all equal its known one has previous == known on every row; only the
        # items whose price moved need the price of their row before
        moved = marked.filter(pl.col("price").ne_missing(pl.col("known")))["position"].unique()
        changing = marked.filter(pl.col("position").is_in(moved.implode()))
        shifted = changing.sort("position", "row").select(
            "row",
            pl.when(group_start("position")).then(pl.col("known")).otherwise(pl.col("price").shift(1)),
        )
        previous = marked["known"].cast(pl.Float64)
        if shifted.height:
            previous = previous.scatter(shifted["row"], shifted["known"])
        marked = marked.with_columns(previous.alias("previous"))
        drops = (pl.col("previous") > 0) & (pl.col("price") <= pl.col("previous") * (1 - self.rule.price_drop_share))
        last = changing.group_by("position").agg(pl.col("item_id", "price").last())
        self.price_.update(zip(last["item_id"].to_list(), last["price"].to_list(), strict=True))
        self._known.set(last["position"].to_numpy(), last["price"].to_list())
        return marked.select(drops.fill_null(False).alias("drop"), "previous")

    def price_drop_of(self, item_id: str, price: float) -> float | None:
        """Streaming: the previous price if ``price`` is a drop of at least the share, and remember ``price``."""
        previous = self.price_.get(item_id)
        self.price_[item_id] = price
        self._known = None
        if previous is not None and previous > 0 and price <= previous * (1 - self.rule.price_drop_share):
            return previous
        return None

    def price_seen(
        self, item_id: str, price: float, ts: int, event_id: str, previous: float | None = None
    ) -> list[Moment]:
        """Return the moments of a drop to ``price``: the users who favourited the item within the lookback."""
        if previous is None:
            previous = self.price_drop_of(item_id, price)
            if previous is None:
                return []
        edge = ts - self.rule.favourite_lookback_days * DAY_US
        likers = sorted(u for u, t in self.favourites_.get(item_id, {}).items() if t > edge)
        share = round(100 * (1 - price / previous))
        reason = f"price of favourited item {item_id} dropped {share}%"
        return [Moment(f"price_drop:{item_id}:{u}:{event_id}", ts, u, item_id, "price_drop", reason) for u in likers]

    def listings(self, listed: list[tuple[int, str]], follows: pl.DataFrame) -> pl.DataFrame:
        """Return the new-listing moments (``RAW_MOMENTS`` columns) of the listing timers ``listed`` at once.

        ``listed`` holds ``(due, item_id)``; each is taken against the followers as of its due time: the follow state
        before the window and the window's ``follows`` (``merchant_id, user_id, ts, seq, on``, in stream order) strictly
        before it.

        Examples
        --------
        >>> from policies.triggers.config import SocialRule
        >>> social = Social(SocialRule(), merchant_of={"i9": "m1"}, price_of={})
        >>> follows = pl.DataFrame({"merchant_id": ["m1", "m1"], "user_id": ["a", "a"], "ts": [1, 5],
        ...                         "seq": [0, 1], "on": [True, False]})
        >>> social.listings([(3, "i9"), (5, "i9")], follows)["moment_id"].to_list()
        ['new_listing:i9:a', 'new_listing:i9:a']
        """
        dues, items = [due for due, _ in listed], [item for _, item in listed]
        merchant = [self.merchant_of.get(item) for item in items]
        timers = pl.DataFrame({"due": dues, "item_id": items, "merchant_id": merchant}, schema=_LISTED)
        timers = timers.with_row_index("timer")
        merchants = timers["merchant_id"].drop_nulls().unique().to_list()
        known, pairs = self._followers.of(merchants), ["merchant_id", "user_id"]
        window = follows.select(_FOLLOWS.names()).cast(_FOLLOWS).filter(pl.col("merchant_id").is_in(merchants))
        touched = window.select(pairs).unique()
        # a pair the window does not touch follows at every due time as before it; the others are followed as of
        # each due time: their last follow or unfollow before it (the state before the window counts as earlier)
        steady = timers.join(known.join(touched, on=pairs, how="anti"), on="merchant_id")
        before = known.join(touched, on=pairs, how="semi").with_columns(pl.lit(-1, pl.Int64).alias("seq"), on=True)
        columns = ["timer", "user_id", "due", "item_id", "merchant_id", "ts"]
        moved = (
            timers.join(pl.concat([before, window]), on="merchant_id")
            .filter((pl.col("seq") < 0) | (pl.col("ts") < pl.col("due")))
            .sort("seq")
            .group_by("timer", "user_id")
            .agg(pl.col("due", "item_id", "merchant_id", "ts", "on").last())
            .filter(pl.col("on"))
        )
        every = pl.concat([steady.select(columns), moved.select(columns)])
        cap = self.rule.max_followers_per_listing
        crowded = every.group_by("timer").len().filter(pl.col("len") > cap).select("timer")
        if crowded.height:  # only timers with more followers than the cap need the most recent picked out
            many = every.join(crowded, on="timer", how="semi")
            picked = (
                many.sort(["timer", "ts", "user_id"], descending=[False, True, False])
                .group_by("timer", maintain_order=True)
                .head(cap)
            )
            every = pl.concat([every.join(crowded, on="timer", how="anti"), picked.select(columns)])
        return every.select(
            pl.format("new_listing:{}:{}", "item_id", "user_id").alias("moment_id"),
            pl.col("due").alias("ts"),
            "user_id",
            "item_id",
            pl.lit("new_listing").alias("trigger"),
            pl.format("merchant {} you follow listed item {}", "merchant_id", "item_id").alias("reason"),
        )

    def follows(self, follows: pl.DataFrame) -> None:
        """Batch: take in a window's follows and unfollows (``merchant_id, user_id, ts, seq, on``)."""
        last = (
            follows.filter(pl.col("merchant_id").is_not_null())
            .group_by("merchant_id", "user_id")
            .agg(pl.col("ts", "on").sort_by("seq").last())
        )
        self._followers.replace(last, keep=pl.col("on"))

    def favourites(self, favourites: pl.DataFrame) -> None:
        """Batch: take in a window's favourites (``item_id, user_id, ts, seq``)."""
        last = favourites.filter(pl.col("item_id").is_not_null()).group_by("item_id", "user_id").agg(pl.col("ts").max())
        self._favourites.add(last)  # times only move forward: the window's are the latest

    def drop_moments(self, drops: pl.DataFrame, favourites: pl.DataFrame) -> pl.DataFrame:
        """Return the price-drop moments (``RAW_MOMENTS`` columns) of the window's drops at once.

        The drops hold ``item_id, price, previous, ts, seq, event_id``; the moments go to the users whose favourite of
        the item (before the window, or in the window's ``favourites`` up to and including the drop's event) lies within
        the lookback.

        Call before :meth:`favourites` takes the window's favourites in.
        """
        items = drops["item_id"].unique().to_list()
        known = self._favourites.of(items).with_columns(pl.lit(-1, pl.Int64).alias("seq"))
        pool = pl.concat(
            [
                known,
                favourites.select(_FAVOURITES.names()).cast(_FAVOURITES).filter(pl.col("item_id").is_in(items)),
            ]
        ).rename({"ts": "liked", "seq": "liked_seq"})
        edge = pl.col("ts") - self.rule.favourite_lookback_days * DAY_US
        shares = {
            e: f"price of favourited item {i} dropped {round(100 * (1 - p / q))}%"
            for e, i, p, q in drops.select("event_id", "item_id", "price", "previous").iter_rows()
        }
        likers = (
            drops.join(pool, on="item_id")
            .filter((pl.col("liked_seq") <= pl.col("seq")) & (pl.col("liked") > edge))
            .unique(["event_id", "user_id"])
        )
        return likers.select(
            pl.format("price_drop:{}:{}:{}", "item_id", "user_id", "event_id").alias("moment_id"),
            "ts",
            "user_id",
            "item_id",
            pl.lit("price_drop").alias("trigger"),
            pl.col("event_id").replace_strict(shares, return_dtype=pl.String).alias("reason"),
        )
