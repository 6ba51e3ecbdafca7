r"""The value of each feature group: the off-policy value of the policy with it, minus the value without it.

:func:`group_values` scores the held-out rounds with every :class:`~experiments.feature_value.methods.GroupMethod`
and every group, and turns the probabilities into one table: the value with every column, the value without
the group, their difference (the group's *drop*) and its paired interval. :func:`feature_value` does it all
from a log's feedback: the split, the training of the policy, the groups, both methods.

The values are estimated by :mod:`experiments.ope` and nothing else: one estimator from its registry (DR by
default, with the cross-fitted LightGBM reward model of :func:`~experiments.ope.reward_model.cross_fitted_rewards`
fitted once on the held-out rounds), and :func:`~experiments.ope.interval.paired_difference` for the interval,
resampling users when the log has them.

Notes
-----
For a group ``G`` and a method, with ``pi`` the target policy and ``pi_{-G}`` the policy without the group,
both estimated by the same estimator on the same held-out rounds and reward model,

.. math:: \mathrm{drop}_G = \hat V(\pi) - \hat V(\pi_{-G}).

The interval is a percentile bootstrap of the whole difference: each resample draws users (or rounds) and
recomputes both estimates on them, so it reflects how the two are correlated, and since every group's
difference uses one seed, every group is resampled alike (common random numbers). A drop whose interval lies
above zero means the policy earns more with the group than without it; an interval about zero, that the log
can't tell. Groups are measured one at a time: two groups that stand in for each other (correlated columns)
can each show a small drop under ``remove`` though together they matter.

Besides the values, the table says how much the policy's behaviour moved: the share of held-out rounds whose
most probable action changed without the group, and the mean total variation distance
:math:`\frac12 \sum_a |\pi(a \mid x) - \pi_{-G}(a \mid x)|` between the two policies' probabilities.

Examples
--------
The reward follows ``signal``; ``noise`` is unrelated to it:

>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 3000
>>> signal, noise = rng.integers(0, 2, n).astype(float), rng.normal(size=n)
>>> chosen = rng.integers(0, 2, n)
>>> feedback = Feedback(pl.DataFrame({"signal": signal, "noise": noise}), ("a", "b"), np.ones((n, 2), bool),
...     chosen, rng.binomial(1, np.where(chosen == signal, 0.7, 0.2)).astype(float), np.full(n, 0.5))
>>> result = feature_value(feedback, groups={"signal": ["signal"], "noise": ["noise"]}, estimator="ips",
...     n_bootstrap=300)
>>> for row in result.table.select("group", "method", "drop", "lower", "upper").rows():
...     print(row[:2], [round(x, 3) for x in row[2:]])
('signal', 'remove') [0.241, 0.202, 0.288]
('signal', 'permute') [0.2, 0.153, 0.242]
('noise', 'permute') [0.0, 0.0, 0.0]
('noise', 'remove') [0.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from experiments.feature_value.groups import resolve_groups
from experiments.feature_value.methods import (
    GroupMethod,
    Permutation,
    PolicyFactory,
    Retraining,
    VWFactory,
    trained,
)
from experiments.feature_value.split import Split, holdout_split
from experiments.offline_evaluation import needs_reward_model
from experiments.ope import make_estimator, paired_difference
from experiments.ope.resampling import MAX_UNITS, Units
from experiments.ope.reward_model import cross_fitted_rewards
from experiments.ope.validation import check_target_probs
from policies.base import BasePolicy, Feedback

#: The methods, by name: permute the group's columns, or retrain without them.
METHODS: tuple[str, ...] = ("permute", "remove")
#: The table's columns, in order.
COLUMNS: tuple[str, ...] = (
    "group",
    "columns",
    "n_columns",
    "method",
    "estimator",
    "value_full",
    "value_without",
    "drop",
    "lower",
    "upper",
    "se",
    "share_of_rounds_changed",
    "mean_probability_shift",
    "n_rounds",
)


@dataclass(frozen=True)
class FeatureValues:
    """The value of every feature group, by every method.

    Attributes
    ----------
    table
        One row per group and method (:data:`COLUMNS`), the largest drop first.
    settings
        What the figures rest on: estimator, interval settings, split, rounds and users on each side.
    """

    table: pl.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def payload(self, **extra: Any) -> dict[str, Any]:
        """Return the JSON object ``offerlab feature-value --json`` prints.

        It holds ``groups`` (the table's rows), ``settings`` and any ``extra`` keys.
        """
        return {"groups": self.table.to_dicts(), "settings": dict(self.settings), **extra}


def group_values(
    test: Feedback,
    groups: Mapping[str, Sequence[str]],
    methods: Sequence[GroupMethod],
    *,
    estimator: str = "dr",
    q_hat: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    n_folds: int = 5,
    max_units: int | None = MAX_UNITS,
) -> pl.DataFrame:
    """Measure the drop in off-policy value of each group under each method, on the held-out rounds ``test``.

    Parameters
    ----------
    test
        The held-out rounds.
    groups
        Group name to its columns (checked by :func:`~experiments.feature_value.groups.resolve_groups`).
    methods
        How the policy is deprived of a group.
    estimator
        A name from :data:`experiments.ope.ESTIMATORS`.
    q_hat
        ``(n, k)`` reward predictions on ``test``; ``None`` fits the cross-fitted reward model when the
        estimator needs one.
    clusters
        ``(n,)`` user id of each held-out round: the reward model's folds and the resamples keep a user whole.
    alpha, n_bootstrap, seed, max_units
        As in :func:`experiments.ope.paired_difference`; one ``seed`` for every group (common random numbers)
        and for the reward model's folds.
    n_folds
        Folds of the cross-fitted reward model.

    Returns
    -------
    pl.DataFrame
        One row per group and method, columns :data:`COLUMNS`, sorted by drop, largest first.
    """
    checked = resolve_groups(test.contexts.columns, groups)
    chosen = make_estimator(estimator)
    if q_hat is None and needs_reward_model([estimator]):
        q_hat = cross_fitted_rewards(test, n_folds=n_folds, seed=seed, groups=clusters)
    units = Units.of(test.n_rounds, clusters)
    rows = []
    for method in methods:
        full = check_target_probs(test, method.full_probabilities(test))
        full_terms = chosen.round_terms(test, full, q_hat)
        for name, columns in checked.items():
            without = check_target_probs(test, method.probabilities_without(test, columns))
            without_terms = chosen.round_terms(test, without, q_hat)
            drop = paired_difference(
                full_terms,
                without_terms,
                alpha,
                n_bootstrap,
                seed,
                clusters=units,
                max_units=max_units,
            )
            rows.append(
                {
                    "group": name,
                    "columns": ",".join(columns),
                    "n_columns": len(columns),
                    "method": method.name,
                    "estimator": estimator,
                    "value_full": full_terms.value(),
                    "value_without": without_terms.value(),
                    "drop": drop.value,
                    "lower": drop.ci_low,
                    "upper": drop.ci_high,
                    "se": drop.std_error,
                    "share_of_rounds_changed": float(np.mean(full.argmax(axis=1) != without.argmax(axis=1))),
                    "mean_probability_shift": float(0.5 * np.abs(full - without).sum(axis=1).mean()),
                    "n_rounds": test.n_rounds,
                }
            )
    text, counts = ("group", "columns", "method", "estimator"), ("n_columns", "n_rounds")
    schema = {c: pl.String if c in text else pl.Int64 if c in counts else pl.Float64 for c in COLUMNS}
    return pl.DataFrame(rows, schema=schema).sort("drop", descending=True, maintain_order=True)


def feature_value(
    feedback: Feedback,
    clusters: np.ndarray | None = None,
    *,
    policy: BasePolicy | None = None,
    factory: PolicyFactory | None = None,
    methods: Sequence[str] = METHODS,
    groups: Mapping[str, Sequence[str]] | None = None,
    estimator: str = "dr",
    holdout: float = 0.5,
    repeats: int = 1,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    n_folds: int = 5,
    max_units: int | None = MAX_UNITS,
) -> FeatureValues:
    """Which feature groups matter to the policy: each group's drop in held-out off-policy value, by each method.

    Parameters
    ----------
    feedback
        The whole log's rounds.
    clusters
        ``(n,)`` user id of each round: the split keeps users whole and the intervals resample users.
    policy
        The trained target policy that ``permute`` scores; ``None``: the factory's policy, trained on the
        training split.
    factory
        Returns a fresh policy, for ``remove`` (and for ``permute`` without ``policy``); ``None``:
        :class:`~experiments.feature_value.methods.VWFactory` seeded with ``seed``.
    methods
        Any of :data:`METHODS`.
    groups
        Group name to columns; ``None``: the default groups of the context
        (:func:`~experiments.feature_value.groups.resolve_groups`).
    estimator
        The off-policy estimator, from :data:`experiments.ope.ESTIMATORS`.
    holdout
        Share of the users (or rounds) held out for the values.
    repeats
        Permutations per group, for ``permute``.
    alpha, n_bootstrap, seed, n_folds, max_units
        As in :func:`group_values`; ``seed`` also seeds the split and the permutations.

    Raises
    ------
    ValueError
        An unknown method or estimator, or a bad group (all checked before any policy is trained).
    """
    names = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {unknown or list(names)}; known: {list(METHODS)}")
    chosen = tuple(m for m in METHODS if m in names)  # permute first: a given policy is checked before training
    make_estimator(estimator)
    checked = resolve_groups(feedback.contexts.columns, groups)
    split = holdout_split(feedback, clusters, holdout, seed)
    make = factory if factory is not None else VWFactory(seed=seed)
    target = policy if policy is not None else trained(make, split.train)
    trained_full = target if policy is None else None  # trained with every column: both methods' full policy
    built: list[GroupMethod] = [
        Permutation(target, seed=seed, repeats=repeats)
        if name == "permute"
        else Retraining(make, split.train, trained_full=trained_full)
        for name in chosen
    ]
    table = group_values(
        split.test,
        checked,
        built,
        estimator=estimator,
        clusters=split.test_clusters,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
        n_folds=n_folds,
        max_units=max_units,
    )
    settings = {
        "estimator": estimator,
        "methods": list(chosen),
        "alpha": alpha,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "holdout": holdout,
        "repeats": repeats,
        "clustered_by_user": clusters is not None,
        "policy": "given" if policy is not None else "trained on the training split",
        **_split_sizes(split),
    }
    return FeatureValues(table, settings)


def _split_sizes(split: Split) -> dict[str, int]:
    sizes = {"train_rounds": split.train.n_rounds, "test_rounds": split.test.n_rounds}
    if split.test_clusters is not None:
        sizes["test_users"] = Units.of(split.test.n_rounds, split.test_clusters).count
    return sizes
