"""Figures for an off-policy evaluation: how the importance weights spread, and each estimate with its interval.

The figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`,
no pyplot), so nothing global changes and no display is needed. Colours are
named constants, opaque, so a test can find a figure in a screenshot by them.

Examples
--------
>>> import numpy as np
>>> weights = np.random.default_rng(0).lognormal(0.0, 1.0, size=500)
>>> fig = weight_distribution(weights)
>>> [line.get_label() for line in fig.axes[0].get_lines()]
['mean weight 1.60', 'max weight 21.46']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import SupportsFloat, SupportsIndex

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

WEIGHT_COLOR = "#4c78a8"
"""Fill of the weight histogram's bars."""
INTERVAL_COLOR = "#9ecae9"
"""The estimates' interval bars."""
ESTIMATE_COLOR = "#1f4e79"
"""The estimates' points."""
MEAN_COLOR = "#e45756"
MAX_COLOR = "#b279a2"
REFERENCE_COLOR = "#f58518"
"""The logging policy's value, drawn across the estimates."""
GRID_COLOR = "#e4e7eb"
"""The light grid lines of the row charts (:func:`style_row_chart`)."""

N_BINS = 40


def weight_distribution(weights: np.ndarray, title: str = "Importance weights") -> Figure:
    """Histogram of the positive importance weights on a log scale, with the mean and the maximum marked.

    A log scale cannot show zeros; their count is stated in the title instead.

    Parameters
    ----------
    weights
        ``(n,)`` importance weights: finite and non-negative.
    title
        The first line of the figure's title.

    Returns
    -------
    Figure
        One axes: the histogram (bars in :data:`WEIGHT_COLOR`) and two vertical
        lines, the mean weight over all rounds (zeros included) and the largest.

    Examples
    --------
    >>> import numpy as np
    >>> fig = weight_distribution(np.array([0.0, 0.0, 0.5, 1.0, 2.0, 8.0]))
    >>> print(fig.axes[0].get_title(loc="left"))
    Importance weights
    2 of 6 rounds (33.3%) have weight 0, not drawn: the target never takes the logged action there
    >>> weight_distribution(np.array([1.0, -0.5]))
    Traceback (most recent call last):
    ...
    ValueError: weights must be finite and non-negative; row 1 is -0.5
    """
    w = _check_weights(weights)
    n_zero = int(np.count_nonzero(w == 0))
    positive = w[w > 0]
    fig = Figure(figsize=(9.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    if positive.size:
        mean, top = float(w.mean()), float(positive.max())
        low, high = _log_range(min(float(positive.min()), mean), top)
        bins = np.geomspace(low, high, N_BINS + 1).tolist()
        ax.hist(positive, bins=bins, color=WEIGHT_COLOR, edgecolor="white", linewidth=0.5, label="rounds by weight")
        ax.set_xscale("log")
        ax.axvline(mean, color=MEAN_COLOR, linewidth=2.5, linestyle="--", label=f"mean weight {short_number(mean)}")
        ax.axvline(top, color=MAX_COLOR, linewidth=2.5, linestyle=":", label=f"max weight {short_number(top)}")
        decades = math.log10(high / low)
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 4 else (1.0,)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        fig.legend(loc="outside lower center", ncol=3, frameon=False, fontsize=11)
    else:
        ax.text(0.5, 0.5, "every weight is zero", ha="center", va="center", transform=ax.transAxes, fontsize=14)
    share = n_zero / w.size if w.size else 0.0
    zeros = (
        f"{n_zero:,} of {w.size:,} rounds ({share:.1%}) have weight 0, not drawn: "
        "the target never takes the logged action there"
        if n_zero
        else f"no zero weights among {w.size:,} rounds"
    )
    ax.set_title(f"{title}\n{zeros}", fontsize=12, loc="left")
    ax.set_xlabel("importance weight = target probability / logged propensity (log scale)", fontsize=11)
    ax.set_ylabel("logged rounds", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def estimates_forest(
    rows: Sequence[Mapping[str, object]],
    reference: float | None = None,
    reference_label: str = "policy that wrote the log",
    title: str = "Estimated value per decision",
) -> Figure:
    """Each estimate as a point on its interval, one row per estimator, with an optional reference line.

    Parameters
    ----------
    rows
        One mapping per estimate with keys ``name``, ``value``, ``lower`` and
        ``upper``; a missing or NaN bound draws the point alone.
    reference
        A value to draw across every row (typically the logging policy's), or ``None``.
    reference_label, title
        Legend text for the reference line, and the figure's title.

    Returns
    -------
    Figure
        One axes, the first row at the top: intervals in :data:`INTERVAL_COLOR`,
        points in :data:`ESTIMATE_COLOR`, the reference in :data:`REFERENCE_COLOR`.

    Examples
    --------
    >>> rows = [
    ...     {"name": "IPS", "value": 0.51, "lower": 0.45, "upper": 0.57},
    ...     {"name": "SNIPS", "value": 0.50, "lower": 0.46, "upper": 0.54},
    ... ]
    >>> ax = estimates_forest(rows, reference=0.33).axes[0]
    >>> [label.get_text() for label in ax.get_yticklabels()], ax.get_legend_handles_labels()[1]
    (['IPS', 'SNIPS'], ['policy that wrote the log: 0.330'])
    >>> estimates_forest([{"name": "IPS", "value": 0.5}])
    Traceback (most recent call last):
    ...
    ValueError: row 0 (IPS) has no 'lower'; each row needs name, value, lower and upper
    """
    if not rows:
        raise ValueError("estimates_forest needs at least one row")
    names, values, lowers, uppers = [], [], [], []
    for i, row in enumerate(rows):
        for key in ("name", "value", "lower", "upper"):
            if key not in row:
                raise ValueError(
                    f"row {i} ({row.get('name', '?')}) has no {key!r}; each row needs name, value, lower and upper"
                )
        names.append(str(row["name"]))
        values.append(as_number(row["value"], f"row {i} value"))
        lowers.append(as_number(row["lower"], f"row {i} lower"))
        uppers.append(as_number(row["upper"], f"row {i} upper"))
    value = np.array(values)
    lower = np.where(np.isnan(lowers), value, lowers)
    upper = np.where(np.isnan(uppers), value, uppers)
    if np.any(lower > value) or np.any(upper < value):
        bad = int(np.flatnonzero((lower > value) | (upper < value))[0])
        raise ValueError(
            f"row {bad} ({names[bad]}): value {value[bad]} is outside its interval [{lower[bad]}, {upper[bad]}]"
        )
    y = np.arange(len(names))[::-1].astype(float)
    fig = Figure(figsize=(9.0, 1.3 + 0.65 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(
        value,
        y,
        xerr=np.vstack([value - lower, upper - value]),
        fmt="o",
        color=ESTIMATE_COLOR,
        markersize=9,
        ecolor=INTERVAL_COLOR,
        elinewidth=9,
        capsize=0,
        zorder=3,
    )
    for yi, v, hi in zip(y, value, upper, strict=True):
        ax.annotate(short_number(v), (hi, yi), xytext=(8, 0), textcoords="offset points", va="center", fontsize=11)
    if reference is not None and math.isfinite(reference):
        ax.axvline(
            reference,
            color=REFERENCE_COLOR,
            linewidth=2.5,
            linestyle="--",
            label=f"{reference_label}: {short_number(reference)}",
            zorder=2,
        )
        fig.legend(loc="outside lower center", frameon=False, fontsize=11)
    ax.set_yticks(y, names, fontsize=11)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    span = [*lower, *upper] + ([reference] if reference is not None and math.isfinite(reference) else [])
    low, high = min(span), max(span)
    pad = 0.08 * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    ax.set_xlim(low - pad, high + 2.5 * pad)
    ax.set_xlabel("value per decision (point and interval)", fontsize=11)
    style_row_chart(ax, title)
    return fig


def style_row_chart(ax: Axes, title: str) -> None:
    """Style a chart with one labelled row per item along y.

    The title on the left, light vertical grid lines behind the marks, no frame but the bottom axis, no tick
    marks beside the row labels.

    Examples
    --------
    >>> ax = Figure().add_subplot()
    >>> style_row_chart(ax, "Estimated value per decision")
    >>> ax.get_title(loc="left"), ax.spines["left"].get_visible(), ax.spines["bottom"].get_visible()
    ('Estimated value per decision', False, True)
    """
    ax.set_title(title, fontsize=12, loc="left")
    ax.grid(axis="x", color=GRID_COLOR)
    ax.set_axisbelow(True)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)


def _log_range(low: float, high: float, min_ratio: float = 10.0) -> tuple[float, float]:
    """Bounds a little outside ``[low, high]``, widened about their geometric middle to span ``min_ratio`` at least.

    A narrow range (every weight alike) would otherwise make bars a pixel wide.

    Examples
    --------
    >>> [round(x, 3) for x in _log_range(3.0, 3.0)]
    [0.949, 9.487]
    >>> [round(x, 3) for x in _log_range(0.01, 50.0)]
    [0.009, 55.0]
    """
    low, high = low / 1.1, high * 1.1
    if high / low < min_ratio:
        middle, half = math.sqrt(low * high), math.sqrt(min_ratio)
        low, high = middle / half, middle * half
    return low, high


def _check_weights(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1:
        raise ValueError(f"weights must be one-dimensional, got shape {w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"weights must be finite and non-negative; row {row} is {w[row]}")
    return w


def as_number(value: object, what: str) -> float:
    """``value`` as a float, NaN for ``None``; an error naming ``what`` for anything else.

    Examples
    --------
    >>> as_number("0.5", "lower"), as_number(None, "lower")
    (0.5, nan)
    >>> as_number("high", "row 2 upper")
    Traceback (most recent call last):
    ...
    ValueError: row 2 upper must be a number, got 'high'
    """
    if value is None:
        return math.nan
    if isinstance(value, str | bytes | SupportsFloat | SupportsIndex):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{what} must be a number, got {value!r}")


def short_number(x: float) -> str:
    """Format a number for a label: three decimals below one, two up to a hundred, then whole with separators.

    Examples
    --------
    >>> [short_number(x) for x in (0.49632, 12.345, 1234.5, -0.02)]
    ['0.496', '12.35', '1,234', '-0.020']
    """
    size = abs(x)
    if size >= 100:
        return f"{x:,.0f}"
    if size >= 1:
        return f"{x:,.2f}"
    return f"{x:.3f}"
