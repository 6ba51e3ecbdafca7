"""The simulated world at the start: users with latent traits, merchants, and the catalogue.

Latent traits (price sensitivity, liquidity constraint, trust concern, baseline
propensity, activity) are never shown to a policy; what a policy sees are noisy
observable signals of them, computed in :mod:`simulators.offers`.

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import load_scenario
>>> world = World.create(load_scenario("small").model_copy(update={"n_users": 100}), np.random.default_rng(0))
>>> world.users.n, bool((world.items.stock >= 1).all())
(100, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from features.schemas import ITEMS, USERS
from simulators.scenario import Scenario

#: Time zones of the simulated users, with their standard UTC offsets in hours (DST is not modelled).
TIME_ZONES: dict[str, int] = {
    "America/Los_Angeles": -8,
    "America/New_York": -5,
    "Europe/London": 0,
    "Europe/Berlin": 1,
    "Asia/Shanghai": 8,
    "Asia/Tokyo": 9,
}
TZ_WEIGHTS = np.array([0.15, 0.25, 0.15, 0.2, 0.15, 0.1])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Users:
    """Users' latent traits and observable attributes, one array entry per user."""

    n: int
    ids: np.ndarray
    price_sensitivity: np.ndarray
    liquidity_constraint: np.ndarray
    trust_concern: np.ndarray
    baseline_logit: np.ndarray
    activity: np.ndarray
    active_hour: np.ndarray
    usual_log_price: np.ndarray
    tz_offset: np.ndarray
    tz: np.ndarray
    account_age_days: np.ndarray
    mobile: np.ndarray
    consent: dict[str, np.ndarray]
    opted_out_day: np.ndarray  # day index from which the user is opted out; -1 = never
    holdout: np.ndarray
    last_viewed: np.ndarray  # state: the item each user viewed last (-1: none yet)


@dataclass
class Items:
    """The catalogue as growing arrays; ``stock`` falls as items sell and never goes below zero."""

    ids: list[str]
    merchant: np.ndarray
    category: np.ndarray
    price: np.ndarray
    listed_day: np.ndarray
    stock: np.ndarray
    authenticated: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass
class World:
    """Users, merchants and items of one simulation run."""

    scenario: Scenario
    users: Users
    merchant_verified: np.ndarray
    merchant_rating: np.ndarray
    items: Items
    category_names: list[str]

    @classmethod
    def create(cls, scenario: Scenario, rng: np.random.Generator) -> World:
        users = _make_users(scenario, rng)
        verified = rng.random(scenario.n_merchants) < scenario.merchant_verified_share
        rating = np.clip(np.where(verified, 4.5, 4.0) + rng.normal(0, 0.35, scenario.n_merchants), 1.0, 5.0).round(2)
        names = list(scenario.categories)
        world = cls(
            scenario,
            users,
            verified,
            rating,
            Items([], *(np.empty(0, t) for t in (int, int, float, int, int, bool))),
            names,
        )
        world.list_items(scenario.n_items, day=0, rng=rng, initial=True)
        return world

    def list_items(self, count: int, day: int, rng: np.random.Generator, initial: bool = False) -> None:
        """Add ``count`` new listings on ``day`` (initial listings are spread over the previous 60 days)."""
        s = self.scenario
        shares = np.array([c.share for c in s.categories.values()])
        category = rng.choice(len(shares), size=count, p=shares / shares.sum())
        mean = np.array([c.log_price_mean for c in s.categories.values()])[category]
        sd = np.array([c.log_price_sd for c in s.categories.values()])[category]
        price = np.exp(rng.normal(mean, sd)).round(2).clip(1.0)
        weights = np.asarray(s.stock_weights) / np.sum(s.stock_weights)
        stock = 1 + rng.choice(len(weights), size=count, p=weights)
        listed = rng.integers(-60, 1, count) if initial else np.full(count, day)
        start = self.items.n
        it = self.items
        it.ids.extend(f"i{start + j:07d}" for j in range(count))
        it.merchant = np.concatenate([it.merchant, rng.integers(0, s.n_merchants, count)])
        it.category = np.concatenate([it.category, category])
        it.price = np.concatenate([it.price, price])
        it.listed_day = np.concatenate([it.listed_day, listed])
        it.stock = np.concatenate([it.stock, stock])
        it.authenticated = np.concatenate([it.authenticated, rng.random(count) < s.authenticated_share])

    def users_frame(self) -> pl.DataFrame:
        """The users contract frame."""
        u, s = self.users, self.scenario
        signup = [s.start - timedelta(days=int(a)) for a in u.account_age_days]
        opted = [s.start + timedelta(days=int(d)) if d >= 0 else None for d in u.opted_out_day]
        frame = pl.DataFrame(
            {
                "user_id": u.ids,
                "signup_ts": signup,
                "tz": u.tz,
                "consent_in_app": u.consent["in_app"],
                "consent_email": u.consent["email"],
                "consent_sms": u.consent["sms"],
                "opted_out_at": opted,
            },
            schema_overrides={"signup_ts": pl.Datetime("us"), "opted_out_at": pl.Datetime("us")},
        )
        frame = frame.with_columns(pl.col("signup_ts", "opted_out_at").dt.replace_time_zone("UTC"))
        return frame.select(USERS.names()).cast(dict(USERS))  # type: ignore[arg-type]

    def items_frame(self) -> pl.DataFrame:
        """The items contract frame, with stock as it stands now."""
        it, s = self.items, self.scenario
        frame = pl.DataFrame(
            {
                "item_id": it.ids,
                "merchant_id": [f"m{m:05d}" for m in it.merchant],
                "category": [self.category_names[c] for c in it.category],
                "price": it.price,
                "listed_at": [s.start + timedelta(days=int(d)) for d in it.listed_day],
                "stock": it.stock.astype(np.int32),
                "merchant_verified": self.merchant_verified[it.merchant],
                "merchant_rating": self.merchant_rating[it.merchant],
                "authenticated": it.authenticated,
            },
            schema_overrides={"listed_at": pl.Datetime("us")},
        )
        frame = frame.with_columns(pl.col("listed_at").dt.replace_time_zone("UTC"))
        return frame.cast(dict(ITEMS))  # type: ignore[arg-type]


def _make_users(s: Scenario, rng: np.random.Generator) -> Users:
    n = s.n_users
    age = rng.exponential(250.0, n).astype(int)
    new_account = np.exp(-age / 60.0)
    tz_index = rng.choice(len(TIME_ZONES), size=n, p=TZ_WEIGHTS)
    consent = {channel: rng.random(n) < share for channel, share in s.consent.items()}
    for channel in ("in_app", "email", "sms"):
        consent.setdefault(channel, np.zeros(n, dtype=bool))
    opted = np.where(rng.random(n) < s.opt_out_share, rng.integers(0, s.days, n), -1)
    return Users(
        n=n,
        ids=np.array([f"u{j:07d}" for j in range(n)]),
        price_sensitivity=rng.beta(1.2, 2.0, n),
        liquidity_constraint=rng.beta(1.0, 2.5, n),
        trust_concern=np.clip(rng.beta(1.2, 3.0, n) + 0.5 * new_account, 0.0, 1.0),
        baseline_logit=rng.normal(0.0, 0.6, n),
        activity=rng.gamma(2.0, s.sessions_per_day / 2.0, n),
        active_hour=np.clip(rng.normal(20.0, 2.5, n), 7, 23.9),
        usual_log_price=rng.normal(4.2, 0.6, n),
        tz_offset=np.array(list(TIME_ZONES.values()))[tz_index],
        tz=np.array(list(TIME_ZONES))[tz_index],
        account_age_days=age,
        mobile=rng.random(n) < 0.65,
        consent=consent,
        opted_out_day=opted,
        holdout=rng.random(n) < s.holdout_share,
        last_viewed=np.full(n, -1, dtype=np.int64),
    )


sigmoid = _sigmoid
