"""The endpoint's one-moment context (:mod:`features.pipelines.context_row`) is the batch context, value by value.

Over a simulated world's features, moments of many users, items, triggers, channels and send times (every hour
of the week, in every time zone the world has, across a daylight-saving change) are built both ways: by
:func:`~features.pipelines.context.context_features` on the whole frame and by
:func:`~features.pipelines.context_row.one_context` one at a time. Every column must be equal, floats to the bit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.pipelines import build_features
from features.pipelines.context import CONTEXT, context_features, local_fields, price_vs_usual
from features.pipelines.context_row import ContextSides, one_context
from features.pipelines.daily import in_local_time
from features.schemas import TRIGGER_KINDS
from simulators.marketplace import SimulationResult

#: Moments compared.
MOMENTS = 600


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and floats compared bit for bit."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


@pytest.fixture(scope="module")
def world(small_run: SimulationResult) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Users (with their time zones), the users' features and the items' features as of the last day."""
    as_of = datetime(2026, 3, 8, tzinfo=UTC)
    features = build_features(small_run.events.lazy(), small_run.items.lazy(), small_run.users.lazy(), as_of)
    return small_run.users, features.users, features.items


def test_one_moment_at_a_time_gives_the_batch_context(world: tuple[pl.DataFrame, ...]) -> None:
    users, user_features, items = world
    rng = np.random.default_rng(5)
    with_features = user_features.get_column("user_id").to_numpy()
    start = datetime(2026, 3, 25, tzinfo=UTC)  # Europe and the US move their clocks in the week that follows
    moments = pl.DataFrame(
        {
            "user_id": rng.choice(with_features, MOMENTS),
            "item_id": [*rng.choice(items.get_column("item_id").to_numpy(), MOMENTS - 20), *["unlisted"] * 20],
            "trigger": rng.choice([*TRIGGER_KINDS, "not_a_trigger"], MOMENTS),
            "channel": rng.choice(["in_app", "email", "sms"], MOMENTS),
            "send_at": [start + timedelta(minutes=int(m)) for m in rng.integers(0, 14 * 24 * 60, MOMENTS)],
        },
        schema_overrides={"send_at": pl.Datetime("us", "UTC")},
    )
    zones = users.get_column("tz").unique().sort().to_list()
    batch = context_features(
        moments.lazy(), users.lazy(), user_features.lazy(), items.lazy(), zones, catalogue=items.lazy()
    ).collect()
    sides = ContextSides.of(user_features, items)
    tz_of = dict(users.select("user_id", "tz").iter_rows())
    for i, moment in enumerate(moments.iter_rows(named=True)):
        one = one_context(
            moment["trigger"],
            moment["channel"],
            moment["send_at"],
            tz_of[moment["user_id"]],
            sides.user(moment["user_id"]),
            sides.item(moment["item_id"]),
        )
        expected = {c: batch.row(i, named=True)[c] for c in CONTEXT}
        differ = {c: (one[c], expected[c]) for c in CONTEXT if not same(one[c], expected[c])}
        assert not differ, f"moment {i} ({moment}): one-moment vs batch {differ}"


@settings(max_examples=200, deadline=None)
@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
    tz=st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata"]),
)
def test_local_fields_are_those_of_the_polars_expression(instant: datetime, tz: str) -> None:
    frame = pl.DataFrame({"ts": [instant], "tz": [tz]}, schema={"ts": pl.Datetime("us", "UTC"), "tz": pl.String})
    hour, weekday = frame.select(in_local_time("hour", [tz]), in_local_time("weekday", [tz]).alias("w")).row(0)
    assert local_fields(instant, tz) == (hour, weekday)


@settings(max_examples=300, deadline=None)
@given(
    log_price=st.floats(-5, 12) | st.none(),
    usual=st.floats(-5, 12) | st.none(),
)
def test_price_vs_usual_is_rounded_as_polars_rounds(log_price: float | None, usual: float | None) -> None:
    frame = pl.DataFrame({"p": [log_price], "u": [usual]}, schema={"p": pl.Float64, "u": pl.Float64})
    assert same(price_vs_usual(log_price, usual), frame.select((pl.col("p") - pl.col("u")).round(9)).item())
