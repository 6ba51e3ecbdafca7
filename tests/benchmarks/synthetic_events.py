"""Seeded, vectorised synthetic events, items and users that meet the contracts, at any size.

Sizes follow the event count: about one user per 60 events and two items per user. Events span
:data:`DAYS` days from :data:`START` (UTC, microseconds), with a realistic mix of types; most purchases
follow a cart add of the same user and item minutes earlier (so abandoned carts are not trivially all
carts), each user's sessions cluster around a peak local hour, and item popularity is skewed. Edge
cases the feature pipelines must handle are present on purpose: prices on the 50 / 150 band edges and
tied prices within a category, users with no time zone, a half-hour zone and zones with daylight
saving, items listed after :data:`AS_OF`, users without events, purchases after :data:`AS_OF`.

:func:`write_synthetic` writes ``events/part-XXXX.parquet`` chunk by chunk, so 50 million events are
never all in memory at once; :func:`synthetic_frames` returns small frames for tests.

Examples
--------
>>> events, items, users = synthetic_frames(6_000, seed=0)
>>> events.height, users.height, items.height
(6000, 100, 200)
>>> from features.validation import validate
>>> validate(events, EVENTS, "events", unique="event_id", not_null=["ts", "user_id", "type"]).schema == EVENTS
True
>>> validate(items, ITEMS, "items", unique="item_id").schema == ITEMS
True
>>> validate(users, USERS, "users", unique="user_id").schema == USERS
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from features.schemas import CHANNELS, EVENTS, ITEMS, USERS

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 120
END = START + timedelta(days=DAYS)
#: The as-of moment the benchmark builds features for: 10 of the 120 days come after it.
AS_OF = START + timedelta(days=110)
CATEGORIES: dict[str, tuple[float, float]] = {  # share, mean log price
    "fashion": (0.40, 3.8),
    "bags": (0.25, 4.6),
    "electronics": (0.15, 5.0),
    "home": (0.20, 3.9),
}
#: Zones with their standard UTC offsets in hours (only used to place local peak hours; DST is left to
#: the pipelines). Four observe daylight saving within the span, one is a half-hour zone.
TIME_ZONES: dict[str, float] = {
    "America/Los_Angeles": -8.0,
    "America/New_York": -5.0,
    "Europe/London": 0.0,
    "Europe/Berlin": 1.0,
    "Asia/Kolkata": 5.5,
    "Asia/Tokyo": 9.0,
}
TZ_WEIGHTS = np.array([0.15, 0.25, 0.15, 0.2, 0.1, 0.15])
NO_TZ_SHARE = 0.01
EVENT_MIX: dict[str, float] = {
    "session_start": 0.14,
    "view": 0.50,
    "favorite": 0.06,
    "cart_add": 0.08,
    "purchase": 0.03,
    "offer_sent": 0.14,
    "offer_redeemed": 0.03,
    "follow_merchant": 0.015,
    "unfollow_merchant": 0.005,
}
TYPES = list(EVENT_MIX)
ITEM_TYPES = ("view", "favorite", "cart_add", "purchase")
OFFERS = {"coupon": 0.45, "installment": 0.35, "trust_badge": 0.20}
#: Share of purchases that follow a cart add of the same user and item (the rest are direct buys).
PURCHASE_AFTER_CART = 0.8
EVENTS_PER_USER = 60
ITEMS_PER_USER = 2
ITEMS_PER_MERCHANT = 40
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _ids(prefix: str, n: int, width: int, first: int = 0) -> pl.Series:
    numbers = pl.Series(np.arange(first, first + n), dtype=pl.Int64)
    return numbers.cast(pl.String).str.zfill(width).str.pad_start(width + 1, prefix)


def _utc(micros: np.ndarray) -> pl.Series:
    return pl.Series(micros, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


def _pick(weights: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw indices with probability proportional to ``weights``, in random order.

    A multinomial draw of the counts, repeated and shuffled: much faster than a binary search per draw for
    millions of draws.
    """
    counts = rng.multinomial(size, weights / weights.sum())
    return rng.permutation(np.repeat(np.arange(len(weights)), counts))


@dataclass(frozen=True)
class World:
    """The users, items and merchants events are drawn from, and the latent traits that shape them."""

    users: pl.DataFrame
    items: pl.DataFrame
    user_weight: np.ndarray
    peak_hour_utc: np.ndarray  # the user's peak hour expressed in UTC hours
    item_weight: np.ndarray
    item_price: np.ndarray
    item_merchant: np.ndarray
    merchant_weight: np.ndarray

    @property
    def n_users(self) -> int:
        return self.users.height

    @property
    def n_items(self) -> int:
        return self.items.height


def sizes(n_events: int) -> tuple[int, int, int]:
    """(users, items, merchants) for ``n_events`` events."""
    n_users = max(n_events // EVENTS_PER_USER, 10)
    n_items = n_users * ITEMS_PER_USER
    return n_users, n_items, max(n_items // ITEMS_PER_MERCHANT, 5)


def make_world(n_events: int, rng: np.random.Generator) -> World:
    n_users, n_items, n_merchants = sizes(n_events)
    start, span = _us(START), DAYS * US_PER_DAY

    # users: most signed up before the span, some during it (a few after AS_OF)
    zones = list(TIME_ZONES)
    zone = rng.choice(len(zones), size=n_users, p=TZ_WEIGHTS)
    offsets = np.array(list(TIME_ZONES.values()))[zone]
    tz = pl.Series(zones).gather(zone)
    tz = tz.scatter(np.flatnonzero(rng.random(n_users) < NO_TZ_SHARE), None)
    before = start - (rng.exponential(300.0, n_users) * US_PER_DAY).astype(np.int64) - 1
    during = start + rng.integers(0, span, n_users)
    signup = np.where(rng.random(n_users) < 0.05, during, before)
    opted = np.where(rng.random(n_users) < 0.03, start + rng.integers(0, span, n_users), -1)
    users = pl.DataFrame(
        {
            "user_id": _ids("u", n_users, 8),
            "signup_ts": _utc(signup),
            "tz": tz,
            **{f"consent_{c}": rng.random(n_users) < share for c, share in zip(CHANNELS, (0.9, 0.6, 0.3), strict=True)},
            "opted_out_at": _utc(opted),
        }
    ).with_columns(pl.when(pl.col("opted_out_at") >= pl.lit(START)).then(pl.col("opted_out_at")).alias("opted_out_at"))
    local_peak = np.mod(rng.normal(20.0, 3.0, n_users), 24.0)

    # items: log-normal prices by category, rounded to whole units or .99 (so band edges and ties occur)
    names = list(CATEGORIES)
    shares = np.array([s for s, _ in CATEGORIES.values()])
    category = rng.choice(len(names), size=n_items, p=shares)
    log_mean = np.array([m for _, m in CATEGORIES.values()])[category]
    raw = np.round(np.exp(rng.normal(log_mean, 0.8)))
    price = np.maximum(np.where(rng.random(n_items) < 0.5, raw - 0.01, raw), 0.99)
    merchant = rng.integers(0, n_merchants, n_items)
    merchant_verified = rng.random(n_merchants) < 0.6
    merchant_rating = np.round(np.clip(rng.normal(4.3, 0.5, n_merchants), 1.0, 5.0), 1)
    listed = np.where(
        rng.random(n_items) < 0.2,
        start + rng.integers(0, span, n_items),
        start - (rng.exponential(60.0, n_items) * US_PER_DAY).astype(np.int64) - 1,
    )
    items = pl.DataFrame(
        {
            "item_id": _ids("i", n_items, 8),
            "merchant_id": _ids("m", n_merchants, 6).gather(merchant),
            "category": pl.Series(names).gather(category),
            "price": price,
            "listed_at": _utc(listed),
            "stock": rng.geometric(0.5, n_items).astype(np.int32) - 1,
            "merchant_verified": merchant_verified[merchant],
            "merchant_rating": merchant_rating[merchant],
            "authenticated": rng.random(n_items) < 0.3,
        }
    )
    return World(
        users=users.cast(dict(USERS)),  # type: ignore[arg-type]
        items=items.cast(dict(ITEMS)),  # type: ignore[arg-type]
        user_weight=rng.lognormal(0.0, 1.0, n_users),
        peak_hour_utc=np.mod(local_peak - offsets, 24.0),
        item_weight=rng.lognormal(0.0, 1.5, n_items),
        item_price=price,
        item_merchant=merchant,
        merchant_weight=np.bincount(merchant, minlength=n_merchants) + 0.1,
    )


def make_events(world: World, n: int, first_id: int, rng: np.random.Generator) -> pl.DataFrame:
    """``n`` events sorted by time, with event ids ``first_id`` onwards."""
    start = _us(START)
    kind = rng.choice(len(TYPES), size=n, p=np.array(list(EVENT_MIX.values())))
    user = _pick(world.user_weight, n, rng)
    day = rng.integers(0, DAYS, n)
    hour = world.peak_hour_utc[user] + rng.normal(0.0, 3.0, n)
    ts = start + day * US_PER_DAY + (np.mod(hour, 24.0) * 3600 * US_PER_SECOND).astype(np.int64)

    item = _pick(world.item_weight, n, rng)
    # most purchases follow a cart add of the same user and item a few minutes (sometimes hours) later
    purchases = np.flatnonzero(kind == TYPES.index("purchase"))
    carts = np.flatnonzero(kind == TYPES.index("cart_add"))
    if len(carts):
        follow = purchases[rng.random(len(purchases)) < PURCHASE_AFTER_CART]
        source = carts[rng.integers(0, len(carts), len(follow))]
        user[follow], item[follow] = user[source], item[source]
        delay = (rng.exponential(20.0 * 60, len(follow)) * US_PER_SECOND).astype(np.int64)
        ts[follow] = ts[source] + delay
    ts = np.clip(ts, start, start + DAYS * US_PER_DAY - 1)

    item_kinds = np.array([TYPES.index(t) for t in ITEM_TYPES])
    has_item = np.isin(kind, item_kinds)
    is_offer = np.isin(kind, [TYPES.index("offer_sent"), TYPES.index("offer_redeemed")])
    is_follow = np.isin(kind, [TYPES.index("follow_merchant"), TYPES.index("unfollow_merchant")])
    merchant = world.item_merchant[item]
    merchant[is_follow] = _pick(world.merchant_weight, int(is_follow.sum()), rng)
    quantity = np.where(kind == TYPES.index("cart_add"), 1, 0)
    quantity = np.where(kind == TYPES.index("purchase"), 1 + (rng.random(n) < 0.1), quantity).astype(np.int32)
    offer = rng.choice(len(OFFERS), size=n, p=np.array(list(OFFERS.values())))
    channel = rng.choice(len(CHANNELS), size=n, p=np.array([0.6, 0.3, 0.1]))

    order = np.argsort(ts, kind="stable")
    kind, user, item, ts, merchant = kind[order], user[order], item[order], ts[order], merchant[order]
    has_item, is_offer, is_follow = has_item[order], is_offer[order], is_follow[order]
    frame = pl.DataFrame(
        {
            "event_id": _ids("e", n, 10, first_id),
            "ts": _utc(ts),
            "user_id": world.users.get_column("user_id").gather(user),
            "type": pl.Series(TYPES).gather(kind),
            "item_idx": pl.Series(item).set(pl.Series(~has_item), None),
            "merchant_idx": pl.Series(merchant).set(pl.Series(~(has_item | is_follow)), None),
            "price": pl.Series(world.item_price[item]).set(pl.Series(~has_item), None),
            "quantity": quantity[order],
            "channel_idx": pl.Series(channel[order]).set(pl.Series(~is_offer), None),
            "offer_idx": pl.Series(offer[order]).set(pl.Series(~is_offer), None),
        }
    )
    item_ids = world.items.get_column("item_id")
    merchants = _ids("m", len(world.merchant_weight), 6)
    return frame.select(
        "event_id",
        "ts",
        "user_id",
        "type",
        item_ids.gather(frame.get_column("item_idx")).alias("item_id"),
        merchants.gather(frame.get_column("merchant_idx")).alias("merchant_id"),
        "price",
        "quantity",
        pl.Series(CHANNELS).gather(frame.get_column("channel_idx")).alias("channel"),
        pl.Series(list(OFFERS)).gather(frame.get_column("offer_idx")).alias("offer"),
    ).cast(dict(EVENTS))  # type: ignore[arg-type]


def _chunks(n_events: int, chunk_events: int) -> list[int]:
    full, rest = divmod(n_events, chunk_events)
    return [chunk_events] * full + ([rest] if rest else [])


def synthetic_frames(n_events: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(events, items, users) in memory; the same data :func:`write_synthetic` writes in one chunk."""
    world_seed, events_seed = np.random.SeedSequence(seed).spawn(2)
    world = make_world(n_events, np.random.default_rng(world_seed))
    chunk_seed = events_seed.spawn(1)[0]
    return make_events(world, n_events, 0, np.random.default_rng(chunk_seed)), world.items, world.users


@dataclass(frozen=True)
class Written:
    folder: Path
    events: Path  # the folder of part files
    items: Path
    users: Path
    n_events: int
    n_items: int
    n_users: int


def write_synthetic(folder: str | Path, n_events: int, seed: int, chunk_events: int = 5_000_000) -> Written:
    """Write ``events/part-XXXX.parquet``, ``items.parquet`` and ``users.parquet`` under ``folder``.

    Each part holds ``chunk_events`` events, sorted by time within the part; only one chunk is in memory at a time.
    """
    folder = Path(folder)
    (folder / "events").mkdir(parents=True, exist_ok=True)
    world_seed, events_seed = np.random.SeedSequence(seed).spawn(2)
    world = make_world(n_events, np.random.default_rng(world_seed))
    world.items.write_parquet(folder / "items.parquet")
    world.users.write_parquet(folder / "users.parquet")
    chunks = _chunks(n_events, chunk_events)
    first = 0
    for index, (size, chunk_seed) in enumerate(zip(chunks, events_seed.spawn(len(chunks)), strict=True)):
        events = make_events(world, size, first, np.random.default_rng(chunk_seed))
        events.write_parquet(folder / "events" / f"part-{index:04d}.parquet")
        first += size
        del events
    return Written(
        folder,
        folder / "events",
        folder / "items.parquet",
        folder / "users.parquet",
        n_events,
        world.n_items,
        world.n_users,
    )
