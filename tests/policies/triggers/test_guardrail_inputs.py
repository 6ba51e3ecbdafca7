"""Bad inputs to the guardrails, each with its exact message naming the problem."""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl
import pytest

from policies.triggers.guardrails import Guardrails
from tests.policies.triggers.guardrail_frames import T0, moments, settings, unsubscribe, users


def _naive(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).dt.replace_time_zone(None))


BAD_MOMENTS = [
    (
        moments({}).drop("send_at"),
        "moments: missing column 'send_at' (expected Datetime(time_unit='us', time_zone='UTC')); "
        "present: moment_id, ts, user_id, item_id, trigger, trigger_kind, reason",
    ),
    (_naive(moments({}), "send_at"), "moments: column 'send_at' holds naive datetimes; expected time-zone-aware (UTC)"),
    (
        moments({}).with_columns(trigger=pl.lit("birthday")),
        "moments: unknown trigger(s) ['birthday'] in column 'trigger'; known: cart_abandon, low_stock, repeat_view, "
        "price_drop, new_listing, churn_risk, lapsed, declining, onboarding, best_hour",
    ),
    (
        moments({}).with_columns(user_id=pl.lit(None, pl.String)),
        "moments: column 'user_id' has 1 null value(s) of 1 rows",
    ),
    (moments({}).with_columns(send_at=pl.lit("soon")), "moments: column 'send_at' has dtype String, expected "
     "Datetime(time_unit='us', time_zone='UTC')"),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "message"), BAD_MOMENTS)
def test_bad_moments(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Guardrails(settings(), users({})).apply(frame)


BAD_USERS = [
    (users({}).drop("tz"), "users: missing column 'tz' (expected String); present: user_id, consent_in_app, "
     "consent_email, consent_sms, opted_out_at"),
    (_naive(users({}), "opted_out_at"), "users: column 'opted_out_at' holds naive datetimes; expected "
     "time-zone-aware (UTC)"),
    (users({"tz": "Mars/Olympus"}), "users: unknown time zone(s) ['Mars/Olympus'] in column 'tz'"),
    (users({}, {}).with_columns(user_id=pl.lit("u1")), "users: column 'user_id' has 1 duplicate id(s) of 2 rows"),
    (users({"consent_sms": None}), "users: column 'consent_sms' has 1 null value(s) of 1 rows"),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "message"), BAD_USERS)
def test_bad_users(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Guardrails(settings(), frame)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Guardrails(settings(), users({})).add_users(frame)


BAD_EVENTS = [
    (unsubscribe("u1", "fax", T0), "events: unknown channel(s) ['fax'] in column 'channel'; known: in_app, email, sms"),
    (_naive(unsubscribe("u1", "sms", T0), "ts"), "events: column 'ts' holds naive datetimes; expected "
     "time-zone-aware (UTC)"),
    (unsubscribe("u1", "sms", T0).drop("type"), "events: missing column 'type' (expected String); present: ts, "
     "user_id, channel"),
    (unsubscribe("u1", "sms", T0).with_columns(channel=pl.lit(None, pl.String)), "events: 1 unsubscribe event(s) "
     "with a null 'channel'"),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "message"), BAD_EVENTS)
def test_bad_events(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Guardrails(settings(), users({})).observe(frame)


BAD_DELIVERIES = [
    (["u1"], "fax", [T0], "deliverable: unknown channel(s) ['fax'] in column 'channel'; known: in_app, email, sms"),
    (["u1"], "sms", [datetime(2026, 3, 4, 12)], "deliverable: 'at' holds datetime.datetime(2026, 3, 4, 12, 0); "
     "expected time-zone-aware datetimes"),
    (["u1", "u2"], "sms", [T0], "deliverable: 2 user_ids, 2 channels and 1 times differ"),
]  # fmt: skip


@pytest.mark.parametrize(("ids", "channels", "at", "message"), BAD_DELIVERIES)
def test_bad_deliveries(ids: list[str], channels: str, at: list[datetime], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Guardrails(settings(), users({})).deliverable(ids, channels, at)
