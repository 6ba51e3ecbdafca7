"""The stateless guardrails as polars expressions: each a condition, a code and a sentence, first match wins.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"user_id": ["u1"], "opted_out_us": [0], "send_us": [3_600_000_000]})
>>> frame.select(opted_out().alias("why")).item()
'user u1 opted out at 1970-01-01 00:00 UTC, before the send at 1970-01-01 01:00 UTC'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from features.schemas import CHANNELS, UTC_TS

_USER = pl.lit("user ") + pl.col("user_id")


def fmt(expr: pl.Expr | str) -> pl.Expr:
    """Integer microseconds since the epoch as ``2026-03-04 20:00 UTC``."""
    column = pl.col(expr) if isinstance(expr, str) else expr
    return column.cast(UTC_TS).dt.strftime("%Y-%m-%d %H:%M UTC")


def opted_out() -> pl.Expr:
    """Why a moment of a user who opted out at or before its send is stopped."""
    return _USER + pl.lit(" opted out at ") + fmt("opted_out_us") + pl.lit(", before the send at ") + fmt("send_us")


def stateless(channels: Sequence[str]) -> tuple[pl.Expr, pl.Expr]:
    """``(code, why)`` of the stateless guardrails, in order, over a frame of moments joined to their users
    (``tz``, ``consent_*``, ``opted_out_us``), their unsubscribes (``unsub_*``), a ``seen`` flag (handled by an
    earlier call), a ``twin`` flag (an earlier copy in the batch) and ``open_channels`` (a bit per channel
    open at ``send_us``); both are null for a moment that passes them all."""
    closed = [
        pl.when(pl.col(f"consent_{c}"))
        .then(pl.lit(f"{c} unsubscribed at ") + fmt(f"unsub_{c}"))
        .otherwise(pl.lit(f"{c} no consent"))
        for c in channels
    ]
    moment = pl.lit("moment ") + pl.col("moment_id")
    rules = [
        (pl.col("seen").is_not_null(), "duplicate", moment + pl.lit(" was already handled by an earlier call")),
        (
            pl.col("twin"),
            "duplicate",
            moment + pl.lit(" appears more than once in this batch; the first copy was handled"),
        ),
        (pl.col("tz").is_null(), "unknown_user", _USER + pl.lit(" is not among the known users")),
        (pl.col("opted_out_us") <= pl.col("send_us"), "opted_out", opted_out()),
        (
            pl.col("open_channels") == 0,
            "no_consent",
            _USER
            + pl.lit(" has no open channel at ")
            + fmt("send_us")
            + pl.lit(": ")
            + pl.concat_str(closed, separator=", "),
        ),
    ]
    code: Any = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    why: Any = pl.when(rules[0][0]).then(rules[0][2])
    for condition, name, text in rules[1:]:
        code, why = code.when(condition).then(pl.lit(name)), why.when(condition).then(text)
    return code, why


def open_channels(channels: Sequence[str]) -> pl.Expr:
    """A bit per channel (``channels[i]`` is bit ``i``) the user consents to and had not unsubscribed from
    before ``send_us``."""
    opens = [
        pl.col(f"consent_{c}") & (pl.col(f"unsub_{c}").is_null() | (pl.col("send_us") < pl.col(f"unsub_{c}")))
        for c in channels
    ]
    return pl.sum_horizontal(o.cast(pl.Int64) * (1 << i) for i, o in enumerate(opens))


def undeliverable() -> pl.Expr:
    """Why a message (``user_id``, ``channel``, ``at``) may not go out at ``at``; null when it may."""
    consent = pl.coalesce(pl.when(pl.col("channel") == c).then(pl.col(f"consent_{c}")) for c in CHANNELS)
    unsub = pl.coalesce(pl.when(pl.col("channel") == c).then(pl.col(f"unsub_{c}")) for c in CHANNELS)
    return (
        pl.when(pl.col("tz").is_null())
        .then(_USER + pl.lit(" is not among the known users"))
        .when(pl.col("opted_out_us") <= pl.col("at"))
        .then(_USER + pl.lit(" opted out at ") + fmt("opted_out_us"))
        .when(~consent)
        .then(_USER + pl.lit(" gave no consent to ") + pl.col("channel"))
        .when(unsub <= pl.col("at"))
        .then(_USER + pl.lit(" unsubscribed from ") + pl.col("channel") + pl.lit(" at ") + fmt(unsub))
    )


def held_out(share: float) -> pl.Expr:
    """Why a holdout user's moment, which passed everything else, is not sent."""
    text = f" is in the global holdout ({share:.0%} of users): nothing is sent, but it counts as a send on "
    return _USER + pl.lit(text) + pl.col("channel")
