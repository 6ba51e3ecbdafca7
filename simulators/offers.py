"""How offers work in the simulated world: eligibility, what a policy sees, and the true response.

The response model is the simulator's secret: a policy sees only
:func:`context_features`, while :func:`conversion_probabilities` uses the latent
traits. Expected reward of action *a* is ``P(convert | a) × (take_rate × price − cost_a)``.

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> world = World.create(load_scenario("small").model_copy(update={"n_users": 50}), np.random.default_rng(0))
>>> users, items = np.array([0, 1]), np.array([0, 1])
>>> eligible_actions(world, items).shape
(2, 4)
>>> q = expected_rewards(world, users, items, np.array(["cart_abandon", "repeat_view"], dtype=object))
>>> bool(np.isnan(q[~eligible_actions(world, items)]).all())
True
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.schemas import ACTIONS
from simulators.world import World, sigmoid

NO_OFFER, COUPON, INSTALLMENT, TRUST_BADGE = range(4)
assert ACTIONS == ("no_offer", "coupon", "installment", "trust_badge")

#: The channels tried in order of preference; a user is reached on the first one consented to.
CHANNEL_ORDER = ("in_app", "email", "sms")


def eligible_actions(world: World, items: np.ndarray) -> np.ndarray:
    """``(n, 4)`` mask: installments above the price floor, the trust badge on authenticated items only."""
    offers = world.scenario.offers
    mask = np.ones((len(items), len(ACTIONS)), dtype=bool)
    mask[:, INSTALLMENT] = world.items.price[items] >= offers.installment_price_floor
    mask[:, TRUST_BADGE] = world.items.authenticated[items]
    return mask


def conversion_probabilities(world: World, users: np.ndarray, items: np.ndarray, trigger: np.ndarray) -> np.ndarray:
    """``(n, 4)`` true probability of a purchase inside the attribution window under each action."""
    s, u, it = world.scenario, world.users, world.items
    log_gap = np.log(it.price[items]) - u.usual_log_price[users]
    base = s.recovery_logit + u.baseline_logit[users] - s.price_elasticity * log_gap
    base = base + np.where(trigger == "cart_abandon", 0.6, 0.0)
    unverified = ~world.merchant_verified[it.merchant[items]]
    lifts = np.zeros((len(users), len(ACTIONS)))
    lifts[:, COUPON] = s.offers.coupon_lift * u.price_sensitivity[users]
    lifts[:, INSTALLMENT] = s.offers.installment_lift * u.liquidity_constraint[users]
    lifts[:, TRUST_BADGE] = s.offers.badge_lift * u.trust_concern[users] * np.where(unverified, 1.5, 0.6)
    return sigmoid(base[:, None] + lifts)


def offer_costs(world: World, items: np.ndarray) -> np.ndarray:
    """``(n, 4)`` cost to the platform of each action if the sale happens."""
    offers = world.scenario.offers
    price = world.items.price[items]
    costs = np.zeros((len(items), len(ACTIONS)))
    costs[:, COUPON] = offers.coupon_discount * price
    costs[:, INSTALLMENT] = offers.installment_fee_rate * price
    costs[:, TRUST_BADGE] = offers.badge_cost
    return costs


def expected_rewards(world: World, users: np.ndarray, items: np.ndarray, trigger: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ground truth: expected net contribution of each action, NaN where ineligible."""
    price = world.items.price[items]
    margin = world.scenario.take_rate * price[:, None] - offer_costs(world, items)
    q = conversion_probabilities(world, users, items, trigger) * margin
    return np.where(eligible_actions(world, items), q, np.nan)


def observed_signals(world: World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-user noisy observable proxies of the latent traits, drawn once per run."""
    u = world.users
    return {
        "coupon_use_rate": np.clip(u.price_sensitivity + rng.normal(0, 0.15, u.n), 0, 1).round(3),
        "installment_use_rate": np.clip(u.liquidity_constraint + rng.normal(0, 0.15, u.n), 0, 1).round(3),
        "unverified_view_share": np.clip(0.6 - 0.5 * u.trust_concern + rng.normal(0, 0.1, u.n), 0, 1).round(3),
        "usual_price": np.exp(u.usual_log_price + rng.normal(0, 0.15, u.n)).round(2),
    }


def context_features(
    world: World,
    signals: dict[str, np.ndarray],
    users: np.ndarray,
    items: np.ndarray,
    trigger: np.ndarray,
    channel: np.ndarray,
    local_hour: np.ndarray,
    day: int,
) -> pl.DataFrame:
    """What a policy may see at a trigger moment: observable user, item and context features."""
    u, it = world.users, world.items
    price = it.price[items]
    return pl.DataFrame(
        {
            "trigger": trigger.astype(str),
            "channel": channel.astype(str),
            "local_hour": local_hour.astype(np.int64),
            "account_age_days": (u.account_age_days[users] + day).astype(np.int64),
            "mobile": u.mobile[users],
            "coupon_use_rate": signals["coupon_use_rate"][users],
            "installment_use_rate": signals["installment_use_rate"][users],
            "unverified_view_share": signals["unverified_view_share"][users],
            "category": np.array(world.category_names, dtype=object)[it.category[items]].astype(str),
            "price": price,
            "log_price_vs_usual": np.log(price / signals["usual_price"][users]).round(4),
            "merchant_verified": world.merchant_verified[it.merchant[items]],
            "merchant_rating": world.merchant_rating[it.merchant[items]],
            "authenticated": it.authenticated[items],
        }
    )


def reachable_channel(world: World, users: np.ndarray, day: int) -> np.ndarray:
    """The channel each user can be messaged on today, or ``None``: holdout, opted out or no consent."""
    u = world.users
    channel = np.full(len(users), None, dtype=object)
    for name in reversed(CHANNEL_ORDER):
        channel[u.consent[name][users]] = name
    blocked = u.holdout[users] | ((u.opted_out_day[users] >= 0) & (u.opted_out_day[users] <= day))
    channel[blocked] = None
    return channel
