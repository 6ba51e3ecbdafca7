"""Checks of what the guardrails are given, each failing with a ``ValueError`` that names the column.

Examples
--------
>>> import polars as pl
>>> checked(pl.DataFrame({"user_id": ["u1"]}), USER_COLUMNS, "users")
Traceback (most recent call last):
...
features.validation.SchemaError: users: missing column 'tz' (expected String); present: user_id
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from features.schemas import CHANNELS, EVENTS, MOMENTS, USERS
from features.validation import SchemaError, validate

#: The columns of the USERS contract that the guardrails read (``signup_ts`` is not needed).
USER_COLUMNS = pl.Schema({c: USERS[c] for c in ("user_id", "tz", *(f"consent_{c}" for c in CHANNELS), "opted_out_at")})
#: The columns of the EVENTS contract that :meth:`Guardrails.observe` reads.
EVENT_COLUMNS = pl.Schema({c: EVENTS[c] for c in ("ts", "user_id", "type", "channel")})


def checked(
    frame: pl.DataFrame,
    schema: pl.Schema,
    name: str,
    *,
    unique: str | None = None,
    not_null: Iterable[str] = (),
) -> pl.DataFrame:
    """``frame`` cast to ``schema`` with its timestamps in UTC, or a :class:`SchemaError` naming the column.

    Unlike :func:`features.validation.validate` an empty frame is fine, and naive timestamps are refused
    rather than taken for UTC.
    """
    for column, dtype in schema.items():
        actual = frame.schema.get(column)
        if isinstance(dtype, pl.Datetime) and isinstance(actual, pl.Datetime) and actual.time_zone is None:
            raise SchemaError(f"{name}: column {column!r} holds naive datetimes; expected time-zone-aware (UTC)")
    if frame.height:
        frame = validate(frame, schema, name, unique=unique, not_null=not_null)
    else:
        for column, dtype in schema.items():
            if column not in frame.columns:
                present = ", ".join(frame.columns)
                raise SchemaError(f"{name}: missing column {column!r} (expected {dtype}); present: {present}")
        frame = frame.cast(schema)
    stamps = [c for c, d in schema.items() if isinstance(d, pl.Datetime)]
    return frame.with_columns(pl.col(stamps).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))


@cache
def _known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def checked_users(users: pl.DataFrame) -> pl.DataFrame:
    """Check the users frame: the columns the guardrails read, unique ids and known IANA time zones."""
    consents = [f"consent_{c}" for c in CHANNELS]
    users = checked(users, USER_COLUMNS, "users", unique="user_id", not_null=["tz", *consents])
    unknown = sorted(z for z in users.get_column("tz").unique().to_list() if not _known_zone(z))
    if unknown:
        raise SchemaError(f"users: unknown time zone(s) {unknown} in column 'tz'")
    return users


def checked_moments(moments: pl.DataFrame, triggers: Iterable[str]) -> pl.DataFrame:
    """Check the moments against MOMENTS: ids, users, triggers and times present, triggers known."""
    not_null = ["moment_id", "ts", "user_id", "trigger", "send_at"]
    moments = checked(moments, MOMENTS, "moments", not_null=not_null)
    known = tuple(triggers)
    unknown = sorted(t for t in moments.get_column("trigger").unique().to_list() if t not in known)
    if unknown:
        raise SchemaError(f"moments: unknown trigger(s) {unknown} in column 'trigger'; known: {', '.join(known)}")
    return moments


def checked_unsubscribes(events: pl.DataFrame) -> pl.DataFrame:
    """Return the unsubscribe events of an event log: ``user_id``, ``channel`` and ``ts``, channels known."""
    events = checked(events, EVENT_COLUMNS, "events")
    unsubscribes = events.filter(pl.col("type") == "unsubscribe").select("user_id", "channel", "ts")
    for column in ("user_id", "channel", "ts"):
        nulls = unsubscribes.get_column(column).null_count()
        if nulls:
            raise SchemaError(f"events: {nulls} unsubscribe event(s) with a null {column!r}")
    check_channels(unsubscribes.get_column("channel").unique().to_list(), "events")
    return unsubscribes


def check_channels(channels: Iterable[str | None], name: str) -> None:
    """Raise a :class:`SchemaError` naming the column ``channel`` if any channel is unknown."""
    unknown = sorted({str(c) for c in channels if c not in CHANNELS})
    if unknown:
        raise SchemaError(f"{name}: unknown channel(s) {unknown} in column 'channel'; known: {', '.join(CHANNELS)}")
