"""The vectorised stateful checks for the common case: a user's first candidate of the batch in priority order
(often the user's only one).

Such a moment is decided before any other moment of the user in the batch, so its fate depends on the user's
kept sends only, and when
they all lie before it, the symmetric checks of :class:`~policies.triggers.guardrails.sequential.SequentialRules`
reduce to counting earlier sends: one join of the candidates with the recent sends and a few aggregations
give the same decision, channel and sentence as the loop. What this path does not settle (a kept send at or
after the candidate, or no channel with room under its caps) goes to the loop, which words it.

Examples
--------
>>> import polars as pl
>>> from policies.triggers.config import GuardrailSettings
>>> from policies.triggers.guardrails.sequential import SequentialRules
>>> H = 3_600_000_000
>>> alone = pl.DataFrame({"__row": [0, 1], "user_id": ["u1", "u2"], "send_us": [30 * H, 30 * H],
...     "trigger": ["best_hour", "best_hour"], "item_id": [None, None], "local_day": [1, 1], "open_channels": [1, 1]},
...     schema_overrides={"__row": pl.UInt32, "item_id": pl.String})
>>> recent = pl.DataFrame({"user_id": ["u1"], "send_us": [20 * H], "channel": ["in_app"],
...     "trigger": ["cart_abandon"], "item_id": ["i1"], "local_day": [0], "moment_id": ["m0"], "rank": [0]})
>>> decided, rest = decide_alone(alone, recent, SequentialRules(GuardrailSettings()))
>>> decided.rows()
[(0, 'priority', 'best_hour at 1970-01-02 06:00 UTC collides with m0 (cart_abandon at 1970-01-01 20:00 UTC) within 24 h; m0 wins', None), (1, None, None, 'in_app')]
>>> rest.height
0
"""  # noqa: E501

from __future__ import annotations

import polars as pl

from policies.triggers.guardrails.sequential import WEEK_US, SequentialRules
from policies.triggers.guardrails.verdicts import fmt

_DECIDED = {"__row": pl.UInt32, "d_code": pl.String, "d_why": pl.String, "channel": pl.String}


def _first(pairs: pl.DataFrame, condition: pl.Expr, order: list[str], why: pl.Expr) -> pl.DataFrame:
    """Per candidate, the sentence about the first of its kept sends (in ``order``) that meet ``condition``."""
    hits = pairs.filter(condition).sort("__row", *order)
    return hits.group_by("__row").first().select("__row", why.alias("why"))


def decide_alone(
    alone: pl.DataFrame, recent: pl.DataFrame, rules: SequentialRules
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decide the candidates of users alone in their batch against the users' recent kept sends.

    Parameters
    ----------
    alone
        Candidates, one per user (its first in priority order): ``__row``, ``user_id``, ``send_us``, ``trigger``,
        ``item_id``, ``local_day`` and ``open_channels`` (a bit per channel of ``settings.channels``).
    recent
        Kept sends (the guardrails' state) recent enough to matter.
    rules
        The settings, as the loop reads them.

    Returns
    -------
    The decisions (``__row``, ``d_code``, ``d_why``, ``channel``) and the candidates left to the loop.
    """
    s = rules.settings
    history = recent.select(
        "user_id",
        *(pl.col(c).alias(f"h_{c}") for c in ("send_us", "channel", "trigger", "item_id", "local_day", "moment_id")),
        pl.col("rank").alias("h_rank"),
    )
    pairs = (
        alone.select("__row", "user_id", "send_us", "trigger", "item_id", "local_day")
        .join(history, on="user_id", how="inner")
        .with_columns(gap=pl.col("send_us") - pl.col("h_send_us"))
    )
    later = pairs.filter(pl.col("gap") <= 0).select("__row").unique()
    pairs = pairs.join(later, on="__row", how="anti")
    at, h_at, h_id = fmt("send_us"), fmt("h_send_us"), pl.col("h_moment_id")
    collides = _first(
        pairs,
        pl.col("gap") < rules.collision_us,
        ["h_rank", "h_send_us", "h_moment_id"],
        pl.col("trigger") + pl.lit(" at ") + at + pl.lit(" collides with ") + h_id + pl.lit(" (") + pl.col("h_trigger")
        + pl.lit(" at ") + h_at + pl.lit(f") within {s.collision_hours:g} h; ") + h_id + pl.lit(" wins"),
    )  # fmt: skip
    same_trigger = _first(
        pairs,
        (pl.col("h_trigger") == pl.col("trigger")) & (pl.col("gap") < rules.trigger_us),
        ["h_send_us", "h_moment_id"],
        pl.col("trigger") + pl.lit(" was kept for this user at ") + h_at + pl.lit(" (") + h_id
        + pl.lit(f"), less than {s.cooldowns.per_trigger_hours:g} h from ") + at,
    )  # fmt: skip
    same_item = _first(
        pairs,
        (pl.col("h_item_id") == pl.col("item_id")) & (pl.col("gap") < rules.item_us),
        ["h_send_us", "h_moment_id"],
        pl.lit("item ") + pl.col("item_id") + pl.lit(" was the subject of ") + h_id + pl.lit(" at ") + h_at
        + pl.lit(f", less than {s.cooldowns.per_item_hours:g} h from ") + at,
    )  # fmt: skip
    on = [pl.col("h_channel") == c for c in s.channels]
    counts = pairs.group_by("__row").agg(
        *((o & (pl.col("h_local_day") == pl.col("local_day"))).sum().alias(f"day_{i}") for i, o in enumerate(on)),
        *((o & (pl.col("gap") < WEEK_US)).sum().alias(f"week_{i}") for i, o in enumerate(on)),
    )
    room = [
        ((pl.col("open_channels") & (1 << i)) > 0)
        & (pl.col(f"day_{i}").fill_null(0) < per_day)
        & (pl.col(f"week_{i}").fill_null(0) < per_week)
        for i, (_, per_day, per_week) in enumerate(rules.caps)
    ]
    frame = (
        alone.join(later, on="__row", how="anti")
        .join(collides.rename({"why": "priority"}), on="__row", how="left")
        .join(same_trigger.rename({"why": "cooldown_trigger"}), on="__row", how="left")
        .join(same_item.rename({"why": "cooldown_item"}), on="__row", how="left")
        .join(counts, on="__row", how="left")
        .with_columns(
            channel=pl.coalesce(
                pl.lit(None, pl.String), *(pl.when(r).then(pl.lit(c)) for r, c in zip(room, s.channels, strict=True))
            )
        )
    )
    stopped = ["priority", "cooldown_trigger", "cooldown_item"]
    code = pl.coalesce(*(pl.when(pl.col(c).is_not_null()).then(pl.lit(c)) for c in stopped))
    frame = frame.with_columns(d_code=code, d_why=pl.coalesce(stopped))
    settled = pl.col("d_code").is_not_null() | pl.col("channel").is_not_null()
    decided = frame.filter(settled).select(
        "__row", "d_code", "d_why", pl.when(pl.col("d_code").is_null()).then("channel").alias("channel")
    )
    rest = alone.join(frame.filter(~settled).select("__row"), on="__row", how="semi")
    rest = pl.concat([rest, alone.join(later, on="__row", how="semi")])
    return decided.cast(_DECIDED).sort("__row"), rest  # type: ignore[arg-type]
