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

import numpy as np
import polars as pl

#: Runs of characters VW's text format can't hold in a feature, each replaced by one ``_`` in string values.
UNSAFE = r"[\s|:]+"


def safe_name(name: str) -> str:
    """A feature name with the characters VW's text format can't hold replaced by ``_``."""
    return name.replace(" ", "_").replace("|", "_").replace(":", "_")


#: Integer types whose every value is a float written without an exponent: ``7`` is written ``7.0`` directly.
SMALL_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)


def _feature_expr(column: pl.Series) -> pl.Expr:
    """``name:value`` (numbers) or ``name=value`` (anything else, lower-cased and made safe); null when the value
    is missing (null or NaN), so that it is left out of the line (a null part makes the whole null).

    Text is made safe once per distinct value (a context column holds few), then looked up.

    Examples
    --------
    >>> frame = pl.DataFrame({"n": [3, None], "x": [0.5, float("nan")], "b": [None, True], "s": ["A b", None]})
    >>> frame.select(_feature_expr(frame.get_column(c)) for c in frame.columns).rows()
    [('n:3.0', 'x:0.5', None, 's=a_b'), (None, None, 'b=true', None)]
    """
    name, dtype, expr = safe_name(column.name), column.dtype, pl.col(column.name)
    if dtype in SMALL_INTEGERS:
        feature = f"{name}:" + expr.cast(pl.String) + ".0"
    elif dtype.is_numeric():
        feature = f"{name}:" + expr.cast(pl.Float64).fill_nan(None).cast(pl.String)
    elif dtype == pl.Boolean:
        feature = pl.when(expr).then(pl.lit(f"{name}=true")).when(expr.not_()).then(pl.lit(f"{name}=false"))
    else:
        values = column.cast(pl.String).unique().drop_nulls()
        text = f"{name}=" + values.str.to_lowercase().str.replace_all(UNSAFE, "_")
        feature = expr.cast(pl.String).replace_strict(values, text, default=None, return_dtype=pl.String)
    return feature.alias(column.name)


def shared_lines(contexts: pl.DataFrame) -> list[str]:
    """One ``shared |u ...`` line per row; nulls are left out (VW reads a missing feature as zero).

    Examples
    --------
    >>> shared_lines(pl.DataFrame({"a": [None, 1.0], "b": [None, float("nan")], "c": [None, "x y"]}))
    ['shared |u', 'shared |u a:1.0 c=x_y']
    """
    if contexts.width == 0:
        return ["shared |u"] * contexts.height
    exprs = [_feature_expr(column) for column in contexts.iter_columns()]
    # missing features leave no gap
    lines = contexts.select(pl.concat_str([pl.lit("shared |u"), *exprs], separator=" ", ignore_nulls=True))
    return lines.to_series().to_list()


def action_line(action: str, cost: float | None = None, probability: float | None = None) -> str:
    """The ADF line of one action, labelled with ``cost`` and ``probability`` when it was the one taken."""
    label = "" if cost is None else f"0:{cost!r}:{probability!r} "
    return f"{label}|a {action}"


def labelled_lines(
    actions: tuple[str, ...], chosen: np.ndarray, costs: np.ndarray, probabilities: np.ndarray
) -> list[str]:
    """The ADF line of each row's chosen action, labelled with its cost and probability: :func:`action_line`'s,
    written in one pass.

    Examples
    --------
    >>> lines = labelled_lines(("no_offer", "coupon"), np.array([1, 0]), np.array([-3.0, 0.1]), np.array([0.25, 1.0]))
    >>> lines, lines[0] == action_line("coupon", -3.0, 0.25)
    (['0:-3.0:0.25 |a coupon', '0:0.1:1.0 |a no_offer'], True)
    """
    names = [f"|a {action}" for action in actions]
    return [
        f"0:{cost!r}:{probability!r} {names[a]}"
        for a, cost, probability in zip(chosen.tolist(), costs.tolist(), probabilities.tolist(), strict=True)
    ]
