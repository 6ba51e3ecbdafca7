"""Tiny hand-made users, moments and settings for the guardrail tests.

Plain functions: nothing leaks as a fixture to other modules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from features.schemas import MOMENTS, TRIGGER_KINDS, schema_of
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import GuardrailResult

T0 = datetime(2026, 3, 4, 12, tzinfo=UTC)
H = timedelta(hours=1)
TS = pl.Datetime("us", "UTC")
USER_SCHEMA = schema_of(
    {
        "user_id": pl.String,
        "tz": pl.String,
        "consent_in_app": pl.Boolean,
        "consent_email": pl.Boolean,
        "consent_sms": pl.Boolean,
        "opted_out_at": TS,
    }
)
MOMENT_SCHEMA = MOMENTS


def users(*specs: dict[str, Any]) -> pl.DataFrame:
    """Users u1, u2, ... on UTC with in_app consent only, unless a spec says otherwise."""
    base = {"tz": "UTC", "consent_in_app": True, "consent_email": False, "consent_sms": False, "opted_out_at": None}
    rows = [{**base, "user_id": f"u{i + 1}", **spec} for i, spec in enumerate(specs)]
    return pl.DataFrame(rows, schema=USER_SCHEMA)


def moments(*specs: dict[str, Any]) -> pl.DataFrame:
    """Moments m1, m2, ... of u1 (best_hour, no item) sent when they fire, unless a spec says otherwise."""
    rows = []
    for i, spec in enumerate(specs):
        row = {"moment_id": f"m{i + 1}", "user_id": "u1", "item_id": None, "trigger": "best_hour", **spec}
        row.setdefault("ts", row.get("send_at", T0))
        row.setdefault("send_at", row["ts"])
        rows.append({**row, "trigger_kind": TRIGGER_KINDS[row["trigger"]], "reason": "test"})
    return pl.DataFrame(rows, schema=MOMENT_SCHEMA)


def settings(**changes: Any) -> GuardrailSettings:
    """Build settings with every guardrail off but the ones a test names.

    No holdout, no quiet hours, no cooldowns, short collisions, generous caps.
    """
    base: dict[str, Any] = {
        "holdout_share": 0.0,
        "quiet_hours": {"start": 0, "end": 0},
        "cooldowns": {"per_trigger_hours": 0, "per_item_hours": 0},
        "collision_hours": 0.001,
        "caps": {c: {"per_day": 9, "per_week": 9} for c in ("in_app", "email", "sms")},
    }
    return GuardrailSettings(**{**base, **changes})


def outcome(result: GuardrailResult) -> list[tuple[str, str | None, str | None, str | None]]:
    """``(moment_id, channel, code, why)`` of every moment, kept ones with code and why ``None``."""
    kept = [(m, c, None, None) for m, c in result.kept.select("moment_id", "channel").rows()]
    cols = ["moment_id", "channel", "suppressed_by", "why"]
    rows = kept + [tuple(r) for r in result.suppressed.select(cols).rows()]
    return sorted(rows, key=lambda row: tuple("" if v is None else v for v in row))  # type: ignore[arg-type]


def unsubscribe(user_id: str, channel: str, at: datetime) -> pl.DataFrame:
    return pl.DataFrame({"ts": [at], "user_id": [user_id], "type": ["unsubscribe"], "channel": [channel]})
