"""The stateless guardrails as polars expressions: each a condition, a code and a sentence, first match wins.

Each sentence is written once, by a function that takes its pieces either as polars expressions (the batch
path) or as plain strings (:meth:`~policies.triggers.guardrails.Guardrails.apply_one`), so both paths word a
suppression the same way.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"user_id": ["u1"], "opted_out_us": [0], "send_us": [3_600_000_000]})
>>> frame.select(opted_out().alias("why")).item()
'user u1 opted out at 1970-01-01 00:00 UTC, before the send at 1970-01-01 01:00 UTC'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import polars as pl

from features.schemas import CHANNELS, UTC_TS

_USER = pl.lit("user ") + pl.col("user_id")
#: A piece of a sentence: a polars expression (one per row) or a plain string (one moment).
T = TypeVar("T", str, pl.Expr)


def already_handled(moment_id: T) -> T:
    """``duplicate``: the moment was handled by an earlier call."""
    return "moment " + moment_id + " was already handled by an earlier call"


def unknown_user(user_id: T) -> T:
    """``unknown_user``: the user is not in the users table."""
    return "user " + user_id + " is not among the known users"


def opted_out_why(user_id: T, opted_out_at: T, send_at: T) -> T:
    """``opted_out``: the user opted out at or before the send (times already formatted)."""
    return "user " + user_id + " opted out at " + opted_out_at + ", before the send at " + send_at


def channel_closed(channel: str, unsubscribed_at: T | None) -> T | str:
    """Why one channel is closed: unsubscribed (at a formatted time) or, with ``None``, no consent."""
    if unsubscribed_at is None:
        return f"{channel} no consent"
    return channel + " unsubscribed at " + unsubscribed_at


def no_open_channel(user_id: T, send_at: T, closed: T) -> T:
    """``no_consent``: no channel is open at the send; ``closed`` is the channels' reasons joined by ", "."""
    return "user " + user_id + " has no open channel at " + send_at + ": " + closed


def held_out_why(share: float, user_id: T, channel: T) -> T:
    """``holdout``: the user is in the global holdout; the moment counts as a send on ``channel``."""
    text = f" is in the global holdout ({share:.0%} of users): nothing is sent, but it counts as a send on "
    return "user " + user_id + text + channel


def fmt(expr: pl.Expr | str) -> pl.Expr:
    """Integer microseconds since the epoch as ``2026-03-04 20:00 UTC``."""
    column = pl.col(expr) if isinstance(expr, str) else expr
    return column.cast(UTC_TS).dt.strftime("%Y-%m-%d %H:%M UTC")


def opted_out() -> pl.Expr:
    """Why a moment of a user who opted out at or before its send is stopped."""
    return opted_out_why(pl.col("user_id"), fmt("opted_out_us"), fmt("send_us"))


def stateless(channels: Sequence[str]) -> tuple[pl.Expr, pl.Expr]:
    """Build ``(code, why)`` of the stateless guardrails, in order, over a frame of moments.

    The moments are joined to their users (``tz``, ``consent_*``, ``opted_out_us``), their unsubscribes (``unsub_*``), a
    ``seen`` flag (handled by an earlier call), a ``twin`` flag (an earlier copy in the batch) and ``open_channels`` (a
    bit per channel open at ``send_us``); both are null for a moment that passes them all.
    """
    closed = [
        pl.when(pl.col(f"consent_{c}"))
        .then(channel_closed(c, fmt(f"unsub_{c}")))
        .otherwise(pl.lit(channel_closed(c, None)))
        for c in channels
    ]
    moment = pl.lit("moment ") + pl.col("moment_id")
    rules = [
        (pl.col("seen").is_not_null(), "duplicate", already_handled(pl.col("moment_id"))),
        (
            pl.col("twin"),
            "duplicate",
            moment + pl.lit(" appears more than once in this batch; the first copy was handled"),
        ),
        (pl.col("tz").is_null(), "unknown_user", unknown_user(pl.col("user_id"))),
        (pl.col("opted_out_us") <= pl.col("send_us"), "opted_out", opted_out()),
        (
            pl.col("open_channels") == 0,
            "no_consent",
            no_open_channel(pl.col("user_id"), fmt("send_us"), pl.concat_str(closed, separator=", ")),
        ),
    ]
    code: Any = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    why: Any = pl.when(rules[0][0]).then(rules[0][2])
    for condition, name, text in rules[1:]:
        code, why = code.when(condition).then(pl.lit(name)), why.when(condition).then(text)
    return code, why


def open_channels(channels: Sequence[str]) -> pl.Expr:
    """Set a bit per channel (``channels[i]`` is bit ``i``) open to the user at ``send_us``.

    A channel is open when the user consents to it and had not unsubscribed from it before ``send_us``.
    """
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
        .then(unknown_user(pl.col("user_id")))
        .when(pl.col("opted_out_us") <= pl.col("at"))
        .then(_USER + pl.lit(" opted out at ") + fmt("opted_out_us"))
        .when(~consent)
        .then(_USER + pl.lit(" gave no consent to ") + pl.col("channel"))
        .when(unsub <= pl.col("at"))
        .then(_USER + pl.lit(" unsubscribed from ") + pl.col("channel") + pl.lit(" at ") + fmt(unsub))
    )


def held_out(share: float) -> pl.Expr:
    """Why a holdout user's moment, which passed everything else, is not sent."""
    return held_out_why(share, pl.col("user_id"), pl.col("channel"))
