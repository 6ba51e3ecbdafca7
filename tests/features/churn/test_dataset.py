from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.churn.dataset import BGNBD_COLUMNS, HISTORY_FEATURES, LABEL, churn_dataset, data_span
from features.pipelines.build import build_user_features
from features.schemas import EVENTS, ITEMS, USERS

START = datetime(2026, 1, 1, tzinfo=UTC)
SNAPSHOT = datetime(2026, 3, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return START + timedelta(days=days)


def events_frame(rows: list[tuple[str, datetime, str, str | None]], price: float = 20.0) -> pl.DataFrame:
    """Events from (user, ts, type, item) rows, in the contract."""
    frame = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "ts": [r[1] for r in rows],
            "user_id": [r[0] for r in rows],
            "type": [r[2] for r in rows],
            "item_id": [r[3] for r in rows],
            "merchant_id": ["m1"] * len(rows),
            "price": [price] * len(rows),
            "quantity": [1 if r[2] == "purchase" else 0 for r in rows],
            "channel": [None] * len(rows),
            "offer": [None] * len(rows),
        },
        schema=EVENTS,
    )
    return frame.sort("ts")


def items_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("i1", "m1", "bags", 20.0, START, 5, True, 4.5, True),
            ("i2", "m1", "shoes", 80.0, START, 5, False, 4.0, False),
        ],
        schema=ITEMS,
        orient="row",
    )


def users_frame(signups: dict[str, datetime]) -> pl.DataFrame:
    n = len(signups)
    return pl.DataFrame(
        {
            "user_id": list(signups),
            "signup_ts": list(signups.values()),
            "tz": ["Europe/Berlin"] * n,
            "consent_in_app": [True] * n,
            "consent_email": [True] * n,
            "consent_sms": [False] * n,
            "opted_out_at": [None] * n,
        },
        schema=USERS,
    )


# The hand-built log. Snapshot 2026-03-01 (day 59), horizon 30 days: the label window is [day 59, day 89).
HAND_LOG: list[tuple[str, datetime, str, str | None]] = [
    ("anchor", at(0), "session_start", None),  # the data span: day 0 ...
    ("anchor", at(120), "session_start", None),  # ... to day 120
    ("a", at(2.5), "purchase", "i1"),  # a: purchase days 2, 2, 30 -> x = 1, t_x = 28, T = 57; buys again in window
    ("a", at(2.6), "purchase", "i2"),
    ("a", at(30.5), "purchase", "i1"),
    ("a", at(70.5), "purchase", "i1"),
    ("b", at(10.5), "purchase", "i1"),  # b: one purchase, then only views: churned
    ("b", at(65.5), "view", "i1"),
    ("c", at(20.5), "view", "i1"),  # c: signed up, never bought before the snapshot: not a customer
    ("c", at(60.5), "purchase", "i1"),
    ("d", at(5.5), "purchase", "i1"),  # d: signed up after the snapshot (a data error): left out
    ("e", SNAPSHOT - timedelta(microseconds=1), "purchase", "i1"),  # e: last purchase just before the snapshot
    ("e", SNAPSHOT + timedelta(days=30), "purchase", "i1"),  # ... and the next exactly at the window's end: churned
    ("f", at(40.5), "purchase", "i1"),  # f: buys exactly at the snapshot: not a feature, but not churned
    ("f", SNAPSHOT, "purchase", "i1"),
]
SIGNUPS = {
    "anchor": START,
    "a": START,
    "b": START,
    "c": START,
    "d": SNAPSHOT + timedelta(days=1),
    "e": START,
    "f": START,
}


def hand_data(horizon: int = 30) -> pl.DataFrame:
    return churn_dataset(
        events_frame(HAND_LOG), items_frame(), users_frame(SIGNUPS), [SNAPSHOT], horizon, customer_base=False
    ).frame


def test_population_labels_and_bgnbd_columns_on_a_hand_built_log() -> None:
    frame = hand_data()
    got = frame.select("user_id", LABEL, *BGNBD_COLUMNS, "purchases_all_time", "purchase_days_all_time")
    expected = pl.DataFrame(
        [
            ("a", 0, 1, 28.0, 57.0, 3, 2),
            ("b", 1, 0, 0.0, 49.0, 1, 1),
            ("e", 1, 0, 0.0, 1.0, 1, 1),
            ("f", 0, 0, 0.0, 19.0, 1, 1),
        ],
        schema=got.schema,
        orient="row",
    )
    assert_frame_equal(got, expected)
    assert frame["snapshot"].dtype == pl.Datetime("us", "UTC")
    assert frame["snapshot"].unique().to_list() == [SNAPSHOT]
    assert frame[LABEL].dtype == pl.Int8


def test_trend_features() -> None:
    row = hand_data().filter(pl.col("user_id") == "a").row(0, named=True)
    # a's purchases were 56.5, 56.4 and 28.5 days before the snapshot: one in the last 30 days, two in the 60 before
    assert row["purchases_prev_60d"] == 2
    assert row["purchase_rate_trend_30v60"] == pytest.approx(1 / 30 - 2 / 60)
    assert row["mean_days_between_purchase_days"] == pytest.approx(28.0)
    assert row["revenue_all_time"] == pytest.approx(60.0)
    assert hand_data().filter(pl.col("user_id") == "b")["mean_days_between_purchase_days"].to_list() == [None]


def test_pipeline_features_are_the_build_s_own() -> None:
    events, items, users = events_frame(HAND_LOG), items_frame(), users_frame(SIGNUPS)
    data = churn_dataset(events, items, users, [SNAPSHOT], 30, customer_base=False)
    built = build_user_features(events.lazy(), items.lazy(), users.lazy(), SNAPSHOT).collect()
    mine = data.frame.select(built.columns)
    assert_frame_equal(mine, built.filter(pl.col("user_id").is_in(mine["user_id"].implode())))


def test_feature_columns_are_numeric_inputs_only() -> None:
    data = churn_dataset(
        events_frame(HAND_LOG), items_frame(), users_frame(SIGNUPS), [SNAPSHOT], 30, customer_base=False
    )
    assert not {"user_id", "snapshot", LABEL, *BGNBD_COLUMNS} & set(data.feature_columns)
    assert set(HISTORY_FEATURES) <= set(data.feature_columns)
    assert "days_since_last_purchase" in data.feature_columns
    assert all(data.frame.schema[c].is_numeric() for c in data.feature_columns)
    assert data.horizon_days == 30


def test_several_snapshots_stack_sorted_and_dates_mean_midnight_utc() -> None:
    events, items, users = events_frame(HAND_LOG), items_frame(), users_frame(SIGNUPS)
    later = date(2026, 3, 15)
    data = churn_dataset(
        events.lazy(), items.lazy(), users.lazy(), [later, SNAPSHOT], horizon_days=30, customer_base=False
    )
    snapshots = data.frame["snapshot"]
    assert snapshots.is_sorted()
    assert snapshots.unique().to_list() == [SNAPSHOT, datetime(2026, 3, 15, tzinfo=UTC)]
    one = churn_dataset(
        events, items, users, [datetime(2026, 3, 15)], horizon_days=30, customer_base=False
    ).frame  # naive = UTC
    assert_frame_equal(data.frame.filter(pl.col("snapshot") == snapshots.max()), one)


def test_data_span() -> None:
    assert data_span(events_frame(HAND_LOG).lazy()) == (at(0), at(120))


def _without(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.drop(column)


BAD_INPUTS = [
    ("events", _without, "ts", [SNAPSHOT], 30, "events: missing column 'ts'"),
    ("users", _without, "signup_ts", [SNAPSHOT], 30, "users: missing column 'signup_ts'"),
    ("items", _without, "category", [SNAPSHOT], 30, "items: missing column 'category'"),
    (None, None, None, [], 30, "no snapshots"),
    (None, None, None, [SNAPSHOT], 0, "horizon_days must be at least 1, got 0"),
    (
        None,
        None,
        None,
        [datetime(2025, 12, 31, tzinfo=UTC)],
        30,
        "snapshot 2025-12-31T00:00:00+00:00 is before the first event (2026-01-01T00:00:00+00:00)",
    ),
    (
        None,
        None,
        None,
        [date(2026, 6, 1)],
        30,
        "snapshot 2026-06-01T00:00:00+00:00 is after the last event (2026-05-01T00:00:00+00:00)",
    ),
    (
        None,
        None,
        None,
        [SNAPSHOT, date(2026, 4, 15)],
        30,
        "snapshot 2026-04-15T00:00:00+00:00 with a horizon of 30 days needs data to 2026-05-15T00:00:00+00:00, "
        "past the last event (2026-05-01T00:00:00+00:00)",
    ),
    (None, None, None, [SNAPSHOT, SNAPSHOT], 30, "snapshot 2026-03-01T00:00:00+00:00 is given more than once"),
    (
        None,
        None,
        None,
        [date(2026, 1, 2)],
        30,
        "snapshot 2026-01-02T00:00:00+00:00 has no customers: no user signed up and purchased before it",
    ),
]


@pytest.mark.parametrize(("frame_name", "change", "column", "snapshots", "horizon", "message"), BAD_INPUTS)
def test_bad_input_names_the_problem(frame_name, change, column, snapshots, horizon, message) -> None:  # type: ignore[no-untyped-def]
    frames = {"events": events_frame(HAND_LOG), "items": items_frame(), "users": users_frame(SIGNUPS)}
    if frame_name is not None:
        frames[frame_name] = change(frames[frame_name], column)
    with pytest.raises(ValueError, match=re.escape(message)):
        churn_dataset(frames["events"], frames["items"], frames["users"], snapshots, horizon, customer_base=False)


# No leakage: a random log split at the snapshot; whatever happens at or after it leaves its features alone, and
# whatever happens at or after the end of the label window leaves the labels alone too.
USERS_ = ["u0", "u1", "u2", "u3"]
KINDS = ["purchase", "view", "session_start", "cart_add", "favorite"]
event_rows = st.tuples(
    st.sampled_from(USERS_),
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from(KINDS),
    st.sampled_from(["i1", "i2"]),
    st.sampled_from([5.0, 60.0, 300.0]),
)


def _log(rows: list[tuple[str, float, str, str, float]], lo: float, hi: float, tag: str) -> pl.DataFrame:
    """Rows placed at days ``lo + u (hi - lo)``, with ids unique per ``tag``."""
    frame = events_frame([(u, at(lo + f * (hi - lo)), kind, item) for u, f, kind, item, _ in rows])
    prices = pl.Series("price", [price for *_, price in rows], dtype=pl.Float64)
    return frame.with_columns(event_id=pl.format("{}{}", pl.lit(tag), pl.int_range(pl.len())), price=prices)


ANCHORS = events_frame([("u0", at(0), "purchase", "i1"), ("u0", at(120), "session_start", None)])
LEAK_SIGNUPS = dict.fromkeys(USERS_, START)
HORIZON = 30  # snapshot day 59: the label window is [day 59, day 89)


def _dataset(*parts: pl.DataFrame) -> pl.DataFrame:
    events = pl.concat([ANCHORS.with_columns(event_id=pl.lit("a") + pl.col("event_id")), *parts]).sort("ts")
    return churn_dataset(
        events, items_frame(), users_frame(LEAK_SIGNUPS), [SNAPSHOT], HORIZON, customer_base=False
    ).frame


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=st.lists(event_rows, max_size=25),
    window=st.lists(event_rows, max_size=10),
    later=st.lists(event_rows, max_size=10),
    other_window=st.lists(event_rows, max_size=10),
    other_later=st.lists(event_rows, max_size=10),
)
def test_no_leakage(past, window, later, other_window, other_later) -> None:  # type: ignore[no-untyped-def]
    before = _log(past, 0.0, 58.99, "p")  # strictly before the snapshot (day 59)
    base = _dataset(before, _log(window, 59.0, 88.99, "w"), _log(later, 89.0, 119.0, "l"))
    # replace everything at or after the snapshot: features unchanged
    changed = _dataset(before, _log(other_window, 59.0, 88.99, "w"), _log(other_later, 89.0, 119.0, "l"))
    assert_frame_equal(base.drop(LABEL), changed.drop(LABEL))
    # replace only what is at or after the window's end: labels unchanged as well
    assert_frame_equal(base, _dataset(before, _log(window, 59.0, 88.99, "w"), _log(other_later, 89.0, 119.0, "l")))
    # an event exactly at the snapshot is not a feature
    at_snapshot = events_frame([(u, SNAPSHOT, "purchase", "i2") for u in USERS_]).with_columns(
        event_id=pl.lit("s") + pl.col("event_id")
    )
    assert_frame_equal(base.drop(LABEL), _dataset(before, at_snapshot).drop(LABEL))
