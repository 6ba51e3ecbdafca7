"""The CDNOW transaction log as offerlab contract frames, so the feature pipelines run on real purchases.

CDNOW (Fader & Hardie) is the purchase history of the 23,570 customers who first bought at the online CD
shop CDNOW in the first quarter of 1997, followed to the end of June 1998: 69,659 rows of customer id,
day, number of CDs and dollar value. The file ships inside the ``lifetimes`` package (install the optional
extra: ``pip install 'offerlab[cdnow]'``). Only the file is used: it is located with
:func:`importlib.util.find_spec`, which does not import ``lifetimes`` (its import pulls in pandas, scipy and
autograd, and its own loaders fail on current pandas).

The file is whitespace separated (runs of spaces, CRLF line ends) with a header line
``customer_id date number_of_cds dollar_value``; dates are ``YYYYMMDD``.

Mapping
-------
What CDNOW observes is one row per purchase. Everything else below is a convention of this adapter.

events (:data:`features.schemas.EVENTS`)
    Each kept row becomes one ``purchase`` event (observed) and two **derived** events that CDNOW does not
    record: a ``session_start`` 60 s before and a ``view`` of the same item 30 s before the purchase. They
    exist so that session and view features are not empty; every view here ends in a purchase, so
    view-to-purchase rates computed on these frames are 1 by construction, not a finding.

    - ``event_id``: ``"cdnow-<row>-<type>"``, ``row`` the 1-based data row (file line number minus 1).
    - ``ts``: the log has days only. A purchase is stamped at 12:00 UTC of its day (the same calendar day
      in every time zone from UTC-11 to UTC+11, so local-day features keep the logged date), plus
      2 minutes for each earlier row of the same customer on the same day (in file order), so that one
      customer's rows keep their file order and their derived events never interleave. The real file has
      at most 16 rows per customer-day: all its events fall between 11:59 and 12:30 UTC.
    - ``user_id``: ``"c"`` + the customer id as an integer, zero-padded to 5 digits (``"c00001"``).
    - ``quantity``: ``number_of_cds`` on purchases, 0 on views and session starts. A row with 0 CDs (none in
      the real file) is taken as one unit at the row's dollar value (``rows_zero_quantity_as_one``).
    - ``price``: the unit price ``dollar_value / number_of_cds`` (not rounded, so ``price * quantity`` gives
      back the dollar value) on purchases and views; null on session starts.
    - ``item_id``: CDNOW has no item ids. Each row's unit price falls into a price band, and each band is
      one synthetic catalogue item (:data:`PRICE_BANDS`): ``cd-under-10``, ``cd-10-15``, ``cd-15-20``,
      ``cd-20-30``, ``cd-30-plus`` (dollars per CD, lower bound inclusive), plus ``cd-free`` for rows with
      a dollar value of 0. Null on session starts.
    - ``merchant_id``: ``"cdnow"`` where there is an item, null on session starts; ``channel`` and
      ``offer``: null (CDNOW records no marketing).
    - Sorted by ``ts``, then ``user_id``.

items (:data:`features.schemas.ITEMS`)
    One row per band that occurs: ``category`` ``"music"``; ``price`` the median unit price of the band's
    purchase rows; ``listed_at`` 1997-01-01 00:00 UTC; ``stock`` 1,000,000 (CDs are stocked goods, not
    consignment: never sold out); ``merchant_verified`` and ``authenticated`` True, ``merchant_rating`` 5.0.

users (:data:`features.schemas.USERS`)
    One row per customer with a kept row: ``signup_ts`` 00:00 UTC of the first purchase day (the cohort is
    defined by its first purchase, so it is the closest thing to a sign-up); ``tz``
    ``"America/New_York"``; ``consent_in_app``, ``consent_email``, ``consent_sms`` False (no marketing
    consent is recorded, so nothing may be sent); ``opted_out_at`` null. Sorted by ``user_id``.

Rows that are kept or dropped
    A row with a dollar value of 0 is kept as a purchase at price 0 in ``cd-free`` (80 rows in the real
    file: they are orders, apparently free or fully discounted CDs, and dropping them would lose visits).
    A row with a negative dollar value or a negative number of CDs (none in the real file; returns or
    corrections, whose matching sale cannot be identified) is dropped. Every count is in
    :attr:`CdnowData.notes`. A malformed row (wrong number of fields, a value that does not parse) is an
    error naming its line, never silently dropped; blank lines are skipped.

Examples
--------
>>> import polars as pl
>>> from features.adapters.cdnow import load_cdnow, parse_cdnow
>>> sample = '''customer_id  date number_of_cds  dollar_value
...  00001 19970101  1   11.77
...  00002 19970112  1   12.00
...  00002 19970112  5   77.00
...  00003 19970102  2    0.00
... '''
>>> data = parse_cdnow(sample)
>>> purchases = data.events.filter(pl.col("type") == "purchase").sort("event_id")
>>> for row in purchases.select("event_id", "ts", "user_id", "item_id", "price", "quantity").iter_rows():
...     print(*row)
cdnow-1-purchase 1997-01-01 12:00:00+00:00 c00001 cd-10-15 11.77 1
cdnow-2-purchase 1997-01-12 12:00:00+00:00 c00002 cd-10-15 12.0 1
cdnow-3-purchase 1997-01-12 12:02:00+00:00 c00002 cd-15-20 15.4 5
cdnow-4-purchase 1997-01-02 12:00:00+00:00 c00003 cd-free 0.0 2
>>> for row in data.events.filter(pl.col("user_id") == "c00001").select("ts", "type", "item_id").iter_rows():
...     print(*row)
1997-01-01 11:59:00+00:00 session_start None
1997-01-01 11:59:30+00:00 view cd-10-15
1997-01-01 12:00:00+00:00 purchase cd-10-15
>>> data.items.select("item_id", "price").rows()
[('cd-free', 0.0), ('cd-10-15', 11.885), ('cd-15-20', 15.4)]
>>> data.users.select("user_id", "signup_ts").rows()[0]
('c00001', datetime.datetime(1997, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
>>> data.notes["rows_read"], data.notes["rows_zero_value_kept"]
(4, 1)

The real file, with the optional extra installed (about 70,000 rows; well under a second):

>>> cdnow = load_cdnow()  # doctest: +SKIP
>>> cdnow.events.filter(pl.col("type") == "purchase").height, cdnow.users.height  # doctest: +SKIP
(69659, 23570)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

import polars as pl

from features.schemas import EVENTS, ITEMS, USERS, UTC_TS
from features.validation import validate

#: The header line's column names, in order.
HEADER: tuple[str, ...] = ("customer_id", "date", "number_of_cds", "dollar_value")
#: The data file's place inside the ``lifetimes`` package.
DATA_FILE = ("datasets", "CDNOW_master.txt")
INSTALL_HINT = "pip install 'offerlab[cdnow]'"

MERCHANT_ID = "cdnow"
CATEGORY = "music"
TIME_ZONE = "America/New_York"
LISTED_AT = datetime(1997, 1, 1, tzinfo=UTC)
STOCK = 1_000_000
MERCHANT_RATING = 5.0

#: A purchase's time of day (UTC); the log has days only.
PURCHASE_HOUR = 12
#: Spacing between rows of one customer on one day, and the lead of the derived events before their purchase.
ROW_SPACING_S = 120
SESSION_LEAD_S = 60
VIEW_LEAD_S = 30

#: The synthetic item for rows with a dollar value of 0.
FREE_ITEM = "cd-free"
#: Synthetic items by unit price in dollars per CD: (item id, lower bound inclusive, upper bound exclusive).
PRICE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("cd-under-10", 0.0, 10.0),
    ("cd-10-15", 10.0, 15.0),
    ("cd-15-20", 15.0, 20.0),
    ("cd-20-30", 20.0, 30.0),
    ("cd-30-plus", 30.0, float("inf")),
)
ITEM_ORDER: tuple[str, ...] = (FREE_ITEM, *(band for band, _, _ in PRICE_BANDS))


class CdnowFormatError(ValueError):
    """The text is not a CDNOW log; the message names the line and the fault."""


@dataclass(frozen=True)
class CdnowData:
    """The CDNOW log as contract frames (each already passed :func:`features.validation.validate`).

    Attributes
    ----------
    events, items, users
        Frames of the :data:`~features.schemas.EVENTS`, :data:`~features.schemas.ITEMS` and
        :data:`~features.schemas.USERS` contracts.
    notes
        Row counts: ``lines`` (with the header), ``blank_lines``, ``rows_read``, ``rows_kept``,
        ``rows_dropped_negative_quantity``, ``rows_dropped_negative_value``, ``rows_zero_value_kept``,
        ``rows_zero_quantity_as_one``. ``rows_read`` is ``rows_kept`` plus the two ``rows_dropped_*``.
    """

    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)


def cdnow_path() -> Path:
    """Locate the CDNOW file inside the installed ``lifetimes`` package, without importing the package."""
    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the CDNOW data ship with the optional package 'lifetimes', not installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*DATA_FILE)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"'lifetimes' is installed but has no {'/'.join(DATA_FILE)} (expected lifetimes==0.11.3): {INSTALL_HINT}"
    )


def load_cdnow(path: str | Path | None = None) -> CdnowData:
    """Read the CDNOW file (by default the one in the installed ``lifetimes`` package) as contract frames.

    Raises :class:`ImportError` or :class:`FileNotFoundError` naming ``pip install 'offerlab[cdnow]'`` when
    ``path`` is None and the package or its file is missing, and :class:`CdnowFormatError` for a malformed file.
    """
    source = cdnow_path() if path is None else Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no such file: {source}")
    return parse_cdnow(source.read_text(encoding="utf-8"))


def _fields(text: str) -> tuple[pl.DataFrame, int]:
    """Check the header; return the non-blank data lines and the number of lines.

    One row per non-blank data line: its line number, the line and its fields.
    """
    lines = text.removeprefix("\ufeff").splitlines()
    header = lines[0].split() if lines else []
    if header != list(HEADER):
        got = lines[0].strip() if lines else ""
        raise CdnowFormatError(f"CDNOW line 1: expected the header {' '.join(HEADER)!r}, got {got!r}")
    frame = (
        pl.DataFrame({"line": pl.Series(lines[1:], dtype=pl.String)})
        .with_row_index("line_no", offset=2)
        .with_columns(fields=pl.col("line").str.extract_all(r"\S+"))
        .filter(pl.col("fields").list.len() > 0)
    )
    return frame, len(lines)


def _raise_first_fault(parsed: pl.DataFrame) -> None:
    """Raise :class:`CdnowFormatError` for the first line with a fault, if any."""
    if parsed.height == 0:
        raise CdnowFormatError("CDNOW: no data rows after the header")
    bad = parsed.filter(pl.col("fault").is_not_null()).head(1)
    if bad.height == 0:
        return
    row = bad.row(0, named=True)
    where = f"CDNOW line {row['line_no']}"
    fault = row["fault"]
    if fault == "fields":
        raise CdnowFormatError(
            f"{where}: expected 4 fields ({', '.join(HEADER)}), got {row['n_fields']}: {row['line'].strip()!r}"
        )
    messages = {
        "customer_id": "is not a non-negative integer",
        "date": "is not a valid YYYYMMDD date",
        "number_of_cds": "is not a 32-bit integer",
        "dollar_value": "is not a finite number",
    }
    raise CdnowFormatError(f"{where}: {fault} {row[fault]!r} {messages[fault]}")


def _parse_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Type the columns ``customer``, ``day``, ``cds`` and ``value`` of every data line.

    A bad line raises an error naming the first one.
    """
    fields = pl.col("fields")
    raw = frame.select(
        "line_no",
        "line",
        n_fields=fields.list.len(),
        **{name: fields.list.get(i, null_on_oob=True) for i, name in enumerate(HEADER)},
    )
    customer_id, date, cds, value = (pl.col(name) for name in HEADER)
    parsed = raw.with_columns(
        customer=pl.when(customer_id.str.contains(r"^\d{1,18}$")).then(customer_id.cast(pl.Int64, strict=False)),
        day=pl.when(date.str.contains(r"^\d{8}$")).then(date.str.to_date("%Y%m%d", strict=False)),
        cds=pl.when(cds.str.contains(r"^-?\d+$")).then(cds.cast(pl.Int32, strict=False)),
        value=value.cast(pl.Float64, strict=False),
    )
    fault = (
        pl.when(pl.col("n_fields") != len(HEADER))
        .then(pl.lit("fields"))
        .when(pl.col("customer").is_null())
        .then(pl.lit("customer_id"))
        .when(pl.col("day").is_null())
        .then(pl.lit("date"))
        .when(pl.col("cds").is_null())
        .then(pl.lit("number_of_cds"))
        .when(pl.col("value").is_null() | ~pl.col("value").is_finite())
        .then(pl.lit("dollar_value"))
    )
    parsed = parsed.with_columns(fault=fault)
    _raise_first_fault(parsed)
    return parsed.select("line_no", "customer", "day", "cds", "value")


def _band(unit_price: pl.Expr) -> pl.Expr:
    bands = (pl.when((unit_price >= low) & (unit_price < high)).then(pl.lit(band)) for band, low, high in PRICE_BANDS)
    return pl.coalesce(pl.when(unit_price == 0).then(pl.lit(FREE_ITEM)), *bands)


def _purchases(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per kept purchase: row number, user, day, purchase time, item, unit price, quantity."""
    unit_price = pl.when(pl.col("cds") == 0).then(pl.col("value")).otherwise(pl.col("value") / pl.col("cds"))
    user_id = pl.lit("c") + pl.col("customer").cast(pl.String).str.zfill(5)
    rank = pl.int_range(pl.len()).over("customer", "day")
    noon = pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC") + pl.duration(hours=PURCHASE_HOUR)
    return rows.select(
        row=(pl.col("line_no") - 1).cast(pl.Int64),
        user_id=user_id,
        day=pl.col("day"),
        ts=noon + pl.duration(seconds=rank * ROW_SPACING_S),
        item_id=_band(unit_price),
        price=unit_price,
        quantity=pl.when(pl.col("cds") == 0).then(1).otherwise(pl.col("cds")).cast(pl.Int32),
    )


def _events(purchases: pl.DataFrame) -> pl.DataFrame:
    none = pl.lit(None, dtype=pl.String)
    zero = pl.lit(0, dtype=pl.Int32)
    with_item = (pl.col("item_id"), pl.lit(MERCHANT_ID))

    def kind(name: str, lead_s: int, item: tuple[pl.Expr, pl.Expr], price: pl.Expr, quantity: pl.Expr) -> pl.Expr:
        return pl.struct(
            event_id=pl.format("cdnow-{}-{}", pl.col("row"), pl.lit(name)),
            ts=pl.col("ts") - pl.duration(seconds=lead_s),
            user_id=pl.col("user_id"),
            type=pl.lit(name),
            item_id=item[0],
            merchant_id=item[1],
            price=price,
            quantity=quantity,
            channel=none,
            offer=none,
        )

    kinds = [
        kind("session_start", SESSION_LEAD_S, (none, none), pl.lit(None, dtype=pl.Float64), zero),
        kind("view", VIEW_LEAD_S, with_item, pl.col("price"), zero),
        kind("purchase", 0, with_item, pl.col("price"), pl.col("quantity")),
    ]
    events = pl.concat([purchases.select(k.alias("e")).unnest("e") for k in kinds])
    return events.select(EVENTS.names()).sort("ts", "user_id")


def _items(purchases: pl.DataFrame) -> pl.DataFrame:
    order = pl.DataFrame({"item_id": ITEM_ORDER})
    medians = purchases.group_by("item_id").agg(price=pl.col("price").median())
    return order.join(medians, on="item_id", how="inner", maintain_order="left").select(
        "item_id",
        merchant_id=pl.lit(MERCHANT_ID),
        category=pl.lit(CATEGORY),
        price="price",
        listed_at=pl.lit(LISTED_AT, dtype=UTC_TS),
        stock=pl.lit(STOCK, dtype=pl.Int32),
        merchant_verified=pl.lit(True),
        merchant_rating=pl.lit(MERCHANT_RATING),
        authenticated=pl.lit(True),
    )


def _users(purchases: pl.DataFrame) -> pl.DataFrame:
    no = pl.lit(False)
    return (
        purchases.group_by("user_id")
        .agg(first_day=pl.col("day").min())
        .sort("user_id")
        .select(
            "user_id",
            signup_ts=pl.col("first_day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            tz=pl.lit(TIME_ZONE),
            consent_in_app=no,
            consent_email=no,
            consent_sms=no,
            opted_out_at=pl.lit(None, dtype=UTC_TS),
        )
    )


def parse_cdnow(text: str) -> CdnowData:
    """Map the text of a CDNOW log (header line, then whitespace-separated rows) to contract frames.

    See the module docstring for the mapping. Raises :class:`CdnowFormatError` naming the first bad line.
    """
    frame, n_lines = _fields(text)
    rows = _parse_rows(frame)
    negative_quantity = pl.col("cds") < 0
    negative_value = (pl.col("value") < 0) & ~negative_quantity
    counts = rows.select(
        rows_dropped_negative_quantity=negative_quantity.sum(),
        rows_dropped_negative_value=negative_value.sum(),
        rows_zero_value_kept=((pl.col("value") == 0) & (pl.col("cds") >= 0)).sum(),
        rows_zero_quantity_as_one=((pl.col("cds") == 0) & (pl.col("value") >= 0)).sum(),
    ).row(0, named=True)
    kept = rows.filter(~negative_quantity & ~negative_value)
    if kept.height == 0:
        raise CdnowFormatError(f"CDNOW: all {rows.height} data rows were dropped (negative quantity or value)")
    purchases = _purchases(kept)
    notes = {
        "lines": n_lines,
        "blank_lines": n_lines - 1 - rows.height,
        "rows_read": rows.height,
        "rows_kept": kept.height,
        **{name: int(count) for name, count in counts.items()},
    }
    return CdnowData(
        events=validate(_events(purchases), EVENTS, "events", unique="event_id"),
        items=validate(_items(purchases), ITEMS, "items", unique="item_id"),
        users=validate(_users(purchases), USERS, "users", unique="user_id"),
        notes=notes,
    )
