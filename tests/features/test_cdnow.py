from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib.machinery import ModuleSpec
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.adapters import cdnow
from features.adapters.cdnow import CdnowFormatError, load_cdnow, parse_cdnow
from features.schemas import EVENTS, ITEMS, USERS
from features.validation import validate

HEADER = " customer_id  date number_of_cds  dollar_value"

# As in the real file: leading spaces, runs of spaces, CRLF line ends. Line numbers in the comments.
SAMPLE = "\r\n".join(
    [
        HEADER,  # 1
        " 00001 19970101  1   11.77",  # 2, row 1
        " 00002 19970112  1   12.00",  # 3, row 2
        " 00002 19970112  5   77.00",  # 4, row 3: same customer and day as row 2
        " 00002 19970301  2  -20.00",  # 5, row 4: negative value, dropped
        " 00003 19970102  2    0.00",  # 6, row 5: zero value, kept at price 0
        " 00004 19970115  0    9.99",  # 7, row 6: zero CDs, one unit
        " 00004 19970120 -1   15.00",  # 8, row 7: negative quantity, dropped
        "",  # 9, blank
        " 00005 19980630  3   96.00",  # 10, row 9
        "",
    ]
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def expected_events() -> pl.DataFrame:
    purchases = [  # row, purchase time, user, item, unit price, quantity; in time order
        (1, utc(1997, 1, 1, 12), "c00001", "cd-10-15", 11.77, 1),
        (5, utc(1997, 1, 2, 12), "c00003", "cd-free", 0.0, 2),
        (2, utc(1997, 1, 12, 12), "c00002", "cd-10-15", 12.0, 1),
        (3, utc(1997, 1, 12, 12, 2), "c00002", "cd-15-20", 15.4, 5),
        (6, utc(1997, 1, 15, 12), "c00004", "cd-under-10", 9.99, 1),
        (9, utc(1998, 6, 30, 12), "c00005", "cd-30-plus", 32.0, 3),
    ]
    rows = []
    for row, ts, user, item, price, quantity in purchases:
        rows += [
            (f"cdnow-{row}-session_start", ts - timedelta(seconds=60), user, "session_start", None, None, None, 0),
            (f"cdnow-{row}-view", ts - timedelta(seconds=30), user, "view", item, "cdnow", price, 0),
            (f"cdnow-{row}-purchase", ts, user, "purchase", item, "cdnow", price, quantity),
        ]
    columns = ["event_id", "ts", "user_id", "type", "item_id", "merchant_id", "price", "quantity"]
    frame = pl.DataFrame(rows, schema=columns, orient="row").with_columns(
        channel=pl.lit(None, pl.String), offer=pl.lit(None, pl.String)
    )
    return frame.cast(dict(EVENTS)).sort("ts", "user_id")  # type: ignore[arg-type]


def test_parse_sample_events() -> None:
    assert_frame_equal(parse_cdnow(SAMPLE).events, expected_events())


def test_parse_sample_items() -> None:
    expected = pl.DataFrame(
        {
            "item_id": ["cd-free", "cd-under-10", "cd-10-15", "cd-15-20", "cd-30-plus"],
            "merchant_id": ["cdnow"] * 5,
            "category": ["music"] * 5,
            "price": [0.0, 9.99, (11.77 + 12.0) / 2, 15.4, 32.0],
            "listed_at": [utc(1997, 1, 1)] * 5,
            "stock": [1_000_000] * 5,
            "merchant_verified": [True] * 5,
            "merchant_rating": [5.0] * 5,
            "authenticated": [True] * 5,
        },
        schema=ITEMS,
    )
    assert_frame_equal(parse_cdnow(SAMPLE).items, expected)


def test_parse_sample_users() -> None:
    expected = pl.DataFrame(
        {
            "user_id": ["c00001", "c00002", "c00003", "c00004", "c00005"],
            # c00002's signup is its first *kept* purchase; c00004's dropped row is later anyway.
            "signup_ts": [utc(1997, 1, 1), utc(1997, 1, 12), utc(1997, 1, 2), utc(1997, 1, 15), utc(1998, 6, 30)],
            "tz": ["America/New_York"] * 5,
            "consent_in_app": [False] * 5,
            "consent_email": [False] * 5,
            "consent_sms": [False] * 5,
            "opted_out_at": [None] * 5,
        },
        schema=USERS,
    )
    assert_frame_equal(parse_cdnow(SAMPLE).users, expected)


def test_parse_sample_notes() -> None:
    assert parse_cdnow(SAMPLE).notes == {
        "lines": 10,
        "blank_lines": 1,
        "rows_read": 8,
        "rows_kept": 6,
        "rows_dropped_negative_quantity": 1,
        "rows_dropped_negative_value": 1,
        "rows_zero_value_kept": 1,
        "rows_zero_quantity_as_one": 1,
    }


def test_sample_frames_meet_their_contracts_exactly() -> None:
    data = parse_cdnow(SAMPLE)
    for frame, schema, name, unique in [
        (data.events, EVENTS, "events", "event_id"),
        (data.items, ITEMS, "items", "item_id"),
        (data.users, USERS, "users", "user_id"),
    ]:
        assert frame.schema == schema
        assert_frame_equal(validate(frame, schema, name, unique=unique), frame)
    purchases = data.events.filter(pl.col("type") == "purchase")
    assert (purchases["price"] * purchases["quantity"]).sum() == pytest.approx(11.77 + 12 + 77 + 0 + 9.99 + 96)


def test_separators_and_line_ends_do_not_matter() -> None:
    plain = "customer_id date number_of_cds dollar_value\n1 19970101 1 11.77\n"
    tabbed = "\ufeff customer_id\tdate  number_of_cds dollar_value\r\n\t00001   19970101\t1  11.77"
    assert_frame_equal(parse_cdnow(plain).events, parse_cdnow(tabbed).events)


FIELDS = "(customer_id, date, number_of_cds, dollar_value)"
HEADER_MESSAGE = "CDNOW line 1: expected the header 'customer_id date number_of_cds dollar_value', got"
GOOD = " 00001 19970101  1   11.77"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], f"{HEADER_MESSAGE} ''"),
        (["customer_id date number_of_cds", GOOD], f"{HEADER_MESSAGE} 'customer_id date number_of_cds'"),
        ([GOOD], f"{HEADER_MESSAGE} '00001 19970101  1   11.77'"),
        ([HEADER], "CDNOW: no data rows after the header"),
        ([HEADER, "", "  "], "CDNOW: no data rows after the header"),
        ([HEADER, GOOD, " 00001 19970101  1"], f"CDNOW line 3: expected 4 fields {FIELDS}, got 3: '00001 19970101  1'"),
        (
            [HEADER, GOOD, "1 19970101 1 2.0 x"],
            f"CDNOW line 3: expected 4 fields {FIELDS}, got 5: '1 19970101 1 2.0 x'",
        ),
        ([HEADER, GOOD, "c001 19970101 1 11.77"], "CDNOW line 3: customer_id 'c001' is not a non-negative integer"),
        ([HEADER, GOOD, "-1 19970101 1 11.77"], "CDNOW line 3: customer_id '-1' is not a non-negative integer"),
        ([HEADER, GOOD, "1 19970230 1 11.77"], "CDNOW line 3: date '19970230' is not a valid YYYYMMDD date"),
        ([HEADER, GOOD, "1 1997-01-01 1 11.77"], "CDNOW line 3: date '1997-01-01' is not a valid YYYYMMDD date"),
        ([HEADER, GOOD, "1 1997011 1 11.77"], "CDNOW line 3: date '1997011' is not a valid YYYYMMDD date"),
        ([HEADER, GOOD, "1 19970101 two 11.77"], "CDNOW line 3: number_of_cds 'two' is not a 32-bit integer"),
        ([HEADER, GOOD, "1 19970101 1.5 11.77"], "CDNOW line 3: number_of_cds '1.5' is not a 32-bit integer"),
        ([HEADER, GOOD, "1 19970101 9999999999 1"], "CDNOW line 3: number_of_cds '9999999999' is not a 32-bit integer"),
        ([HEADER, GOOD, "1 19970101 1 $11.77"], "CDNOW line 3: dollar_value '$11.77' is not a finite number"),
        ([HEADER, GOOD, "1 19970101 1 nan"], "CDNOW line 3: dollar_value 'nan' is not a finite number"),
        ([HEADER, GOOD, "1 19970101 1 inf"], "CDNOW line 3: dollar_value 'inf' is not a finite number"),
        # The first faulty line is named, whatever its fault; blank lines still count as lines.
        ([HEADER, "1 19970101 1 x", "1 1997 1 1.0"], "CDNOW line 2: dollar_value 'x' is not a finite number"),
        ([HEADER, GOOD, "", "1 19970101 1"], f"CDNOW line 4: expected 4 fields {FIELDS}, got 3: '1 19970101 1'"),
        ([HEADER, "1 19970101 1 -3.0"], "CDNOW: all 1 data rows were dropped (negative quantity or value)"),
    ],
)
def test_malformed_input_names_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(CdnowFormatError) as caught:
        parse_cdnow("\n".join(lines))
    assert str(caught.value) == message


def test_load_from_a_path(tmp_path: Path) -> None:
    target = tmp_path / "cdnow.txt"
    target.write_bytes(SAMPLE.encode())
    assert_frame_equal(load_cdnow(target).events, expected_events())
    assert_frame_equal(load_cdnow(str(target)).events, expected_events())
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_cdnow(tmp_path / "missing.txt")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cdnow, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'offerlab\[cdnow\]'"):
        load_cdnow()


def test_package_without_the_file_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = ModuleSpec("lifetimes", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(cdnow, "find_spec", lambda name: spec)
    with pytest.raises(FileNotFoundError, match=r"datasets/CDNOW_master.txt .*pip install 'offerlab\[cdnow\]'"):
        load_cdnow()


def test_the_real_file() -> None:
    pytest.importorskip("lifetimes")
    data = load_cdnow()
    events, users = data.events, data.users
    purchases = events.filter(pl.col("type") == "purchase")
    assert purchases.height == 69_659
    assert events.height == 3 * 69_659
    assert users.height == 23_570
    assert purchases["user_id"].n_unique() == 23_570
    days = purchases["ts"].dt.date()
    assert (days.min(), days.max()) == (date(1997, 1, 1), date(1998, 6, 30))
    # The cohort: customers whose first purchase was in the first quarter of 1997.
    assert users.filter(pl.col("signup_ts") >= utc(1997, 4, 1)).height == 0
    assert (purchases["price"] * purchases["quantity"]).sum() == pytest.approx(2_500_315.63)
    assert data.notes == {
        "lines": 69_660,
        "blank_lines": 0,
        "rows_read": 69_659,
        "rows_kept": 69_659,
        "rows_dropped_negative_quantity": 0,
        "rows_dropped_negative_value": 0,
        "rows_zero_value_kept": 80,
        "rows_zero_quantity_as_one": 0,
    }
    assert data.items["item_id"].to_list() == [
        "cd-free",
        "cd-under-10",
        "cd-10-15",
        "cd-15-20",
        "cd-20-30",
        "cd-30-plus",
    ]
    # One customer's events never share a timestamp, so their order is fixed.
    assert events.select("user_id", "ts").n_unique() == events.height
