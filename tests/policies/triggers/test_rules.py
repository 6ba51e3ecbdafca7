"""Ground truth for each rule on tiny hand-built frames: the exact moments and reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schemas import MOMENTS
from policies.triggers.config import TriggerConfig
from policies.triggers.engine import TriggerEngine
from policies.triggers.rules import next_local_hour, slot, stock_at_start
from policies.triggers.rules.base import DAY_US, from_us, to_us
from tests.policies.triggers.tiny import at, events_frame, tiny_items, tiny_users


@pytest.fixture
def items() -> pl.DataFrame:
    return tiny_items()


@pytest.fixture
def users() -> pl.DataFrame:
    return tiny_users()


def config(**rules: dict) -> TriggerConfig:
    """Only the named rules on (the others disabled)."""
    every = ("behaviour", "inventory", "time", "social", "lifecycle")
    return TriggerConfig(
        rules={name: {"enabled": False, **rules.get(name, {})} | rules.get(name, {}) for name in every}
    )


def only(**rules: dict) -> TriggerConfig:
    every = ("behaviour", "inventory", "time", "social", "lifecycle")
    return TriggerConfig(rules={name: rules.get(name, {"enabled": False}) for name in every})


def rows(frame: pl.DataFrame) -> list[tuple]:
    return frame.select("moment_id", "user_id", "item_id", "trigger", "reason").rows()


def test_repeat_view_fires_at_the_nth_view_only(items, users):
    events = events_frame(
        [
            (0, "u1", "view", "i1"),
            (10, "u1", "view", "i1"),
            (20, "u1", "view", "i1"),
            (30, "u1", "view", "i1"),
            (40, "u2", "view", "i1"),
        ]
    )
    out = TriggerEngine(only(behaviour={}), items, users).run(events)
    assert rows(out) == [("repeat_view:e3", "u1", "i1", "repeat_view", "viewed item i1 3 times in 24 h, no purchase")]
    assert out["ts"].to_list() == [at(20)]
    assert out["send_at"].to_list() == [at(50)]
    assert out["trigger_kind"].to_list() == ["behaviour"]
    assert out.schema == MOMENTS


def test_repeat_view_window_and_purchase(items, users):
    day = 24 * 60
    events = events_frame(
        [
            (0, "u1", "view", "i1"),
            (10, "u1", "view", "i1"),
            (day + 5, "u1", "view", "i1"),
            (day + 6, "u2", "view", "i2"),
            (day + 7, "u2", "purchase", "i2", None, None, 1),
            (day + 8, "u2", "view", "i2"),
            (day + 9, "u2", "view", "i2"),
        ]
    )
    out = TriggerEngine(only(behaviour={}), items, users).run(events)
    assert out.height == 0  # the first view left the window; u2 bought in it


def test_repeat_view_by_category(items, users):
    events = events_frame([(0, "u1", "view", "i1"), (1, "u1", "view", "i2"), (2, "u1", "view", "i1")])
    out = TriggerEngine(only(behaviour={"repeat_by": "category"}), items, users).run(events)
    assert rows(out) == [
        ("repeat_view:e3", "u1", "i1", "repeat_view", "viewed category bags 3 times in 24 h, no purchase")
    ]


def test_cart_abandon_is_a_timer(items, users):
    events = events_frame(
        [
            (0, "u1", "cart_add", "i1"),
            (5, "u2", "cart_add", "i2"),
            (20, "u2", "purchase", "i2"),
            (30, "u3", "cart_add", "i3"),
            (40, "u3", "cart_remove", "i3"),
            (61, "u4", "view", "i3"),
        ]
    )
    engine = TriggerEngine(only(behaviour={}), items, users)
    out = engine.run(events)
    assert rows(out) == [("cart_abandon:e1", "u1", "i1", "cart_abandon", "cart add of item i1 not bought for 60 min")]
    assert out["ts"].to_list() == [at(60)]
    later = engine.run(
        events_frame([(0, "u4", "cart_add", "i1")]).with_columns(
            pl.lit(at(70)).alias("ts"), pl.lit("e9").alias("event_id")
        )
    )
    assert later.height == 0  # not due yet: the timer waits for time to pass 130 min
    assert engine.advance(at(130))["moment_id"].to_list() == ["cart_abandon:e9"]


def test_low_stock_alerts_the_latest_engagers_not_the_buyer(items, users):
    events = events_frame(
        [
            (0, "u1", "view", "i3"),
            (10, "u2", "favorite", "i3"),
            (20, "u3", "cart_add", "i3"),
            (30, "u4", "view", "i3"),
            (150, "u4", "purchase", "i3", None, None, 1),
        ]
    )
    config_ = only(inventory={"max_users_per_item": 2})
    out = TriggerEngine(config_, items, users).run(events)
    assert rows(out) == [
        ("low_stock:i3:u2:e5", "u2", "i3", "low_stock", "stock of item i3 fell to 1; you viewed it 2 h ago"),
        ("low_stock:i3:u3:e5", "u3", "i3", "low_stock", "stock of item i3 fell to 1; you viewed it 2 h ago"),
    ]
    # to zero is not low stock; from 1 to 0 does not cross again
    assert (
        TriggerEngine(config_, items, users).run(events.with_columns(pl.lit(2, pl.Int32).alias("quantity"))).height == 0
    )


def test_stock_at_start_adds_back_purchases(items):
    events = events_frame(
        [(0, "u1", "purchase", "i1", None, None, 2), (1, "u2", "purchase", "i1"), (2, "u1", "view", "i2")]
    )
    assert stock_at_start(items, events)["stock"].to_list() == [6, 5, 2]
    with pytest.raises(ValueError, match="items: missing column 'stock'"):
        stock_at_start(items.drop("stock"), events)


def test_new_listing_reaches_followers_at_listing_time(items, users):
    listing = pl.DataFrame(
        {
            "item_id": ["i9"],
            "merchant_id": ["m1"],
            "category": ["bags"],
            "price": [9.0],
            "listed_at": [at(60)],
            "stock": [1],
            "merchant_verified": [True],
            "merchant_rating": [4.0],
            "authenticated": [False],
        },
        schema_overrides={"stock": pl.Int32},
    )
    events = events_frame(
        [
            (0, "u1", "follow_merchant", None, "m1"),
            (1, "u2", "follow_merchant", None, "m1"),
            (2, "u3", "follow_merchant", None, "m2"),
            (3, "u2", "unfollow_merchant", None, "m1"),
            (70, "u4", "follow_merchant", None, "m1"),
        ]
    )
    engine = TriggerEngine(only(social={"at_best_hour": False, "price_drop": False}), items, users)
    engine.add_items(listing)
    out = engine.run(events)
    assert rows(out) == [("new_listing:i9:u1", "u1", "i9", "new_listing", "merchant m1 you follow listed item i9")]
    assert out["ts"].to_list() == [at(60)]


def test_price_drop_reaches_recent_favourites(items, users):
    events = events_frame(
        [
            (0, "u1", "favorite", "i1"),
            (1, "u2", "view", "i1", None, 95.0),
            (2, "u3", "view", "i1", None, 80.0),
            (3, "u3", "view", "i1", None, 78.0),
        ]
    )
    out = TriggerEngine(only(social={"at_best_hour": False, "new_listing": False}), items, users).run(events)
    assert rows(out) == [("price_drop:i1:u1:e3", "u1", "i1", "price_drop", "price of favourited item i1 dropped 16%")]


def test_best_hour_reminds_at_the_preferred_local_hour(items, users):
    day0 = datetime(2026, 3, 1, tzinfo=UTC)
    user = "u1"
    events = events_frame([(0, user, "view", "i2"), (1, "u2", "view", "i9")])  # i9 is unknown: no stock
    engine = TriggerEngine(only(time={"cadence_days": 1}), items, users)
    out = engine.run(events, until=day0 + timedelta(days=1))
    hour = 19  # no sessions: the fallback hour
    assert rows(out) == [
        (f"best_hour:{user}:2026-03-02", user, "i2", "best_hour", f"reminder of item i2 at your best hour {hour}:00")
    ]
    assert out["send_at"].to_list() == [datetime(2026, 3, 2, 18, tzinfo=UTC)]  # 19:00 in Berlin


def test_next_local_hour_handles_zones_and_dst():
    t = to_us(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # Berlin switches to summer time at 01:00 UTC
    assert from_us(next_local_hour(t, 20, "Europe/Berlin")) == datetime(2026, 3, 29, 18, tzinfo=UTC)
    assert from_us(next_local_hour(t, 0, None)) == datetime(2026, 3, 30, 0, tzinfo=UTC)
    assert from_us(next_local_hour(to_us(datetime(2026, 3, 1, 14, 30, tzinfo=UTC)), 20, "Asia/Kolkata")) == datetime(
        2026, 3, 1, 14, 30, tzinfo=UTC
    )  # exactly 20:00 in Kolkata: at or after


class FixedFeatures:
    """A real, tiny feature source: a fixed frame per tick date (days since the last session grow)."""

    def __init__(self, idle: dict[str, list[int]]) -> None:
        self.idle = idle
        self.calls: list[datetime] = []

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        self.calls.append(as_of)
        k = len(self.calls) - 1
        users = sorted(self.idle)
        return pl.DataFrame(
            {
                "user_id": users,
                "preferred_hour": [20] * len(users),
                "account_age_days": [400.0] * len(users),
                "days_since_last_session": [self.idle[u][k] for u in users],
                "purchases_30d": [0] * len(users),
                "purchases_90d": [0] * len(users),
                "sessions_30d": [4] * len(users),
            }
        )


def test_lifecycle_transitions_fire_after_the_first_tick(items, users):
    source = FixedFeatures({"u1": [3, 12, 13, 50], "u2": [3, 3, 3, 3]})
    engine = TriggerEngine(only(lifecycle={"churn_threshold": 1.0}), items, users, features=source)
    engine.advance(datetime(2026, 3, 1, 23, tzinfo=UTC))
    out = engine.advance(datetime(2026, 3, 5, tzinfo=UTC))
    assert rows(out) == [
        (
            "declining:u1:2026-03-03",
            "u1",
            None,
            "declining",
            "stage changed from growing to declining (12 days since last session; churn risk 0.31)",
        ),
        (
            "lapsed:u1:2026-03-05",
            "u1",
            None,
            "lapsed",
            "stage changed from declining to lapsed (50 days since last session; churn risk 1.00)",
        ),
    ]
    assert out["send_at"].to_list() == [datetime(2026, 3, 3, 19, tzinfo=UTC), datetime(2026, 3, 5, 19, tzinfo=UTC)]


def test_churn_risk_by_slot(items, users):
    source = FixedFeatures({u: [60] * 8 for u in ("u1", "u2", "u3", "u4")})
    engine = TriggerEngine(only(lifecycle={"transitions": [], "churn_cadence_days": 2}), items, users, features=source)
    out = engine.advance(datetime(2026, 3, 2, 23, tzinfo=UTC))  # ticks on 03-02 only (start 03-02 23:00 -> none)
    out = engine.advance(datetime(2026, 3, 4, 1, tzinfo=UTC))
    got = sorted(out.select("moment_id", "reason").rows())
    expected = sorted(
        (f"churn_risk:{u}:{d}", "churn risk 1.00 ≥ 0.60")
        for u in ("u1", "u2", "u3", "u4")
        for d, n in (("2026-03-03", 0), ("2026-03-04", 1))
        if slot(u, 2) == (to_us(datetime(2026, 3, 3, tzinfo=UTC)) // DAY_US + n) % 2
    )
    assert got == expected
    assert got


def test_onboarding_after_signup(items, users):
    users = pl.concat(
        [
            users,
            pl.DataFrame(
                {"user_id": ["u5"], "signup_ts": [at(600 + 24 * 60)], "tz": [None]},
                schema_overrides={"signup_ts": pl.Datetime("us", "UTC")},
            ),
        ]
    )
    source = FixedFeatures({"u1": [3, 3, 3]})
    engine = TriggerEngine(only(lifecycle={"churn_threshold": 1.0}), items, users, features=source)
    out = engine.run(events_frame([(0, "u1", "view", "i1")]), until=datetime(2026, 3, 3, tzinfo=UTC))
    assert rows(out) == [("onboarding:u5:2026-03-03", "u5", None, "onboarding", "signed up 2026-03-02: welcome")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("user_id"), "events: missing column 'user_id'"),
        (lambda f: f.reverse(), "events: not sorted by ts at row 1"),
        (lambda f: f.with_columns(pl.lit(None, pl.String).alias("type")), "events: column 'type' is null at row 0"),
    ],
)
def test_bad_events_name_the_column_or_row(items, users, change, message):
    events = events_frame([(0, "u1", "view", "i1"), (1, "u1", "view", "i1")])
    with pytest.raises(ValueError, match=message):
        TriggerEngine(only(behaviour={}), items, users).run(change(events))


def test_windows_must_not_go_back_in_time(items, users):
    engine = TriggerEngine(only(behaviour={}), items, users)
    engine.run(events_frame([(10, "u1", "view", "i1")]))
    with pytest.raises(ValueError, match=r"row 0 .* is before the time already processed"):
        engine.run(events_frame([(5, "u1", "view", "i1")]))
    with pytest.raises(ValueError, match="events must be sorted"):
        engine.push({"event_id": "x", "ts": at(1), "user_id": "u1", "type": "view"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.integers(0, 3000), st.sampled_from(["u1", "u2"]), st.sampled_from(["i1", "i2"])),
        min_size=1,
        max_size=25,
    )
)
def test_repeat_view_needs_n_views_in_the_window(items, users, views):
    views = sorted(views)
    events = events_frame([(m, u, "view", i) for m, u, i in views])
    out = TriggerEngine(only(behaviour={}), items, users).run(events)
    window = timedelta(hours=24)
    for moment_id, ts, user, item in out.select("moment_id", "ts", "user_id", "item_id").iter_rows():
        position = int(moment_id.removeprefix("repeat_view:e")) - 1
        earlier = events.head(position + 1).filter(
            (pl.col("user_id") == user) & (pl.col("item_id") == item) & (pl.col("ts") > ts - window)
        )
        assert earlier.height == 3
