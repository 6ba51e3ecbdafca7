"""Feature groups: the context columns a policy sees, cut into groups whose value can be measured one at a time.

:data:`FEATURE_GROUPS` is the one definition, derived from :data:`features.pipelines.context.CONTEXT`: the
moment's own fields (:data:`~features.pipelines.context.MOMENT_CONTEXT`) are one group, and the user's and the
item's columns are cut by what they say about the decision. Every context column belongs to exactly one group
(a test checks it, so a column added to the context can't be forgotten here).

A log may hold fewer columns, or others: :func:`resolve_groups` keeps the columns a log has, drops groups left
empty, and puts the log's remaining feature columns in a group of their own (:data:`OTHER`). Custom groups, a
mapping of name to columns (:func:`load_groups` reads one from YAML or JSON), replace the default ones; they
are checked against the log's columns, and may overlap.

Examples
--------
>>> FEATURE_GROUPS["user_offer_history"]
('coupon_redemption_rate', 'installment_use_rate', 'unverified_view_share')
>>> resolve_groups(["price", "trigger", "basket_size"])
{'moment': ('trigger',), 'price': ('price',), 'other': ('basket_size',)}
>>> resolve_groups(["price", "trigger"], {"price": ["price"], "time": ["hour"]})
Traceback (most recent call last):
...
ValueError: feature group 'time': column 'hour' is not a context column of the log; it has ['price', 'trigger']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from features.pipelines.context import ITEM_CONTEXT, MOMENT_CONTEXT

#: Name of the group that holds a log's feature columns outside every other group.
OTHER = "other"

#: The user's recent activity: sessions, views, purchases, carts, messages.
USER_ACTIVITY: tuple[str, ...] = (
    "days_since_last_session",
    "sessions_30d",
    "views_30d",
    "purchases_90d",
    "abandoned_carts_7d",
    "messages_7d",
)
#: How the user met offers before: redemption and use rates, and the share of views of unverified merchants.
USER_OFFER_HISTORY: tuple[str, ...] = ("coupon_redemption_rate", "installment_use_rate", "unverified_view_share")
#: Where the user stands in the lifecycle: age, stage, churn risk, purchase trend, and region.
LIFECYCLE: tuple[str, ...] = ("region", "account_age_days", "lifecycle_stage", "churn_risk", "purchase_trend")
#: Prices: the item's, its percentile, and how it compares with what the user views and buys.
PRICE: tuple[str, ...] = ("price", "price_percentile", "log_price_vs_usual", "viewed_vs_bought_log_price")

#: The feature groups of the context, in the context's order of sources: name to columns.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "moment": tuple(MOMENT_CONTEXT),
    "user_activity": USER_ACTIVITY,
    "user_offer_history": USER_OFFER_HISTORY,
    "lifecycle": LIFECYCLE,
    "item": tuple(c for c in ITEM_CONTEXT if c not in PRICE),
    "price": PRICE,
}


def resolve_groups(
    columns: Sequence[str], custom: Mapping[str, Sequence[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Return the groups to evaluate on a log whose context columns are ``columns``.

    Parameters
    ----------
    columns
        The log's context feature columns.
    custom
        Group name to columns, instead of :data:`FEATURE_GROUPS`; ``None`` for the default groups.

    Returns
    -------
    dict[str, tuple[str, ...]]
        Default groups: each group's columns the log has (empty groups dropped), then :data:`OTHER` with the
        log's columns in no group, if any. Custom groups: as given, checked.

    Raises
    ------
    ValueError
        A custom group that is empty, names a column twice or names a column the log does not have; or a log
        with no context column.

    Examples
    --------
    >>> resolve_groups(["price"], {"nothing": []})
    Traceback (most recent call last):
    ...
    ValueError: feature group 'nothing' is empty; give it at least one column
    """
    present = list(dict.fromkeys(columns))
    if not present:
        raise ValueError("the log has no context feature column, so no feature group to evaluate")
    if custom is None:
        groups = {name: tuple(c for c in group if c in present) for name, group in FEATURE_GROUPS.items()}
        grouped = {c for group in FEATURE_GROUPS.values() for c in group}
        groups[OTHER] = tuple(c for c in present if c not in grouped)
        return {name: group for name, group in groups.items() if group}
    if not custom:
        raise ValueError("no feature group given; give at least one group of columns")
    checked: dict[str, tuple[str, ...]] = {}
    for name, group in custom.items():
        members = (group,) if isinstance(group, str) else tuple(group)
        if not members:
            raise ValueError(f"feature group {name!r} is empty; give it at least one column")
        twice = sorted({c for c in members if members.count(c) > 1})
        if twice:
            raise ValueError(f"feature group {name!r} names column(s) {twice} more than once")
        for column in members:
            if column not in present:
                raise ValueError(
                    f"feature group {name!r}: column {column!r} is not a context column of the log; it has "
                    f"{_shown(present)}"
                )
        checked[str(name)] = tuple(str(c) for c in members)
    return checked


def load_groups(path: str | Path) -> dict[str, list[str]]:
    r"""Read custom feature groups from a YAML or JSON file: a mapping of group name to a list of columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "groups.yaml"
    >>> _ = file.write_text("price: [price, price_percentile]\nwhen: [local_hour]\n")
    >>> load_groups(file)
    {'price': ['price', 'price_percentile'], 'when': ['local_hour']}
    >>> _ = file.write_text("[price]")
    >>> load_groups(file)
    Traceback (most recent call last):
    ...
    ValueError: groups file ...groups.yaml: expected a mapping of group name to a list of columns, got a list
    """
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"groups file {file}: no such file")
    text = file.read_text()
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"groups file {file}: can't be read as {file.suffix.lstrip('.') or 'YAML'}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"groups file {file}: expected a mapping of group name to a list of columns, got {_kind(data)}"
        )
    groups: dict[str, list[str]] = {}
    for name, columns in data.items():
        members = [columns] if isinstance(columns, str) else columns
        if not isinstance(members, list) or not all(isinstance(c, str) for c in members):
            raise ValueError(f"groups file {file}: group {name!r} must be a list of column names, got {columns!r}")
        groups[str(name)] = members
    return groups


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _shown(names: list[str], most: int = 12) -> str:
    return repr(names) if len(names) <= most else f"{names[:most]!r}... ({len(names)} in all)"
