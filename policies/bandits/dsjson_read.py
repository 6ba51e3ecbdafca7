"""Read Vowpal Wabbit's DSJSON back into a bandit log: the inverse of :mod:`policies.bandits.dsjson`.

It also reads the files VW's own tools (the decision service, Azure Personalizer) write.

Each labelled line becomes one row of the log:

========================  ==================================================================================
column                    from
========================  ==================================================================================
``decision_id``           ``EventId`` (null where a line has none)
``ts``                    ``Timestamp``, as a UTC time (only when some line has one)
``actions``               one label per entry of ``c._multi``, in its order: the eligible actions
``action``                the label of entry ``_label_Action`` (1-based; ``_labelIndex`` is the same, 0-based)
``propensity``            ``_label_probability``
``probabilities``         ``p`` (which follows ``a``, the ranking of 1-based ``_multi`` ids), one per entry of
                          ``actions``; or, given a list of ``actions``, one per action of that list
``reward``                ``-_label_cost`` (VW minimises cost)
features                  the shared features of ``c``
========================  ==================================================================================

An action's label is its ``id`` feature (top-level in the ``_multi`` entry or in one of its namespaces) when the
file's actions carry one, else its ``_tag``, else the one feature of its namespace ``a`` (how this project's
writer names an action) when every action of the file holds exactly one there, else its 0-based position in
``_multi`` (as ``_labelIndex`` and VW's predictions count). The rule is chosen once for the whole file.

Shared features: a namespace's features become columns named by the feature alone (by the namespace path
joined with ``.``, ``ns.feature``, where two namespaces share a feature name); a namespace given as a list of
objects contributes its first object; names starting with ``_`` are skipped, as VW skips them. The writer's
text encoding ``"name=value": 1`` is read back as a text column ``name`` (``"true"``/``"false"`` as booleans),
so text comes back as the writer made it: lower-cased, with runs of spaces, ``|`` and ``:`` as ``_``. Numbers
come back as JSON gave them (the writer writes every number as a float).

Lines without ``_label_cost`` (predictions without a label, dangling rewards) are skipped and counted. Lines are
numbered in error messages as JSON lines, blank lines not counted.

Not read: action-dependent features (the ``_multi`` entries' other namespaces), conditional contextual bandits
and slates (``_slots``), continuous actions (``_label_ca``), the observations list ``o``.

Examples
--------
>>> import os, tempfile
>>> from policies.bandits.dsjson import write_dsjson
>>> log = pl.DataFrame({
...     "decision_id": ["d1", "d2"], "actions": [["no_offer", "coupon"], ["no_offer", "coupon", "installment"]],
...     "action": ["coupon", "no_offer"], "propensity": [0.5, 0.2], "reward": [3.0, 0.0],
...     "probabilities": [[0.5, 0.5, 0.0, 0.0], [0.2, 0.5, 0.3, 0.0]], "price": [12.5, 40.0],
... })
>>> path = os.path.join(tempfile.mkdtemp(), "log.dsjson")
>>> write_dsjson(log, path)
2
>>> read = read_dsjson(path)
>>> read.skipped
0
>>> for row in read.log.select("decision_id", "actions", "action", "propensity", "probabilities", "reward").rows():
...     print(row)
('d1', ['no_offer', 'coupon'], 'coupon', 0.5, [0.5, 0.5], 3.0)
('d2', ['no_offer', 'coupon', 'installment'], 'no_offer', 0.2, [0.2, 0.5, 0.3], 0.0)

Given the writer's list of actions, ``probabilities`` follow it, as the writer took them:

>>> read_dsjson(path, actions=("no_offer", "coupon", "installment", "trust_badge")).log["probabilities"].to_list()
[[0.5, 0.5, 0.0, 0.0], [0.2, 0.5, 0.3, 0.0]]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from features.validation import SchemaError

#: The top-level fields read, with the dtypes they are read as (the rest of a line is not parsed into columns).
LABEL_FIELDS: dict[str, pl.DataType] = {
    "_label_cost": pl.Float64(),
    "_label_probability": pl.Float64(),
    "_label_Action": pl.Int64(),
    "_labelIndex": pl.Int64(),
    "EventId": pl.String(),
    "Timestamp": pl.String(),
    "a": pl.List(pl.Int64()),
    "p": pl.List(pl.Float64()),
}
#: The columns a row of the log gets besides the features.
LOG_COLUMNS = ("decision_id", "ts", "actions", "action", "propensity", "probabilities", "reward")
#: An action's label by its place in ``_multi`` (evaluated on the list of entries).
_POSITION = pl.int_range(pl.len()).cast(pl.String)
#: Text values of the writer's ``"name=value": 1`` features read back as booleans.
BOOLEAN_TEXT = frozenset({"true", "false"})


@dataclass(frozen=True)
class DsjsonLog:
    """A DSJSON file read as a bandit log.

    Attributes
    ----------
    log
        One row per labelled line (columns in the module's table).
    skipped
        Lines left out because they carry no label (``_label_cost``).
    """

    log: pl.DataFrame
    skipped: int


def read_dsjson(path: str | Path, actions: Sequence[str] | None = None) -> DsjsonLog:
    """Read a DSJSON file (one JSON object per line) as a bandit log; see the module's docstring.

    Parameters
    ----------
    path
        The DSJSON file.
    actions
        ``None``: ``probabilities`` holds the logged probability of each of a row's ``actions``, in their order.
        A list of labels (as :func:`~policies.bandits.dsjson.write_dsjson` took): one per action of the list,
        zero where it was not eligible; every label of the file must be in it.

    Raises
    ------
    FileNotFoundError
        No such file.
    SchemaError
        The file is not JSON lines, has no labelled CB line, or a labelled line is malformed; the message names
        the line (and its ``EventId``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    where = f"dsjson {path}"
    try:
        inferred = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
    except pl.exceptions.PolarsError as error:
        raise SchemaError(f"{where}: not JSON lines ({error})") from error
    context, entry = inferred.get("c"), _multi_entry(inferred.get("c"))
    if "_label_cost" not in inferred or not isinstance(context, pl.Struct) or entry is None:
        raise SchemaError(f"{where}: no line has a _label_cost and a context c with _multi actions; not CB DSJSON")
    shared = pl.Struct([f for f in context.fields if f.name != "_multi" and not f.name.startswith("_")])
    naming = _naming(entry)
    schema = {**LABEL_FIELDS, "c": pl.Struct([*shared.fields, pl.Field("_multi", pl.List(naming.entry))])}
    try:
        raw = pl.read_ndjson(path, schema=schema)
    except pl.exceptions.PolarsError as error:
        raise SchemaError(f"{where}: a field holds values of different JSON types across lines ({error})") from error
    labelled = raw.with_row_index("_line", offset=1).filter(pl.col("_label_cost").is_not_null())
    multi = pl.col("c").struct.field("_multi")
    rows = labelled.with_columns(_labels=multi.list.eval(naming.label))
    if naming.rule == "a" and rows.get_column("_labels").list.eval(pl.element().is_null()).list.any().any():
        naming = _Naming("position", naming.entry, _POSITION)  # namespace a holds features, not a name
        rows = labelled.with_columns(_labels=multi.list.eval(naming.label))
    rows = rows.with_columns(_chosen=pl.coalesce(pl.col("_label_Action"), pl.col("_labelIndex") + 1)).with_columns(
        _ranking=pl.coalesce(pl.col("a"), pl.int_ranges(1, pl.col("_labels").list.len() + 1))
    )
    _check(rows, where, naming.rule)
    features = _features(shared)
    clashes = sorted(set(features) & set(LOG_COLUMNS))
    if clashes:
        raise SchemaError(f"{where}: shared feature(s) {clashes} have the names of bandit log columns")
    log = rows.select(
        decision_id=pl.col("EventId"),
        ts=pl.col("Timestamp").str.to_datetime(time_zone="UTC", time_unit="us", strict=False),
        actions=pl.col("_labels"),
        action=pl.col("_labels").list.get(pl.col("_chosen") - 1),
        propensity=pl.col("_label_probability"),
        probabilities=pl.col("p").list.gather(pl.col("_ranking").list.eval(pl.element().arg_sort())),
        reward=-pl.col("_label_cost") + 0.0,  # + 0.0: a cost of 0 is a reward of 0.0, not -0.0
        **features,
    )
    bad_times = (log.get_column("ts").is_null() & rows.get_column("Timestamp").is_not_null()).arg_true()
    if len(bad_times):
        row = int(bad_times[0])
        raise SchemaError(f"{_name(rows, row, where)}: Timestamp {rows['Timestamp'][row]!r} is not an ISO 8601 time")
    if rows.get_column("Timestamp").is_null().all():
        log = log.drop("ts")
    if actions is not None:
        log = log.with_columns(probabilities=_on_actions(log, tuple(actions), rows, where))
    return DsjsonLog(log=log, skipped=raw.height - labelled.height)


@dataclass(frozen=True)
class _Naming:
    """How a file's actions are labelled: the rule, the part of a ``_multi`` entry to read, the label."""

    rule: str
    entry: pl.Struct
    label: pl.Expr


def _multi_entry(context: pl.DataType | None) -> pl.Struct | None:
    """Return the struct type of a ``_multi`` entry, or None when the context has no ``_multi`` list of objects."""
    if not isinstance(context, pl.Struct):
        return None
    multi = {f.name: f.dtype for f in context.fields}.get("_multi")
    if isinstance(multi, pl.List) and isinstance(multi.inner, pl.Struct):
        return multi.inner
    return None


def _naming(entry: pl.Struct) -> _Naming:
    """Pick the first labelling rule the file's ``_multi`` entries allow, and only the fields it needs to read."""
    fields = {f.name: f.dtype for f in entry.fields}
    element = pl.element()
    read: list[pl.Field] = []
    ids: list[pl.Expr] = []
    if "id" in fields and not fields["id"].is_nested():
        read.append(pl.Field("id", fields["id"]))
        ids.append(element.struct.field("id"))
    for name, dtype in fields.items():
        inner = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
        if "id" in inner and not inner["id"].is_nested():
            read.append(pl.Field(name, pl.Struct([pl.Field("id", inner["id"])])))
            ids.append(element.struct.field(name).struct.field("id"))
    if ids:
        return _Naming("id", pl.Struct(read), pl.coalesce([i.cast(pl.String) for i in ids]))
    if "_tag" in fields and not fields["_tag"].is_nested():
        return _Naming(
            "_tag", pl.Struct([pl.Field("_tag", fields["_tag"])]), element.struct.field("_tag").cast(pl.String)
        )
    namespace = fields.get("a")
    if isinstance(namespace, pl.Struct) and namespace.fields:
        names = [f.name for f in namespace.fields]
        present = [element.struct.field("a").struct.field(n).is_not_null() for n in names]
        single = pl.sum_horizontal(present) == 1  # the writer's form: exactly one feature, the action's name
        label = pl.when(single).then(
            pl.coalesce(pl.when(p).then(pl.lit(n)) for p, n in zip(present, names, strict=True))
        )
        return _Naming("a", pl.Struct([pl.Field("a", namespace)]), label)
    return _Naming("position", pl.Struct([next(iter(entry.fields))]), _POSITION)


#: How each rule names an action, for messages.
_RULES = {"id": "their id", "_tag": "their _tag", "a": "the feature of namespace a", "position": "position"}


def _check(rows: pl.DataFrame, where: str, rule: str) -> None:
    """Raise a SchemaError naming the first labelled line that can't become a row (and how many can't)."""
    m = pl.col("_labels").list.len()
    ranking, p, chosen = pl.col("_ranking"), pl.col("p"), pl.col("_chosen")
    checks = {
        "has _label_cost but no _label_probability": pl.col("_label_probability").is_null(),
        "has _label_cost but no _label_Action (nor _labelIndex)": chosen.is_null(),
        "has no actions in c._multi": m.fill_null(0) == 0,
        "_label_Action {_label_Action} and _labelIndex {_labelIndex} name different actions (_labelIndex counts "
        "from 0)": pl.col("_label_Action") != pl.col("_labelIndex") + 1,
        "_label_Action {_chosen} is outside its {_m} _multi action(s)": (chosen < 1) | (chosen > m),
        "a {a} is not an order of its {_m} _multi action(s) (ids 1 to {_m})": (ranking.list.len() != m)
        | (ranking.list.n_unique() != m)
        | (ranking.list.min() != 1)
        | (ranking.list.max() != m),
        "p {p} holds {_p} probabilities for {_m} actions": p.is_not_null() & (p.list.len() != m),
        "a _multi action has no label (the file's actions are named by {_rule})": pl.col("_labels")
        .list.eval(pl.element().is_null())
        .list.any(),
        "c._multi names an action twice: {_labels}": pl.col("_labels").list.n_unique() != m,
    }
    faults = rows.select(expr.fill_null(False).alias(str(i)) for i, expr in enumerate(checks.values()))
    bad = faults.select(pl.any_horizontal(pl.all()).arg_true()).to_series()
    if not len(bad):
        return
    row = int(bad[0])
    template = list(checks)[faults.row(row).index(True)]
    values = rows.row(row, named=True)
    values |= {"_m": len(values["_labels"] or []), "_p": len(values["p"] or []), "_rule": _RULES[rule]}
    raise SchemaError(f"{_name(rows, row, where)}: {template.format_map(values)} ({len(bad)} bad line(s))")


def _name(rows: pl.DataFrame, row: int, where: str) -> str:
    event = rows["EventId"][row]
    return f"{where}: line {rows['_line'][row]}" + (f" (EventId {event!r})" if event is not None else "")


def _features(shared: pl.Struct) -> dict[str, pl.Expr]:
    """Return the shared features as named expressions, in the file's order (see the module's docstring for names)."""
    leaves = _leaves(pl.col("c"), shared, ())
    counts = Counter(path[-1] for path, _ in leaves)
    named = {(path[-1] if counts[path[-1]] == 1 else ".".join(path)): expr for path, expr in leaves}
    plain: dict[str, pl.Expr] = {}
    encoded: dict[str, list[tuple[str, pl.Expr]]] = {}  # the writer's "name=value": 1 form of text features
    order: list[str] = []
    for name, expr in named.items():
        base, _, value = name.partition("=")
        if value and base not in named:
            order += [] if base in encoded else [base]
            encoded.setdefault(base, []).append((value, expr))
        else:
            order.append(name)
            plain[name] = expr
    return {name: plain[name] if name in plain else _text(encoded[name]) for name in order}


def _text(members: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """Rebuild a text feature from its ``"name=value": 1`` members (a boolean when they are ``true`` and ``false``)."""
    text = pl.coalesce(pl.when(expr.is_not_null() & (expr != 0)).then(pl.lit(value)) for value, expr in members)
    return text == "true" if {value for value, _ in members} <= BOOLEAN_TEXT else text


def _leaves(expr: pl.Expr, dtype: pl.Struct, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], pl.Expr]]:
    """Every feature under a namespace: its path of names and the expression that reads it."""
    found: list[tuple[tuple[str, ...], pl.Expr]] = []
    for field in dtype.fields:
        if field.name.startswith("_"):
            continue
        inner = expr.struct.field(field.name)
        if isinstance(field.dtype, pl.Struct):
            found += _leaves(inner, field.dtype, (*path, field.name))
        elif isinstance(field.dtype, pl.List) and isinstance(field.dtype.inner, pl.Struct):
            found += _leaves(inner.list.first(), field.dtype.inner, (*path, field.name))
        else:
            found.append(((*path, field.name), inner))
    return found


def _on_actions(log: pl.DataFrame, actions: tuple[str, ...], rows: pl.DataFrame, where: str) -> pl.Series:
    """Each row's probabilities spread over ``actions`` (zero where not eligible; null where the line had no p)."""
    index = {a: i for i, a in enumerate(actions)}
    members = (
        log.select("actions", "probabilities")
        .with_row_index("row")
        .explode("actions")
        .with_columns(
            code=pl.col("actions").replace_strict(index, default=None, return_dtype=pl.Int64),
            slot=pl.int_range(pl.len()).over("row"),
        )
    )
    unknown = members.filter(pl.col("code").is_null())
    if unknown.height:
        row = int(unknown["row"][0])
        raise SchemaError(
            f"{_name(rows, row, where)}: action {unknown['actions'][0]!r} is not among the actions given, "
            f"{list(actions)}"
        )
    members = members.filter(pl.col("probabilities").is_not_null())
    spread = np.zeros((log.height, len(actions)))
    chances = members.select(pl.col("probabilities").list.get(pl.col("slot"))).to_series().to_numpy()
    spread[members["row"].to_numpy(), members["code"].to_numpy()] = chances
    has_p = log.get_column("probabilities").is_not_null()
    lists = pl.Series("probabilities", spread).cast(pl.List(pl.Float64))
    return pl.select(pl.when(has_p).then(lists)).to_series().alias("probabilities")
