"""``defer_one`` (one send, the standard library's zones) is ``defer_quiet_hours`` (polars, a frame of sends).

The endpoint defers one send per request with :func:`~policies.triggers.guardrails.clock.defer_one`; the batch
path with :func:`~policies.triggers.guardrails.clock.defer_quiet_hours`. Over random sends near clock changes, in
zones with odd offsets and half-hour changes, and every kind of quiet hours (over midnight, within a day, none,
ending in an hour the clock skips), both give the same send time and local day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.triggers.guardrails.clock import US_PER_HOUR, defer_one, defer_quiet_hours, to_us

#: Zones with clock changes forward and back, half-hour offsets and changes, and none.
ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/St_Johns", "Asia/Kolkata",
         "Pacific/Chatham", "Asia/Tokyo", "UTC"]  # fmt: skip
#: Days of clock changes in 2026 (Europe 29 March / 25 October, the US 8 March / 1 November, Lord Howe 5 April).
CHANGES = [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 4, 5, tzinfo=UTC),
           datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    change=st.sampled_from(CHANGES),
    minutes=st.integers(-36 * 60, 36 * 60),
    zone=st.sampled_from(ZONES),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_one_send_is_deferred_as_the_batch_defers_it(
    change: datetime, minutes: int, zone: str, start: int, end: int
) -> None:
    send = to_us(change + timedelta(minutes=minutes)) + 17  # off the minute, to the microsecond
    moved, day = defer_quiet_hours(np.array([send], dtype=np.int64), np.array([zone]), start, end)
    assert defer_one.__wrapped__(send, zone, start, end) == (int(moved[0]), int(day[0]))


def test_a_quiet_hours_end_the_clock_skips_lands_after_the_gap() -> None:
    # Paris skips 02:00-03:00 on 29 March 2026: quiet hours 23-02 end at a wall time that does not exist
    send = to_us(datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # 00:30 in Paris, inside
    moved, _ = defer_one.__wrapped__(send, "Europe/Paris", 23, 2)
    assert moved == to_us(datetime(2026, 3, 29, 1, tzinfo=UTC))  # 03:00 in Paris, the first instant after the gap
    assert moved % US_PER_HOUR == 0
