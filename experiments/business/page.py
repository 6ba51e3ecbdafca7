"""The business report as files: ``report.json`` (every figure) and ``report.html`` (tables, plots, words).

Examples
--------
>>> import json, tempfile
>>> from experiments.business.report import business_report
>>> from experiments.business.toy import toy_log
>>> paths = write_report(business_report(toy_log(), n_bootstrap=100), tempfile.mkdtemp(), source="toy")
>>> sorted(p.name for p in paths.values())
['report.html', 'report.json']
>>> json.loads(paths["json"].read_text())["overall"]["kpis"]["conversion_rate"]["holdout"]["value"]
0.5
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from experiments.business.base import BusinessReport, CellReport, Estimate
from experiments.business.figures import attribution_figure, groups_figure, slices_figure
from experiments.business.kpis import EFFECTS, KPIS
from experiments.reporting import Page
from features.io import write_bytes

UNBOUNDED = "unbounded"


def write_report(report: BusinessReport, out: str | Path, source: str = "") -> dict[str, Path]:
    """Write ``report.json`` and ``report.html`` into ``out`` (each atomically); return their paths."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder to write report.json and report.html into")
    paths = {"json": out / "report.json", "html": out / "report.html"}
    document = {"source": source, **report.to_dict()}
    write_bytes((json.dumps(document, indent=2) + "\n").encode("utf-8"), paths["json"])
    report_page(report, source).write(paths["html"])
    return paths


def report_page(report: BusinessReport, source: str = "") -> Page:
    """Build the HTML page: headline, warnings, the groups compared, attribution, trigger kinds, segments, method."""
    overall = report.overall
    level = f"{1 - report.settings['alpha']:.0%}"
    subtitle = f"{report.period[0][:10]} to {report.period[1][:10]}" + (f" · {source}" if source else "")
    page = Page("Trigger marketing: what the offers earned", subtitle=subtitle)
    page.heading("Headline")
    page.paragraph(report.headline)
    for warning in report.warnings:
        page.warning(warning)

    page.heading("Treated users against the global holdout")
    page.paragraph(
        f"{overall.n_treated:,} treated users and {overall.n_holdout:,} holdout users, each measured from their "
        f"first trigger moment to the end of the log. Incremental is treated minus holdout, with its {level} "
        "interval; figures only the treated group has (decisions, attributed orders) have no holdout value."
    )
    page.table(kpi_table(overall, level), caption="Per-user KPIs")
    page.figure(groups_figure(overall), caption="Treated against holdout, with intervals")

    page.heading("Attributed against incremental")
    page.paragraph(
        "Attributed: what the outcomes credit to a delivered offer (a purchase within the attribution window). "
        "Incremental: what the treated users did beyond the holdout, scaled to the treated users. Attribution also "
        "counts purchases that would have happened anyway; the difference is what the holdout reveals."
    )
    page.table(effect_table(overall, level), caption="Totals over the treated users")
    page.figure(attribution_figure(overall), caption="Attributed against incremental orders and revenue")

    page.heading("By trigger kind")
    page.paragraph(_sentence(report.definitions["by_trigger_kind"]))
    page.table(slice_table(report.by_trigger_kind, "trigger kind", level), caption="Incremental by trigger kind")
    page.figure(slices_figure(report.by_trigger_kind, "trigger kind"), caption="Incremental effect by trigger kind")

    page.heading("By merchant segment")
    page.paragraph(_sentence(report.definitions["by_segment"]))
    page.table(slice_table(report.by_segment, "segment", level), caption="Incremental by merchant segment")
    page.figure(slices_figure(report.by_segment, "merchant segment"), caption="Incremental effect by segment")

    if report.truth is not None:
        page.heading("Against the simulator's truth")
        measured = overall.kpis["contribution_per_user"].incremental
        page.key_values(
            {
                "expected incremental contribution per treated user (truth)": report.truth[
                    "expected_incremental_contribution_per_user"
                ],
                "measured incremental contribution per treated user": measured.value,
                f"measured {level} interval": _range(measured, "money"),
            },
            caption="The truth counts each moment's own purchase only",
        )

    page.heading("How the figures are computed")
    page.key_values(report.definitions, caption="Definitions")
    page.key_values(report.settings, caption="Settings")
    return page


def kpi_table(cell: CellReport, level: str) -> pl.DataFrame:
    """One row per KPI: treated, holdout, incremental and its interval, formatted by unit."""
    rows = []
    for kpi in KPIS:
        figures = cell.kpis[kpi.name]
        rows.append(
            {
                "KPI": kpi.label,
                "treated": _fmt(figures.treated.value, kpi.unit),
                f"treated {level} interval": _range(figures.treated, kpi.unit),
                "holdout": _fmt(figures.holdout.value, kpi.unit),
                f"holdout {level} interval": _range(figures.holdout, kpi.unit),
                "incremental": _fmt(figures.incremental.value, kpi.unit, signed=True),
                f"incremental {level} interval": _range(figures.incremental, kpi.unit, signed=True),
            }
        )
    return pl.DataFrame(rows)


def effect_table(cell: CellReport, level: str) -> pl.DataFrame:
    """One row per effect: its total and interval."""
    return pl.DataFrame(
        [
            {
                "effect": e.label,
                "value": _fmt(cell.effects[e.name].value, e.unit),
                f"{level} interval": _range(cell.effects[e.name], e.unit),
                "meaning": e.definition,
            }
            for e in EFFECTS
        ]
    )


def slice_table(cells: dict[str, CellReport], what: str, level: str) -> pl.DataFrame:
    """Tabulate the slices, one row each: users, conversion, net revenue, orders and acquisition cost.

    The incremental conversion, net revenue per user and acquisition cost come with their ``level`` interval;
    attributed orders stand beside incremental ones.
    """
    rows = []
    for name, cell in cells.items():
        conversion, net = cell.kpis["conversion_rate"], cell.kpis["net_revenue_per_user"]
        e = cell.effects
        rows.append(
            {
                what: name,
                "treated users": f"{cell.n_treated:,}",
                "holdout users": f"{cell.n_holdout:,}",
                "conversion treated / holdout": f"{_fmt(conversion.treated.value, 'share')} / "
                f"{_fmt(conversion.holdout.value, 'share')}",
                f"incremental conversion ({level} interval)": _with_range(conversion.incremental, "share"),
                f"incremental net revenue per user ({level} interval)": _with_range(net.incremental, "money"),
                "attributed / incremental orders": f"{_fmt(e['attributed_orders'].value, 'count')} / "
                f"{_fmt(e['incremental_orders'].value, 'count', signed=True)}",
                f"acquisition cost ({level} interval)": _with_range(e["acquisition_cost"], "money", signed=False),
            }
        )
    return pl.DataFrame(rows)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _fmt(value: float, unit: str, signed: bool = False) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return UNBOUNDED if value > 0 else "-" + UNBOUNDED
    sign = "+" if signed else ""
    if unit == "share":
        return f"{value * 100:{sign}.1f} pts" if signed else f"{value:.1%}"
    if unit == "count":
        return f"{value:{sign},.2f}" if abs(value) < 10 else f"{value:{sign},.0f}"
    return f"{value:{sign},.2f}"


def _range(estimate: Estimate, unit: str, signed: bool = False) -> str:
    if math.isnan(estimate.lower) and math.isnan(estimate.upper):
        return "—"
    low, high = _fmt(estimate.lower, unit, signed), _fmt(estimate.upper, unit, signed)
    points = " pts"
    if low.endswith(points) and high.endswith(points):  # the unit once: "+0.2 to +14.0 pts"
        low = low.removesuffix(points)
    return f"{low} to {high}"


def _with_range(estimate: Estimate, unit: str, signed: bool = True) -> str:
    if math.isnan(estimate.value):
        return "—"
    return f"{_fmt(estimate.value, unit, signed)} ({_range(estimate, unit, signed)})"
