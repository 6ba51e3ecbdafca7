"""Send times of raw moments at once: a delay per trigger, or the user's best local hour per time zone.

The engine's send time of a moment at the best hour uses the user's ``preferred_hour`` as of the latest
daily tick at or before the moment (``preferred``: one frame per tick), else ``fallback``.

Examples
--------
>>> from policies.triggers.config import RuleSettings
>>> raw = pl.DataFrame({"user_id": ["u1"], "ts": [0], "trigger": ["cart_abandon"]})
>>> zones = pl.DataFrame({"user_id": ["u1"], "tz": [None]}, schema={"user_id": pl.String, "tz": pl.String})
>>> rules = {"cart_abandon": RuleSettings(send_delay_minutes=30)}
>>> send_times(raw, rules, [], zones, 19).to_list()
[1800000000]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.schemas import TRIGGER_KINDS
from policies.triggers.config import Rules, RuleSettings
from policies.triggers.rules.base import MINUTE_US, next_local_hours

_PREFERRED = pl.Schema({"user_id": pl.String, "preferred_hour": pl.Int64})


def rule_of(rules: Rules, trigger: str) -> RuleSettings:
    """The settings of the rule that fires ``trigger`` (its send delay or best hour).

    Examples
    --------
    >>> from policies.triggers.config import load_trigger_config
    >>> rule_of(load_trigger_config().rules, "cart_abandon").send_delay_minutes
    30
    """
    kind = TRIGGER_KINDS[trigger]
    by_kind = {"behaviour": rules.behaviour, "inventory": rules.inventory, "time": rules.time, "social": rules.social}
    return by_kind.get(kind, rules.lifecycle)


def send_times(
    raw: pl.DataFrame,
    rules: dict[str, RuleSettings],
    preferred: list[tuple[int, pl.DataFrame]],
    zones: pl.DataFrame,
    fallback: int,
) -> pl.Series:
    """The send time of each raw moment, vectorised: delays per trigger, best hours per time zone."""
    best = {t: rules[t].at_best_hour for t in rules}
    delay = {t: rules[t].send_delay_minutes * MINUTE_US for t in rules}
    frame = raw.select("user_id", "ts", "trigger").with_row_index("row")
    at_best = frame.filter(pl.col("trigger").replace_strict(best, return_dtype=pl.Boolean))
    ticks = np.array([t for t, _ in preferred], dtype=np.int64)
    snapshot = np.searchsorted(ticks, at_best["ts"].to_numpy(), side="right") - 1
    at_best = at_best.with_columns(pl.Series("snapshot", snapshot, dtype=pl.Int64))
    parts, before_first = [], pl.DataFrame(schema=_PREFERRED)
    for (k,), part in at_best.group_by("snapshot"):  # one small join per tick's snapshot
        hours = preferred[k][1] if isinstance(k, int) and k >= 0 else before_first
        parts.append(part.join(hours, on="user_id", how="left"))
    at_best = (
        (pl.concat(parts) if parts else at_best.with_columns(pl.lit(None, pl.Int64).alias("preferred_hour")))
        .join(zones, on="user_id", how="left")
        .with_columns(pl.col("preferred_hour").fill_null(fallback))
    )
    sends = at_best.select(
        "row", next_local_hours(at_best["ts"], at_best["preferred_hour"], at_best["tz"]).alias("send")
    )
    delayed = frame.join(at_best.select("row"), on="row", how="anti").select(
        "row", (pl.col("ts") + pl.col("trigger").replace_strict(delay, return_dtype=pl.Int64)).alias("send")
    )
    return pl.concat([sends, delayed]).sort("row")["send"]
