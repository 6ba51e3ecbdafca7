"""The feature-value chart: each group's drop in value as a bar, its interval as a whisker, one colour per method.

Built like the figures of :mod:`experiments.reporting.plots`: matplotlib's object API (no pyplot, nothing
global, no display), named opaque colours, numbers labelled with
:func:`~experiments.reporting.plots.short_number`, and the look of its estimates chart
(:func:`~experiments.reporting.plots.style_row_chart`).

Examples
--------
>>> import polars as pl
>>> table = pl.DataFrame({"group": ["price", "moment", "price", "moment"],
...     "method": ["permute", "permute", "remove", "remove"], "drop": [0.04, 0.001, 0.03, -0.002],
...     "lower": [0.02, -0.003, 0.01, -0.006], "upper": [0.06, 0.005, 0.05, 0.002]})
>>> ax = feature_value_chart(table).axes[0]
>>> [label.get_text() for label in ax.get_yticklabels()], ax.get_legend_handles_labels()[1]
(['price', 'moment'], ['permute', 'remove'])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from experiments.reporting.plots import short_number, style_row_chart
from features.io import atomic_path

#: Bar colour of each method.
METHOD_COLORS: dict[str, str] = {"permute": "#4c78a8", "remove": "#f58518"}
#: Bars of methods not in :data:`METHOD_COLORS`.
OTHER_COLOR = "#54a24b"
#: The interval whiskers.
WHISKER_COLOR = "#333333"
#: The line at zero drop.
ZERO_COLOR = "#888888"


def feature_value_chart(table: pl.DataFrame, title: str = "Value of each feature group to the policy") -> Figure:
    """Horizontal bars of each group's drop, grouped by group, one bar per method, with interval whiskers.

    Parameters
    ----------
    table
        Columns ``group``, ``method``, ``drop``, ``lower``, ``upper`` (as
        :func:`~experiments.feature_value.value.group_values` returns); groups are drawn in the order of their
        largest drop, the largest at the top.
    title
        The figure's title.

    Returns
    -------
    Figure
        One axes: bars in :data:`METHOD_COLORS`, whiskers in :data:`WHISKER_COLOR`, zero in :data:`ZERO_COLOR`.

    Examples
    --------
    >>> feature_value_chart(pl.DataFrame({"group": ["a"], "drop": [0.1]}))
    Traceback (most recent call last):
    ...
    ValueError: the feature-value table lacks column(s) ['method', 'lower', 'upper']
    """
    missing = [c for c in ("group", "method", "drop", "lower", "upper") if c not in table.columns]
    if missing:
        raise ValueError(f"the feature-value table lacks column(s) {missing}")
    if table.height == 0:
        raise ValueError("the feature-value table has no rows to draw")
    order = (
        table.group_by("group", maintain_order=True)
        .agg(pl.col("drop").max())
        .sort("drop", descending=True, maintain_order=True)
        .get_column("group")
        .to_list()
    )
    methods = list(dict.fromkeys(table.get_column("method").to_list()))
    height = 0.8 / len(methods)
    centre = {g: float(len(order) - 1 - i) for i, g in enumerate(order)}
    fig = Figure(figsize=(9.0, 1.6 + 0.45 * len(order) * len(methods)), layout="constrained")
    ax = fig.add_subplot()
    for j, method in enumerate(methods):
        rows = table.filter(pl.col("method") == method)
        offset = ((len(methods) - 1) / 2 - j) * height  # the first method on top within its group
        y = np.array([centre[g] for g in rows.get_column("group").to_list()]) + offset
        drop = rows.get_column("drop").to_numpy().astype(float)
        lower, upper = (rows.get_column(c).to_numpy().astype(float) for c in ("lower", "upper"))
        lower = np.where(np.isnan(lower), drop, np.minimum(lower, drop))  # no bound: the bar alone
        upper = np.where(np.isnan(upper), drop, np.maximum(upper, drop))
        color = METHOD_COLORS.get(method, OTHER_COLOR)
        ax.barh(y, drop, height=height * 0.9, color=color, label=method, zorder=2)
        whiskers = np.vstack([drop - lower, upper - drop])
        ax.errorbar(drop, y, xerr=whiskers, fmt="none", ecolor=WHISKER_COLOR, elinewidth=1.5, capsize=3, zorder=3)
        for yi, value, high in zip(y.tolist(), drop.tolist(), upper.tolist(), strict=True):
            ax.annotate(
                short_number(value),
                (max(high, 0.0), yi),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
    ax.axvline(0.0, color=ZERO_COLOR, linewidth=1.2, zorder=1)
    ax.set_yticks([centre[g] for g in order], order, fontsize=11)
    ax.set_xlabel("drop in off-policy value per decision without the group (bar), with its interval", fontsize=11)
    style_row_chart(ax, title)
    low, high = ax.get_xlim()
    ax.set_xlim(low, high + 0.15 * (high - low))  # room for the labels
    fig.legend(loc="outside lower center", ncol=len(methods), frameon=False, fontsize=11)
    return fig


def save_png(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (a temporary file, then renamed); return the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return target
