"""Export a bandit log to Vowpal Wabbit's DSJSON, the decision-service JSON lines ``vw --dsjson`` reads.

One JSON object per decision: the label (cost = -reward, probability = the propensity, the chosen
action's 1-based ``_label_Action`` and 0-based ``_labelIndex`` among the eligible actions),
``a`` (1-based indices of the eligible actions, the chosen one first), ``p`` (their logged
probabilities, in the order of ``a``), and the context ``c``: shared features in namespace ``u``
and one ``_multi`` entry per eligible action, in the log's order, naming the action in namespace ``a``.

A log's ``probabilities`` hold one entry per action of the canonical list
(:data:`features.schemas.ACTIONS`, zero where ineligible), as the simulator writes them.

Features are written so that VW's JSON parser hashes them exactly as it hashes the text lines of
:mod:`policies.bandits.vw_format`: a number stays ``"name": value``, but a string or a boolean becomes
``"name=value": 1``, because VW's JSON parser would hash ``"name": "value"`` as ``namevalue``, not
as the text format's ``name=value``. Nulls and NaNs are left out, as in the text format.

Examples
--------
>>> import json, polars as pl
>>> log = pl.DataFrame({
...     "decision_id": ["d1"], "actions": [["no_offer", "coupon", "installment"]], "action": ["coupon"],
...     "propensity": [0.5], "probabilities": [[0.25, 0.5, 0.25, 0.0]], "reward": [0.4],
...     "price": [12.5], "device": ["Mobile App"],
... })
>>> line = to_dsjson(log)[0]
>>> record = json.loads(line)
>>> record["_label_cost"], record["_label_probability"], record["_label_Action"], record["_labelIndex"]
(-0.4, 0.5, 2, 1)
>>> record["a"], record["p"]
([2, 1, 3], [0.5, 0.25, 0.25])
>>> record["c"]["u"], record["c"]["_multi"][1]
({'price': 12.5, 'device=mobile_app': 1}, {'a': {'coupon': 1}})

VW's own parser reads it: a shared example, then one per action, the label on the chosen one.

>>> import vowpal_wabbit_next as vw
>>> examples = vw.DSJsonFormatParser(vw.Workspace(["--cb_explore_adf", "--quiet"])).parse_json(line)
>>> for example in examples:
...     print(example.get_label())
CBLabel(shared=True, weight=1)
CBLabel(label=None, weight=1)
CBLabel(label=(2, -0.4, 0.5), weight=1)
CBLabel(label=None, weight=1)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from polars.datatypes import DataTypeClass

from features.io import atomic_path
from features.schemas import ACTIONS, feature_columns
from features.validation import SchemaError
from policies.bandits.vw_format import UNSAFE, safe_name

#: Columns every exported log needs, with the kind of dtype each must have.
REQUIRED: dict[str, str] = {
    "decision_id": "a string",
    "actions": "a list of strings",
    "action": "a string",
    "propensity": "a number",
    "probabilities": "a list of numbers",
    "reward": "a number",
}


def _json_string(expr: pl.Expr) -> pl.Expr:
    """``expr`` as a quoted, escaped JSON string (polars' own JSON writer does the escaping)."""
    return pl.struct(expr.alias("s")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def _has_kind(dtype: pl.DataType | DataTypeClass, kind: str) -> bool:
    if kind == "a string":
        return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    if kind == "a number":
        return dtype.is_numeric()
    if not isinstance(dtype, pl.List):
        return False
    return _has_kind(dtype.inner, "a string" if kind == "a list of strings" else "a number")


def _check_columns(log: pl.DataFrame, features: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in log.columns]
    if missing:
        raise SchemaError(f"log: missing column(s) {missing}; a DSJSON export needs {list(REQUIRED)}")
    if log.height == 0:
        raise SchemaError("log: no rows")
    for column, kind in REQUIRED.items():
        if not _has_kind(log.schema[column], kind):
            raise SchemaError(f"log: column {column!r} has dtype {log.schema[column]}, expected {kind}")
        nulls = log.get_column(column).is_null()
        if nulls.any():
            raise SchemaError(
                f"log: column {column!r} has {nulls.sum()} null value(s), the first in row {nulls.arg_true()[0]}"
            )
    for column in features:
        dtype = log.schema[column]
        if safe_name(column).startswith("_"):
            raise SchemaError(
                f"log: feature column {column!r} starts with '_' (or ' ', '|', ':'); VW's JSON parser skips it"
            )
        if dtype.is_nested():
            raise SchemaError(f"log: feature column {column!r} has dtype {dtype}; features are numbers or strings")
        if dtype.is_float():
            infinite = log.get_column(column).is_infinite().arg_true()
            if len(infinite):
                raise SchemaError(f"log: feature column {column!r} is infinite in row {infinite[0]}; JSON has no inf")


def _check_rows(log: pl.DataFrame, checks: dict[str, pl.Expr], extra: dict[str, object]) -> None:
    """Raise for the first row failing a check.

    ``checks`` maps a message template, filled from the row's values, to an expression true where the row is bad.
    """
    faults = log.select(expr.fill_null(True).alias(str(i)) for i, expr in enumerate(checks.values()))
    bad = faults.select(pl.any_horizontal(pl.all()).arg_true()).to_series()
    if not len(bad):
        return
    row = int(bad[0])
    template = list(checks)[faults.row(row).index(True)]
    values = {**log.row(row, named=True), **extra}
    more = f" (and {len(bad) - 1} more bad row(s))" if len(bad) > 1 else ""
    raise SchemaError(f"log: row {row} (decision_id {values['decision_id']!r}): {template.format_map(values)}{more}")


def _feature_member(column: pl.Series) -> pl.Expr:
    """Build the ``"key":value`` member of namespace ``u`` for one feature column, null where the feature is left out.

    A string column is encoded once per distinct value (categories repeat), then mapped onto the rows.
    """
    safe = safe_name(column.name)
    if column.dtype.is_numeric():
        value = pl.col(column.name).cast(pl.Float64)
        return pl.when(value.is_finite()).then(pl.lit(json.dumps(safe) + ":") + value.cast(pl.String))
    distinct = column.cast(pl.String).drop_nulls().unique()
    text = distinct.str.to_lowercase().str.replace_all(UNSAFE, "_")
    encoded = pl.select(_json_string(pl.lit(f"{safe}=") + text) + pl.lit(":1")).to_series()
    return pl.col(column.name).cast(pl.String).replace_strict(distinct, encoded, default=None, return_dtype=pl.String)


def _json_list(expr: pl.Expr) -> pl.Expr:
    return pl.lit("[") + expr.cast(pl.List(pl.String)).list.join(",") + pl.lit("]")


def _hits(width: int) -> list[pl.Expr]:
    """Tell, per position k of ``actions``, whether it holds the chosen action."""
    chosen_name = pl.col("action").cast(pl.String)
    return [
        pl.col("actions").list.get(k, null_on_oob=True).cast(pl.String).eq(chosen_name).fill_null(False)
        for k in range(width)
    ]


def _canonical(actions: Sequence[str]) -> pl.Expr:
    """Each eligible action's index in the canonical list (null if it is not there)."""
    index = {a: i for i, a in enumerate(actions)}
    return pl.col("actions").list.eval(
        pl.element().cast(pl.String).replace_strict(index, default=None, return_dtype=pl.Int64)
    )


def _width(log: pl.DataFrame) -> int:
    return int(log.select(pl.col("actions").list.len().max()).item() or 0)


def check_log(log: pl.DataFrame, actions: Sequence[str] = ACTIONS) -> None:
    """Raise ValueError naming the column, or the first bad row, of a log that can't be exported."""
    if any(a.startswith("_") for a in actions):
        raise ValueError(f"actions {list(actions)}: VW's JSON parser skips names starting with '_'")
    _check_columns(log, feature_columns(log))
    eligible, hits, canonical = pl.col("actions"), _hits(_width(log)), _canonical(actions)
    _check_rows(
        log,
        {
            "action {action!r} is not among its actions {actions}": (pl.sum_horizontal(hits) if hits else pl.lit(0))
            == 0,
            "actions {actions} name an action twice": eligible.list.n_unique() != eligible.list.len(),
            "actions {actions} are not all among {_canonical}": (
                canonical.list.drop_nulls().list.len() != eligible.list.len()
            ),
            "probabilities {probabilities} do not hold one entry per action of {_canonical}": (
                pl.col("probabilities").list.len() != len(actions)
            ),
            "probabilities {probabilities} are not all finite numbers": ~pl.col("probabilities")
            .list.eval(pl.element().cast(pl.Float64).is_finite().fill_null(False))
            .list.all(),
            "propensity {propensity} is not in (0, 1]": ~(
                (pl.col("propensity") > 0) & (pl.col("propensity") <= 1) & pl.col("propensity").is_not_nan()
            ),
            "reward {reward} is not a finite number": ~pl.col("reward").cast(pl.Float64).is_finite(),
        },
        extra={"_canonical": list(actions)},
    )


def dsjson_lines(log: pl.DataFrame, actions: Sequence[str] = ACTIONS) -> pl.Series:
    """Return the DSJSON line of every row of ``log`` as a string Series.

    ``actions`` is the canonical list that ``probabilities`` follows. Raises ValueError naming the column or the
    first bad row.
    """
    check_log(log, actions)
    return _lines(log, actions)


def _lines(log: pl.DataFrame, actions: Sequence[str]) -> pl.Series:
    """Build the lines of a log that passed :func:`check_log`."""
    features = feature_columns(log)
    width = _width(log)
    eligible, hits, canonical = pl.col("actions"), _hits(width), _canonical(actions)
    chosen = pl.coalesce([pl.when(hit).then(pl.lit(k, pl.Int64)) for k, hit in enumerate(hits)])
    # The eligible actions' positions in the order of "a": the chosen one, then the others as they come.
    later = [pl.lit(k - 1, pl.Int64) + (pl.lit(k - 1) >= pl.col("_chosen")).cast(pl.Int64) for k in range(1, width)]
    order = pl.concat_list([pl.col("_chosen"), *later]).list.slice(0, eligible.list.len())
    members = [_feature_member(log.get_column(name)) for name in features]
    multi = eligible.list.eval(pl.lit('{"a":{') + _json_string(pl.element().cast(pl.String)) + pl.lit(":1}}"))
    timestamp = pl.lit(None, pl.String)  # left out of the line unless the log has a "ts" time
    ts_dtype = log.schema.get("ts")
    if isinstance(ts_dtype, pl.Datetime):  # a naive time is taken to be UTC already
        ts = pl.col("ts").dt.convert_time_zone("UTC") if ts_dtype.time_zone else pl.col("ts")
        timestamp = pl.lit(',"Timestamp":"') + ts.dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ") + pl.lit('"')
    # Each piece is a column of its own, so polars builds them in parallel; then they are joined per row.
    # The helper columns "_chosen" and "_order" start with "_", which no feature column may, so they shadow none.
    pieces = (
        log.with_columns(chosen.alias("_chosen"))
        .with_columns(order.alias("_order"))
        .select(
            *[member.alias(f"u{i}") for i, member in enumerate(members)],
            cost=(-pl.col("reward").cast(pl.Float64)).cast(pl.String),  # as the text format, -0.0 for no reward
            probability=pl.col("propensity").cast(pl.Float64).cast(pl.String),
            action=(pl.col("_chosen") + 1).cast(pl.String),
            index=pl.col("_chosen").cast(pl.String),
            timestamp=timestamp,
            event=_json_string(pl.col("decision_id").cast(pl.String)),
            a=_json_list(pl.col("_order").list.eval(pl.element() + 1)),
            multi=pl.lit("[") + multi.list.join(",") + pl.lit("]"),
            p=_json_list(
                pl.col("probabilities").cast(pl.List(pl.Float64)).list.gather(canonical.list.gather(pl.col("_order")))
            ),
        )
    )
    shared = pl.concat_str(pl.col(r"^u\d+$"), separator=",", ignore_nulls=True) if members else pl.lit("")
    line = pl.concat_str(
        [
            pl.lit('{"_label_cost":'),
            pl.col("cost"),
            pl.lit(',"_label_probability":'),
            pl.col("probability"),
            pl.lit(',"_label_Action":'),
            pl.col("action"),
            pl.lit(',"_labelIndex":'),
            pl.col("index"),
            pl.col("timestamp"),
            pl.lit(',"Version":"1","EventId":'),
            pl.col("event"),
            pl.lit(',"a":'),
            pl.col("a"),
            pl.lit(',"c":{"u":{'),
            shared,
            pl.lit('},"_multi":'),
            pl.col("multi"),
            pl.lit('},"p":'),
            pl.col("p"),
            pl.lit("}"),
        ],
        separator="",
        ignore_nulls=True,
    )
    return pieces.select(line.alias("dsjson")).get_column("dsjson")


def to_dsjson(log: pl.DataFrame, actions: Sequence[str] = ACTIONS) -> list[str]:
    """Return the DSJSON line of every decision in ``log``, in order (see :func:`dsjson_lines`)."""
    return dsjson_lines(log, actions).to_list()


def write_dsjson(
    log: pl.DataFrame, path: str | Path, actions: Sequence[str] = ACTIONS, chunk_rows: int = 100_000
) -> int:
    """Write ``log`` to ``path`` as DSJSON lines, atomically and only if every row is good; return the rows.

    The whole log is checked first; the lines are then built and written ``chunk_rows`` at a time, so only one
    chunk's text is ever held in memory.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    check_log(log, actions)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for chunk in log.iter_slices(chunk_rows):
            _lines(chunk, actions).to_frame().write_csv(handle, include_header=False, quote_style="never")
    return log.height
