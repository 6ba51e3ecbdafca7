r"""Turn the endpoint's decision log into logged feedback (``offerlab log join``).

Each decision's reward comes from the outcomes posted to ``/v1/outcome`` and the purchases in an attribution
window after it.

Inputs: the decision-log folder (``decisions-*.jsonl``, read by :func:`experiments.inputs.load_decision_log`),
the outcomes posted to the endpoint (``outcomes-posted.jsonl`` in that folder, :mod:`policies.serving.outcomes`)
and a table of events in the EVENTS contract (:data:`features.schemas.EVENTS`). The events carry raw user ids;
they are pseudonymised with the log's own key (:meth:`~policies.serving.decision_log.DecisionLog.pseudonym`) and
matched to decisions on (user, ``item_id``).

The output is the decision log with the OUTCOMES columns beside it (``converted``, ``revenue``, ``offer_cost``,
``reward``): a bandit log that :func:`experiments.inputs.load_bandit_log` reads and ``offerlab ope``,
``offerlab train`` and ``offerlab promote`` take as ``--log``. It is Parquet, since ``actions`` and
``probabilities`` are lists.

Notes
-----
A purchase of item *i* by user *u* at time *t* is attributed to the latest decision for (*u*, *i*) whose send
time *s* satisfies :math:`s \le t \le s + w` (*w* the attribution window, both edges included): last touch, so
a purchase counts once even when several decisions cover it. A decision's revenue is the sum of
``price × quantity`` over its purchases (a null quantity counts 1); it converted when it has one. An outcome
posted for the decision replaces what the events say.

The reward is the platform's net contribution, as the simulator defines it (:mod:`simulators.offers`):

.. math::

    r = \tau \cdot \text{revenue} - c_a \cdot [\text{converted} \wedge \text{redeemed}],\qquad
    c_{\text{coupon}} = \delta \cdot \text{revenue},\;
    c_{\text{installment}} = \phi \cdot \text{revenue},\;
    c_{\text{trust\_badge}} = \beta,\; c_{\text{no\_offer}} = 0,

with τ the take rate, δ the coupon discount, φ the installment fee rate and β the badge cost
(:class:`OfferCosts`). The offer is redeemed when an ``offer_redeemed`` event of (*u*, *i*) falls in the
decision's window. When the events hold no ``offer_redeemed`` event at all, redemptions are not recorded and
every converted offer is charged (the cautious reading: it overstates costs where offers went unopened).
The platform's configuration holds no cost rates, so they are options, defaulting to the simulator's
``default`` scenario.

Examples
--------
>>> from datetime import datetime, timedelta, UTC
>>> import polars as pl
>>> sent = datetime(2026, 3, 2, 9, tzinfo=UTC)
>>> decisions = pl.DataFrame({"decision_id": ["d1", "d2"], "user_id": ["u", "u"], "item_id": ["i", "j"],
...     "action": ["coupon", "no_offer"], "send_at": [sent, sent]})
>>> purchases = pl.DataFrame({"user_id": ["u", "u"], "item_id": ["i", "j"],
...     "ts": [sent + timedelta(hours=5), sent + timedelta(hours=80)], "revenue": [40.0, 9.0]})
>>> attributed = attribute(decisions, purchases, window_hours=72)
>>> attributed.select("decision_id", "converted", "revenue").rows()
[('d1', True, 40.0), ('d2', False, 0.0)]
>>> rewards(attributed.with_columns(redeemed=pl.lit(True)), OfferCosts()).select("offer_cost", "reward").rows()
[(4.0, 2.0), (0.0, 0.0)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from features.io import atomic_path, read_frame
from features.schemas import EVENTS, OUTCOMES
from features.validation import SchemaError, validate
from simulators.scenario import OfferEffects, Scenario

#: The default attribution window (hours).
WINDOW_HOURS = 72.0


def _default(model: type[BaseModel], name: str) -> float:
    return float(model.model_fields[name].default)


class OfferCosts(BaseModel):
    """What a converted decision earns the platform and what its offer costs.

    Defaults: the ``default`` scenario's (:class:`simulators.scenario.Scenario`,
    :class:`simulators.scenario.OfferEffects`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    take_rate: float = Field(_default(Scenario, "take_rate"), gt=0, le=1, description="platform's share of revenue")
    coupon_discount: float = Field(_default(OfferEffects, "coupon_discount"), ge=0, lt=1)
    installment_fee_rate: float = Field(_default(OfferEffects, "installment_fee_rate"), ge=0, lt=1)
    badge_cost: float = Field(_default(OfferEffects, "badge_cost"), ge=0)

    def cost(self, action: pl.Expr, revenue: pl.Expr) -> pl.Expr:
        """Return the cost of ``action``'s offer on a sale of ``revenue``, had it been redeemed."""
        return (
            pl.when(action == "coupon")
            .then(self.coupon_discount * revenue)
            .when(action == "installment")
            .then(self.installment_fee_rate * revenue)
            .when(action == "trust_badge")
            .then(pl.lit(self.badge_cost))
            .otherwise(0.0)
        )


@dataclass(frozen=True)
class JoinedLog:
    """The joined bandit log and where its outcomes came from."""

    log: pl.DataFrame
    from_posted: int
    from_events: int
    without_outcome: int
    window_open: int
    posted_unmatched: int


def events_of(frame: pl.DataFrame, kind: str, pseudonym: Callable[[str], str]) -> pl.DataFrame:
    """Return the events of type ``kind`` that name an item, user ids pseudonymised.

    Columns ``user_id, item_id, ts`` and ``revenue`` (``price × quantity``; a null quantity counts 1). A
    purchase without a price is an error.
    """
    chosen = frame.filter((pl.col("type") == kind) & pl.col("item_id").is_not_null())
    if kind == "purchase":
        priceless = chosen.filter(pl.col("price").is_null())
        if priceless.height:
            raise SchemaError(
                f"events: {priceless.height} purchase(s) without a price, e.g. event "
                f"{priceless.get_column('event_id')[0]!r}; a purchase's revenue is price × quantity"
            )
    users = {u: pseudonym(u) for u in chosen.get_column("user_id").unique().to_list()}
    return chosen.select(
        pl.col("user_id").replace_strict(users, return_dtype=pl.String),
        "item_id",
        "ts",
        revenue=pl.col("price") * pl.col("quantity").fill_null(1),
    )


def attribute(decisions: pl.DataFrame, purchases: pl.DataFrame, window_hours: float) -> pl.DataFrame:
    """Each decision with ``converted`` and ``revenue`` from the purchases in its window (see Notes).

    Rows keep the decisions' order. ``decisions`` needs ``decision_id, user_id, item_id, send_at``;
    ``purchases`` needs ``user_id, item_id, ts, revenue``.
    """
    keys = decisions.select("decision_id", "user_id", "item_id", "send_at").filter(pl.col("item_id").is_not_null())
    matched = (
        purchases.select("user_id", "item_id", pl.col("ts").cast(keys.schema["send_at"]), "revenue")
        .sort("ts")
        .join_asof(
            keys.sort("send_at"),
            left_on="ts",
            right_on="send_at",
            by=["user_id", "item_id"],
            strategy="backward",
            tolerance=timedelta(hours=window_hours),
            check_sortedness=False,
        )
        .filter(pl.col("decision_id").is_not_null())
        .group_by("decision_id")
        .agg(pl.col("revenue").sum(), converted=pl.lit(True))
    )
    return decisions.join(matched, on="decision_id", how="left", maintain_order="left").with_columns(
        pl.col("converted").fill_null(False), pl.col("revenue").fill_null(0.0)
    )


def rewards(frame: pl.DataFrame, costs: OfferCosts) -> pl.DataFrame:
    """``frame`` (``action, converted, revenue, redeemed``) with ``offer_cost`` and ``reward`` (see Notes).

    ``redeemed`` is dropped.
    """
    charged = pl.col("converted") & pl.col("redeemed")
    offer_cost = pl.when(charged).then(costs.cost(pl.col("action"), pl.col("revenue"))).otherwise(0.0)
    return (
        frame.with_columns(offer_cost=offer_cost)
        .with_columns(reward=costs.take_rate * pl.col("revenue") - pl.col("offer_cost"))
        .drop("redeemed")
    )


def read_posted(path: Path) -> pl.DataFrame:
    """Read posted outcomes (``decision_id, converted, revenue``); the last line wins for a repeated id."""
    schema = {"decision_id": pl.String, "converted": pl.Boolean, "revenue": pl.Float64, "received_at": pl.String}
    if not path.is_file():
        raise FileNotFoundError(f"no such outcome file: {path}")
    try:
        frame = pl.read_ndjson(path, schema=schema) if path.stat().st_size else pl.DataFrame(schema=schema)
    except pl.exceptions.PolarsError as error:
        raise SchemaError(f"{path}: not outcome lines (decision_id, converted, revenue): {error}") from error
    for column in ("decision_id", "converted", "revenue"):
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise SchemaError(f"{path}: column {column!r} has {nulls} null value(s)")
    negative = frame.filter(pl.col("revenue") < 0)
    if negative.height:
        raise SchemaError(f"{path}: decision {negative['decision_id'][0]!r} has a negative revenue")
    return frame.select("decision_id", "converted", "revenue").unique("decision_id", keep="last", maintain_order=True)


def join_log(
    decisions: Path,
    events: Path,
    outcomes: Path | None = None,
    window_hours: float = WINDOW_HOURS,
    costs: OfferCosts | None = None,
    mature_only: bool = False,
) -> JoinedLog:
    """Join the decision log of folder ``decisions`` with each decision's outcome and reward.

    Parameters
    ----------
    decisions
        The endpoint's decision-log folder (its key pseudonymises the events' user ids).
    events
        Events (EVENTS contract) as Parquet or CSV.
    outcomes
        Outcomes posted to the endpoint; ``None``: the folder's ``outcomes-posted.jsonl`` if there is one.
    window_hours
        The attribution window after each decision's send time.
    costs
        Take rate and offer costs (default: the ``default`` scenario's).
    mature_only
        Keep only decisions with a posted outcome or whose window closed before the last event.
    """
    from experiments.inputs import load_decision_log
    from policies.serving.decision_log import DecisionLog
    from policies.serving.outcomes import OUTCOMES_FILE

    if not window_hours > 0:
        raise ValueError(f"--window-hours must be positive; got {window_hours}")
    costs = costs or OfferCosts()
    log = load_decision_log(decisions)
    taken = [c for c in OUTCOMES if c != "decision_id" and c in log.columns]
    if taken:
        raise SchemaError(f"decision log {decisions}: already holds outcome column(s) {taken}")
    if "item_id" not in log.columns:
        log = log.with_columns(item_id=pl.lit(None, pl.String))
    unsent = log.filter(pl.col("send_at").is_null())
    if unsent.height:
        raise SchemaError(
            f"decision log {decisions}: {unsent.height} decision(s) without a send_at, e.g. "
            f"{unsent['decision_id'][0]!r}; the attribution window starts at send_at"
        )
    pseudonym = DecisionLog.existing(decisions).pseudonym
    table = validate(read_frame(events), EVENTS, f"events {events}", unique="event_id", not_null=["ts", "type"])
    table = table.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    joined = attribute(log, events_of(table, "purchase", pseudonym), window_hours)
    redemptions = events_of(table, "offer_redeemed", pseudonym)
    if redemptions.height:
        redeemed = attribute(log, redemptions, window_hours).select("decision_id", redeemed="converted")
        joined = joined.join(redeemed, on="decision_id", how="left", maintain_order="left")
    else:
        joined = joined.with_columns(redeemed=pl.lit(True))
    joined = joined.with_columns(from_events=pl.col("converted"), posted=pl.lit(False))
    posted_unmatched = 0
    path = outcomes if outcomes is not None else Path(decisions) / OUTCOMES_FILE
    if outcomes is not None or path.is_file():
        posted = read_posted(path).rename({"converted": "posted_converted", "revenue": "posted_revenue"})
        posted_unmatched = posted.join(log, on="decision_id", how="anti").height
        joined = joined.join(posted, on="decision_id", how="left", maintain_order="left").with_columns(
            posted=pl.col("posted_converted").is_not_null()
        )
        joined = joined.with_columns(
            converted=pl.when("posted").then("posted_converted").otherwise("converted"),
            revenue=pl.when("posted").then("posted_revenue").otherwise("revenue"),
        ).drop("posted_converted", "posted_revenue")
    last_event = table.get_column("ts").max()
    closes = pl.col("send_at") + timedelta(hours=window_hours)
    joined = joined.with_columns(open=~pl.col("posted") & (closes > pl.lit(last_event)))
    window_open = int(joined.get_column("open").sum())
    if mature_only:
        joined = joined.filter(~pl.col("open"))
    from_posted = int(joined.get_column("posted").sum())
    from_events = int((~joined.get_column("posted") & joined.get_column("from_events")).sum())
    return JoinedLog(
        log=rewards(joined, costs).drop("from_events", "posted", "open"),
        from_posted=from_posted,
        from_events=from_events,
        without_outcome=joined.height - from_posted - from_events,
        window_open=window_open,
        posted_unmatched=posted_unmatched,
    )


def write_joined(log: pl.DataFrame, out: Path) -> None:
    """Write the joined log to ``out`` (Parquet) atomically."""
    if out.suffix.lower() != ".parquet":
        raise ValueError(f"--out {out}: the joined log is written as Parquet (.parquet); its actions are lists")
    if log.height == 0:
        raise ValueError("the joined log has no decisions (all windows still open? drop --mature-only)")
    with atomic_path(out) as tmp:
        log.write_parquet(tmp)
