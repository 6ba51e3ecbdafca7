"""Scenario settings: a frozen, validated config loaded from YAML.

Every knob of the simulated marketplace lives here, with its meaning, so a
scenario file is the whole description of a world.

Examples
--------
>>> scenario = load_scenario("small")
>>> scenario.n_users, scenario.days
(2000, 14)
>>> scenario.model_copy(update={"n_users": 50}).n_users
50
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class Category(BaseModel):
    """A listing category: log-normal price (``log_price_mean``, ``log_price_sd``) and its share of listings."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    share: float = Field(gt=0)
    log_price_mean: float
    log_price_sd: float = Field(gt=0)


class OfferEffects(BaseModel):
    """How each offer moves the log-odds of conversion, and what it costs.

    Coupon lift scales with latent price sensitivity, installment lift with the
    liquidity constraint (above ``installment_price_floor`` only), badge lift with
    trust concern (doubled on unverified merchants' items).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    coupon_lift: float = 2.0
    coupon_discount: float = Field(0.10, ge=0, lt=1, description="share of price the platform pays on redemption")
    installment_lift: float = 2.2
    installment_fee_rate: float = Field(0.04, ge=0, lt=1, description="financing fee the platform pays, share of price")
    installment_price_floor: float = Field(150.0, ge=0)
    badge_lift: float = 1.4
    badge_cost: float = Field(1.5, ge=0, description="authentication cost per badge-assisted sale")


class Scenario(BaseModel):
    """A simulated marketplace: its size, its people, its catalogue, and how offers work in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    description: str = ""
    n_users: int = Field(2000, ge=1)
    days: int = Field(14, ge=1)
    start: datetime = datetime(2026, 1, 5)
    n_merchants: int = Field(200, ge=1)
    n_items: int = Field(4000, ge=1)
    new_items_per_day: int = Field(150, ge=0)
    merchant_verified_share: float = Field(0.6, ge=0, le=1)
    authenticated_share: float = Field(0.5, ge=0, le=1, description="share of listings the platform has authenticated")
    stock_weights: list[float] = Field(default=[0.6, 0.3, 0.1], description="P(stock = 1, 2, 3, ...) of a new listing")
    categories: dict[str, Category] = Field(
        default_factory=lambda: {
            "fashion": Category(share=0.45, log_price_mean=4.0, log_price_sd=0.7),
            "bags": Category(share=0.2, log_price_mean=5.3, log_price_sd=0.6),
            "electronics": Category(share=0.2, log_price_mean=5.0, log_price_sd=0.8),
            "home": Category(share=0.15, log_price_mean=3.7, log_price_sd=0.6),
        }
    )
    sessions_per_day: float = Field(
        0.45, gt=0, description="mean sessions per user per day (gamma-spread across users)"
    )
    views_per_session: float = Field(3.0, gt=0)
    revisit_share: float = Field(0.25, ge=0, le=1, description="chance a view returns to the item the user viewed last")
    cart_logit: float = Field(-2.3, description="base log-odds that a view becomes a cart add")
    buy_logit: float = Field(-1.2, description="base log-odds that a cart add is bought in the same session")
    price_elasticity: float = Field(1.2, ge=0, description="log-odds lost per unit log price above the user's usual")
    recovery_logit: float = Field(
        -2.6, description="base log-odds that an abandoned cart or repeat view converts unprompted"
    )
    take_rate: float = Field(0.15, gt=0, lt=1, description="platform's share of GMV")
    attribution_days: int = Field(7, ge=1)
    holdout_share: float = Field(0.05, ge=0, lt=1, description="users who never receive a message")
    consent: dict[str, float] = Field(default_factory=lambda: {"in_app": 0.9, "email": 0.7, "sms": 0.3})
    opt_out_share: float = Field(0.03, ge=0, le=1)
    offers: OfferEffects = OfferEffects()


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by name (a file in ``simulators/scenarios/``) or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no scenario {str(name_or_path)!r}; known: {known}")
    data = yaml.safe_load(path.read_text()) or {}
    try:
        return Scenario(**data)
    except ValidationError as error:
        raise ValueError(f"scenario {path.name}: {error}") from error
