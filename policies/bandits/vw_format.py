"""Turn context frames into Vowpal Wabbit text-format lines, vectorised with polars.

Shared context features go in namespace ``u``; each action line carries the
action's name in namespace ``a``, so ``-q ua`` learns per-action effects of every
context feature.

Examples
--------
>>> import polars as pl
>>> shared_lines(pl.DataFrame({"price": [12.5], "device": ["mobile app"], "verified": [True]}))
['shared |u price:12.5 device=mobile_app verified=true']
>>> action_line("coupon", cost=-3.0, probability=0.25)
'0:-3.0:0.25 |a coupon'
"""

from __future__ import annotations

import polars as pl

#: Runs of characters VW's text format can't hold in a feature, each replaced by one ``_`` in string values.
UNSAFE = r"[\s|:]+"


def safe_name(name: str) -> str:
    """A feature name with the characters VW's text format can't hold replaced by ``_``."""
    return name.replace(" ", "_").replace("|", "_").replace(":", "_")


def _feature_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """``name:value`` (numbers) or ``name=value`` (anything else, lower-cased and made safe); null when the value
    is missing (null or NaN), so that it is left out of the line."""
    safe = safe_name(name)
    column = pl.col(name)
    if dtype.is_numeric():
        value = column.cast(pl.Float64)
        return pl.when(value.is_not_null() & value.is_not_nan()).then(pl.lit(f"{safe}:") + value.cast(pl.String))
    text = column.cast(pl.String).str.to_lowercase().str.replace_all(UNSAFE, "_")
    return pl.when(column.is_not_null()).then(pl.lit(f"{safe}=") + text)


def shared_lines(contexts: pl.DataFrame) -> list[str]:
    """One ``shared |u ...`` line per row; nulls are left out (VW reads a missing feature as zero).

    Examples
    --------
    >>> shared_lines(pl.DataFrame({"a": [None, 1.0], "b": [None, float("nan")], "c": [None, "x y"]}))
    ['shared |u', 'shared |u a:1.0 c=x_y']
    """
    if contexts.width == 0:
        return ["shared |u"] * contexts.height
    exprs = [_feature_expr(name, dtype) for name, dtype in contexts.schema.items()]
    features = pl.concat_str(exprs, separator=" ", ignore_nulls=True)  # missing features leave no gap
    lines = contexts.select((pl.lit("shared |u ") + features).str.strip_chars_end())
    return lines.to_series().to_list()


def action_line(action: str, cost: float | None = None, probability: float | None = None) -> str:
    """The ADF line of one action, labelled with ``cost`` and ``probability`` when it was the one taken."""
    label = "" if cost is None else f"0:{cost!r}:{probability!r} "
    return f"{label}|a {action}"
