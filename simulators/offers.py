"""How offers work in the simulated world: eligibility, what a policy sees, and the true response.

The response model is the simulator's secret: a policy sees only the platform's context
(:mod:`features.pipelines.context`, built from the events), while :func:`respond` uses the latent traits.

A message carries the offer; ``no_offer`` sends nothing (the control). If the
message is opened (channel, hour and fatigue decide), the reminder and the offer
lift the log-odds of a purchase inside the attribution window; if not, the user
buys or not as they would have. So the expected reward of action *a* is

    q(a) = P(open) · P(buy | opened, a) · (take_rate · price − cost_a)
           + (1 − P(open)) · P(buy | no message) · take_rate · price,

and ``q(no_offer) = P(buy | no message) · take_rate · price``.

Examples
--------
>>> import numpy as np
>>> from simulators.history import History
>>> from simulators.scenario import load_scenario
>>> from simulators.world import World
>>> rng = np.random.default_rng(0)
>>> world = World.create(load_scenario("default").with_size(n_users=50), rng)
>>> history = History.prehistory(world, rng)
>>> users, items = np.array([0, 1]), np.array([0, 1])
>>> triggers = np.array(["cart_abandon", "lapsed"], dtype=object)
>>> channels = np.array(["in_app", "email"], dtype=object)
>>> response = respond(world, history, users, items, triggers, channels, np.array([20.0, 9.0]))
>>> q = response.expected_rewards()
>>> bool(np.isnan(q[~eligible_actions(world, items)]).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.schemas import ACTIONS, TRIGGER_KINDS
from simulators.channels import open_probability
from simulators.history import History
from simulators.world import World, sigmoid

NO_OFFER, COUPON, INSTALLMENT, TRUST_BADGE = range(4)
assert ACTIONS == ("no_offer", "coupon", "installment", "trust_badge")


def eligible_actions(world: World, items: np.ndarray) -> np.ndarray:
    """``(n, 4)`` mask: installments above the price floor, the trust badge on authenticated items only."""
    offers = world.scenario.offers
    mask = np.ones((len(items), len(ACTIONS)), dtype=bool)
    mask[:, INSTALLMENT] = world.items.price[items] >= offers.installment_price_floor
    mask[:, TRUST_BADGE] = world.items.authenticated[items]
    return mask


def offer_costs(world: World, items: np.ndarray) -> np.ndarray:
    """``(n, 4)`` cost to the platform of each action if its offer is redeemed."""
    offers = world.scenario.offers
    price = world.items.price[items]
    costs = np.zeros((len(items), len(ACTIONS)))
    costs[:, COUPON] = offers.coupon_discount * price
    costs[:, INSTALLMENT] = offers.installment_fee_rate * price
    costs[:, TRUST_BADGE] = offers.badge_cost
    return costs


def unprompted_logit(
    world: World, history: History, users: np.ndarray, items: np.ndarray, trigger: np.ndarray
) -> np.ndarray:
    """Log-odds that the moment converts with no message: trigger kind, propensity, price, following."""
    s, u, t = world.scenario, world.users, world.scenario.triggers
    kind_logit = {
        "behaviour": t.behaviour_logit,
        "inventory": t.inventory_logit,
        "social": t.social_logit,
        "lifecycle": t.lifecycle_logit,
        "time": t.time_logit,
        "blast": t.blast_logit,
    }
    logit_of = {name: kind_logit[kind] for name, kind in TRIGGER_KINDS.items()}
    base = np.array([logit_of.get(k, t.blast_logit) for k in trigger], dtype=float)
    base += np.where(trigger == "cart_abandon", t.cart_abandon_bonus, 0.0)
    log_gap = np.log(world.items.price[items]) - u.usual_log_price[users]
    follows = history.follows(users, world.items.merchant[items])
    logit: npt.NDArray[np.float64] = (
        base + u.baseline_logit[users] - s.funnel.price_elasticity * log_gap + s.funnel.follower_lift * follows
    )
    return logit


def offer_lifts(world: World, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``(n, 4)`` log-odds each offer adds once its message is opened (beyond the reminder itself)."""
    o, u = world.scenario.offers, world.users
    unverified = ~world.merchant_verified[world.items.merchant[items]]
    lifts = np.zeros((len(users), len(ACTIONS)))
    lifts[:, COUPON] = o.coupon_lift * u.price_sensitivity[users]
    lifts[:, INSTALLMENT] = o.installment_lift * u.liquidity_constraint[users]
    factor = np.where(unverified, o.badge_unverified_factor, o.badge_verified_factor)
    lifts[:, TRUST_BADGE] = o.badge_lift * u.trust_concern[users] * factor
    return lifts


@dataclass(frozen=True)
class Response:
    """The true response of a batch of moments to each action."""

    p_open: np.ndarray  # (n,) if a message is sent
    p_unprompted: np.ndarray  # (n,) P(buy) without a message (or unopened)
    p_opened: np.ndarray  # (n, 4) P(buy) once a message with that offer is opened (column 0 unused)
    margin: np.ndarray  # (n, 4) take_rate * price - cost of the action (column 0: no cost)
    eligible: np.ndarray  # (n, 4)

    def conversion(self) -> np.ndarray:
        """``(n, 4)`` P(buy within the window) under each action."""
        p: npt.NDArray[np.float64] = (
            self.p_open[:, None] * self.p_opened + (1 - self.p_open[:, None]) * self.p_unprompted[:, None]
        )
        p[:, NO_OFFER] = self.p_unprompted
        return p

    def expected_rewards(self) -> np.ndarray:
        """``(n, 4)`` ground truth: expected net contribution of each action, NaN where ineligible."""
        organic = self.p_unprompted * self.margin[:, NO_OFFER]
        q = self.p_open[:, None] * self.p_opened * self.margin + (1 - self.p_open[:, None]) * organic[:, None]
        q[:, NO_OFFER] = organic
        return np.where(self.eligible, q, np.nan)


def respond(
    world: World,
    history: History,
    users: np.ndarray,
    items: np.ndarray,
    trigger: np.ndarray,
    channel: np.ndarray,
    send_hour: np.ndarray,
) -> Response:
    """Return the true response of moments (user, item, trigger, channel, local send hour) to every action."""
    base = unprompted_logit(world, history, users, items, trigger)
    lift = world.scenario.messaging.message_lift + offer_lifts(world, users, items)
    price = world.items.price[items]
    margin = world.scenario.take_rate * price[:, None] - offer_costs(world, items)
    p_open = open_probability(world, users, channel, send_hour, history.messages_7d()[users])
    return Response(p_open, sigmoid(base), sigmoid(base[:, None] + lift), margin, eligible_actions(world, items))
