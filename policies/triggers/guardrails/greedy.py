"""The stateful checks of a batch, vectorised: the loop's greedy choice of the kept moments, then the verdicts.

The kept moments are chosen in a few rounds of array operations, then come one verdict and sentence per moment.

Notes
-----
The loop (:class:`~policies.triggers.guardrails.sequential.SequentialRules`) takes each user's candidates in
priority order and judges each against the user's recent sends and the candidates kept before it. Two facts
give the same result in rounds over all users at once:

- *The verdict is a function of the history.* Once the kept moments are known, every candidate's verdict,
  code and sentence is its judgement against the recent sends and the kept candidates before it, all
  candidates at once (:func:`~policies.triggers.guardrails.judge.judge`).
- *A refusal stays a refusal when the history grows.* A collision or a cooldown stays; the counts of a day cap
  and of every rolling week only grow, and more sends only add weeks to try. So a candidate refused against
  part of its history is refused against all of it.

Each round judges the candidates still open against the recent sends and the candidates kept so far. A user's
first open candidate has all its history then (every candidate before it is settled): its verdict is final,
and if kept it joins the history. Any other open candidate refused now is refused in the end; one not refused
stays open for the next round. Rounds stop when no candidate is open (as many rounds as a user has candidates
that could still be kept when their turn comes, a few). A refused candidate's last judgement gives its code and
sentence, unless a candidate before it was kept after that: those few are judged once more, against their
final history.

Examples
--------
>>> import polars as pl
>>> from policies.triggers.config import GuardrailSettings
>>> from policies.triggers.guardrails.sequential import SequentialRules
>>> H = 3_600_000_000
>>> candidates = pl.DataFrame({"__row": [0, 1, 2], "__user": [0] * 3, "user_id": ["u1"] * 3,
...     "send_us": [30 * H, 20 * H, 60 * H], "ts_us": [0, 0, 0], "rank": [9, 0, 9], "moment_id": ["m1", "m2", "m3"],
...     "trigger": ["best_hour", "cart_abandon", "best_hour"], "item_id": [None, "i1", None], "local_day": [1, 0, 2],
...     "tz": ["UTC"] * 3,
...     "open_channels": [1, 1, 1]}, schema_overrides={"__row": pl.UInt32, "item_id": pl.String})
>>> recent = pl.DataFrame(schema={"user_id": pl.String, "send_us": pl.Int64, "channel": pl.String,
...     "trigger": pl.String, "item_id": pl.String, "local_day": pl.Int64, "moment_id": pl.String, "rank": pl.Int64})
>>> decided = decide_batch(candidates, recent, SequentialRules(GuardrailSettings())).sort("__row")
>>> decided.rows()[1:]
[(1, None, None, 'in_app'), (2, None, None, 'in_app')]
>>> code, why, channel = decided.row(0)[1:]
>>> code, channel
('priority', None)
>>> print(why)
best_hour at 1970-01-02 06:00 UTC collides with m2 (cart_abandon at 1970-01-01 20:00 UTC) within 24 h; m2 wins
"""

from __future__ import annotations

import numpy as np
import polars as pl

from policies.triggers.guardrails import wording
from policies.triggers.guardrails.judge import (
    CAP_DAY,
    CAP_WEEK,
    CODES,
    COOLDOWN_ITEM,
    COOLDOWN_TRIGGER,
    KEPT,
    PRIORITY,
    Judgement,
    judge,
)
from policies.triggers.guardrails.sequential import SequentialRules
from policies.triggers.guardrails.table import Table, kept_before, pairs
from policies.triggers.guardrails.verdicts import fmt

_DECIDED = pl.Schema({"__row": pl.UInt32, "d_code": pl.String, "d_why": pl.String, "channel": pl.String})
_NO_CHANNEL = pl.lit(None, pl.String).alias("channel")


def decide_batch(
    candidates: pl.DataFrame, recent: pl.DataFrame, rules: SequentialRules, exact_items: bool = False
) -> pl.DataFrame:
    """Decide on the ``candidates`` of a batch that passed the stateless checks, as the loop does.

    The decisions are ``__row``, ``d_code``, ``d_why``, ``channel``; the candidates hold the columns
    :meth:`Table.of` reads, with ``tz``. They are given the ``recent`` kept sends, and equal the loop's, one user
    at a time in priority order.

    Items are compared by hash; when two items of the batch share one and that decided a ``cooldown_item``
    (never seen: a 64-bit hash), the batch is decided again with the items coded exactly.
    """
    table = Table.of(candidates, recent, rules.settings.channels, exact_items)
    verdicts, kept, by_item = _rounds(table, rules)
    items = [table.column("item_id", rows) for rows in by_item]
    if not exact_items and not (items[0] == items[1]).fill_null(False).all():
        return decide_batch(candidates, recent, rules, exact_items=True)
    taken = table.n_recent + np.flatnonzero(kept)
    nothing = pl.repeat(None, len(taken), dtype=pl.String, eager=True)
    decided = pl.DataFrame(
        {
            "__row": table.column("__row", taken),
            "d_code": nothing,
            "d_why": nothing,
            "channel": pl.Series(rules.settings.channels).gather(table.channel[taken]),
        }
    )
    return pl.concat([decided, *_worded(table, rules, verdicts)]).cast(_DECIDED)


def _rounds(table: Table, rules: SequentialRules) -> tuple[Judgement, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Return the verdict on every candidate, which are kept, and the pairs of the ``cooldown_item`` checks.

    The channels of the kept are set in ``table``; the pairs are the (candidate, send) rows of every
    ``cooldown_item`` judged on the way.
    """
    n = len(table.user) - table.n_recent
    kept, open_ = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    verdicts, basis = Judgement.empty(n, len(rules.caps)), np.zeros(n, dtype=np.int64)
    by_item: list[tuple[np.ndarray, np.ndarray]] = []

    def verdict_on(judged: np.ndarray) -> Judgement:
        verdict = judge(table, rules, judged, *pairs(table, judged, kept))
        verdicts.put(judged, verdict)
        basis[judged] = kept_before(table, judged, kept)
        item = verdict.code == COOLDOWN_ITEM
        by_item.append((table.n_recent + judged[item], verdict.send[item]))
        return verdict

    while open_.any():
        judged = np.flatnonzero(open_)
        verdict = verdict_on(judged)
        users = table.user[table.n_recent + judged]
        first = np.r_[True, users[1:] != users[:-1]]  # each user's first open candidate: settled now
        taken = first & (verdict.code == KEPT)
        kept[judged[taken]] = True
        table.channel[table.n_recent + judged[taken]] = verdict.channel[taken]
        open_[judged[first | (verdict.code != KEPT)]] = False
    verdict_on(np.flatnonzero(~kept & (basis != kept_before(table, np.arange(n), kept))))  # one kept before it since
    candidates, sends = zip(*by_item, strict=True)
    return verdicts, kept, (np.concatenate(candidates), np.concatenate(sends))


def _formatted(us: np.ndarray) -> pl.Series:
    """Instants (µs) as :func:`fmt` writes them, each distinct one formatted once (sends share a few times)."""
    distinct, back = np.unique(us, return_inverse=True)
    return pl.DataFrame({"us": distinct}).select(fmt("us")).to_series().gather(back)


def _worded(table: Table, rules: SequentialRules, verdicts: Judgement) -> list[pl.DataFrame]:
    """Word the refused candidates as the loop does: ``__row``, ``d_code``, ``d_why`` and a null ``channel``.

    One frame per code (each sentence built for its own rows only).
    """
    at, named_at, hours = pl.col("at"), pl.col("named_at"), rules.hours
    trigger, named_id = pl.col("trigger"), pl.col("named_id")
    stopped = {
        PRIORITY: wording.collides(trigger, at, named_id, pl.col("named_trigger"), named_at, hours[0]),
        COOLDOWN_TRIGGER: wording.trigger_cooling(trigger, named_at, named_id, hours[1], at),
        COOLDOWN_ITEM: wording.item_cooling(pl.col("item_id"), named_id, named_at, hours[2], at),
    }
    frames = []
    for code, why in stopped.items():
        picked = np.flatnonzero(verdicts.code == code)
        rows, named = table.n_recent + picked, verdicts.send[picked]
        own = ("__row", "item_id" if code == COOLDOWN_ITEM else "trigger")
        frame = pl.DataFrame(
            {
                **{column: table.column(column, rows) for column in own},
                "at": _formatted(table.send[rows]),
                "named_id": table.column("moment_id", named),
                "named_trigger": table.column("trigger", named),
                "named_at": _formatted(table.send[named]),
            }
        )
        frames.append(frame.select("__row", pl.lit(CODES[code]).alias("d_code"), why.alias("d_why"), _NO_CHANNEL))
    picked = np.flatnonzero(verdicts.code >= CAP_DAY)
    capped = table.frame[table.source[table.n_recent + picked]].with_columns(
        at=fmt("send_us"),
        code=pl.Series(verdicts.code[picked]),
        **{
            f"{what}_{i}": pl.Series(getattr(verdicts, what)[picked, i])
            for what in ("refusal", "counted", "anchor")
            for i in range(len(rules.caps))
        },
    )
    day = pl.col("local_day").cast(pl.Int32).cast(pl.Date).dt.to_string("%Y-%m-%d")
    refusals = []
    for i, (channel, per_day, per_week) in enumerate(rules.caps):
        counted = wording.messages(pl.col(f"counted_{i}"), channel)
        ends_later = pl.col(f"anchor_{i}") != pl.col("send_us")
        where = pl.when(ends_later).then(wording.week_up_to(fmt(f"anchor_{i}"))).otherwise(wording.week_before(at))
        refusals.append(
            pl.when(pl.col(f"refusal_{i}") == CAP_DAY)
            .then(wording.cap_day(counted, day, pl.col("tz"), per_day))
            .when(pl.col(f"refusal_{i}") == CAP_WEEK)
            .then(wording.cap_week(counted, where, per_week))
        )
    codes = {CAP_DAY: CODES[CAP_DAY], CAP_WEEK: CODES[CAP_WEEK]}
    return [
        *frames,
        capped.select(
            "__row",
            pl.col("code").replace_strict(codes, return_dtype=pl.String).alias("d_code"),
            pl.concat_str(refusals, separator="; ", ignore_nulls=True).alias("d_why"),
            _NO_CHANNEL,
        ),
    ]
