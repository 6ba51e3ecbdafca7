"""Ground truth for every guardrail on tiny hand-made frames: exact codes, channels, send times and sentences.

Also the check at delivery and the holdout hash. Bad inputs: test_guardrail_inputs.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from features.schemas import DECIDABLE_MOMENTS, MOMENTS, SUPPRESSIONS
from policies.triggers.guardrails import Guardrails
from tests.policies.triggers.guardrail_frames import (
    T0,
    H,
    moments,
    outcome,
    settings,
    unsubscribe,
    users,
)

# ---- each guardrail ---------------------------------------------------------------------------------------


def test_schemas_of_the_result() -> None:
    result = Guardrails(settings(), users({})).apply(moments({}, {"user_id": "u9"}))
    assert result.kept.schema == DECIDABLE_MOMENTS
    assert result.suppressed.schema == SUPPRESSIONS
    assert outcome(result) == [
        ("m1", "in_app", None, None),
        ("m2", None, "unknown_user", "user u9 is not among the known users"),
    ]


def test_empty_moments_give_empty_results() -> None:
    result = Guardrails(settings(), users({})).apply(pl.DataFrame(schema=MOMENTS))
    assert (result.kept.height, result.suppressed.height) == (0, 0)
    assert result.kept.schema == DECIDABLE_MOMENTS
    assert result.suppressed.schema == SUPPRESSIONS


def test_duplicates_across_calls_and_within_a_batch() -> None:
    guardrails = Guardrails(settings(), users({}))
    first = moments({"send_at": T0}, {"send_at": T0 + 30 * H})
    assert [r[2] for r in outcome(guardrails.apply(first))] == [None, None]
    batch = pl.concat([first, moments({"send_at": T0 + 60 * H}).with_columns(moment_id=pl.lit("m3"))])
    batch = pl.concat([batch, batch.tail(1)])  # m3 twice
    assert outcome(guardrails.apply(batch)) == [
        ("m1", None, "duplicate", "moment m1 was already handled by an earlier call"),
        ("m2", None, "duplicate", "moment m2 was already handled by an earlier call"),
        ("m3", None, "duplicate", "moment m3 appears more than once in this batch; the first copy was handled"),
        ("m3", "in_app", None, None),
    ]


def test_opted_out_as_of_the_send_time() -> None:
    guardrails = Guardrails(settings(), users({"opted_out_at": T0}))
    result = guardrails.apply(moments({"send_at": T0 - H}, {"send_at": T0}))
    assert outcome(result) == [
        ("m1", "in_app", None, None),
        ("m2", None, "opted_out", "user u1 opted out at 2026-03-04 12:00 UTC, before the send at 2026-03-04 12:00 UTC"),
    ]


def test_no_consent_names_each_channel() -> None:
    guardrails = Guardrails(settings(), users({"consent_in_app": False, "consent_email": True}))
    guardrails.observe(unsubscribe("u1", "email", T0 - 2 * H))
    assert outcome(guardrails.apply(moments({}))) == [
        (
            "m1",
            None,
            "no_consent",
            "user u1 has no open channel at 2026-03-04 12:00 UTC: in_app no consent, "
            "email unsubscribed at 2026-03-04 10:00 UTC, sms no consent",
        )
    ]


def test_channel_order_and_unsubscribes_as_of_the_send_time() -> None:
    guardrails = Guardrails(settings(), users({"consent_email": True, "consent_sms": True}))
    guardrails.observe(unsubscribe("u1", "in_app", T0))
    guardrails.observe(unsubscribe("u1", "in_app", T0 + 50 * H))  # a later unsubscribe changes nothing
    result = guardrails.apply(moments({"send_at": T0 - H}, {"send_at": T0}, {"send_at": T0 + 30 * H}))
    assert outcome(result) == [("m1", "in_app", None, None), ("m2", "email", None, None), ("m3", "email", None, None)]


def test_channels_follow_the_settings_order() -> None:
    guardrails = Guardrails(settings(channels=("sms", "in_app")), users({"consent_email": True, "consent_sms": True}))
    assert outcome(guardrails.apply(moments({}))) == [("m1", "sms", None, None)]


def test_quiet_hours_defer_to_the_local_end_hour_across_midnight() -> None:
    quiet = settings(quiet_hours={"start": 22, "end": 8})
    guardrails = Guardrails(quiet, users({"tz": "Europe/Paris"}))
    late = datetime(2026, 3, 4, 21, 30, tzinfo=UTC)  # 22:30 in Paris (UTC+1)
    early = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    day = datetime(2026, 3, 20, 20, 59, tzinfo=UTC)  # 21:59 in Paris: not quiet
    result = guardrails.apply(moments({"send_at": late}, {"send_at": early}, {"send_at": day}))
    assert result.kept.select("moment_id", "send_at").rows() == [
        ("m1", datetime(2026, 3, 5, 7, 0, tzinfo=UTC)),
        ("m2", datetime(2026, 3, 10, 7, 0, tzinfo=UTC)),
        ("m3", day),
    ]
    assert result.kept.get_column("ts").to_list() == [late, early, day]  # the moment's own time is untouched


def test_quiet_hours_are_dst_correct() -> None:
    """New York springs forward on 2026-03-08: 22:00 EST on the 7th waits until 08:00 EDT, 12:00 UTC (not 13:00)."""
    guardrails = Guardrails(settings(quiet_hours={"start": 22, "end": 8}), users({"tz": "America/New_York"}))
    result = guardrails.apply(moments({"send_at": datetime(2026, 3, 8, 3, 0, tzinfo=UTC)}))
    assert result.kept.get_column("send_at").to_list() == [datetime(2026, 3, 8, 12, 0, tzinfo=UTC)]


def test_quiet_hours_within_a_day_and_an_end_hour_the_clock_skips() -> None:
    midday = Guardrails(settings(quiet_hours={"start": 12, "end": 14}), users({"tz": "Asia/Tokyo"}))
    at = datetime(2026, 3, 4, 3, 30, tzinfo=UTC)  # 12:30 in Tokyo
    assert midday.apply(moments({"send_at": at})).kept.get_column("send_at").to_list() == [
        at + 1.5 * H
    ]  # 14:00 in Tokyo
    skipped = Guardrails(settings(quiet_hours={"start": 0, "end": 2}), users({"tz": "America/New_York"}))
    at = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST; 02:00 does not exist that night, 03:00 EDT does
    assert skipped.apply(moments({"send_at": at})).kept.get_column("send_at").to_list() == [
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    ]


def test_quiet_hours_defer_before_consent_and_opt_out_are_checked() -> None:
    """A send deferred past the opt-out is stopped: every check is made at the final send time."""
    opted = datetime(2026, 3, 5, 6, 0, tzinfo=UTC)
    guardrails = Guardrails(settings(quiet_hours={"start": 22, "end": 8}), users({"opted_out_at": opted}))
    result = guardrails.apply(moments({"send_at": datetime(2026, 3, 4, 23, 0, tzinfo=UTC)}))
    assert outcome(result) == [
        ("m1", None, "opted_out", "user u1 opted out at 2026-03-05 06:00 UTC, before the send at 2026-03-05 08:00 UTC")
    ]
    assert result.suppressed.get_column("send_at").to_list() == [datetime(2026, 3, 5, 8, 0, tzinfo=UTC)]


def test_cooldown_per_trigger_and_per_item() -> None:
    cooled = settings(cooldowns={"per_trigger_hours": 72, "per_item_hours": 168})
    guardrails = Guardrails(cooled, users({}))
    result = guardrails.apply(
        moments(
            {"trigger": "cart_abandon", "item_id": "i1"},
            {"trigger": "cart_abandon", "item_id": "i2", "send_at": T0 + 48 * H},
            {"trigger": "price_drop", "item_id": "i1", "send_at": T0 + 100 * H},
            {"trigger": "cart_abandon", "item_id": "i3", "send_at": T0 + 72 * H},
        )
    )
    assert outcome(result) == [
        ("m1", "in_app", None, None),
        (
            "m2",
            None,
            "cooldown_trigger",
            "cart_abandon was kept for this user at 2026-03-04 12:00 UTC (m1), "
            "less than 72 h from 2026-03-06 12:00 UTC",
        ),
        (
            "m3",
            None,
            "cooldown_item",
            "item i1 was the subject of m1 at 2026-03-04 12:00 UTC, less than 168 h from 2026-03-08 16:00 UTC",
        ),
        ("m4", "in_app", None, None),
    ]


def test_cooldowns_hold_across_calls() -> None:
    guardrails = Guardrails(settings(cooldowns={"per_trigger_hours": 72, "per_item_hours": 0}), users({}))
    guardrails.apply(moments({}))
    later = moments({"send_at": T0 + 71 * H}).with_columns(moment_id=pl.lit("m2"))
    assert [r[2] for r in outcome(guardrails.apply(later))] == ["cooldown_trigger"]


def test_day_cap_counts_the_users_local_calendar_day() -> None:
    capped = settings(caps={c: {"per_day": 1, "per_week": 9} for c in ("in_app", "email", "sms")})
    guardrails = Guardrails(capped, users({"tz": "Asia/Tokyo"}))
    result = guardrails.apply(
        moments(
            {"send_at": datetime(2026, 3, 4, 14, 0, tzinfo=UTC)},  # 23:00 on the 4th in Tokyo
            {"send_at": datetime(2026, 3, 4, 16, 0, tzinfo=UTC)},  # 01:00 on the 5th
            {"send_at": datetime(2026, 3, 5, 14, 59, tzinfo=UTC)},  # 23:59 on the 5th
        )
    )
    assert outcome(result) == [
        ("m1", "in_app", None, None),
        ("m2", "in_app", None, None),
        ("m3", None, "cap_day", "1 in_app message on 2026-03-05 (Asia/Tokyo) (cap 1)"),
    ]


def test_week_cap_falls_back_to_the_next_channel_then_suppresses() -> None:
    caps = {"in_app": {"per_day": 5, "per_week": 3}, "email": {"per_day": 5, "per_week": 1}}
    guardrails = Guardrails(settings(channels=("in_app", "email"), caps=caps), users({"consent_email": True}))
    days = [{"send_at": T0 + d * 24 * H + 8 * H} for d in range(-3, 2)]
    result = guardrails.apply(moments(*days))
    assert outcome(result) == [
        ("m1", "in_app", None, None),
        ("m2", "in_app", None, None),
        ("m3", "in_app", None, None),
        ("m4", "email", None, None),
        (
            "m5",
            None,
            "cap_week",
            "3 in_app messages in the 7 days before 2026-03-05 20:00 UTC (cap 3); "
            "1 email message in the 7 days before 2026-03-05 20:00 UTC (cap 1)",
        ),
    ]


def test_a_rolling_week_starts_just_after_a_send_seven_days_earlier() -> None:
    """Across calls (the vectorised path of a user alone in the batch): a send exactly 7 days later is clear."""
    weekly = settings(caps={c: {"per_day": 1, "per_week": 1} for c in ("in_app", "email", "sms")})
    guardrails = Guardrails(weekly, users({}))
    guardrails.apply(moments({}))
    week = timedelta(days=7)
    assert outcome(guardrails.apply(moments({"send_at": T0 + week - timedelta(minutes=1)}).with_columns(
        moment_id=pl.lit("m2")))) == [
        ("m2", None, "cap_week", "1 in_app message in the 7 days before 2026-03-11 11:59 UTC (cap 1)")
    ]  # fmt: skip
    assert outcome(guardrails.apply(moments({"send_at": T0 + week}).with_columns(moment_id=pl.lit("m3")))) == [
        ("m3", "in_app", None, None)
    ]


def test_week_cap_counts_later_sends_of_earlier_calls() -> None:
    """Moments that arrive out of order still never put four sends in one rolling week."""
    weekly = settings(caps={c: {"per_day": 5, "per_week": 3} for c in ("in_app", "email", "sms")})
    guardrails = Guardrails(weekly, users({}))
    guardrails.apply(moments(*({"send_at": T0 + d * 24 * H} for d in (2, 3, 4))))
    early = moments({"send_at": T0}).with_columns(moment_id=pl.lit("m9"))
    assert outcome(guardrails.apply(early)) == [
        (
            "m9",
            None,
            "cap_week",
            "3 in_app messages in the 7 days up to 2026-03-08 12:00 UTC, which this send joins (cap 3)",
        )
    ]


def test_priority_names_the_winner_whatever_the_row_order() -> None:
    guardrails = Guardrails(settings(collision_hours=24), users({}, {}))
    batch = moments(
        {"trigger": "best_hour", "send_at": T0},
        {"trigger": "cart_abandon", "send_at": T0 + 5 * H},
        {"trigger": "repeat_view", "send_at": T0 + 20 * H},
        {"trigger": "onboarding", "send_at": T0 + 30 * H},  # collides with m3 only, which lost
        {"trigger": "best_hour", "user_id": "u2"},
    )
    expected = [
        ("m1", None, "priority", "best_hour at 2026-03-04 12:00 UTC collides with m2 (cart_abandon at 2026-03-04 "
         "17:00 UTC) within 24 h; m2 wins"),
        ("m2", "in_app", None, None),
        ("m3", None, "priority", "repeat_view at 2026-03-05 08:00 UTC collides with m2 (cart_abandon at 2026-03-04 "
         "17:00 UTC) within 24 h; m2 wins"),
        ("m4", "in_app", None, None),
        ("m5", "in_app", None, None),
    ]  # fmt: skip
    assert outcome(guardrails.apply(batch)) == expected
    again = Guardrails(settings(collision_hours=24), users({}, {})).apply(batch.reverse())
    assert outcome(again) == expected


def test_priority_ties_break_on_ts_then_moment_id() -> None:
    guardrails = Guardrails(settings(collision_hours=24), users({}))
    batch = moments(
        {"trigger": "price_drop", "ts": T0, "send_at": T0 + 2 * H},
        {"trigger": "price_drop", "ts": T0 - H, "send_at": T0 + 3 * H},
        {"trigger": "price_drop", "ts": T0 - H, "send_at": T0 + 4 * H},
    )
    assert [r[2] for r in outcome(guardrails.apply(batch))] == ["priority", None, "priority"]


def test_holdout_is_suppressed_with_its_channel_and_counts_as_a_send() -> None:
    held = settings(holdout_share=0.5, cooldowns={"per_trigger_hours": 72, "per_item_hours": 0})
    guardrails = Guardrails(held, users({}, {}, {}))
    assert guardrails.is_holdout(["u1", "u3"]).tolist() == [True, False]
    batch = moments({}, {"send_at": T0 + 30 * H}, {"user_id": "u3"})
    assert outcome(guardrails.apply(batch)) == [
        (
            "m1",
            "in_app",
            "holdout",
            "user u1 is in the global holdout (50% of users): nothing is sent, but it counts as a send on in_app",
        ),
        (
            "m2",
            None,
            "cooldown_trigger",
            "best_hour was kept for this user at 2026-03-04 12:00 UTC (m1), less than 72 h from 2026-03-05 18:00 UTC",
        ),
        ("m3", "in_app", None, None),
    ]


def test_holdout_is_a_stable_salted_hash_near_its_share() -> None:
    guardrails = Guardrails(settings(holdout_share=0.05), users({}))
    ids = [f"user-{i}" for i in range(20_000)]
    share = guardrails.is_holdout(ids).mean()
    assert 0.045 < share < 0.055
    held = np.flatnonzero(guardrails.is_holdout(ids[:200])).tolist()
    assert held == [33, 37, 62, 95, 119, 127, 132, 139, 146, 154, 194, 199]
    digest = [hashlib.blake2b(b"offerlab-holdout\x00" + u.encode(), digest_size=8).digest() for u in ids[:200]]
    assert held == [i for i, d in enumerate(digest) if int.from_bytes(d, "big") / 2.0**64 < 0.05]
    resalted = Guardrails(settings(holdout_share=0.05, holdout_salt="other"), users({}))
    assert not np.array_equal(resalted.is_holdout(ids), guardrails.is_holdout(ids))


def test_extra_columns_travel_with_the_moment() -> None:
    batch = moments({}, {"user_id": "u9"}).with_columns(score=pl.Series([0.5, 0.7]))
    result = Guardrails(settings(), users({})).apply(batch)
    assert result.kept.columns[-1] == "score"
    assert result.kept.get_column("score").to_list() == [0.5]
    assert result.suppressed.get_column("score").to_list() == [0.7]


def test_filled_in_columns_of_the_input_are_replaced_and_other_time_zones_read_as_instants() -> None:
    paris = pl.Datetime("us", "Europe/Paris")
    batch = moments({}).with_columns(
        pl.col("ts", "send_at").dt.convert_time_zone("Europe/Paris"), channel=pl.lit("sms"), code=pl.lit("x")
    )
    assert batch.schema["send_at"] == paris
    result = Guardrails(settings(), users({})).apply(batch)
    assert result.kept.select("channel", "send_at", "code").rows() == [("in_app", T0, "x")]
    assert result.kept.schema["send_at"] == pl.Datetime("us", "UTC")


def test_add_users_lets_late_sign_ups_through_and_updates_known_users() -> None:
    guardrails = Guardrails(settings(), users({}))
    late = users({"consent_in_app": False}, {}).with_columns(user_id=pl.Series(["u1", "u2"]))
    guardrails.add_users(late)
    result = guardrails.apply(moments({"user_id": "u1"}, {"user_id": "u2"}))
    assert [(r[0], r[1], r[2]) for r in outcome(result)] == [("m1", None, "no_consent"), ("m2", "in_app", None)]


# ---- the check at delivery ----------------------------------------------------------------------------------


def test_deliverable_refuses_after_an_unsubscribe_and_allows_before() -> None:
    guardrails = Guardrails(settings(), users({"consent_email": True}))
    ten = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    guardrails.observe(unsubscribe("u1", "in_app", ten))
    at = [ten + timedelta(minutes=5), ten - timedelta(minutes=5), ten + timedelta(minutes=5)]
    mask, why = guardrails.deliverable(["u1", "u1", "u1"], ["in_app", "in_app", "email"], at)
    assert mask.tolist() == [False, True, True]
    assert why == ["user u1 unsubscribed from in_app at 2026-03-04 10:00 UTC", None, None]


def test_deliverable_checks_opt_out_consent_and_unknown_users() -> None:
    guardrails = Guardrails(settings(), users({"opted_out_at": T0}, {}))
    at = np.array(["2026-03-04T12:00", "2026-03-04T11:59", "2026-03-04T12:00", "2026-03-04T12:00"], "datetime64[us]")
    mask, why = guardrails.deliverable(["u1", "u1", "u2", "u3"], ["in_app", "in_app", "sms", "in_app"], at)
    assert mask.tolist() == [False, True, False, False]
    assert why == [
        "user u1 opted out at 2026-03-04 12:00 UTC",
        None,
        "user u2 gave no consent to sms",
        "user u3 is not among the known users",
    ]


# ---- bad inputs -------------------------------------------------------------------------------------------
