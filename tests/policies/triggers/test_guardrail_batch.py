"""The batch path of the stateful guardrails (:func:`decide_batch`) against the loop (:class:`SequentialRules`).

Random settings, a state of kept sends made by the loop itself (some after the batch's moments), and a batch with
several moments per user (ties of rank and ``ts``, items, random open channels) give the same code, sentence and
channel for every moment.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails.clock import US_PER_DAY, US_PER_HOUR, fmt_us
from policies.triggers.guardrails.greedy import decide_batch
from policies.triggers.guardrails.sequential import Candidate, Send, SequentialRules
from tests.policies.triggers.test_guardrail_properties import guardrail_settings

T0 = 500 * US_PER_HOUR
SENDS = {"user_id": pl.String, "send_us": pl.Int64, "channel": pl.String, "trigger": pl.String,
         "item_id": pl.String, "local_day": pl.Int64, "moment_id": pl.String, "rank": pl.Int64}  # fmt: skip
ZONES = {"UTC": 0, "Asia/Kolkata": 330 * 60_000_000, "America/New_York": -5 * US_PER_HOUR}


def candidates_of(moments: list[dict[str, Any]], s: GuardrailSettings) -> list[Candidate]:
    """Read the moments as the loop does, ``row`` in ``moment_id`` order, in the loop's order."""
    rank = {t: i for i, t in enumerate(s.priority)}
    out = []
    for i, m in enumerate(sorted(moments, key=lambda m: m["moment_id"])):
        local_day = (m["send_us"] + ZONES[m["tz"]]) // US_PER_DAY
        fields = {**m, "row": i, "rank": rank[m["trigger"]], "local_day": local_day, "send_text": fmt_us(m["send_us"])}
        out.append(Candidate(**{name: fields[name] for name in Candidate._fields}))
    return sorted(out, key=lambda c: (c.user_id, c.rank, c.ts_us, c.moment_id, c.row))


def loop(
    rules: SequentialRules, candidates: list[Candidate], sends: dict[str, list[Send]], zones: dict[str, str]
) -> list[tuple[int, str | None, str | None, str | None]]:
    """Return the loop's decisions, appending what it keeps to ``sends``."""
    out = []
    for c in candidates:
        code, why, channel = rules.decide(c, sends.setdefault(c.user_id, []), zones[c.user_id])
        out.append((c.row, code, why, channel))
    return sorted(out)


@st.composite
def batches(draw: st.DrawFn) -> dict[str, Any]:
    s = draw(guardrail_settings())
    n_users = draw(st.integers(1, 4))
    zones = {f"u{i}": draw(st.sampled_from(sorted(ZONES))) for i in range(n_users)}

    def moments(prefix: str, n: int, hours: tuple[int, int]) -> list[dict[str, Any]]:
        rows = []
        for j in range(n):
            user = f"u{draw(st.integers(0, n_users - 1))}"
            minutes = draw(st.integers(hours[0] * 60, hours[1] * 60))
            minutes -= minutes % draw(st.sampled_from([1, 60]))  # often on the hour: sends at one time
            rows.append(
                {
                    "moment_id": f"{prefix}{draw(st.integers(0, 99)):02d}{j}",
                    "user_id": user,
                    "send_us": T0 + minutes * 60_000_000,
                    "ts_us": draw(st.integers(0, 2)),  # ties of rank and ts: moment_id decides
                    "trigger": draw(st.sampled_from(s.priority[:4])),
                    "item_id": draw(st.sampled_from([None, "i1", "i2"])),
                    "tz": zones[user],
                    "open_channels": draw(st.integers(1, (1 << len(s.channels)) - 1)),
                }
            )
        return rows

    past = moments("k", draw(st.integers(0, 14)), (-200, 60))
    return {"settings": s, "zones": zones, "past": past, "batch": moments("m", draw(st.integers(1, 16)), (0, 48))}


def check(case: dict[str, Any]) -> None:
    s: GuardrailSettings = case["settings"]
    rules = SequentialRules(s)
    sends: dict[str, list[Send]] = {}
    loop(rules, candidates_of(case["past"], s), sends, case["zones"])  # a state the guardrails could hold
    recent = pl.DataFrame(
        [(u, *send[:7]) for u, user_sends in sends.items() for send in user_sends], schema=SENDS, orient="row"
    )
    batch = candidates_of(case["batch"], s)
    expected = loop(rules, batch, sends, case["zones"])
    frame = pl.DataFrame(
        [(*c[:10], c.open_channels, int(c.user_id[1:]), case["zones"][c.user_id]) for c in batch],
        schema=[*Candidate._fields[:10], "open_channels", "__user", "tz"],
        orient="row",
    ).rename({"row": "__row"})
    frame = frame.with_columns(pl.col("__row").cast(pl.UInt32), pl.col("__user").cast(pl.UInt32))
    decided = decide_batch(frame.sample(fraction=1.0, shuffle=True, seed=0), recent, rules)
    assert decided.sort("__row").rows() == expected


@settings(max_examples=400, deadline=None)
@given(batches())
def test_the_batch_decides_as_the_loop(case: dict[str, Any]) -> None:
    check(case)


@settings(max_examples=60, deadline=None)
@given(batches())
def test_items_sharing_a_hash_are_told_apart(case: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:  # every item, and no item, hashes alike
        patch.setattr(pl.Series, "hash", lambda self, *_: pl.Series(self.name, [7] * len(self), pl.UInt64))
        check(case)
