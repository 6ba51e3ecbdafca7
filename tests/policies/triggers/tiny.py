"""Tiny hand-built frames for the trigger rules (plain functions: no fixtures leak to other test modules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of (minutes after T0, user, type, item, merchant, price, quantity); ids e1, e2, ..."""
    return pl.DataFrame(
        {
            "event_id": [f"e{i + 1}" for i in range(len(rows))],
            "ts": [at(r[0]) for r in rows],
            "user_id": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "item_id": [r[3] if len(r) > 3 else None for r in rows],
            "merchant_id": [r[4] if len(r) > 4 else None for r in rows],
            "price": [r[5] if len(r) > 5 else None for r in rows],
            "quantity": [r[6] if len(r) > 6 else None for r in rows],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "price": pl.Float64, "quantity": pl.Int32},
    )


def tiny_items() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": ["i1", "i2", "i3"],
            "merchant_id": ["m1", "m1", "m2"],
            "category": ["bags", "bags", "home"],
            "price": [100.0, 50.0, 20.0],
            "listed_at": [T0 - timedelta(days=30)] * 3,
            "stock": [3, 5, 2],
            "merchant_verified": [True] * 3,
            "merchant_rating": [4.5] * 3,
            "authenticated": [False] * 3,
        },
        schema_overrides={"listed_at": pl.Datetime("us", "UTC"), "stock": pl.Int32},
    )


def tiny_users() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "signup_ts": [T0 - timedelta(days=200)] * 4,
            "tz": ["Europe/Berlin", "America/New_York", None, "Asia/Kolkata"],
        },
        schema_overrides={"signup_ts": pl.Datetime("us", "UTC")},
    )
