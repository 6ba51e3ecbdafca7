"""Which feature groups matter to a policy: its off-policy value with each group permuted or removed.

The context's columns are cut into groups (:data:`FEATURE_GROUPS`, from the one context definition; custom
groups too). A log is split by user into training and held-out rounds (:func:`holdout_split`); for each group
and each method (:class:`Permutation`, ``"permute"``: the trained policy scores the held-out rounds with the
group's columns permuted; :class:`Retraining`, ``"remove"``: a fresh policy learns without them), the group's
value is the policy's estimated value minus its value without the group, with a paired interval, all computed by
:mod:`experiments.ope` (:func:`group_values`, :func:`feature_value`). :func:`feature_value_chart` draws the
table.

Modules: ``groups`` (the groups), ``split`` (training and held-out rounds), ``methods`` (permute and remove),
``value`` (the values and the table), ``plot`` (the chart).

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(1)
>>> n = 2000
>>> price, hour = rng.normal(size=n), rng.integers(0, 24, n).astype(float)
>>> chosen = rng.integers(0, 2, n)
>>> paid = rng.binomial(1, np.where(chosen == (price > 0), 0.6, 0.1)).astype(float)
>>> feedback = Feedback(pl.DataFrame({"price": price, "local_hour": hour}), ("no_offer", "coupon"),
...     np.ones((n, 2), bool), chosen, paid, np.full(n, 0.5))
>>> result = feature_value(feedback, methods=["permute"], estimator="snips", n_bootstrap=200)
>>> result.table.select("group", "columns", "drop", "lower").rows()[0][:2]
('price', 'price')
>>> [row["lower"] > 0 for row in result.table.iter_rows(named=True)]  # price matters, the hour does not
[True, False]
"""

from experiments.feature_value.groups import FEATURE_GROUPS, OTHER, load_groups, resolve_groups
from experiments.feature_value.methods import (
    CONSTANT,
    GroupMethod,
    Permutation,
    PolicyFactory,
    Retraining,
    VWFactory,
    trained,
    without_columns,
)
from experiments.feature_value.plot import feature_value_chart, save_png
from experiments.feature_value.split import Split, holdout_split, take
from experiments.feature_value.value import COLUMNS, METHODS, FeatureValues, feature_value, group_values

__all__ = [
    "COLUMNS",
    "CONSTANT",
    "FEATURE_GROUPS",
    "METHODS",
    "OTHER",
    "FeatureValues",
    "GroupMethod",
    "Permutation",
    "PolicyFactory",
    "Retraining",
    "Split",
    "VWFactory",
    "feature_value",
    "feature_value_chart",
    "group_values",
    "holdout_split",
    "load_groups",
    "resolve_groups",
    "save_png",
    "take",
    "trained",
    "without_columns",
]
