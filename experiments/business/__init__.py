"""The business report: what trigger marketing earned, measured against the global holdout.

Treated users (their trigger moments reached the offer policy) are compared with the users of the global holdout
(the same kind of moments, nothing sent) on the brief's headline KPIs: conversion, repurchase rate, order value,
net revenue per user, and what the offers cost per decision and per incremental buyer (the acquisition cost).
Figures are per user, summed from the purchase events and the decision log, so both groups are measured the same
way (:mod:`~experiments.business.users`); every KPI is a ratio of per-user sums (:mod:`~experiments.business.kpis`)
with a clustered bootstrap interval over users (:mod:`~experiments.business.bootstrap`,
:mod:`~experiments.business.estimates`). Attributed figures (what the outcomes credit to offers) stand beside the
incremental ones (treated minus holdout, scaled to the treated users), overall, by trigger kind and by merchant
segment (:mod:`~experiments.business.segments`). :func:`write_report` writes ``report.json`` and ``report.html``.

Examples
--------
>>> from experiments.business.toy import toy_log
>>> report = business_report(toy_log(), n_bootstrap=200, seed=0)
>>> conversion = report.overall.kpis["conversion_rate"]
>>> round(conversion.treated.value, 4), conversion.holdout.value, round(conversion.incremental.value, 4)
(0.6667, 0.5, 0.1667)
>>> effects = report.overall.effects
>>> effects["attributed_orders"].value, effects["incremental_orders"].value, round(effects["acquisition_cost"].value, 6)
(2.0, 1.5, 22.0)
"""

from experiments.business.base import BusinessLog, BusinessReport, CellReport, Estimate, KpiFigures
from experiments.business.bootstrap import percentile_interval, resampled_sums
from experiments.business.estimates import estimate_cells
from experiments.business.kpis import EFFECTS, KPIS, Effect, Kpi
from experiments.business.loading import load_business_log
from experiments.business.page import report_page, write_report
from experiments.business.report import business_report, implied_take_rate, truth_effect
from experiments.business.segments import merchant_segments
from experiments.business.users import user_measures

__all__ = [
    "EFFECTS",
    "KPIS",
    "BusinessLog",
    "BusinessReport",
    "CellReport",
    "Effect",
    "Estimate",
    "Kpi",
    "KpiFigures",
    "business_report",
    "estimate_cells",
    "implied_take_rate",
    "load_business_log",
    "merchant_segments",
    "percentile_interval",
    "report_page",
    "resampled_sums",
    "truth_effect",
    "user_measures",
    "write_report",
]
