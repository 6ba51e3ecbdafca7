"""The data contracts between offerlab's parts, as polars schemas.

Every frame that crosses a boundary (a file read, a CLI input, an HTTP input) is
checked against one of these with :func:`features.validation.validate`.

Examples
--------
>>> from features.schemas import ACTIONS, EVENTS
>>> ACTIONS
('no_offer', 'coupon', 'installment', 'trust_badge')
>>> EVENTS["user_id"]
String
"""

from __future__ import annotations

from typing import Any

import polars as pl

#: The offers a policy chooses between, in their canonical order. ``no_offer`` is the control.
ACTIONS: tuple[str, ...] = ("no_offer", "coupon", "installment", "trust_badge")

EVENT_TYPES: tuple[str, ...] = (
    "session_start",
    "view",
    "favorite",
    "cart_add",
    "cart_remove",
    "checkout_start",
    "purchase",
    "follow_merchant",
    "unfollow_merchant",
    "offer_sent",
    "offer_opened",
    "offer_clicked",
    "offer_redeemed",
    "unsubscribe",
)

CHANNELS: tuple[str, ...] = ("in_app", "email", "sms")

#: Every trigger (a kind's sub-type) and its kind: the one map that simulation, training and serving share.
TRIGGER_KINDS: dict[str, str] = {
    "repeat_view": "behaviour",
    "cart_abandon": "behaviour",
    "low_stock": "inventory",
    "best_hour": "time",
    "new_listing": "social",
    "price_drop": "social",
    "onboarding": "lifecycle",
    "declining": "lifecycle",
    "lapsed": "lifecycle",
    "churn_risk": "lifecycle",
}
#: The five trigger kinds.
TRIGGER_KIND_NAMES: tuple[str, ...] = ("behaviour", "inventory", "time", "social", "lifecycle")

UTC_TS = pl.Datetime("us", "UTC")


def schema_of(columns: dict[str, Any]) -> pl.Schema:
    """Build a polars schema from a mapping of column names to dtypes (typed loosely for mixed dtype objects)."""
    return pl.Schema(columns)


EVENTS = schema_of(
    {
        "event_id": pl.String,
        "ts": UTC_TS,
        "user_id": pl.String,
        "type": pl.String,
        "item_id": pl.String,
        "merchant_id": pl.String,
        "price": pl.Float64,
        "quantity": pl.Int32,
        "channel": pl.String,
        "offer": pl.String,
    }
)

ITEMS = schema_of(
    {
        "item_id": pl.String,
        "merchant_id": pl.String,
        "category": pl.String,
        "price": pl.Float64,
        "listed_at": UTC_TS,
        "stock": pl.Int32,
        "merchant_verified": pl.Boolean,
        "merchant_rating": pl.Float64,
        "authenticated": pl.Boolean,
    }
)

USERS = schema_of(
    {
        "user_id": pl.String,
        "signup_ts": UTC_TS,
        "tz": pl.String,
        "consent_in_app": pl.Boolean,
        "consent_email": pl.Boolean,
        "consent_sms": pl.Boolean,
        "opted_out_at": UTC_TS,
    }
)

#: The decision log (logged bandit feedback). Context feature columns sit beside these.
DECISIONS = schema_of(
    {
        "decision_id": pl.String,
        "ts": UTC_TS,
        "user_id": pl.String,
        "trigger": pl.String,
        "actions": pl.List(pl.String),
        "action": pl.String,
        "propensity": pl.Float64,
        "probabilities": pl.List(pl.Float64),
        "policy_version": pl.String,
        "channel": pl.String,
        "send_at": UTC_TS,
    }
)

OUTCOMES = schema_of(
    {
        "decision_id": pl.String,
        "converted": pl.Boolean,
        "revenue": pl.Float64,
        "offer_cost": pl.Float64,
        "reward": pl.Float64,
    }
)

#: Trigger moments: when offerlab may speak to a user, why, and when a message would go out. ``moment_id`` is
#: the idempotency key (the rule and the key of the event or tick that fired it): replaying the same events
#: yields the same ids, and guardrails let an id through once.
MOMENTS = schema_of(
    {
        "moment_id": pl.String,
        "ts": UTC_TS,
        "user_id": pl.String,
        "item_id": pl.String,
        "trigger": pl.String,
        "trigger_kind": pl.String,
        "send_at": UTC_TS,
        "reason": pl.String,
    }
)

#: Moments that passed the guardrails: the channel chosen and the send time after quiet hours.
DECIDABLE_MOMENTS = schema_of({**MOMENTS, "channel": pl.String})

#: Moments a guardrail stopped: which guardrail and why, in words.
SUPPRESSIONS = schema_of({**MOMENTS, "channel": pl.String, "suppressed_by": pl.String, "why": pl.String})

#: Simulator-only: the expected reward of every action (null where ineligible).
TRUTH = schema_of({"decision_id": pl.String, **{f"q_{a}": pl.Float64 for a in ACTIONS}})
#: Simulator-only facts per decision beside the truth (see :mod:`simulators.truth`); never context features.
TRUTH_FACTS: tuple[str, ...] = ("in_stock", "deliverable")

#: The minimal logged feedback that off-policy evaluation reads; features sit beside it.
BANDIT_LOG = schema_of({"action": pl.String, "reward": pl.Float64, "propensity": pl.Float64})

#: Columns of a decision log or bandit log that are bookkeeping, not context features.
#: Outcome columns beyond the contract that a delivery log may carry (whether the message was opened, whether a
#: lapsing user came back); like every outcome they are never context features.
DELIVERY_OUTCOMES: tuple[str, ...] = ("opened", "returned", "delivered")

#: What the endpoint's decision log adds beside the DECISIONS columns when a challenger is loaded
#: (:meth:`policies.serving.live_models.Assignment.log_fields`): bookkeeping, never a feature.
SERVING_ARM_FIELDS: tuple[str, ...] = ("arm", "shadow_policy_version", "shadow_probabilities")
NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    set(DECISIONS)
    | set(SERVING_ARM_FIELDS)
    | set(OUTCOMES)
    | set(DELIVERY_OUTCOMES)
    | set(TRUTH_FACTS)
    | {"item_id", "merchant_id", "moment_id", "reason"}
) - {"trigger", "channel"}

#: Id columns per contract that must be present, non-null and unique.
UNIQUE_IDS: dict[str, str] = {
    "events": "event_id",
    "items": "item_id",
    "users": "user_id",
    "decisions": "decision_id",
    "outcomes": "decision_id",
    "truth": "decision_id",
    "moments": "moment_id",
}

CONTRACTS: dict[str, pl.Schema] = {
    "events": EVENTS,
    "items": ITEMS,
    "users": USERS,
    "decisions": DECISIONS,
    "outcomes": OUTCOMES,
    "truth": TRUTH,
    "bandit_log": BANDIT_LOG,
    "moments": MOMENTS,
    "suppressions": SUPPRESSIONS,
}


def feature_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """Return the context feature columns of a decision or bandit log.

    Every column that is not bookkeeping, an outcome, a target probability (``p_*``) or a simulator truth
    (``q_*``).

    Examples
    --------
    >>> import polars as pl
    >>> feature_columns(pl.DataFrame({"action": ["coupon"], "reward": [1.0], "price": [9.5], "arm": ["champion"]}))
    ['price']
    """
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return [c for c in names if c not in NON_FEATURE_COLUMNS and not c.startswith(("p_", "q_"))]
