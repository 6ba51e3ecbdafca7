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

import polars as pl

from policies.triggers.config import SocialRule
from policies.triggers.rules.base import DAY_US, Moment, group_start

_FOLLOWS = pl.Schema(
    {"merchant_id": pl.String, "user_id": pl.String, "ts": pl.Int64, "seq": pl.Int64, "on": pl.Boolean}
)
_FAVOURITES = pl.Schema({"item_id": pl.String, "user_id": pl.String, "ts": pl.Int64, "seq": pl.Int64})
_KNOWN = pl.Schema({"item_id": pl.String, "known": pl.Float64})
_LISTED = pl.Schema({"due": pl.Int64, "item_id": pl.String, "merchant_id": pl.String})


class Social:
    """Follows per merchant, favourites per item and the last known price per item; the two social rules."""

    def __init__(self, rule: SocialRule, merchant_of: dict[str, str], price_of: dict[str, float]) -> None:
        self.rule = rule
        self.merchant_of = merchant_of
        self.price_ = price_of
        self.followers_: dict[str, dict[str, int]] = {}
        self.favourites_: dict[str, dict[str, int]] = {}
        self._known: pl.DataFrame | None = None  # price_ as a frame, for windows (None: build it from price_)

    def add_prices(self, prices: Iterable[tuple[str, float]]) -> None:
        """Prices of new listings (known items keep their last price; the first price of an item counts)."""
        new: dict[str, float] = {}
        for item, price in prices:
            if item not in self.price_ and item not in new:
                new[item] = price
        self.price_.update(new)
        if self._known is not None and new:
            added = pl.DataFrame({"item_id": list(new), "known": list(new.values())}, schema=_KNOWN)
            self._known = pl.concat([self._known, added])

    def follow(self, user_id: str, merchant_id: str | None, ts: int, on: bool) -> None:
        """A follow_merchant (``on``) or unfollow_merchant event."""
        if merchant_id is None:
            return
        followers = self.followers_.setdefault(merchant_id, {})
        followers.pop(user_id, None)
        if on:
            followers[user_id] = ts

    def favourite(self, user_id: str, item_id: str | None, ts: int) -> None:
        """A favorite event."""
        if item_id is not None:
            likers = self.favourites_.setdefault(item_id, {})
            likers.pop(user_id, None)
            likers[user_id] = ts

    def listed(self, item_id: str, ts: int) -> list[Moment]:
        """The item's ``listed_at`` has passed: its merchant's most recent followers (at most the cap)."""
        merchant = self.merchant_of.get(item_id)
        followers = self.followers_.get(merchant, {}) if merchant is not None else {}
        chosen = sorted(followers.items(), key=lambda uf: (-uf[1], uf[0]))[: self.rule.max_followers_per_listing]
        reason = f"merchant {merchant} you follow listed item {item_id}"
        return [Moment(f"new_listing:{item_id}:{user}", ts, user, item_id, "new_listing", reason) for user, _ in chosen]

    def price_drops(self, prices: pl.DataFrame) -> pl.DataFrame:
        """Batch: for each row of ``prices`` (``item_id, price``, in stream order) whether it drops at least the
        share below the item's last known price (``drop``) and that price (``previous``); the last known prices
        move on to the window's last ones."""
        if self._known is None:
            self._known = pl.DataFrame(
                {"item_id": list(self.price_), "known": list(self.price_.values())}, schema=_KNOWN
            )
        marked = prices.with_row_index("row").join(self._known, on="item_id", how="left", maintain_order="left")
        # an item whose prices in the window all equal its known one has previous == known on every row; only the
        # items whose price moved need the price of their row before
        moved = marked.filter(pl.col("price").ne_missing(pl.col("known")))["item_id"].unique()
        changing = marked.filter(pl.col("item_id").is_in(moved.implode()))
        shifted = changing.sort("item_id", "row").select(
            "row",
            pl.when(group_start("item_id")).then(pl.col("known")).otherwise(pl.col("price").shift(1)),
        )
        previous = marked["known"].cast(pl.Float64)
        if shifted.height:
            previous = previous.scatter(shifted["row"], shifted["known"])
        marked = marked.with_columns(previous.alias("previous"))
        drops = (pl.col("previous") > 0) & (pl.col("price") <= pl.col("previous") * (1 - self.rule.price_drop_share))
        last = changing.group_by("item_id").agg(pl.col("price").last().alias("known"))
        self.price_.update(zip(last["item_id"].to_list(), last["known"].to_list(), strict=True))
        self._known = pl.concat([self._known.join(last, on="item_id", how="anti"), last.cast(_KNOWN)])
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
        """A drop to ``price`` was seen: the users who favourited the item within the lookback."""
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
        """Batch: the new-listing moments (``RAW_MOMENTS`` columns) of the listing timers ``listed`` (``(due,
        item_id)``), each against the followers as of its due time: the follow state before the window and the
        window's ``follows`` (``merchant_id, user_id, ts, seq, on``, in stream order) strictly before it.

        Examples
        --------
        >>> from policies.triggers.config import SocialRule
        >>> social = Social(SocialRule(), merchant_of={"i9": "m1"}, price_of={})
        >>> follows = pl.DataFrame({"merchant_id": ["m1", "m1"], "user_id": ["a", "a"], "ts": [1, 5],
        ...                         "seq": [0, 1], "on": [True, False]})
        >>> social.listings([(3, "i9"), (5, "i9")], follows)["moment_id"].to_list()
        ['new_listing:i9:a', 'new_listing:i9:a']
        """
        timers = pl.DataFrame(
            [(due, item, self.merchant_of.get(item)) for due, item in listed], schema=_LISTED, orient="row"
        ).with_row_index("timer")
        merchants = timers["merchant_id"].drop_nulls().unique().to_list()
        known = [(m, u, ts, -1, True) for m in merchants for u, ts in self.followers_.get(m, {}).items()]
        state = pl.concat(
            [
                pl.DataFrame(known, schema=_FOLLOWS, orient="row"),
                follows.select(_FOLLOWS.names()).cast(_FOLLOWS).filter(pl.col("merchant_id").is_in(merchants)),
            ]
        )
        cap = self.rule.max_followers_per_listing
        chosen = (
            timers.join(state, on="merchant_id")
            .filter((pl.col("seq") < 0) | (pl.col("ts") < pl.col("due")))
            .sort("seq")
            .group_by("timer", "user_id")
            .agg(pl.col("due", "item_id", "merchant_id", "ts", "on").last())
            .filter(pl.col("on"))
            .sort(["timer", "ts", "user_id"], descending=[False, True, False])
            .group_by("timer", maintain_order=True)
            .head(cap)
        )
        return chosen.select(
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
        for merchant, user, ts, on in last.select("merchant_id", "user_id", "ts", "on").iter_rows():
            self.follow(user, merchant, ts, on)

    def favourites(self, favourites: pl.DataFrame) -> None:
        """Batch: take in a window's favourites (``item_id, user_id, ts, seq``)."""
        last = favourites.filter(pl.col("item_id").is_not_null()).group_by("item_id", "user_id").agg(pl.col("ts").max())
        for item, user, ts in last.select("item_id", "user_id", "ts").iter_rows():
            self.favourite(user, item, ts)

    def drop_moments(self, drops: pl.DataFrame, favourites: pl.DataFrame) -> pl.DataFrame:
        """Batch: the price-drop moments (``RAW_MOMENTS`` columns) of the window's drops (``item_id, price,
        previous, ts, seq, event_id``) to the users whose favourite of the item (before the window, or in the
        window's ``favourites`` up to and including the drop's event) lies within the lookback.

        Call before :meth:`favourites` takes the window's favourites in.
        """
        items = drops["item_id"].unique().to_list()
        known = [(i, u, ts, -1) for i in items for u, ts in self.favourites_.get(i, {}).items()]
        pool = pl.concat(
            [
                pl.DataFrame(known, schema=_FAVOURITES, orient="row"),
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
