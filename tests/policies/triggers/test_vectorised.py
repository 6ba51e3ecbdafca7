"""The vectorised window path against the event-by-event path on random small logs that exercise it.

Carts with purchases and removals at or near their deadlines, stock crossings, follows and unfollows around new
listings, price drops to favourited items, and windows cut at arbitrary times.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.triggers.config import TriggerConfig
from policies.triggers.engine import TriggerEngine
from tests.policies.triggers.tiny import at, events_frame, tiny_items, tiny_users

CONFIG = TriggerConfig(
    rules={
        "behaviour": {"cart_abandon_minutes": 30, "repeat_views": 2},
        "inventory": {"low_stock_threshold": 2, "max_users_per_item": 2},
        "time": {"cadence_days": 1, "active_within_days": 1},
        "social": {"max_followers_per_listing": 2, "at_best_hour": False},
        "lifecycle": {"enabled": False},
    }
)
TYPES = ("view", "cart_add", "cart_remove", "purchase", "favorite", "follow_merchant", "unfollow_merchant")
MERCHANT = {"i1": "m1", "i2": "m1", "i3": "m2"}


def listings(minutes: list[int]) -> pl.DataFrame:
    ids = [f"i{7 + k}" for k in range(len(minutes))]
    return pl.DataFrame(
        {
            "item_id": ids,
            "merchant_id": ["m1" if k % 2 == 0 else "m2" for k in range(len(ids))],
            "category": ["bags"] * len(ids),
            "price": [10.0] * len(ids),
            "listed_at": [at(m) for m in minutes],
            "stock": [1] * len(ids),
        },
        schema_overrides={"listed_at": pl.Datetime("us", "UTC"), "stock": pl.Int32},
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, list[int]]:
    """Draw episodes on a 30-minute grid over two days.

    A cart add then maybe a purchase or removal at, just before or just after its 30-minute deadline; a follow then
    maybe an unfollow; a favourite then a price; plus stray events. Listings and window cuts fall on event times or
    next to them.
    """
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        start = 30 * draw(st.integers(0, 96))
        user, item = draw(st.sampled_from(["u1", "u2", "u3"])), draw(st.sampled_from(["i1", "i2", "i3"]))
        story = draw(st.sampled_from(["cart", "follow", "price", "stray"]))
        later = start + draw(st.sampled_from([0, 1, 29, 30, 31, 60]))
        quantity = draw(st.sampled_from([None, 1, 2]))
        if story == "cart":
            rows.append((start, user, "cart_add", item, MERCHANT[item], None, None))
            ending = draw(st.sampled_from([None, "purchase", "cart_remove"]))
            if ending:
                rows.append((later, user, ending, item, MERCHANT[item], None, quantity))
        elif story == "follow":
            rows.append((start, user, "follow_merchant", None, MERCHANT[item], None, None))
            if draw(st.booleans()):
                rows.append((later, user, "unfollow_merchant", None, MERCHANT[item], None, None))
        elif story == "price":
            rows.append((start, user, "favorite", item, MERCHANT[item], draw(st.sampled_from([None, 100.0])), None))
            price = draw(st.sampled_from([95.0, 85.0, 60.0]))
            rows.append((later, draw(st.sampled_from(["u1", "u2", "u3"])), "view", item, MERCHANT[item], price, None))
        else:
            kind = draw(st.sampled_from(TYPES))
            price = draw(st.sampled_from([None, 100.0, 59.0]))
            rows.append((start, user, kind, item, MERCHANT[item], price, quantity))
    rows.sort(key=lambda r: r[0])
    times = sorted({r[0] for r in rows})
    near = st.sampled_from(times).flatmap(lambda t: st.sampled_from([t, t + 1, max(t - 1, 0), t + 30]))
    listed = draw(st.lists(near, max_size=3))
    cuts = sorted(draw(st.lists(near, max_size=4)))
    return events_frame(rows), listings(listed), cuts


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_windows_cut_anywhere_equal_event_by_event(case: tuple[pl.DataFrame, pl.DataFrame, list[int]]) -> None:
    events, listed, cuts = case
    items, users = tiny_items(), tiny_users()
    end = events["ts"].max() + timedelta(days=1)

    streaming = TriggerEngine(CONFIG, items, users)
    streaming.add_items(listed)
    parts = [streaming.push(event) for event in events.iter_rows(named=True)]
    parts.append(streaming.advance(end))
    expected = pl.concat(parts).sort("ts", "moment_id")

    windows = TriggerEngine(CONFIG, items, users)
    windows.add_items(listed)
    got, left = [], events
    for k, cut in enumerate(cuts):
        part = left.filter(pl.col("ts") < at(cut))
        left = left.filter(pl.col("ts") >= at(cut))
        if part.height == 0:
            continue
        got.append(windows.run(part, until=at(cut)) if k % 2 == 0 else windows.run(part))
    got.append(windows.run(left, until=end) if left.height else windows.advance(end))
    assert pl.concat(got).sort("ts", "moment_id").equals(expected)

    once = TriggerEngine(CONFIG, items, users)
    once.add_items(listed)
    assert once.run(events, until=end).equals(expected)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(1, 39))
def test_streaming_after_windows_and_back(case: tuple[pl.DataFrame, pl.DataFrame, list[int]], split: int) -> None:
    """State moves between the two paths: a window, then events one by one, then a window again."""
    events, listed, _ = case
    items, users = tiny_items(), tiny_users()
    end = events["ts"].max() + timedelta(days=1)
    reference = TriggerEngine(CONFIG, items, users)
    reference.add_items(listed)
    expected = reference.run(events, until=end)

    mixed = TriggerEngine(CONFIG, items, users)
    mixed.add_items(listed)
    head, middle, tail = events.head(split // 2), events.slice(split // 2, split - split // 2), events.slice(split)
    parts = [mixed.run(head)] if head.height else []
    parts += [mixed.push(event) for event in middle.iter_rows(named=True)]
    parts.append(mixed.run(tail, until=end) if tail.height else mixed.advance(end))
    assert pl.concat(parts).sort("ts", "moment_id").equals(expected)
