"""Property tests of the guardrails over random users, unsubscribes, moments and settings.

Whatever comes in, no kept schedule breaks a cap, a quiet hour, a cooldown, a consent, an opt-out or the
holdout; each moment comes out exactly once; a replay keeps nothing; the row order changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from features.schemas import CHANNELS, MOMENTS, TRIGGER_KINDS
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import GuardrailResult, Guardrails

#: Zones with DST changes inside the window (New York 8 March, Paris 29 March, Lord Howe's half hour on
#: 5 April), half-hour and 45-minute offsets, and UTC.
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
TS = pl.Datetime("us", "UTC")


@st.composite
def guardrail_settings(draw: st.DrawFn) -> GuardrailSettings:
    channels = draw(st.permutations(CHANNELS).flatmap(lambda p: st.integers(1, 3).map(lambda k: tuple(p[:k]))))
    caps = {c: {"per_day": draw(st.integers(0, 3)), "per_week": draw(st.integers(0, 5))} for c in CHANNELS}
    return GuardrailSettings(
        channels=channels,
        caps=caps,
        quiet_hours={"start": draw(st.integers(0, 23)), "end": draw(st.integers(0, 23))},
        cooldowns={"per_trigger_hours": draw(st.integers(0, 100)), "per_item_hours": draw(st.integers(0, 200))},
        collision_hours=draw(st.sampled_from([0.25, 1.0, 6.0, 24.0, 40.0])),
        holdout_share=draw(st.sampled_from([0.0, 0.3, 0.7])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n_users = draw(st.integers(1, 5))
    minutes = st.integers(0, 28 * 24 * 60)
    users = pl.DataFrame(
        [
            {
                "user_id": f"u{i}",
                "tz": draw(st.sampled_from(ZONES)),
                **{f"consent_{c}": draw(st.booleans()) for c in CHANNELS},
                "opted_out_at": draw(st.none() | minutes.map(lambda m: BASE + timedelta(minutes=m))),
            }
            for i in range(n_users)
        ],
        schema_overrides={"opted_out_at": TS},
    )
    unsubscribes = draw(
        st.lists(st.tuples(st.integers(0, n_users - 1), st.sampled_from(CHANNELS), minutes), max_size=4)
    )
    n = draw(st.integers(0, 30))
    rows = []
    for _ in range(n):
        ts = BASE + timedelta(minutes=draw(minutes))
        trigger = draw(st.sampled_from(list(TRIGGER_KINDS)))
        rows.append(
            {
                "moment_id": f"m{draw(st.integers(0, n + 2))}",  # some ids repeat
                "ts": ts,
                "user_id": f"u{draw(st.integers(0, n_users))}",  # u{n_users} is unknown
                "item_id": draw(st.sampled_from([None, "i1", "i2", "i3"])),
                "trigger": trigger,
                "trigger_kind": TRIGGER_KINDS[trigger],
                "send_at": ts + timedelta(minutes=draw(st.integers(0, 600))),
                "reason": "property",
            }
        )
    schema = MOMENTS
    moments = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return {
        "settings": draw(guardrail_settings()),
        "users": users,
        "events": pl.DataFrame(
            {
                "ts": [BASE + timedelta(minutes=m) for _, _, m in unsubscribes],
                "user_id": [f"u{u}" for u, _, _ in unsubscribes],
                "type": ["unsubscribe"] * len(unsubscribes),
                "channel": [c for _, c, _ in unsubscribes],
            },
            schema={"ts": TS, "user_id": pl.String, "type": pl.String, "channel": pl.String},
        ),
        "moments": moments,
        "split": draw(st.integers(0, n)),
        "order": draw(st.permutations(list(range(n)))),
    }


def run(scenario: dict[str, Any], moments: pl.DataFrame) -> tuple[Guardrails, list[GuardrailResult]]:
    """Two calls: the moments before the split, then the rest."""
    guardrails = Guardrails(scenario["settings"], scenario["users"])
    guardrails.observe(scenario["events"])
    k = scenario["split"]
    return guardrails, [guardrails.apply(moments.head(k)), guardrails.apply(moments.slice(k))]


def in_quiet(local: datetime, start: int, end: int) -> bool:
    hour = local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9
    if start < end:
        return start <= hour < end
    return start > end and (hour >= start or hour < end)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_kept_schedule_breaks_a_guardrail(scenario: dict[str, Any]) -> None:
    s: GuardrailSettings = scenario["settings"]
    moments: pl.DataFrame = scenario["moments"]
    guardrails, results = run(scenario, moments)

    # every input moment comes out exactly once, in kept or in suppressed
    for batch, result in zip([moments.head(scenario["split"]), moments.slice(scenario["split"])], results, strict=True):
        out = pl.concat([result.kept.get_column("moment_id"), result.suppressed.get_column("moment_id")])
        assert sorted(out.to_list()) == sorted(batch.get_column("moment_id").to_list())

    kept = pl.concat([r.kept for r in results])
    held = pl.concat([r.suppressed.filter(pl.col("suppressed_by") == "holdout") for r in results])
    sends = pl.concat([kept, held.select(kept.columns)])
    users = {u["user_id"]: u for u in scenario["users"].iter_rows(named=True)}
    unsubscribed: dict[tuple[str, str], datetime] = {}
    for event in scenario["events"].iter_rows(named=True):
        key = (event["user_id"], event["channel"])
        unsubscribed[key] = min(unsubscribed.get(key, event["ts"]), event["ts"])

    for send in sends.iter_rows(named=True):
        user, at, channel = users[send["user_id"]], send["send_at"], send["channel"]
        assert not in_quiet(at.astimezone(ZoneInfo(user["tz"])), s.quiet_hours.start, s.quiet_hours.end)
        assert user["opted_out_at"] is None or at < user["opted_out_at"]
        assert channel in s.channels
        assert user[f"consent_{channel}"]
        assert (send["user_id"], channel) not in unsubscribed or at < unsubscribed[(send["user_id"], channel)]
    assert not any(guardrails.is_holdout(kept.get_column("user_id").to_list()))
    assert held.height == 0 or all(guardrails.is_holdout(held.get_column("user_id").to_list()))

    by_channel: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for send in sends.iter_rows(named=True):
        by_channel[(send["user_id"], send["channel"])].append(send["send_at"])
        by_user[send["user_id"]].append(send)
    for (user_id, channel), times in by_channel.items():
        zone = ZoneInfo(users[user_id]["tz"])
        days = [t.astimezone(zone).date() for t in times]
        assert max(days.count(d) for d in days) <= s.caps[channel].per_day
        assert max(sum(1 for u in times if t - WEEK < u <= t) for t in times) <= s.caps[channel].per_week
    for user_sends in by_user.values():
        for i, a in enumerate(user_sends):
            for b in user_sends[i + 1 :]:
                gap = abs(a["send_at"] - b["send_at"])
                assert gap >= timedelta(hours=s.collision_hours)
                assert a["trigger"] != b["trigger"] or gap >= timedelta(hours=s.cooldowns.per_trigger_hours)
                same_item = a["item_id"] is not None and a["item_id"] == b["item_id"]
                assert not same_item or gap >= timedelta(hours=s.cooldowns.per_item_hours)

    # a replay of the same moments keeps nothing
    replay = guardrails.apply(moments)
    assert replay.kept.height == 0
    assert replay.suppressed.get_column("suppressed_by").to_list() == ["duplicate"] * moments.height


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_the_row_order_changes_nothing(scenario: dict[str, Any]) -> None:
    moments: pl.DataFrame = scenario["moments"]
    k = scenario["split"]
    shuffled = pl.concat(
        [
            moments.head(k)[[i for i in scenario["order"] if i < k]],
            moments.slice(k)[[i - k for i in scenario["order"] if i >= k]],
        ]
    )
    _, first = run(scenario, moments)
    _, second = run(scenario, shuffled)
    for a, b in zip(first, second, strict=True):
        assert a.kept.equals(b.kept)
        assert a.suppressed.equals(b.suppressed)
