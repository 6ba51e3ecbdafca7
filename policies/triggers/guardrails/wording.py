"""The sentences of the stateful guardrails (priority, cooldowns, caps), each written once.

Each function takes its pieces either as plain strings (the loop of
:class:`~policies.triggers.guardrails.sequential.SequentialRules`, behind
:meth:`~policies.triggers.guardrails.Guardrails.apply_one`) or as polars expressions (the batch path,
:mod:`~policies.triggers.guardrails.greedy`), so that both word a suppression the same way. Times come already
formatted (``2026-03-04 20:00 UTC``), numbers of hours already written with ``:g``.

Examples
--------
>>> import polars as pl
>>> collides("best_hour", "2026-03-04 20:00 UTC", "m0", "cart_abandon", "2026-03-04 10:00 UTC", "24")
'best_hour at 2026-03-04 20:00 UTC collides with m0 (cart_abandon at 2026-03-04 10:00 UTC) within 24 h; m0 wins'
>>> messages(1, "email"), messages(3, "email")
('1 email message', '3 email messages')
>>> frame = pl.DataFrame({"n": [1, 2]})
>>> frame.select(cap_day(messages(pl.col("n"), "sms"), "2026-03-04", "UTC", 1).alias("why")).to_series().to_list()
['1 sms message on 2026-03-04 (UTC) (cap 1)', '2 sms messages on 2026-03-04 (UTC) (cap 1)']
"""

from __future__ import annotations

from typing import TypeVar, overload

import polars as pl

#: A piece of a sentence: a polars expression (one per row) or a plain string (one moment).
T = TypeVar("T", str, pl.Expr)


@overload
def _joined(*parts: str) -> str: ...  # type: ignore[overload-overlap]  # strings alone take this one, at run time too
@overload
def _joined(*parts: str | pl.Expr) -> pl.Expr: ...
def _joined(*parts: str | pl.Expr) -> str | pl.Expr:
    """Join the pieces end to end: a string, or one ``concat_str`` when any is an expression (null where one is)."""
    texts = [p for p in parts if isinstance(p, str)]
    if len(texts) == len(parts):
        return "".join(texts)
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def collides(trigger: T, send_text: T, winner_id: T, winner_trigger: T, winner_text: T, hours: str) -> T:
    """``priority``: a kept send less than ``hours`` away wins."""
    return _joined(
        trigger, " at ", send_text, " collides with ", winner_id, " (", winner_trigger, " at ", winner_text,
        f") within {hours} h; ", winner_id, " wins",
    )  # fmt: skip


def trigger_cooling(trigger: T, kept_text: T, kept_id: T, hours: str, send_text: T) -> T:
    """``cooldown_trigger``: a send of the same trigger was kept less than ``hours`` away."""
    return _joined(
        trigger, " was kept for this user at ", kept_text, " (", kept_id, f"), less than {hours} h from ", send_text
    )


def item_cooling(item_id: T, kept_id: T, kept_text: T, hours: str, send_text: T) -> T:
    """``cooldown_item``: the same item was the subject of a send kept less than ``hours`` away."""
    return _joined(
        "item ", item_id, " was the subject of ", kept_id, " at ", kept_text, f", less than {hours} h from ", send_text
    )


@overload
def messages(count: int, channel: str) -> str: ...
@overload
def messages(count: pl.Expr, channel: str) -> pl.Expr: ...
def messages(count: int | pl.Expr, channel: str) -> str | pl.Expr:
    """``1 email message``, ``3 email messages``."""
    if isinstance(count, int):
        return f"{count} {channel} message" if count == 1 else f"{count} {channel} messages"
    noun = pl.when(count == 1).then(pl.lit(f" {channel} message")).otherwise(pl.lit(f" {channel} messages"))
    return _joined(count.cast(pl.String), noun)


def cap_day(counted: T, day: T, zone: T, cap: int) -> T:
    """``cap_day`` on one channel: ``counted`` (:func:`messages`) on the local ``day`` already."""
    return _joined(counted, " on ", day, " (", zone, f") (cap {cap})")


def cap_week(counted: T, where: T, cap: int) -> T:
    """Word ``cap_week`` on one channel: ``counted`` (:func:`messages`) in a rolling week.

    ``where`` is :func:`week_before` or :func:`week_up_to`.
    """
    return _joined(counted, " in the 7 days ", where, f" (cap {cap})")


def week_before(send_text: T) -> T:
    """Word the rolling week that ends with the send."""
    return _joined("before ", send_text)


def week_up_to(anchor_text: T) -> T:
    """Word a rolling week that ends with a later kept send (``anchor_text``) and would hold this send too."""
    return _joined("up to ", anchor_text, ", which this send joins")
