"""Scenario settings: a frozen, validated config loaded from YAML.

Every knob of the simulated marketplace lives here, grouped by what it governs,
with its meaning beside it, so a scenario file is the whole description of a
world. A scenario file sets only what differs from these defaults (the
``default`` scenario is calibrated: see ``offerlab simulate --report``).

Examples
--------
>>> scenario = load_scenario("default")
>>> scenario.n_users, scenario.days
(20000, 30)
>>> scenario.with_size(n_users=50).n_users
50
>>> load_scenario("default").with_size(n_users=0)
Traceback (most recent call last):
...
ValueError: scenario default: n_users: Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Category(_Settings):
    """A listing category: log-normal price and its share of listings."""

    share: float = Field(gt=0, description="share of new listings in this category")
    log_price_mean: float = Field(description="mean of log price")
    log_price_sd: float = Field(gt=0, description="sd of log price")


def _categories() -> dict[str, Category]:
    return {
        "fashion": Category(share=0.45, log_price_mean=4.0, log_price_sd=0.7),
        "bags": Category(share=0.2, log_price_mean=5.4, log_price_sd=0.6),
        "electronics": Category(share=0.2, log_price_mean=5.1, log_price_sd=0.8),
        "home": Category(share=0.15, log_price_mean=3.7, log_price_sd=0.6),
    }


class Catalogue(_Settings):
    """Merchants (consignors) and their listings."""

    users_per_merchant: float = Field(50.0, gt=0, description="scales the number of merchants with the users")
    items_per_user: float = Field(2.0, gt=0, description="listings on sale at the start, per user")
    new_items_per_day: float = Field(0.012, ge=0, description="new listings per day, as a share of those at the start")
    merchant_verified_share: float = Field(0.6, ge=0, le=1)
    authenticated_share: float = Field(0.5, ge=0, le=1, description="share of listings the platform authenticated")
    stock_weights: list[float] = Field(default=[0.6, 0.3, 0.1], description="P(stock = 1, 2, 3, ...) of a listing")
    categories: dict[str, Category] = Field(default_factory=_categories)


class Population(_Settings):
    """Users' latent traits (never shown to a policy) and observable attributes."""

    price_sensitivity: tuple[float, float] = Field((1.2, 2.0), description="beta(a, b) of latent price sensitivity")
    liquidity_constraint: tuple[float, float] = Field((1.0, 2.5), description="beta(a, b) of liquidity constraint")
    trust_concern: tuple[float, float] = Field((1.2, 3.0), description="beta(a, b) of trust concern")
    new_account_trust: float = Field(
        0.5, ge=0, description="extra trust concern of a brand-new account (decays in 60 days)"
    )
    baseline_logit_sd: float = Field(0.6, ge=0, description="spread of users' baseline purchase propensity (log-odds)")
    mean_account_age_days: float = Field(250.0, gt=0, description="exponential mean of account age at the start")
    sessions_per_day: float = Field(0.4, gt=0, description="mean sessions per active user per day")
    activity_shape: float = Field(2.0, gt=0, description="gamma shape of activity across users (small: heavy users)")
    active_hour_mean: float = Field(20.0, ge=0, lt=24, description="mean local hour of a user's activity peak")
    active_hour_sd: float = Field(2.5, ge=0, description="spread of users' peak hours")
    session_hour_sd: float = Field(2.5, gt=0, description="spread of one user's sessions around their peak")
    mobile_share: float = Field(0.65, ge=0, le=1)
    usual_log_price_mean: float = Field(4.3, description="mean of users' usual log price")
    usual_log_price_sd: float = Field(0.6, ge=0)
    prehistory_days: int = Field(
        90, ge=0, description="days of behaviour summarised in the observable history at the start"
    )


class Funnel(_Settings):
    """The view → favourite → cart → checkout → purchase funnel, in log-odds."""

    views_per_session: float = Field(3.0, ge=1)
    revisit_share: float = Field(0.25, ge=0, le=1, description="chance a view returns to the item the user viewed last")
    trust_avoids_unverified: float = Field(
        0.8, ge=0, le=1, description="how strongly trust concern steers views to verified merchants"
    )
    favourite_logit: float = Field(-2.5)
    cart_logit: float = Field(-2.3)
    buy_logit: float = Field(-1.2, description="log-odds that a cart add is bought in the same session")
    price_elasticity: float = Field(1.2, ge=0, description="log-odds lost per unit log price above the user's usual")
    follow_logit: float = Field(
        -3.0, description="log-odds that a purchase or favourite leads to following the merchant"
    )
    follower_lift: float = Field(0.8, ge=0, description="log-odds gained on items of a merchant the user follows")


class Lifecycle(_Settings):
    """Churn: inactivity raises the hazard; churned users stop coming unless won back."""

    churn_hazard: tuple[float, float] = Field(
        (2.0, 0.004), description="gamma(shape, scale) of daily base churn hazard"
    )
    inactivity_hazard: float = Field(0.05, ge=0, description="relative rise of the hazard per inactive day")
    winback_return: float = Field(
        0.25, ge=0, le=1, description="chance an opened retention message brings a lapsed user back"
    )


class ChannelSettings(_Settings):
    """One channel: how often messages are opened and how much they tire."""

    consent_share: float = Field(ge=0, le=1)
    open_logit: float = Field(description="log-odds of opening a message sent at a neutral hour, unfatigued")
    unsubscribe_logit: float = Field(-6.0, description="log-odds of unsubscribing on one message, unfatigued")


def _channels() -> dict[str, ChannelSettings]:
    return {
        "in_app": ChannelSettings(consent_share=0.9, open_logit=0.0, unsubscribe_logit=-7.0),
        "email": ChannelSettings(consent_share=0.7, open_logit=-1.8, unsubscribe_logit=-6.0),
        "sms": ChannelSettings(consent_share=0.3, open_logit=0.8, unsubscribe_logit=-5.0),
    }


class Messaging(_Settings):
    """Channels, timing, fatigue and the guardrails of the built-in trigger engine."""

    channels: dict[str, ChannelSettings] = Field(default_factory=_channels)
    hour_fit_lift: float = Field(1.0, ge=0, description="open log-odds gained when sent at the user's peak hour")
    hour_fit_width: float = Field(2.5, gt=0, description="hours from the peak at which that gain has fallen to 61%")
    fatigue_open: float = Field(0.35, ge=0, description="open log-odds lost per message in the last 7 days")
    fatigue_unsubscribe: float = Field(
        0.5, ge=0, description="unsubscribe log-odds gained per message in the last 7 days"
    )
    message_lift: float = Field(0.6, ge=0, description="purchase log-odds gained by an opened reminder, offer or not")
    opt_out_share: float = Field(0.03, ge=0, le=1, description="users who opt out of all messaging at some point")


class Triggers(_Settings):
    """How likely a moment of each trigger kind converts unprompted (log-odds).

    When moments fire is the platform's trigger engine's business (policies/triggers/default.yaml), not the world's.
    """

    behaviour_logit: float = Field(-4.0, description="abandoned cart / repeat view converts unprompted")
    cart_abandon_bonus: float = Field(0.8, description="extra log-odds of an abandoned cart over a repeat view")
    inventory_logit: float = Field(-4.0)
    time_logit: float = Field(-5.4)
    social_logit: float = Field(-5.0, description="a followed merchant's new listing converts unprompted")
    lifecycle_logit: float = Field(-5.2, description="a lapsing user buys unprompted")
    blast_logit: float = Field(-4.6, description="an untriggered mass promotion converts unprompted (calibration only)")


class OfferEffects(_Settings):
    """How each offer moves the log-odds of conversion, once its message is opened, and what it costs.

    Coupon lift scales with latent price sensitivity, installment lift with the
    liquidity constraint (above the price floor only), badge lift with trust
    concern (stronger on unverified merchants' items).
    """

    coupon_lift: float = 3.0
    coupon_discount: float = Field(0.10, ge=0, lt=1, description="share of price the platform pays on redemption")
    installment_lift: float = 3.0
    installment_fee_rate: float = Field(0.04, ge=0, lt=1, description="financing fee the platform pays, share of price")
    installment_price_floor: float = Field(150.0, ge=0)
    badge_lift: float = 2.2
    badge_unverified_factor: float = Field(1.6, ge=0, description="badge lift multiplier on unverified merchants")
    badge_verified_factor: float = Field(0.4, ge=0, description="badge lift multiplier on verified merchants")
    badge_cost: float = Field(2.5, ge=0, description="authentication cost per badge-assisted sale")


class Scenario(_Settings):
    """A simulated marketplace: its size, its people, its catalogue, and how triggers and offers work in it."""

    name: str
    description: str = ""
    n_users: int = Field(20000, ge=1)
    days: int = Field(30, ge=1)
    start: datetime = datetime(2026, 3, 2)
    take_rate: float = Field(0.15, gt=0, lt=1, description="platform's share of GMV")
    attribution_days: int = Field(7, ge=1, description="a purchase this long after a message is attributed to it")
    holdout_share: float = Field(0.05, ge=0, lt=1, description="users who never receive a message")
    warmup_days: int = Field(
        14, ge=0, le=90, description="days of organic behaviour before the first decision: the platform's past"
    )
    catalogue: Catalogue = Catalogue()
    population: Population = Population()
    funnel: Funnel = Funnel()
    lifecycle: Lifecycle = Lifecycle()
    messaging: Messaging = Messaging()
    triggers: Triggers = Triggers()
    offers: OfferEffects = OfferEffects()

    @property
    def n_merchants(self) -> int:
        """Merchants in the world: one per ``catalogue.users_per_merchant`` users, at least one."""
        return max(1, round(self.n_users / self.catalogue.users_per_merchant))

    @property
    def n_items(self) -> int:
        """Listings on sale at the start."""
        return max(10, round(self.n_users * self.catalogue.items_per_user))

    def with_size(self, n_users: int | None = None, days: int | None = None) -> Scenario:
        """Return the same world with another number of users or days (validated)."""
        updates: dict[str, Any] = {k: v for k, v in {"n_users": n_users, "days": days}.items() if v is not None}
        return _validated(self.name, {**self.model_dump(), **updates})


def _validated(name: str, data: dict[str, Any]) -> Scenario:
    try:
        return Scenario(**data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ValueError(f"scenario {name}: {problems}") from error


def scenario_names() -> list[str]:
    """Return the names of the scenarios shipped in ``simulators/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by name (a file in ``simulators/scenarios/``) or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {str(name_or_path)!r}; known: {scenario_names()}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"scenario {path.name}: expected a mapping of settings, got {type(data).__name__}")
    return _validated(path.stem, data)
