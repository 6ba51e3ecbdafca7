"""Standalone HTML reports with embedded figures: a page builder and the off-policy evaluation report.

Examples
--------
>>> page = Page("Report")
>>> page.paragraph("Hello")
>>> "<p>Hello</p>" in page.render()
True
"""

from experiments.reporting.html import Page, format_value

__all__ = ["Page", "format_value"]
