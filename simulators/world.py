"""The simulated world: users with latent traits, merchants, and the catalogue.

Latent traits (price sensitivity, liquidity constraint, trust concern, baseline
propensity, activity, peak hour, churn hazard) are never shown to a policy; what
a policy sees is the observable history in :mod:`simulators.history`.

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import load_scenario
>>> world = World.create(load_scenario("default").with_size(n_users=100), np.random.default_rng(0))
>>> world.users.n, bool((world.items.stock >= 1).all())
(100, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from features.schemas import CHANNELS, ITEMS, USERS
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


def sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return the logistic function of ``x``, elementwise: ``1 / (1 + exp(-x))``, log-odds to probabilities.

    Examples
    --------
    >>> sigmoid(np.array([0.0, np.log(3.0)])).tolist()
    [0.5, 0.75]
    """
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Users:
    """Users' latent traits, observable attributes and dynamic state, one array entry per user."""

    n: int
    ids: np.ndarray
    price_sensitivity: np.ndarray
    liquidity_constraint: np.ndarray
    trust_concern: np.ndarray
    baseline_logit: np.ndarray
    activity: np.ndarray
    active_hour: np.ndarray
    usual_log_price: np.ndarray
    churn_hazard: np.ndarray
    tz_offset: np.ndarray
    tz: np.ndarray
    account_age_days: np.ndarray
    mobile: np.ndarray
    consent: dict[str, np.ndarray]  # state: revoked by unsubscribing
    opted_out_day: np.ndarray  # day from which the user is opted out of everything; -1 = never
    holdout: np.ndarray
    churned: np.ndarray  # state
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
        """Listings so far."""
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
    _listed: pl.DataFrame | None = None  # the items frame's fixed columns, built as listings arrive

    @classmethod
    def create(cls, scenario: Scenario, rng: np.random.Generator) -> World:
        """Draw the users, the merchants and the initial catalogue of ``scenario`` with ``rng``."""
        c = scenario.catalogue
        users = _make_users(scenario, rng)
        verified = rng.random(scenario.n_merchants) < c.merchant_verified_share
        rating = np.clip(np.where(verified, 4.5, 4.0) + rng.normal(0, 0.35, scenario.n_merchants), 1.0, 5.0).round(2)
        empty = Items([], *(np.empty(0, dtype=t) for t in (np.int64, np.int64, float, np.int64, np.int64, bool)))
        world = cls(scenario, users, verified, rating, empty, list(c.categories))
        world.list_items(scenario.n_items, day=0, rng=rng, initial=True)
        return world

    def list_items(self, count: int, day: int, rng: np.random.Generator, initial: bool = False) -> np.ndarray:
        """Add ``count`` listings on ``day`` (initial ones spread over the previous 60 days); return their indices."""
        c = self.scenario.catalogue
        shares = np.array([cat.share for cat in c.categories.values()])
        category = rng.choice(len(shares), size=count, p=shares / shares.sum())
        mean = np.array([cat.log_price_mean for cat in c.categories.values()])[category]
        sd = np.array([cat.log_price_sd for cat in c.categories.values()])[category]
        price = np.exp(rng.normal(mean, sd)).round(2).clip(1.0)
        weights = np.asarray(c.stock_weights) / np.sum(c.stock_weights)
        stock = 1 + rng.choice(len(weights), size=count, p=weights)
        listed = rng.integers(-60, 1, count) if initial else np.full(count, day)
        start = self.items.n
        it = self.items
        it.ids.extend(f"i{start + j:07d}" for j in range(count))
        it.merchant = np.concatenate([it.merchant, rng.integers(0, self.scenario.n_merchants, count)])
        it.category = np.concatenate([it.category, category])
        it.price = np.concatenate([it.price, price])
        it.listed_day = np.concatenate([it.listed_day, listed])
        it.stock = np.concatenate([it.stock, stock])
        it.authenticated = np.concatenate([it.authenticated, rng.random(count) < c.authenticated_share])
        return np.arange(start, start + count)

    def users_frame(self) -> pl.DataFrame:
        """Return the users contract frame (consent as it stands now: unsubscribes revoke it)."""
        u, s = self.users, self.scenario
        signup = [s.start - timedelta(days=int(a)) for a in u.account_age_days]
        opted = [s.start + timedelta(days=int(d)) if d >= 0 else None for d in u.opted_out_day]
        frame = pl.DataFrame(
            {
                "user_id": u.ids,
                "signup_ts": signup,
                "tz": u.tz,
                **{f"consent_{c}": u.consent[c] for c in CHANNELS},
                "opted_out_at": opted,
                "holdout": u.holdout,
            },
            schema_overrides={"signup_ts": pl.Datetime("us"), "opted_out_at": pl.Datetime("us")},
        )
        frame = frame.with_columns(pl.col("signup_ts", "opted_out_at").dt.replace_time_zone("UTC"))
        return frame.cast(USERS)

    def items_frame(self, since: int = 0) -> pl.DataFrame:
        """Return the items contract frame (of the listings from the ``since``-th on), with stock as it stands now.

        The listings' fixed attributes are built, in the contract's columns and types, once.
        """
        it, s = self.items, self.scenario
        known = self._listed.height if self._listed is not None else 0
        if known < it.n:
            new = slice(known, it.n)
            merchant = it.merchant[new]
            merchant_ids = pl.Series(merchant, dtype=pl.Int64).cast(pl.String).str.zfill(5).str.pad_start(6, "m")
            categories = np.array(self.category_names, dtype=object)[it.category[new]]
            start = pl.lit(s.start).dt.replace_time_zone("UTC")
            listed = pl.DataFrame(
                {
                    "item_id": it.ids[known:],
                    "merchant_id": merchant_ids,
                    "category": pl.Series(categories, dtype=pl.String),
                    "price": it.price[new],
                    "listed_at": pl.Series(it.listed_day[new], dtype=pl.Int64),
                    "merchant_verified": self.merchant_verified[merchant],
                    "merchant_rating": self.merchant_rating[merchant],
                    "authenticated": it.authenticated[new],
                }
            ).with_columns((start + pl.duration(days=pl.col("listed_at"))).alias("listed_at"), stock=pl.lit(0))
            listed = listed.select(ITEMS.names()).cast(ITEMS)
            self._listed = listed if self._listed is None else pl.concat([self._listed, listed])
        assert self._listed is not None
        return self._listed.slice(since).with_columns(pl.Series("stock", it.stock[since:], dtype=pl.Int32))


def _make_users(s: Scenario, rng: np.random.Generator) -> Users:
    n, p = s.n_users, s.population
    age = rng.exponential(p.mean_account_age_days, n).astype(np.int64)
    tz_index = rng.choice(len(TIME_ZONES), size=n, p=TZ_WEIGHTS)
    consent = {name: rng.random(n) < channel.consent_share for name, channel in s.messaging.channels.items()}
    for name in CHANNELS:
        consent.setdefault(name, np.zeros(n, dtype=bool))
    opted = np.where(rng.random(n) < s.messaging.opt_out_share, rng.integers(0, s.days, n), -1)
    shape, scale = s.lifecycle.churn_hazard
    return Users(
        n=n,
        ids=np.array([f"u{j:07d}" for j in range(n)]),
        price_sensitivity=rng.beta(*p.price_sensitivity, n),
        liquidity_constraint=rng.beta(*p.liquidity_constraint, n),
        trust_concern=np.clip(rng.beta(*p.trust_concern, n) + p.new_account_trust * np.exp(-age / 60.0), 0.0, 1.0),
        baseline_logit=rng.normal(0.0, p.baseline_logit_sd, n),
        activity=rng.gamma(p.activity_shape, p.sessions_per_day / p.activity_shape, n),
        active_hour=np.mod(rng.normal(p.active_hour_mean, p.active_hour_sd, n), 24.0),
        usual_log_price=rng.normal(p.usual_log_price_mean, p.usual_log_price_sd, n),
        churn_hazard=rng.gamma(shape, scale, n),
        tz_offset=np.array(list(TIME_ZONES.values()))[tz_index],
        tz=np.array(list(TIME_ZONES))[tz_index],
        account_age_days=age,
        mobile=rng.random(n) < p.mobile_share,
        consent=consent,
        opted_out_day=opted,
        holdout=rng.random(n) < s.holdout_share,
        churned=np.zeros(n, dtype=bool),
        last_viewed=np.full(n, -1, dtype=np.int64),
    )
