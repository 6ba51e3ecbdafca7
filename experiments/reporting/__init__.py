"""Standalone HTML reports with embedded figures: a page builder, the OPE figures and the OPE report.

Examples
--------
>>> page = Page("Report")
>>> page.paragraph("Hello")
>>> "<p>Hello</p>" in page.render()
True
"""

from experiments.reporting.html import Page, format_value
from experiments.reporting.ope import headline, ope_report
from experiments.reporting.plots import estimates_forest, weight_distribution

__all__ = ["Page", "estimates_forest", "format_value", "headline", "ope_report", "weight_distribution"]
