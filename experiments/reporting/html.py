"""A standalone HTML page built block by block: headings, text, warnings, tables and figures.

The page needs nothing but a browser: the style sheet is inline, figures are
embedded as base64 PNG data URIs and no JavaScript runs. Every piece of text is
escaped with :func:`html.escape`, so a column name or a warning can hold ``<``
or ``&`` safely.

Examples
--------
>>> import polars as pl
>>> page = Page("Weekly offers", subtitle="Week 47")
>>> page.heading("Results")
>>> page.paragraph("Coupons beat installments <again>.")
>>> page.table(pl.DataFrame({"offer": ["coupon"], "conversion": [0.12345]}), caption="By offer")
>>> text = page.render()
>>> text.startswith("<!DOCTYPE html>"), "Coupons beat installments &lt;again&gt;." in text, "0.1235" in text
(True, True, True)
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from features.io import atomic_path

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1f2933;
  font: 16px/1.55 -apple-system, "Segoe UI", "DejaVu Sans", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 40px 56px; background: #ffffff; min-height: 100vh; }
header { border-bottom: 3px solid #2563eb; margin-bottom: 24px; padding-bottom: 12px; }
h1 { font-size: 30px; line-height: 1.2; margin: 0 0 6px; }
.subtitle { color: #52606d; margin: 0; font-size: 17px; }
h2 { font-size: 22px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid #d9dee4; }
p { margin: 0 0 14px; max-width: 72ch; }
.warning { margin: 0 0 14px; padding: 12px 16px; background: #fff4d6; border: 1px solid #f0b429;
  border-left: 6px solid #de911d; border-radius: 4px; color: #5c3c00; }
.warning strong { color: #8d2b0b; }
.table-wrap { overflow-x: auto; margin: 0 0 20px; }
table { border-collapse: collapse; font-size: 15px; min-width: 50%; }
caption { caption-side: top; text-align: left; font-weight: 600; color: #323f4b; padding: 0 0 6px; }
th, td { padding: 6px 14px; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
thead th { background: #eef2f7; border-bottom: 2px solid #cbd2d9; font-weight: 600; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.key-values { min-width: 0; }
table.key-values th { max-width: 30em; font-weight: 500; color: #323f4b; }
table.key-values td { font-variant-numeric: tabular-nums; }
figure { margin: 8px 0 28px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e7eb; border-radius: 4px; }
figcaption { color: #52606d; font-size: 14px; margin-top: 6px; }
"""

MISSING = "—"


class Page:
    """A report page: add blocks in reading order, then :meth:`render` or :meth:`write` it.

    Every block method returns ``None`` and appends to the page; figures are
    rasterised when added, so the page holds only text.

    Parameters
    ----------
    title
        The page title, shown as the top heading and in the browser tab.
    subtitle
        An optional line under the title (a date, the data it was built from).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(3, 2))
    >>> _ = fig.add_subplot().bar(["a", "b"], [1, 2])
    >>> page = Page("Demo")
    >>> page.warning("Only 12 matching rounds: the estimate is fragile.")
    >>> page.figure(fig, caption="Two bars")
    >>> page.key_values({"rounds": 12000, "share": 0.25})
    >>> text = page.render()
    >>> 'src="data:image/png;base64,' in text, 'alt="Two bars"' in text, "12,000" in text
    (True, True, True)
    """

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self._blocks: list[str] = []

    def heading(self, text: str) -> None:
        """Start a section with a second-level heading."""
        self._blocks.append(f"<h2>{_text(text)}</h2>")

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text."""
        self._blocks.append(f"<p>{_text(text)}</p>")

    def warning(self, text: str) -> None:
        """Add a highlighted box for something the reader must not miss."""
        self._blocks.append(f'<div class="warning" role="alert"><strong>Warning:</strong> {_text(text)}</div>')

    def table(self, frame: pl.DataFrame, caption: str | None = None, float_format: str = "{:.4f}") -> None:
        """Add a table of ``frame``: floats through ``float_format``, numbers right-aligned, nulls as a dash.

        Examples
        --------
        >>> import polars as pl
        >>> page = Page("t")
        >>> page.table(pl.DataFrame({"a<b": [1.5, None]}), float_format="{:.1f}")
        >>> print(page._blocks[0])  # doctest: +NORMALIZE_WHITESPACE
        <div class="table-wrap"><table><thead><tr><th class="num">a&lt;b</th></tr></thead>
        <tbody><tr><td class="num">1.5</td></tr><tr><td class="num">—</td></tr></tbody></table></div>
        """
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(f"table expects a polars.DataFrame, got {type(frame).__name__}")
        numeric = [dtype.is_numeric() for dtype in frame.dtypes]
        head = "".join(
            f"<th{_num(is_num)}>{_text(name)}</th>" for name, is_num in zip(frame.columns, numeric, strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{_num(is_num)}>{_text(format_value(value, float_format))}</td>"
                for value, is_num in zip(row, numeric, strict=True)
            )
            + "</tr>"
            for row in frame.iter_rows()
        )
        self._blocks.append(
            f'<div class="table-wrap"><table>{_caption(caption)}<thead><tr>{head}</tr></thead>'
            f"\n<tbody>{body}</tbody></table></div>"
        )

    def key_values(self, mapping: Mapping[str, object], caption: str | None = None) -> None:
        """Add a two-column table of names and values (floats to four decimals, integers with separators)."""
        rows = "".join(
            f"<tr><th>{_text(key)}</th><td>{_text(format_value(value, '{:.4f}'))}</td></tr>"
            for key, value in mapping.items()
        )
        self._blocks.append(
            f'<div class="table-wrap"><table class="key-values">{_caption(caption)}<tbody>{rows}</tbody></table></div>'
        )

    def figure(self, fig: Figure, caption: str | None = None) -> None:
        """Embed ``fig`` as a PNG data URI, with ``caption`` as its alt text and caption; ``fig`` is closed."""
        if not isinstance(fig, Figure):
            raise TypeError(f"figure expects a matplotlib.figure.Figure, got {type(fig).__name__}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
        _close(fig)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = caption or "figure"
        figcaption = f"<figcaption>{_text(caption)}</figcaption>" if caption else ""
        self._blocks.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_text(alt)}">{figcaption}</figure>')

    def render(self) -> str:
        """Render the whole page as one standalone HTML5 document."""
        subtitle = f'<p class="subtitle">{_text(self.subtitle)}</p>' if self.subtitle else ""
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_text(self.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            f"<header><h1>{_text(self.title)}</h1>{subtitle}</header>\n{body}\n</main>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the rendered page to ``path`` atomically (a temporary file beside it, then renamed); return it."""
        target = Path(path)
        with atomic_path(target) as tmp:
            tmp.write_text(self.render(), encoding="utf-8")
        return target


def format_value(value: object, float_format: str = "{:.4f}") -> str:
    """One cell's text: a dash for missing or NaN, ``yes``/``no``, integers with separators, floats formatted.

    Examples
    --------
    >>> import numpy as np
    >>> [format_value(v) for v in (None, float("nan"), True, np.int64(1234567), 0.5, "x", [1, 2])]
    ['—', '—', 'yes', '1,234,567', '0.5000', 'x', '1, 2']
    """
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        return MISSING if math.isnan(number) else float_format.format(number)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item, float_format) for item in value)
    return str(value)


def _text(value: str) -> str:
    return html.escape(str(value), quote=True)


def _num(is_numeric: bool) -> str:
    return ' class="num"' if is_numeric else ""


def _caption(caption: str | None) -> str:
    return f"<caption>{_text(caption)}</caption>" if caption else ""


def _close(fig: Figure) -> None:
    """Release ``fig``: through pyplot if pyplot made it (it keeps a reference), else drop its artists."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()
