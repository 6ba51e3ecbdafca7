"""Per-user sums: what each treated or holdout user bought and cost, in every slice of the report.

Two groups of users are compared:

- **treated**: users who are not in the global holdout and had at least one trigger moment that reached the
  policy (a row of the decision log), whether the policy then sent an offer or chose ``no_offer``;
- **holdout**: users of the global holdout who had at least one trigger moment (a row of the holdout file):
  every guardrail but the holdout let the moment through, and nothing was sent.

A user's window opens at the send time of their first moment (for the holdout: when the message would have gone
out), which nothing sent to that user can have influenced, and runs to the end of the log. Both groups are defined
and measured the same way, so the holdout's figures are what the treated users would have done unprompted (an
intention-to-treat comparison: it includes the moments where the policy chose not to send).

Slices (``breakdown``, ``cell``):

- ``overall``: every user of both groups, all their purchases in their window;
- ``trigger_kind``: users with at least one moment of that kind; purchases made within ``window_days`` after one
  of those moments (each purchase counted once), and the costs of the decisions of that kind;
- ``segment``: every user of both groups; purchases in the user's window from merchants of that segment, and the
  costs of decisions about that segment's items (:mod:`experiments.business.segments`). The holdout's moments
  name no item, so the holdout's moments per user is not known here (``nan``).

Examples
--------
>>> from experiments.business.toy import toy_log
>>> table = user_measures(toy_log(), window_days=7)
>>> overall = table.filter(pl.col("breakdown") == "overall").sort("user_id")
>>> overall.select("user_id", "group", "orders", "revenue").rows()
[('h1', 'holdout', 1.0, 80.0), ('h2', 'holdout', 0.0, 0.0), ('t1', 'treated', 2.0, 140.0), ('t2', 'treated', 0.0, 0.0),
 ('t3', 'treated', 1.0, 50.0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from experiments.business.base import BusinessLog
from experiments.business.segments import SIZE_TIERS, UNKNOWN_SEGMENT, merchant_segments
from features.schemas import TRIGGER_KIND_NAMES
from features.validation import SchemaError

#: The two groups compared.
GROUPS: tuple[str, ...] = ("treated", "holdout")
#: What is summed per user and slice; every KPI is a ratio of these sums (:mod:`experiments.business.kpis`).
MEASURES: tuple[str, ...] = (
    "users",
    "moments",
    "decisions",
    "messages",
    "offer_cost",
    "attributed_orders",
    "attributed_revenue",
    "buyers",
    "repeat_buyers",
    "orders",
    "revenue",
)
#: The decision measures (zero for the holdout, which gets no decisions).
DECISION_MEASURES: tuple[str, ...] = ("decisions", "messages", "offer_cost", "attributed_orders", "attributed_revenue")


@dataclass(frozen=True)
class Cell:
    """A slice of the report: a breakdown (``overall``, ``trigger_kind``, ``segment``) and its value."""

    breakdown: str
    name: str


def moments_of(log: BusinessLog) -> pl.DataFrame:
    """Both groups' moments, one row each.

    Columns: ``user_id``, ``group``, ``at`` (send time), ``trigger_kind``, ``segment`` (of the item's merchant;
    null for the holdout) and the decision measures.

    A decision is a *message* when its offer (not ``no_offer``) was delivered (every chosen offer, in a log
    without a ``delivered`` column); its conversion is *attributed* to the offer when it is a message and its
    outcome says converted.
    """
    overlap = log.decisions.join(log.holdout, on="user_id", how="semi").get_column("user_id").unique()
    if overlap.len():
        raise SchemaError(
            f"{overlap.len()} user(s) are both in the decision log and in the holdout, e.g. "
            f"{overlap.sort().head(3).to_list()}; a holdout user must never reach the policy"
        )
    segments = merchant_segments(log.items).select("merchant_id", "segment")
    item_segment = log.items.select("item_id", "merchant_id").join(segments, on="merchant_id", how="left")
    # without delivery receipts, a chosen offer counts as sent
    delivered = pl.col("delivered") if "delivered" in log.decisions.columns else pl.lit(True)
    message = delivered & (pl.col("action") != "no_offer")
    attributed = message & pl.col("converted")
    treated = log.decisions.join(item_segment.drop("merchant_id"), on="item_id", how="left").select(
        "user_id",
        group=pl.lit("treated"),
        at=pl.col("send_at"),
        trigger_kind=pl.col("trigger_kind"),
        segment=pl.col("segment").fill_null(UNKNOWN_SEGMENT),
        decisions=pl.lit(1.0),
        messages=message.cast(pl.Float64),
        offer_cost=pl.col("offer_cost").cast(pl.Float64),
        attributed_orders=attributed.cast(pl.Float64),
        attributed_revenue=pl.when(attributed).then(pl.col("revenue")).otherwise(0.0).cast(pl.Float64),
    )
    holdout = log.holdout.select(
        "user_id",
        group=pl.lit("holdout"),
        at=pl.col("ts"),
        trigger_kind=pl.col("trigger_kind"),
        segment=pl.lit(None, dtype=pl.String),
        **{m: pl.lit(0.0) for m in DECISION_MEASURES},
    )
    return pl.concat([treated, holdout.cast(treated.schema)])


def trigger_kinds(moments: pl.DataFrame) -> list[str]:
    """Return the trigger kinds present, in the brief's order, then any others alphabetically."""
    present = set(moments.get_column("trigger_kind").unique().drop_nulls().to_list())
    return [k for k in TRIGGER_KIND_NAMES if k in present] + sorted(present - set(TRIGGER_KIND_NAMES))


def user_measures(log: BusinessLog, window_days: float = 7.0) -> pl.DataFrame:
    """One row per user and slice: ``user_id``, ``group``, ``breakdown``, ``cell`` and the :data:`MEASURES`.

    Parameters
    ----------
    log
        The report's input (:func:`experiments.business.loading.load_business_log`).
    window_days
        How long after a moment a purchase counts towards that moment's trigger kind (the attribution window).
    """
    if not window_days > 0:
        raise ValueError(f"window_days must be positive; got {window_days!r}")
    moments = moments_of(log)
    users = moments.group_by("user_id", "group").agg(first=pl.col("at").min())
    segments = merchant_segments(log.items).select("merchant_id", "segment")
    purchases = (
        log.purchases.join(users, on="user_id", how="inner")
        .filter(pl.col("ts") >= pl.col("first"))
        .join(segments, on="merchant_id", how="left")
        .select(
            "user_id",
            "ts",
            segment=pl.col("segment").fill_null(UNKNOWN_SEGMENT),
            revenue=(pl.col("price") * pl.col("quantity")).cast(pl.Float64),
        )
    )
    members = users.select("user_id", "group")
    cells = [_cell(members, purchases, moments, Cell("overall", "overall"))]
    window = timedelta(days=window_days)
    for kind in trigger_kinds(moments):
        of_kind = moments.filter(pl.col("trigger_kind") == kind)
        kind_members = of_kind.select("user_id", "group").unique()
        in_window = _within_window(purchases, of_kind, window)
        cells.append(_cell(kind_members, in_window, of_kind, Cell("trigger_kind", kind)))
    tiers = set(segments.get_column("segment").to_list())
    unknown_seen = (purchases.get_column("segment") == UNKNOWN_SEGMENT).any() or (
        moments.get_column("segment") == UNKNOWN_SEGMENT
    ).any()
    names = [t for t in SIZE_TIERS if t in tiers] + ([UNKNOWN_SEGMENT] if unknown_seen else [])
    not_known = pl.when(pl.col("group") == "holdout").then(float("nan")).otherwise(pl.col("moments"))
    for segment in names:
        of_segment = Cell("segment", segment)
        cell = _cell(
            members,
            purchases.filter(pl.col("segment") == segment),
            moments.filter(pl.col("segment") == segment),
            of_segment,
        )
        cells.append(cell.with_columns(moments=not_known))  # the holdout's moments name no item
    return pl.concat(cells)


def group_matrix(table: pl.DataFrame, group: str, cells: list[Cell]) -> np.ndarray:
    """``(n_users, n_cells, n_measures)`` sums of ``group``'s users (sorted by id).

    Zero where a user is not in a cell; the input of the bootstrap
    (:func:`experiments.business.bootstrap.resampled_sums`).

    Examples
    --------
    >>> from experiments.business.toy import toy_log
    >>> table = user_measures(toy_log())
    >>> group_matrix(table, "holdout", [Cell("overall", "overall")])[:, 0, MEASURES.index("revenue")]
    array([80.,  0.])
    """
    rows = table.filter(pl.col("group") == group)
    users = rows.select("user_id").unique().sort("user_id")
    grid = pl.DataFrame(
        {
            "breakdown": [c.breakdown for c in cells],
            "cell": [c.name for c in cells],
            "position": np.arange(len(cells)),
        }
    )
    full = (
        users.join(grid, how="cross")
        .join(rows.drop("group"), on=["user_id", "breakdown", "cell"], how="left")
        .with_columns(pl.col(MEASURES).fill_null(0.0))
        .sort("user_id", "position")
    )
    return full.select(MEASURES).to_numpy().astype(float).reshape(users.height, len(cells), len(MEASURES))


def cells_of(table: pl.DataFrame) -> list[Cell]:
    """Return the slices of a :func:`user_measures` table, in the order they were made."""
    unique = table.select("breakdown", "cell").unique(maintain_order=True)
    return [Cell(b, c) for b, c in unique.iter_rows()]


def _cell(members: pl.DataFrame, purchases: pl.DataFrame, moments: pl.DataFrame, cell: Cell) -> pl.DataFrame:
    bought = purchases.group_by("user_id").agg(
        buyers=pl.lit(1.0),
        repeat_buyers=(pl.col("ts").n_unique() >= 2).cast(pl.Float64),
        orders=pl.len().cast(pl.Float64),
        revenue=pl.col("revenue").sum(),
    )
    decided = moments.group_by("user_id").agg(
        pl.len().cast(pl.Float64).alias("moments"), *[pl.col(m).sum() for m in DECISION_MEASURES]
    )
    joined = members.join(decided, on="user_id", how="left").join(bought, on="user_id", how="left")
    return joined.with_columns(pl.col(MEASURES[1:]).fill_null(0.0)).select(
        "user_id",
        "group",
        pl.lit(cell.breakdown).alias("breakdown"),
        pl.lit(cell.name).alias("cell"),
        pl.lit(1.0).alias("users"),
        *[pl.col(m) for m in MEASURES[1:]],
    )


def _within_window(purchases: pl.DataFrame, moments: pl.DataFrame, window: timedelta) -> pl.DataFrame:
    """Return the purchases made less than ``window`` after (or at) one of the user's ``moments``, each once."""
    starts = moments.select("user_id", "at").sort("at")
    joined = purchases.sort("ts").join_asof(
        starts, left_on="ts", right_on="at", by="user_id", strategy="backward", check_sortedness=False
    )
    return joined.filter(pl.col("at").is_not_null() & (pl.col("ts") - pl.col("at") < window)).drop("at")
