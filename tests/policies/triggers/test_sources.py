"""The engine's narrow feature source gives what the full pipeline gives for the columns the rules read."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.pipelines import build_user_features
from policies.triggers.sources import SOURCE_COLUMNS, EventLogFeatureSource
from tests.benchmarks.synthetic_events import START, synthetic_frames


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Assert two frames equal: integers and hours exactly; account_age_days within 1e-12 relative.

    account_age_days is a float quotient, and it came out one bit apart in about one run in fifteen.
    """
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12, abs_tol=0)


@pytest.fixture(scope="module")
def log() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    events, items, users = synthetic_frames(60_000, seed=4)
    return events.sort("ts", maintain_order=True), items, users


def test_narrow_source_equals_the_pipeline_in_any_order_of_as_of(log):
    events, items, users = log
    source = EventLogFeatureSource(events.head(20_000), items, users)
    source.extend(events.slice(20_000))
    # forward, past the 90-day horizon (recency stays all-time), then back in time, then forward again
    for days in (2.5, 30, 95, 119.2, 121, 40, 100):
        as_of = START + timedelta(days=days)
        want = build_user_features(events.lazy(), items.lazy(), users.lazy(), as_of).collect().select(SOURCE_COLUMNS)
        got = source.user_features(as_of)
        assert_same(got, want)
    assert want["days_since_last_session"].max() > 90


def test_extending_out_of_order_still_cuts_at_as_of(log):
    events, items, users = log
    source = EventLogFeatureSource(events.slice(30_000), items, users)
    source.extend(events.head(30_000))
    as_of = START + timedelta(days=70)
    want = build_user_features(events.lazy(), items.lazy(), users.lazy(), as_of).collect().select(SOURCE_COLUMNS)
    assert_same(source.user_features(as_of), want)
