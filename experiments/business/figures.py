"""The report's plots, drawn with matplotlib's object API (no pyplot state).

Examples
--------
>>> from experiments.business.report import business_report
>>> from experiments.business.toy import toy_log
>>> report = business_report(toy_log(), n_bootstrap=100)
>>> [len(f.axes) for f in (groups_figure(report.overall), attribution_figure(report.overall))]
[6, 2]
>>> len(slices_figure(report.by_trigger_kind, "trigger kind").axes)
2
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from experiments.business.base import CellReport, Estimate
from experiments.business.kpis import EFFECT_BY_NAME, KPI_BY_NAME

#: The KPIs drawn as treated-against-holdout bars.
GROUP_KPIS: tuple[str, ...] = (
    "conversion_rate",
    "repurchase_rate",
    "average_order_value",
    "revenue_per_user",
    "net_revenue_per_user",
    "contribution_per_user",
)
#: The KPIs whose incremental value is drawn per slice.
SLICE_KPIS: tuple[str, ...] = ("conversion_rate", "net_revenue_per_user")

TREATED_COLOUR, HOLDOUT_COLOUR, ATTRIBUTED_COLOUR = "#2563eb", "#9aa5b1", "#de911d"


def groups_figure(cell: CellReport) -> Figure:
    """Treated against holdout for the headline KPIs, each bar with its interval."""
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, name in zip(axes, GROUP_KPIS, strict=True):
        figures = cell.kpis[name]
        _bars(ax, ["treated", "holdout"], [figures.treated, figures.holdout], [TREATED_COLOUR, HOLDOUT_COLOUR])
        ax.set_title(KPI_BY_NAME[name].label, fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Treated users against the holdout (bars: value; lines: 95% interval)", fontsize=12)
    return fig


def attribution_figure(cell: CellReport) -> Figure:
    """Plot what the outcomes attribute to offers against what the holdout comparison says they added."""
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for ax, measure in zip(fig.subplots(1, 2), ("orders", "revenue"), strict=True):
        names = [f"attributed_{measure}", f"incremental_{measure}"]
        _bars(ax, ["attributed", "incremental"], [cell.effects[n] for n in names], [ATTRIBUTED_COLOUR, TREATED_COLOUR])
        ax.axhline(0, color="#323f4b", linewidth=0.8)
        ax.set_title(EFFECT_BY_NAME[names[1]].label.replace("Incremental ", "").capitalize(), fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Attributed to offers against incremental over the holdout", fontsize=12)
    return fig


def slices_figure(cells: dict[str, CellReport], what: str) -> Figure:
    """Plot the incremental conversion rate and net revenue per user of each slice, with intervals, around zero."""
    names = list(cells)
    fig = Figure(figsize=(10, 0.5 * len(names) + 2.2), layout="constrained")
    for ax, kpi in zip(fig.subplots(1, len(SLICE_KPIS), sharey=True), SLICE_KPIS, strict=True):
        incremental = [cells[n].kpis[kpi].incremental for n in names]
        y = np.arange(len(names))[::-1]
        values = np.array([_drawable(e.value) for e in incremental])
        errors = np.array([[_below(e), _above(e)] for e in incremental]).T
        ax.errorbar(values, y, xerr=errors, fmt="o", color=TREATED_COLOUR, ecolor="#52606d", capsize=4)
        ax.axvline(0, color="#323f4b", linewidth=0.8)
        ax.set_yticks(y, names)
        ax.set_title(f"Incremental {KPI_BY_NAME[kpi].label.lower()}", fontsize=11)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Treated minus holdout by {what} (points: estimate; lines: 95% interval)", fontsize=12)
    return fig


def _bars(ax: Axes, labels: list[str], estimates: list[Estimate], colours: list[str]) -> None:
    values = [_drawable(e.value) for e in estimates]
    errors = np.array([[_below(e), _above(e)] for e in estimates]).T
    ax.bar(labels, values, color=colours, yerr=errors, capsize=6, ecolor="#323f4b")


def _drawable(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _below(estimate: Estimate) -> float:
    ok = math.isfinite(estimate.value) and math.isfinite(estimate.lower)
    return max(estimate.value - estimate.lower, 0.0) if ok else 0.0


def _above(estimate: Estimate) -> float:
    ok = math.isfinite(estimate.value) and math.isfinite(estimate.upper)
    return max(estimate.upper - estimate.value, 0.0) if ok else 0.0
