"""The world's memory of each user: counters built from behaviour, which drive how the world responds.

The counters drive fatigue, follows and returns.

The history starts from a pre-period summary (the account's past, drawn from
the latent traits through the same mechanisms as simulated behaviour) and is
updated from every simulated event. Policies never see it: the platform computes its own features from the
events the world emits.

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> rng = np.random.default_rng(0)
>>> world = World.create(load_scenario("default").with_size(n_users=500), rng)
>>> history = History.prehistory(world, rng)
>>> rate = (history.coupon_redemptions + 0.5) / (history.coupon_offers + 2.0)
>>> bool(np.corrcoef(rate, world.users.price_sensitivity)[0, 1] > 0.3)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.world import World, sigmoid

WEEK = 7


def _flat(counts: np.ndarray) -> np.ndarray:
    """Return a flat view of a counts array, for ``np.add.at`` with flat indices: one call, not one per column.

    The array must be C-contiguous, so that the view is never a copy, which would lose the updates.
    """
    if not counts.flags.c_contiguous:
        raise ValueError("counts must be C-contiguous to be updated through a flat view")
    return counts.reshape(-1)


@dataclass
class History:
    """Per-user observable counters (arrays of length n_users) and the follow graph."""

    sessions: np.ndarray
    last_session_day: np.ndarray
    views: np.ndarray
    unverified_views: np.ndarray
    viewed_log_price_sum: np.ndarray
    purchases: np.ndarray
    bought_log_price_sum: np.ndarray
    coupon_offers: np.ndarray
    coupon_redemptions: np.ndarray
    installment_offers: np.ndarray
    installment_uses: np.ndarray
    hour_counts: np.ndarray  # (n, 24) sessions by local hour
    messages_by_day: np.ndarray  # (n, 7) ring buffer of messages sent, by day % 7
    decisions_by_day: np.ndarray  # (n, 7) ring buffer of decisions taken, by day % 7
    follow_keys: np.ndarray  # sorted user * n_merchants + merchant
    n_merchants: int

    @classmethod
    def prehistory(cls, world: World, rng: np.random.Generator) -> History:
        """Summaries of each account's past, drawn from its latent traits."""
        u, s = world.users, world.scenario
        n, days = u.n, s.population.prehistory_days
        tenure = np.minimum(u.account_age_days, days)
        sessions = rng.poisson(u.activity * tenure)
        views = rng.poisson(sessions * s.funnel.views_per_session)
        unverified_share = (1 - s.catalogue.merchant_verified_share) * (
            1 - s.funnel.trust_avoids_unverified * u.trust_concern
        )
        purchases = rng.poisson(sessions * 0.06 * np.exp(u.baseline_logit))
        viewed_mean = u.usual_log_price + rng.normal(0, 0.5, n) / np.sqrt(views + 1)
        bought_mean = u.usual_log_price - 0.6 * u.liquidity_constraint + rng.normal(0, 0.5, n) / np.sqrt(purchases + 1)
        coupon_offers = rng.poisson(3 * tenure / max(days, 1))
        installment_offers = rng.poisson(2 * tenure / max(days, 1))
        hours = np.mod(np.round(u.active_hour[:, None] + rng.normal(0, s.population.session_hour_sd, (n, 12))), 24)
        hour_counts = np.zeros((n, 24), dtype=np.int64)
        user, j = np.nonzero(np.minimum(sessions, 12)[:, None] > np.arange(12))  # each account's first 12 sessions
        np.add.at(_flat(hour_counts), user * 24 + hours[user, j].astype(np.int64), 1)
        since = np.where(sessions > 0, rng.geometric(np.clip(u.activity, 0.02, 1.0)), days + 1)
        return cls(
            sessions=sessions,
            last_session_day=-since,
            views=views,
            unverified_views=rng.binomial(views, np.clip(unverified_share, 0, 1)),
            viewed_log_price_sum=viewed_mean * views,
            purchases=purchases,
            bought_log_price_sum=bought_mean * purchases,
            coupon_offers=coupon_offers,
            coupon_redemptions=rng.binomial(coupon_offers, sigmoid(-2.2 + 3.0 * u.price_sensitivity)),
            installment_offers=installment_offers,
            installment_uses=rng.binomial(installment_offers, sigmoid(-2.4 + 3.0 * u.liquidity_constraint)),
            hour_counts=hour_counts,
            messages_by_day=np.zeros((n, WEEK), dtype=np.int64),
            decisions_by_day=np.zeros((n, WEEK), dtype=np.int64),
            follow_keys=np.empty(0, dtype=np.int64),
            n_merchants=s.n_merchants,
        )

    # --- updates -------------------------------------------------------------------------------------------------
    def start_day(self, day: int) -> None:
        """Clear the ring-buffer slot that today reuses."""
        self.messages_by_day[:, day % WEEK] = 0
        self.decisions_by_day[:, day % WEEK] = 0

    def record_sessions(self, users: np.ndarray, local_hour: np.ndarray, day: int) -> None:
        """Count each user's sessions of ``day``, by local hour, and mark the day as their last session's."""
        np.add.at(self.sessions, users, 1)
        np.add.at(_flat(self.hour_counts), users * 24 + np.floor(local_hour).astype(np.int64) % 24, 1)
        self.last_session_day[users] = day

    def record_views(self, users: np.ndarray, log_price: np.ndarray, unverified: np.ndarray) -> None:
        """Count views, those of unverified merchants' items, and the viewed log prices."""
        np.add.at(self.views, users, 1)
        np.add.at(self.unverified_views, users, unverified.astype(np.int64))
        np.add.at(self.viewed_log_price_sum, users, log_price)

    def record_purchases(self, users: np.ndarray, log_price: np.ndarray) -> None:
        """Count purchases and their log prices."""
        np.add.at(self.purchases, users, 1)
        np.add.at(self.bought_log_price_sum, users, log_price)

    def record_follows(self, users: np.ndarray, merchants: np.ndarray) -> None:
        """Add the follows to the sorted keys: the new ones inserted in place (no sort of all the keys)."""
        keys = np.unique(users.astype(np.int64) * self.n_merchants + merchants)
        fresh = keys[~self._known(keys)]
        self.follow_keys = np.insert(self.follow_keys, np.searchsorted(self.follow_keys, fresh), fresh)

    def record_decisions(self, users: np.ndarray, day: int, messaged: np.ndarray) -> None:
        """Count ``day``'s decisions per user, and the messages among them, in the ring buffers."""
        np.add.at(self.decisions_by_day[:, day % WEEK], users, 1)
        np.add.at(self.messages_by_day[:, day % WEEK], users[messaged], 1)

    def record_offers(self, users: np.ndarray, action: np.ndarray, redeemed: np.ndarray) -> None:
        """Offers shown (opened) and redeemed: action 1 coupon, 2 installment."""
        for offered, used, code in (
            (self.coupon_offers, self.coupon_redemptions, 1),
            (self.installment_offers, self.installment_uses, 2),
        ):
            mask = action == code
            np.add.at(offered, users[mask], 1)
            np.add.at(used, users[mask & redeemed], 1)

    # --- observables ---------------------------------------------------------------------------------------------
    def follows(self, users: np.ndarray, merchants: np.ndarray) -> np.ndarray:
        """Return whether each user follows the merchant beside it."""
        return self._known(users.astype(np.int64) * self.n_merchants + merchants)

    def _known(self, keys: np.ndarray) -> np.ndarray:
        """Which follow keys are recorded (found by binary search: the keys are kept sorted)."""
        known = self.follow_keys
        if not len(known):
            return np.zeros(len(keys), dtype=bool)
        found: npt.NDArray[np.bool_] = known[np.searchsorted(known, keys).clip(max=len(known) - 1)] == keys
        return found

    def followers_of(self, merchants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(index into merchants, follower user)`` pairs."""
        follow_merchant = self.follow_keys % self.n_merchants
        follow_user = self.follow_keys // self.n_merchants
        order = np.argsort(follow_merchant, kind="stable")
        sorted_merchant = follow_merchant[order]
        lo = np.searchsorted(sorted_merchant, merchants, side="left")
        hi = np.searchsorted(sorted_merchant, merchants, side="right")
        counts = hi - lo
        which = np.repeat(np.arange(len(merchants)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return which, follow_user[order][np.repeat(lo, counts) + offsets]

    def messages_7d(self) -> np.ndarray:
        """Return each user's messages over the last seven days (the ring buffer's sum)."""
        sent: npt.NDArray[np.int64] = self.messages_by_day.sum(axis=1)
        return sent

    def days_inactive(self, day: int) -> np.ndarray:
        """Return each user's days since their last session, as of ``day``."""
        return day - self.last_session_day
