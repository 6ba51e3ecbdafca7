"""The business report: treated users against the global holdout, as figures and as words.

Examples
--------
>>> from experiments.business.toy import toy_log
>>> report = business_report(toy_log(), n_bootstrap=200)
>>> report.settings["take_rate"], report.overall.n_treated, sorted(report.by_segment)
(0.15, 3, ['medium', 'small'])
>>> list(report.by_trigger_kind)
['behaviour', 'inventory', 'time']
>>> print(report.headline)  # doctest: +ELLIPSIS
Between 2026-03-01 and 2026-03-05, 3 users had trigger moments that reached the offer policy; 2 users of the
global holdout had such moments and were sent nothing. Treated users converted at 66.7% against 50.0%...
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from experiments.business.base import BusinessLog, BusinessReport, CellReport, Estimate
from experiments.business.estimates import estimate_cells
from experiments.business.kpis import EFFECTS, KPIS
from experiments.business.segments import SEGMENTATION
from experiments.business.users import cells_of, moments_of, user_measures
from features.schemas import ACTIONS
from simulators.truth import expected_rewards

#: Below this many holdout users in a slice, its comparison gets a warning.
SMALL_HOLDOUT = 100
#: How far logged rewards may stray from ``take_rate * revenue - offer_cost`` before the report says so.
REWARD_TOLERANCE = 1e-6

GROUP_DEFINITIONS = {
    "treated": "users outside the global holdout with at least one trigger moment that reached the offer policy "
    "(whether or not an offer was then sent: an intention-to-treat comparison)",
    "holdout": "users of the global holdout with at least one trigger moment that passed every other guardrail; "
    "they were sent nothing",
    "window": "a user's purchases count from the send time of their first moment (for the holdout, when it would "
    "have been sent) to the end of the log",
    "incremental": "treated minus holdout; totals scale the per-user difference to the slice's treated users",
    "attributed": "orders and revenue the outcomes credit to a delivered offer (a conversion within the attribution "
    "window of the message)",
    "by_trigger_kind": "users with at least one moment of the kind; purchases within the attribution window after "
    "such a moment, and the offer costs of decisions of that kind",
    "by_segment": "every user; purchases from the segment's merchants and the offer costs of decisions about their "
    "items. " + SEGMENTATION,
    "interval": "percentile bootstrap over users, resampled with replacement within each group",
}


def implied_take_rate(decisions: pl.DataFrame) -> float | None:
    """Return the take rate the logged rewards imply: ``sum(reward + offer_cost) / sum(revenue)``.

    ``None`` without rewards or revenue.

    Examples
    --------
    >>> implied_take_rate(pl.DataFrame({"reward": [5.0, 0.0], "offer_cost": [10.0, 0.0], "revenue": [100.0, 0.0]}))
    0.15
    """
    if "reward" not in decisions.columns:
        return None
    revenue = float(decisions.get_column("revenue").sum())
    if revenue <= 0:
        return None
    kept = float((decisions.get_column("reward") + decisions.get_column("offer_cost")).sum())
    return round(kept / revenue, 12)


def truth_effect(log: BusinessLog) -> dict[str, float] | None:
    """Return what the simulator's truth expects the policy to have added, in total and per treated user.

    That is the sum over decisions of the chosen action's expected reward minus that of ``no_offer`` (both from
    :func:`simulators.truth.expected_rewards`, which counts the item's stock-out and the message's delivery).

    This counts only each moment's own purchase (in the simulator, a purchase of the moment's item within the
    attribution window), not knock-on effects such as a lapsed user's return; ``None`` without a truth file.

    Examples
    --------
    >>> from experiments.business.toy import toy_log
    >>> from dataclasses import replace
    >>> truth = pl.DataFrame({"decision_id": ["d1", "d2", "d3", "d4"], "q_no_offer": [1.0, 2.0, 0.0, 0.5],
    ...     "q_coupon": [3.0, 2.5, 0.0, 0.0], "q_installment": [None, None, None, 1.5],
    ...     "q_trust_badge": [None, None, 0.25, None], "in_stock": [True, True, True, False],
    ...     "deliverable": [True, True, True, True]})
    >>> truth_effect(replace(toy_log(), truth=truth))  # d4's item is gone: its offer adds nothing
    {'expected_incremental_contribution': 2.25, 'expected_incremental_contribution_per_user': 0.75}
    """
    if log.truth is None:
        return None
    joined = log.decisions.select("decision_id", "action").join(log.truth, on="decision_id", how="left")
    mu = expected_rewards(joined)
    chosen = joined.get_column("action").replace_strict({a: i for i, a in enumerate(ACTIONS)}).to_numpy()
    gain = float(np.nan_to_num(mu[np.arange(len(chosen)), chosen] - mu[:, 0]).sum())
    n_treated = log.decisions.get_column("user_id").n_unique()
    return {
        "expected_incremental_contribution": gain,
        "expected_incremental_contribution_per_user": gain / n_treated,
    }


def business_report(
    log: BusinessLog,
    *,
    seed: int = 0,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    window_days: float = 7.0,
    take_rate: float | None = None,
) -> BusinessReport:
    """Compare treated users with the global holdout, overall, by trigger kind and by merchant segment.

    Parameters
    ----------
    log
        The input (:func:`experiments.business.loading.load_business_log`).
    seed
        Seed of the bootstrap.
    n_bootstrap
        Bootstrap resamples.
    alpha
        One minus the intervals' coverage (``0.05``: 95% intervals).
    window_days
        The attribution window of the trigger-kind slices.
    take_rate
        The platform's share of revenue, for the contribution; by default the one the logged rewards imply
        (:func:`implied_take_rate`).
    """
    implied = implied_take_rate(log.decisions)
    rate = take_rate if take_rate is not None else implied
    if rate is None:
        raise ValueError("the outcomes hold no reward (or no revenue) to infer the take rate from; give take_rate")
    table = user_measures(log, window_days)
    cells = cells_of(table)
    figures = estimate_cells(table, cells, rate, n_bootstrap, alpha, seed)
    by_kind = {c.name: f for c, f in zip(cells, figures, strict=True) if c.breakdown == "trigger_kind"}
    by_segment = {c.name: f for c, f in zip(cells, figures, strict=True) if c.breakdown == "segment"}
    overall = figures[0]
    at = moments_of(log).get_column("at")
    period = (_iso(at.min()), _iso(at.max()))
    warnings = _warnings(overall, by_kind, alpha)
    if implied is not None and take_rate is None and not _rewards_follow(log.decisions, implied):
        warnings.append(
            f"the logged rewards are not take rate x revenue - offer cost for one take rate; the contribution uses "
            f"their average, {implied:.4f}"
        )
    settings: dict[str, Any] = {
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "alpha": alpha,
        "window_days": window_days,
        "take_rate": rate,
        "take_rate_source": "given" if take_rate is not None else "implied by the logged rewards",
    }
    definitions = {
        **GROUP_DEFINITIONS,
        **{k.name: k.definition for k in KPIS},
        **{e.name: e.definition for e in EFFECTS},
    }
    return BusinessReport(
        overall=overall,
        by_trigger_kind=by_kind,
        by_segment=by_segment,
        headline=headline(overall, period, alpha),
        period=period,
        settings=settings,
        definitions=definitions,
        warnings=warnings,
        truth=truth_effect(log),
    )


def headline(overall: CellReport, period: tuple[str, str], alpha: float = 0.05) -> str:
    """Write a paragraph for a marketing lead.

    It says who was compared, the conversion gain, what a gained buyer cost, and attributed against incremental
    orders and revenue.
    """
    k, e = overall.kpis, overall.effects
    level = f"{1 - alpha:.0%}"
    conversion = k["conversion_rate"]
    parts = [
        f"Between {period[0][:10]} and {period[1][:10]}, {overall.n_treated:,} users had trigger moments that "
        f"reached the offer policy; {overall.n_holdout:,} users of the global holdout had such moments and were "
        f"sent nothing.",
        f"Treated users converted at {_pct(conversion.treated.value)} against {_pct(conversion.holdout.value)}: "
        f"{_points(conversion.incremental)} ({level} interval {_points_range(conversion.incremental)}), "
        f"{_verdict(conversion.incremental)}, about {_count(e['incremental_buyers'].value)} extra buyers.",
        f"The offers cost {_money(e['offer_cost'].value)} in all, {_money(e['acquisition_cost'].value)} per extra "
        f"buyer (the acquisition cost; interval {_money_range(e['acquisition_cost'])}).",
        f"The outcomes attribute {_count(e['attributed_orders'].value)} orders and "
        f"{_money(e['attributed_revenue'].value)} of revenue to the offers; against the holdout they added "
        f"{_count(e['incremental_orders'].value)} orders (interval {_count_range(e['incremental_orders'])}) and "
        f"{_money(e['incremental_revenue'].value)} of revenue (interval {_money_range(e['incremental_revenue'])}).",
    ]
    if e["attributed_orders"].value > e["incremental_orders"].upper:
        parts.append("Attribution over-counts: many attributed orders would have happened without the offer.")
    net, repurchase, order_value = k["net_revenue_per_user"], k["repurchase_rate"], k["average_order_value"]
    parts.append(
        f"Net revenue per user (revenue minus offer cost) changed by {_signed_money(net.incremental.value)} "
        f"({_verdict(net.incremental)}), the repurchase rate by {_points(repurchase.incremental)} "
        f"({_verdict(repurchase.incremental)}) and the average order value by "
        f"{_signed_money(order_value.incremental.value)} ({_verdict(order_value.incremental)})."
    )
    return " ".join(parts)


def _verdict(estimate: Estimate) -> str:
    if not (math.isfinite(estimate.lower) and math.isfinite(estimate.upper)):
        return "not measurable here"
    if estimate.lower > 0:
        return "a clear gain"
    if estimate.upper < 0:
        return "a clear loss"
    return "not distinguishable from no change"


def _warnings(overall: CellReport, by_kind: dict[str, CellReport], alpha: float) -> list[str]:
    warnings = []
    if overall.n_holdout < SMALL_HOLDOUT:
        warnings.append(
            f"only {overall.n_holdout} holdout users: the incremental figures have wide intervals; a larger holdout "
            "share or a longer period narrows them"
        )
    for kind, cell in by_kind.items():
        if cell.n_holdout == 0:
            warnings.append(f"no holdout user had a {kind} moment: that trigger kind has no comparison")
        elif cell.n_holdout < SMALL_HOLDOUT:
            warnings.append(f"{kind}: only {cell.n_holdout} holdout users had such a moment; its figures are fragile")
    moments = overall.kpis["moments_per_user"]
    if moments.incremental.lower > 0 or moments.incremental.upper < 0:
        warnings.append(
            f"treated users had {moments.treated.value:.2f} moments each, holdout users {moments.holdout.value:.2f} "
            f"(a difference outside its {1 - alpha:.0%} interval): the groups may not be comparable"
        )
    return warnings


def _rewards_follow(decisions: pl.DataFrame, take_rate: float) -> bool:
    expected = take_rate * decisions.get_column("revenue") - decisions.get_column("offer_cost")
    gap = _largest_abs(decisions.get_column("reward") - expected)
    scale = max(1.0, _largest_abs(decisions.get_column("revenue")) or 0.0)
    return gap is None or gap <= REWARD_TOLERANCE * scale


def _largest_abs(values: pl.Series) -> float | None:
    """Return the largest absolute value of a numeric series, ``None`` when it holds no value."""
    largest = values.abs().max()
    if largest is None:
        return None
    if not isinstance(largest, int | float):
        raise TypeError(f"{values.name} must be numeric; got dtype {values.dtype}")
    return float(largest)


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _pct(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "n/a"


def _points(estimate: Estimate) -> str:
    return f"{estimate.value * 100:+.1f} points" if math.isfinite(estimate.value) else "n/a"


def _points_range(estimate: Estimate) -> str:
    return f"{estimate.lower * 100:+.1f} to {estimate.upper * 100:+.1f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "n/a"


def _count_range(estimate: Estimate) -> str:
    return f"{_count(estimate.lower)} to {_count(estimate.upper)}"


def _money(value: float) -> str:
    if np.isposinf(value):
        return "unbounded"
    return f"{value:,.2f}" if math.isfinite(value) else "n/a"


def _signed_money(value: float) -> str:
    return f"{value:+,.2f}" if math.isfinite(value) else "n/a"


def _money_range(estimate: Estimate) -> str:
    return f"{_money(estimate.lower)} to {_money(estimate.upper)}"
