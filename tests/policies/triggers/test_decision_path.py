"""Engine and guardrails together, on random small logs: batch equals streaming, and a replay fires nothing."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.triggers.config import load_trigger_config
from policies.triggers.engine import TriggerEngine
from policies.triggers.guardrails import Guardrails
from tests.policies.triggers.tiny import events_frame, tiny_items, tiny_users

CONFIG = load_trigger_config()
TYPES = ("view", "view", "view", "favorite", "cart_add", "cart_remove", "purchase", "follow_merchant")


def consenting_users() -> pl.DataFrame:
    users = tiny_users().with_columns(pl.col("tz").fill_null("UTC"))
    return users.with_columns(
        consent_in_app=pl.lit(True),
        consent_email=pl.lit(True),
        consent_sms=pl.lit(False),
        opted_out_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
    )


@st.composite
def logs(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 40))
    minutes = sorted(draw(st.lists(st.floats(0, 4 * 24 * 60, allow_nan=False), min_size=n, max_size=n)))
    rows = []
    for minute in minutes:
        item = draw(st.sampled_from(["i1", "i2", "i3"]))
        merchant = {"i1": "m1", "i2": "m1", "i3": "m2"}[item]
        kind = draw(st.sampled_from(TYPES))
        rows.append((minute, draw(st.sampled_from(["u1", "u2", "u3", "u4"])), kind, item, merchant, None, 1))
    return events_frame(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_batch_equals_streaming_and_a_replay_fires_nothing(events: pl.DataFrame) -> None:
    items, users = tiny_items(), consenting_users()
    end = events["ts"].max() + timedelta(days=2)
    batch = TriggerEngine(CONFIG, items, users).run(events, until=end)
    streaming = TriggerEngine(CONFIG, items, users)
    parts = [streaming.push(event) for event in events.iter_rows(named=True)]
    parts.append(streaming.advance(end))
    assert pl.concat(parts).sort("ts", "moment_id").equals(batch)

    guardrails = Guardrails(CONFIG.guardrails, users)
    first = guardrails.apply(batch)
    assert first.kept.height + first.suppressed.height == batch.height
    replayed = TriggerEngine(CONFIG, items, users).run(events, until=end)  # the same events, from the start
    again = guardrails.apply(replayed)
    assert again.kept.height == 0
    assert set(again.suppressed["suppressed_by"]) <= {"duplicate"}
