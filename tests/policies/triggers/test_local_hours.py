"""Send times at a local hour: the vectorised and one-by-one paths equal :func:`next_local_hour`.

The vectorised path (:func:`by_zone`) and the one-by-one path of :func:`next_local_hours` both equal
:func:`next_local_hour`, around daylight-saving changes too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.triggers.rules.base import HOUR_US, by_zone, next_local_hour, next_local_hours, to_us

ZONES = [None, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
#: Days around the 2026 daylight-saving changes of these zones (both hemispheres).
DAYS = [datetime(2026, m, d, tzinfo=UTC) for m, d in ((3, 7), (3, 28), (4, 4), (9, 5), (10, 3), (10, 24), (11, 1))]

rows = st.lists(
    st.tuples(
        st.sampled_from(DAYS).flatmap(lambda d: st.integers(0, 3 * 24 * 4).map(lambda q: to_us(d) + q * HOUR_US // 4)),
        st.integers(0, 23),
        st.sampled_from(ZONES),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_both_paths_equal_the_row_by_row_send_time(cases: list[tuple[int, int, str | None]]) -> None:
    expected = [next_local_hour(t, h, z) for t, h, z in cases]
    frame = pl.DataFrame(cases, schema={"ts": pl.Int64, "hour": pl.Int64, "tz": pl.String}, orient="row")
    assert by_zone(frame)["send"].to_list() == expected
    doubled = pl.concat([frame, frame])  # repeated rows are computed once and given back to each
    assert next_local_hours(doubled["ts"], doubled["hour"], doubled["tz"]).to_list() == expected * 2
