r"""The trigger engine's settings: five rules and the guardrails, a frozen, validated config loaded from YAML.

The shipped defaults live in ``policies/triggers/default.yaml``; a YAML file names only what it changes, and
a bad value fails with a message naming the field.

Examples
--------
>>> config = load_trigger_config()
>>> config.rules.behaviour.repeat_views, config.guardrails.quiet_hours.start
(3, 22)
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.yaml"
>>> _ = path.write_text("rules:\n  behaviour:\n    repeat_views: 0\n")
>>> load_trigger_config(path)
Traceback (most recent call last):
...
ValueError: trigger config t.yaml: rules.behaviour.repeat_views: Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.lifecycle import LifecycleThresholds
from features.schemas import CHANNELS, TRIGGER_KINDS

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleSettings(_Settings):
    """What every rule has: on or off, and when its message goes out relative to the moment."""

    enabled: bool = Field(True, description="whether the rule fires at all")
    send_delay_minutes: int = Field(0, ge=0, description="minutes from the moment to the send")
    at_best_hour: bool = Field(False, description="send at the user's best local hour (time rule) instead")


class BehaviourRule(RuleSettings):
    """Repeat views without a purchase, and abandoned carts."""

    repeat_views: int = Field(3, ge=1, description="views of the same item (or category) that fire")
    repeat_window_hours: float = Field(24.0, gt=0, description="within this many hours")
    repeat_by: Literal["item", "category"] = Field("item", description="count views per item or per category")
    cart_abandon_minutes: int = Field(60, ge=1, description="a cart add not bought for this long is abandoned")
    send_delay_minutes: int = 30


class InventoryRule(RuleSettings):
    """An item's stock falls to a threshold: the users who engaged with it recently hear of it."""

    low_stock_threshold: int = Field(1, ge=0, description="stock at or below which the item is low")
    lookback_hours: float = Field(168.0, gt=0, description="views, favourites or cart adds this recent count")
    max_users_per_item: int = Field(3, ge=1, description="the most recent engagers alerted per item at most")
    send_delay_minutes: int = 30


class TimeRule(RuleSettings):
    """A periodic reminder of the last item a recently active user viewed, sent at their best local hour."""

    cadence_days: int = Field(7, ge=1, description="a reminder per user every this many days")
    active_within_days: int = Field(10, ge=1, description="only users who viewed something this recently")
    fallback_hour: int = Field(19, ge=0, lt=24, description="local send hour of a user with no preferred hour")
    at_best_hour: bool = True


class SocialRule(RuleSettings):
    """A followed merchant lists something new; a favourited item gets cheaper."""

    new_listing: bool = Field(True, description="notify followers of a merchant's new listing")
    max_followers_per_listing: int = Field(30, ge=1, description="followers notified per new listing at most")
    price_drop: bool = Field(True, description="notify users who favourited an item when its price drops")
    price_drop_share: float = Field(0.1, gt=0, lt=1, description="relative drop in price that counts")
    favourite_lookback_days: int = Field(30, ge=1, description="favourites this recent count")
    at_best_hour: bool = True


class LifecycleRule(RuleSettings):
    """Stage transitions (onboarding, declining, lapsed) and churn risk above a threshold."""

    stages: LifecycleThresholds = Field(default_factory=LifecycleThresholds)
    transitions: tuple[Literal["onboarding", "declining", "lapsed"], ...] = Field(
        ("onboarding", "declining", "lapsed"), description="stage transitions that fire a moment"
    )
    churn_threshold: float = Field(0.6, gt=0, le=1, description="churn risk at or above which a user is at risk")
    churn_cadence_days: int = Field(7, ge=1, description="an at-risk user gets a moment every this many days")
    at_best_hour: bool = True


class Rules(_Settings):
    """The five trigger rules, each with its own settings."""

    behaviour: BehaviourRule = Field(default_factory=BehaviourRule)
    inventory: InventoryRule = Field(default_factory=InventoryRule)
    time: TimeRule = Field(default_factory=TimeRule)
    social: SocialRule = Field(default_factory=SocialRule)
    lifecycle: LifecycleRule = Field(default_factory=LifecycleRule)


class ChannelCap(_Settings):
    """How many messages one user may get on a channel."""

    per_day: int = Field(ge=0, description="per calendar day in the user's time zone")
    per_week: int = Field(ge=0, description="per rolling 7 days")


class QuietHours(_Settings):
    """Local hours in which nothing is sent; a send that falls inside waits until ``end``."""

    start: int = Field(22, ge=0, lt=24)
    end: int = Field(8, ge=0, lt=24)


class Cooldowns(_Settings):
    """How long a trigger, or an item, waits before it is the subject of another send to the same user."""

    per_trigger_hours: float = Field(72.0, ge=0, description="hours before the same trigger fires again for a user")
    per_item_hours: float = Field(168.0, ge=0, description="hours before the same item is the subject again")


def _default_caps() -> dict[str, ChannelCap]:
    return {
        "in_app": ChannelCap(per_day=1, per_week=3),
        "email": ChannelCap(per_day=1, per_week=3),
        "sms": ChannelCap(per_day=1, per_week=1),
    }


class GuardrailSettings(_Settings):
    """Consent, caps, quiet hours, cooldowns, idempotency, the global holdout and priority."""

    channels: tuple[str, ...] = Field(CHANNELS, description="channels in order of preference")
    caps: dict[str, ChannelCap] = Field(default_factory=_default_caps)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    cooldowns: Cooldowns = Field(default_factory=Cooldowns)
    holdout_share: float = Field(0.05, ge=0, lt=1, description="users kept from every message, by hashed id")
    holdout_salt: str = Field("offerlab-holdout", min_length=1, description="salt of the holdout hash")
    priority: tuple[str, ...] = Field(
        (
            "cart_abandon",
            "low_stock",
            "repeat_view",
            "price_drop",
            "new_listing",
            "churn_risk",
            "lapsed",
            "declining",
            "onboarding",
            "best_hour",
        ),
        description="when moments of one user collide, the earlier trigger in this list wins",
    )
    collision_hours: float = Field(24.0, gt=0, description="moments of a user this close in send time collide")

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown or not channels:
            raise ValueError(f"unknown channel(s) {unknown}; known: {list(CHANNELS)}")
        return channels

    @model_validator(mode="after")
    def _complete(self) -> GuardrailSettings:
        missing_caps = [c for c in self.channels if c not in self.caps]
        if missing_caps:
            raise ValueError(f"caps: no cap for channel(s) {missing_caps}")
        unknown = [t for t in self.priority if t not in TRIGGER_KINDS]
        missing = [t for t in TRIGGER_KINDS if t not in self.priority]
        if unknown or missing:
            raise ValueError(f"priority: unknown trigger(s) {unknown}, missing trigger(s) {missing}")
        return self


class TriggerConfig(_Settings):
    """The whole engine: rules, guardrails and the hour (UTC) at which daily rules are evaluated."""

    rules: Rules = Field(default_factory=Rules)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    tick_hour_utc: int = Field(0, ge=0, lt=24, description="daily rules (time, lifecycle) run at this UTC hour")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def _message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
    return f"{where}: {first['msg']}{got}" if where else f"{first['msg']}{got}"


def load_trigger_config(path: str | Path | None = None) -> TriggerConfig:
    """Load the shipped defaults, overridden by the YAML file at ``path``; ``ValueError`` names a bad field."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text()) or {}
    name = DEFAULT_CONFIG.name
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"trigger config {path} does not exist")
        override = yaml.safe_load(path.read_text()) or {}
        if not isinstance(override, dict):
            raise ValueError(f"trigger config {path.name}: expected a mapping at the top level")
        data, name = _merge(data, override), path.name
    try:
        return TriggerConfig(**data)
    except ValidationError as error:
        raise ValueError(f"trigger config {name}: {_message(error)}") from error
