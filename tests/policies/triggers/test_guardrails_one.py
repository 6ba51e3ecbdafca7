"""``Guardrails.apply_one`` against ``Guardrails.apply`` on one-row frames.

Random sequences of single moments (several users and zones across DST changes, random quiet hours, caps,
cooldowns and collisions, opted-out, unsubscribed, unknown and holdout users, repeated moment ids) give the same
verdict, code, sentence, channel and send time at every step, and leave the same state behind (a final batch
through ``apply`` agrees too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.schemas import MOMENTS
from features.validation import SchemaError
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import GuardrailResult, Guardrails, Verdict
from tests.policies.triggers.test_guardrail_properties import scenarios


def row_of(result: GuardrailResult) -> tuple[bool, dict[str, Any]]:
    """Whether the one moment of a one-row ``apply`` was kept, and its row."""
    assert result.kept.height + result.suppressed.height == 1
    if result.kept.height:
        return True, result.kept.row(0, named=True)
    return False, result.suppressed.row(0, named=True)


def same(verdict: Verdict, result: GuardrailResult) -> None:
    kept, row = row_of(result)
    assert verdict.kept == kept
    assert verdict.row() == row
    assert [str(v.tzinfo) for v in (verdict.ts, verdict.send_at)] == [str(row["ts"].tzinfo), str(row["send_at"].tzinfo)]


def guardrails_of(scenario: dict[str, Any]) -> Guardrails:
    guardrails = Guardrails(scenario["settings"], scenario["users"])
    guardrails.observe(scenario["events"])
    return guardrails


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(scenarios(), st.data())
def test_apply_one_is_apply_on_one_row(scenario: dict[str, Any], data: st.DataObject) -> None:
    moments: pl.DataFrame = scenario["moments"]
    by_frame, by_one = guardrails_of(scenario), guardrails_of(scenario)
    zones = st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])
    for i in range(moments.height):
        frame = moments.slice(i, 1)
        expected = by_frame.apply(frame)
        moment = frame.row(0, named=True)
        zone = data.draw(zones)  # the same instants, written in another zone
        moment = {**moment, "ts": moment["ts"].astimezone(zone), "send_at": moment["send_at"].astimezone(zone)}
        if data.draw(st.integers(0, 4)) == 0:  # now and then the batch path on the fast instance too
            same_frame = by_one.apply(frame)
            assert row_of(same_frame) == row_of(expected)
        else:
            same(by_one.apply_one(moment), expected)
    # the state each left behind: a batch of the same moments again and shifted copies with new ids
    shifted = moments.with_columns(
        pl.col("moment_id") + "-again", pl.col("send_at") + timedelta(hours=30), pl.col("ts") + timedelta(hours=30)
    )
    batch = pl.concat([moments, shifted])
    first, second = by_frame.apply(batch), by_one.apply(batch)
    assert first.kept.equals(second.kept)
    assert first.suppressed.equals(second.suppressed)
    # and single moments after a batch call see what the batch kept
    for row in shifted.with_columns(pl.col("moment_id") + "-late").iter_rows(named=True):
        same(by_one.apply_one(row), by_frame.apply(pl.DataFrame([row], schema=MOMENTS, orient="row")))


def test_apply_one_refuses_what_apply_refuses() -> None:
    users = pl.DataFrame(
        {"user_id": ["u1"], "tz": ["UTC"], "consent_in_app": [True], "consent_email": [False], "consent_sms": [False]},
    ).with_columns(opted_out_at=pl.lit(None, pl.Datetime("us", "UTC")))
    guardrails = Guardrails(GuardrailSettings(), users)
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    moment = dict(moment_id="m1", ts=at, user_id="u1", item_id=None, trigger="best_hour", trigger_kind="time",
                  send_at=at, reason="")  # fmt: skip
    with pytest.raises(SchemaError, match="unknown trigger"):
        guardrails.apply_one({**moment, "trigger": "nope"})
    with pytest.raises(SchemaError, match="time-zone-aware"):
        guardrails.apply_one({**moment, "send_at": at.replace(tzinfo=None)})
    with pytest.raises(SchemaError, match="missing"):
        guardrails.apply_one({k: v for k, v in moment.items() if k != "reason"})
    with pytest.raises(SchemaError, match="null"):
        guardrails.apply_one({**moment, "user_id": None})
    assert guardrails.apply_one(moment).kept  # nothing was counted by the refused calls
