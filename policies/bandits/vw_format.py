"""Turn context frames into Vowpal Wabbit text-format lines, vectorised with polars.

Shared context features go in namespace ``u``; each action line carries the
action's name in namespace ``a`` (the offer kind: the actions are the offers), so
``-q ua`` learns per-action effects of every context feature. Optional per-action
features (:func:`action_text`) follow the name in the same namespace. Eligibility
is carried by the action set itself: a row's example lists its eligible actions
only.

Examples
--------
>>> import polars as pl
>>> shared_lines(pl.DataFrame({"price": [12.5], "device": ["mobile app"], "verified": [True]}))
['shared |u price:12.5 device=mobile_app verified=true']
>>> action_line("coupon", cost=-3.0, probability=0.25)
'0:-3.0:0.25 |a coupon'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import polars as pl

#: The namespaces the lines use: ``u`` for the shared context, ``a`` for the action.
NAMESPACES: tuple[str, ...] = ("u", "a")

#: Runs of characters VW's text format can't hold in a feature, each replaced by one ``_`` in string values.
UNSAFE = r"[\s|:]+"
UNSAFE_RUNS = re.compile(UNSAFE)


def safe_name(name: str) -> str:
    """Replace the characters of a feature name that VW's text format can't hold by ``_``."""
    return name.replace(" ", "_").replace("|", "_").replace(":", "_")


#: Integer types whose every value is a float written without an exponent: ``7`` is written ``7.0`` directly.
SMALL_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)


def _feature_expr(column: pl.Series) -> pl.Expr:
    """Write a column as ``name:value`` (numbers) or ``name=value`` (anything else, lower-cased and made safe).

    The value is null when it is missing (null or NaN), so that it is left out of the line (a null part makes the
    whole null).

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


def feature_text(name: str, value: object) -> str | None:
    """Write one value as a feature of a shared line: :func:`_feature_expr` for a single Python value.

    The decision endpoint builds one context at a time (a one-row frame through polars costs milliseconds, this
    microseconds). Booleans are ``name=true``/``name=false``, other numbers ``name:value``, text lower-cased and
    made safe; None and NaN give None (left out).

    The two spell some numbers differently (``1e+20`` here, ``1e20`` from polars), never their value: the
    conformance test (``tests/policies/test_vw_row_lines.py``) parses both and compares feature by feature.

    Examples
    --------
    >>> feature_text("stock", 7), feature_text("price", 12.5), feature_text("shop verified", True)
    ('stock:7.0', 'price:12.5', 'shop_verified=true')
    >>> feature_text("region", "Europe/Paris|x y"), feature_text("rate", float("nan")), feature_text("n", None)
    ('region=europe/paris_x_y', None, None)
    """
    if value is None:
        return None
    name = safe_name(name)
    if isinstance(value, bool):
        return f"{name}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{name}:{float(value)!r}"
    if isinstance(value, float):
        return None if math.isnan(value) else f"{name}:{value!r}"
    return f"{name}={UNSAFE_RUNS.sub('_', str(value).lower())}"


def shared_line(context: Mapping[str, object]) -> str:
    """Return the ``shared |u ...`` line of one context given as a mapping.

    It is :func:`shared_lines` of a one-row frame, built feature by feature (:func:`feature_text`).

    Examples
    --------
    >>> shared_line({"price": 12.5, "device": "mobile app", "verified": True, "stock": None})
    'shared |u price:12.5 device=mobile_app verified=true'
    >>> shared_line({}) == shared_lines(pl.DataFrame({"a": [None]}))[0]
    True
    """
    parts = ["shared |u"]
    for name, value in context.items():
        text = feature_text(name, value)
        if text is not None:
            parts.append(text)
    return " ".join(parts)


def action_text(action: str, features: Mapping[str, float | str] | None = None) -> str:
    """Return the features of an action's line, without the ``|a`` namespace mark.

    They are its name, then ``features`` (numbers as ``name:value``, text as ``name=value``).

    Examples
    --------
    >>> action_text("coupon"), action_text("coupon", {"cost": 0.1, "kind": "discount"})
    ('coupon', 'coupon cost:0.1 kind=discount')
    """
    parts = [action]
    for name, value in (features or {}).items():
        parts.append(f"{name}={value}" if isinstance(value, str) else f"{name}:{float(value)!r}")
    return " ".join(parts)


def action_line(
    action: str,
    cost: float | None = None,
    probability: float | None = None,
    features: Mapping[str, float | str] | None = None,
) -> str:
    """Return the ADF line of one action, labelled with ``cost`` and ``probability`` when it was the one taken.

    Its per-action ``features`` (:func:`action_text`) follow the name.

    Examples
    --------
    >>> action_line("installment", features={"fee": 0.03})
    '|a installment fee:0.03'
    """
    label = "" if cost is None else f"0:{cost!r}:{probability!r} "
    return f"{label}|a {action_text(action, features)}"


def labelled_lines(
    actions: tuple[str, ...],
    chosen: np.ndarray,
    costs: np.ndarray,
    probabilities: np.ndarray,
    features: Mapping[str, Mapping[str, float | str]] | None = None,
) -> list[str]:
    """Return the ADF line of each row's chosen action, labelled with its cost and probability.

    These are :func:`action_line`'s, written in one pass.

    Examples
    --------
    >>> lines = labelled_lines(("no_offer", "coupon"), np.array([1, 0]), np.array([-3.0, 0.1]), np.array([0.25, 1.0]))
    >>> lines, lines[0] == action_line("coupon", -3.0, 0.25)
    (['0:-3.0:0.25 |a coupon', '0:0.1:1.0 |a no_offer'], True)
    """
    features = features or {}
    names = [f"|a {action_text(action, features.get(action))}" for action in actions]
    return [
        f"0:{cost!r}:{probability!r} {names[a]}"
        for a, cost, probability in zip(chosen.tolist(), costs.tolist(), probabilities.tolist(), strict=True)
    ]
