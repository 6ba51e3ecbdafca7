"""The report's KPIs and effects, each a ratio of per-user sums, defined once.

A KPI is computed for each group from the sums of :data:`experiments.business.users.MEASURES` over the group's
users (or over a bootstrap resample of them), so the same formula gives the point estimate and every resample.
An effect combines both groups into a total over the treated users: what the offers attributed, what they added
(incremental), and what that cost.

Examples
--------
>>> import numpy as np
>>> treated = {"users": np.array(3.0), "buyers": np.array(2.0), "offer_cost": np.array(11.0)}
>>> holdout = {"users": np.array(2.0), "buyers": np.array(1.0), "offer_cost": np.array(0.0)}
>>> float(KPI_BY_NAME["conversion_rate"].of(treated, 0.15))
0.6666666666666666
>>> round(float(EFFECT_BY_NAME["acquisition_cost"].of(treated, holdout, 0.15)), 9)
22.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: Per-group sums of the measures, each an array of the same shape (slices, or resamples by slices).
Sums = Mapping[str, np.ndarray]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, ``nan`` where the denominator is zero (a rate over nobody).

    Examples
    --------
    >>> ratio(np.array([1.0, 1.0]), np.array([2.0, 0.0])).tolist()
    [0.5, nan]
    """
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, np.nan, numerator / np.where(denominator == 0, 1.0, denominator))


def cost_per(cost: np.ndarray, gained: np.ndarray) -> np.ndarray:
    """Return what each gained unit cost: ``cost / gained``.

    ``inf`` where nothing was gained (``gained <= 0``), ``nan`` where the gain is not known.

    Examples
    --------
    >>> cost_per(np.array([10.0, 10.0, 10.0]), np.array([2.0, -1.0, np.nan])).tolist()
    [5.0, inf, nan]
    """
    cost, gained = np.asarray(cost, dtype=float), np.asarray(gained, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(gained > 0, cost / np.where(gained > 0, gained, 1.0), np.inf)
    return np.where(np.isnan(gained) | np.isnan(cost), np.nan, per)


@dataclass(frozen=True)
class Kpi:
    """A per-group figure: ``of(sums, take_rate)``.

    ``treated_only`` when the holdout has nothing to compare (it gets no decisions), so its holdout and
    incremental figures are not defined.
    """

    name: str
    label: str
    unit: str
    definition: str
    of: Callable[[Sums, float], np.ndarray]
    treated_only: bool = False


@dataclass(frozen=True)
class Effect:
    """A total over a slice's treated users: ``of(treated_sums, holdout_sums, take_rate)``."""

    name: str
    label: str
    unit: str
    definition: str
    of: Callable[[Sums, Sums, float], np.ndarray]


def _per_user(measure: str) -> Callable[[Sums, float], np.ndarray]:
    return lambda s, _rate: ratio(s[measure], s["users"])


def _net_revenue(s: Sums, _rate: float) -> np.ndarray:
    return ratio(s["revenue"] - s["offer_cost"], s["users"])


def _contribution(s: Sums, take_rate: float) -> np.ndarray:
    return ratio(take_rate * s["revenue"] - s["offer_cost"], s["users"])


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "conversion_rate",
        "Conversion rate",
        "share",
        "share of users who bought at least once in their window",
        lambda s, _r: ratio(s["buyers"], s["users"]),
    ),
    Kpi(
        "repurchase_rate",
        "Repurchase rate",
        "share",
        "share of buyers who bought again: a second purchase at a later time in the same window",
        lambda s, _r: ratio(s["repeat_buyers"], s["buyers"]),
    ),
    Kpi(
        "average_order_value",
        "Average order value",
        "money",
        "revenue (price x quantity of purchase events) per order",
        lambda s, _r: ratio(s["revenue"], s["orders"]),
    ),
    Kpi("orders_per_user", "Orders per user", "count", "purchase events per user", _per_user("orders")),
    Kpi("revenue_per_user", "Revenue per user", "money", "revenue (GMV) per user", _per_user("revenue")),
    Kpi(
        "offer_cost_per_user",
        "Offer cost per user",
        "money",
        "cost of redeemed offers per user (zero in the holdout)",
        _per_user("offer_cost"),
    ),
    Kpi(
        "net_revenue_per_user",
        "Net revenue per user",
        "money",
        "revenue minus offer cost, per user",
        _net_revenue,
    ),
    Kpi(
        "contribution_per_user",
        "Contribution per user",
        "money",
        "take rate x revenue minus offer cost, per user: what the platform keeps (the decision log's reward)",
        _contribution,
    ),
    Kpi(
        "moments_per_user",
        "Moments per user",
        "count",
        "trigger moments per user (decisions, or the holdout's unsent moments): should match between groups",
        _per_user("moments"),
    ),
    Kpi(
        "message_rate",
        "Messages per decision",
        "share",
        "share of decisions that sent an offer that was delivered",
        lambda s, _r: ratio(s["messages"], s["decisions"]),
        treated_only=True,
    ),
    Kpi(
        "cost_per_decision",
        "Offer cost per decision",
        "money",
        "offer cost divided by the number of decisions",
        lambda s, _r: ratio(s["offer_cost"], s["decisions"]),
        treated_only=True,
    ),
    Kpi(
        "attributed_orders_per_user",
        "Attributed orders per user",
        "count",
        "orders the outcomes attribute to a delivered offer (converted within the attribution window), per user",
        _per_user("attributed_orders"),
        treated_only=True,
    ),
    Kpi(
        "attributed_revenue_per_user",
        "Attributed revenue per user",
        "money",
        "revenue of the attributed orders, per user",
        _per_user("attributed_revenue"),
        treated_only=True,
    ),
)


def _incremental(kpi: str) -> Callable[[Sums, Sums, float], np.ndarray]:
    """(treated KPI - holdout KPI) x treated users: the KPI's gain scaled to the treated population."""
    of = KPI_BY_NAME[kpi].of
    return lambda t, h, rate: (of(t, rate) - of(h, rate)) * t["users"]


def _cost_per_incremental(kpi: str) -> Callable[[Sums, Sums, float], np.ndarray]:
    gained = _incremental(kpi)
    return lambda t, h, rate: cost_per(t["offer_cost"], gained(t, h, rate))


KPI_BY_NAME: dict[str, Kpi] = {k.name: k for k in KPIS}

EFFECTS: tuple[Effect, ...] = (
    Effect("offer_cost", "Offer cost", "money", "total cost of the offers sent", lambda t, _h, _r: t["offer_cost"]),
    Effect(
        "attributed_orders",
        "Attributed orders",
        "count",
        "orders the outcomes attribute to offers",
        lambda t, _h, _r: t["attributed_orders"],
    ),
    Effect(
        "incremental_orders",
        "Incremental orders",
        "count",
        "(treated - holdout orders per user) x treated users",
        _incremental("orders_per_user"),
    ),
    Effect(
        "attributed_revenue",
        "Attributed revenue",
        "money",
        "revenue of the attributed orders",
        lambda t, _h, _r: t["attributed_revenue"],
    ),
    Effect(
        "incremental_revenue",
        "Incremental revenue",
        "money",
        "(treated - holdout revenue per user) x treated users",
        _incremental("revenue_per_user"),
    ),
    Effect(
        "incremental_net_revenue",
        "Incremental net revenue",
        "money",
        "(treated - holdout net revenue per user) x treated users: revenue gained minus what the offers cost",
        _incremental("net_revenue_per_user"),
    ),
    Effect(
        "incremental_contribution",
        "Incremental contribution",
        "money",
        "(treated - holdout contribution per user) x treated users",
        _incremental("contribution_per_user"),
    ),
    Effect(
        "incremental_buyers",
        "Incremental buyers",
        "count",
        "(treated - holdout conversion rate) x treated users: buyers the offers added",
        _incremental("conversion_rate"),
    ),
    Effect(
        "acquisition_cost",
        "Acquisition cost",
        "money",
        "offer cost per incremental buyer (unbounded when the offers added none)",
        _cost_per_incremental("conversion_rate"),
    ),
    Effect(
        "cost_per_incremental_order",
        "Cost per incremental order",
        "money",
        "offer cost per incremental order (unbounded when the offers added none)",
        _cost_per_incremental("orders_per_user"),
    ),
)

EFFECT_BY_NAME: dict[str, Effect] = {e.name: e for e in EFFECTS}
