r"""The reward model of the direct method and doubly robust: every action's expected reward, cross-fitted.

:func:`cross_fitted_rewards` fits LightGBM regressions of the logged reward on the context and the action,
and predicts each round's reward under every action from a model that never saw that round (nor, with
``groups``, any round of the same user). :func:`q_hat_from_frame` reads predictions made elsewhere instead.
Both give ``q_hat``, the ``(n, k)`` array that the direct method and the doubly robust family
(:mod:`experiments.ope.doubly_robust`) take.

Examples
--------
Two actions; ``b`` pays more where ``x > 0``. The model learns it from a uniform log:

>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 2000
>>> x = rng.uniform(-1, 1, n)
>>> chosen = rng.integers(0, 2, n)
>>> truth = np.column_stack([np.full(n, 0.3), np.where(x > 0, 0.8, 0.1)])
>>> feedback = Feedback(
...     contexts=pl.DataFrame({"x": x}),
...     actions=("a", "b"),
...     eligible=np.ones((n, 2), dtype=bool),
...     chosen=chosen,
...     rewards=rng.binomial(1, truth[np.arange(n), chosen]).astype(float),
...     propensities=np.full(n, 0.5),
... )
>>> q_hat = cross_fitted_rewards(feedback, seed=0)
>>> q_hat.shape
(2000, 2)
>>> bool(np.sqrt(((q_hat - truth) ** 2).mean()) < 0.1)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from features.validation import SchemaError
from policies.base import Feedback

#: Prefix of the column that holds one action's predicted reward in a reward predictions table.
Q_PREFIX = "q_"


class RewardModelParams(BaseModel):
    """LightGBM settings of the reward model, chosen for speed on large logs.

    Scoring costs most: every round is scored under every action by every tree, ``n * k * n_estimators`` tree
    walks, each slower the more leaves the tree has; then training, on at most ``max_train_rows`` rounds per
    fold, drawn at random (seeded) from the other folds (``None``: all of them). ``max_bin`` 63 rather than
    LightGBM's 255 makes the histograms cheaper. ``min_data_in_leaf`` and ``lambda_l2`` keep leaves from
    chasing a few large rewards; with fewer than ``2 * min_data_in_leaf`` training rounds the trees cannot
    split and ``q_hat`` is their mean reward.

    The trade-off on 1,000,000 rounds x 4 actions of the synthetic log of
    ``tests/benchmarks/reward_model_bench.py`` (money rewards; the true ``q`` has standard deviation 4.3), in
    seconds of CPU (one thread, the machine busy):

    ======================================================  =====  ====
    settings                                                CPU s  RMSE
    ======================================================  =====  ====
    defaults: 40 trees of 15 leaves at 0.25, 200,000 rows     6.0  1.53
    ``max_train_rows=100_000``                                5.4  1.62
    ``max_train_rows=None`` (800,000 rows)                   11.4  1.40
    100 trees of 31 leaves at 0.1, 200,000 rows              20.1  1.37
    ======================================================  =====  ====

    Examples
    --------
    >>> RewardModelParams(num_leaves=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for RewardModelParams
    num_leaves
      Input should be greater than or equal to 2 ...
    >>> RewardModelParams().lightgbm(seed=7)["objective"]
    'regression'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    n_estimators: int = Field(40, ge=1)
    learning_rate: float = Field(0.25, gt=0, le=1)
    num_leaves: int = Field(15, ge=2)
    min_data_in_leaf: int = Field(50, ge=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_bin: int = Field(63, ge=2)
    max_train_rows: int | None = Field(200_000, ge=1)

    def lightgbm(self, seed: int) -> dict[str, Any]:
        """Return the parameters as ``lightgbm.train`` takes them, for one model seeded with ``seed``.

        Squared error (rewards may be money), one thread, deterministic.
        """
        return {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbosity": -1,
        }


def cross_fitted_rewards(
    feedback: Feedback,
    *,
    n_folds: int = 5,
    seed: int = 0,
    groups: Sequence[Any] | np.ndarray | pl.Series | None = None,
    params: RewardModelParams | None = None,
) -> np.ndarray:
    r"""``(n, k)`` predicted expected reward of every action in every round, by cross-fitting.

    Each round's prediction comes from a model trained on the other folds only.

    Parameters
    ----------
    feedback
        The logged rounds: the model learns ``rewards`` from ``contexts`` and ``chosen``.
    n_folds
        Number of folds (at least 2, at most the number of rounds, or of groups).
    seed
        Seeds the folds, the training subsamples and LightGBM: the same seed gives the same ``q_hat``, bit for
        bit.
    groups
        One label per round (e.g. the user id); all rounds of a group fall in one fold.
    params
        LightGBM settings; :class:`RewardModelParams` by default.

    Returns
    -------
    numpy.ndarray
        ``q_hat[i, a]``, the predicted reward of action ``a`` in round ``i``, for every action, eligible or not.

    Raises
    ------
    ValueError
        If ``n_folds`` is out of range, a reward is not finite, or ``groups`` has the wrong length or a null.

    Notes
    -----
    The rounds are split at random into folds :math:`F_1, \dots, F_K` (:func:`cross_fitting_folds`). For each
    fold a regression :math:`\hat f_{-k}(x, a) \approx E[r \mid x, a]` is trained on the logged
    :math:`(x_j, a_j, r_j)`, :math:`j \notin F_k`, and

    .. math:: \hat q(x_i, a) = \hat f_{-k(i)}(x_i, a) \quad \text{for every action } a,

    with :math:`k(i)` the fold of round :math:`i`. Doubly robust subtracts :math:`\hat q(x_i, a_i)` from the
    observed :math:`r_i`; a model that had trained on round :math:`i` would have partly memorised
    :math:`r_i`, shrinking that residual and biasing the correction. Cross-fitting keeps :math:`\hat q` for
    round :math:`i` independent of :math:`r_i` (Chernozhukov et al. 2018, Econometrics Journal 21(1)).
    Rounds of one user share what the context does not show; ``groups`` keeps a user's rounds in one fold,
    so no user's other rounds predict theirs.

    Features: every column of ``feedback.contexts``. Numbers as they are; booleans as 0/1; strings,
    categoricals and enums as LightGBM categorical features, coded from the sorted distinct values of the
    whole log (so the codes agree across folds); datetimes as seconds since the epoch, dates as days, times
    and durations as seconds (trees only compare, so the unit does not matter; a time column lets the model
    follow drift along the log); lists, arrays, structs, binaries and all-null columns are dropped. Nulls are
    LightGBM's missing values. The action is one more categorical feature, set to each action in turn to
    predict. With no context column the model depends on the action alone.

    The model is fitted on the logging policy's choices: where it rarely took an action, ``q_hat`` for that
    action extrapolates; the direct method inherits that bias, doubly robust corrects it.
    """
    params = params or RewardModelParams()
    n, k = feedback.n_rounds, len(feedback.actions)
    rewards = np.asarray(feedback.rewards, dtype=float)
    bad = np.flatnonzero(~np.isfinite(rewards))
    if bad.size:
        raise ValueError(
            f"reward model: rewards must be finite; row {int(bad[0])} has {float(rewards[bad[0]])!r} "
            f"({bad.size} bad row(s))"
        )
    folds = cross_fitting_folds(n, n_folds, seed=seed, groups=groups)
    design, categorical = _design_matrix(feedback.contexts)
    action_column = design.shape[1] - 1
    design[:, action_column] = feedback.chosen
    model_rng, *fold_rngs = np.random.default_rng(seed).spawn(n_folds + 1)
    lgb_params = params.lightgbm(seed=int(model_rng.integers(2**31 - 1)))
    # binned once for every fold: the bin edges read the features only, never a reward
    binned = lgb.Dataset(design, rewards, categorical_feature=categorical, params=lgb_params).construct()
    q_hat = np.empty((n, k))
    for fold, rng in enumerate(fold_rngs):
        held = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        if params.max_train_rows is not None and train.size > params.max_train_rows:
            train = np.sort(rng.choice(train, size=params.max_train_rows, replace=False))
        booster = lgb.train(lgb_params, binned.subset(train.tolist()), num_boost_round=params.n_estimators)
        rows = design[held]
        for action in range(k):
            rows[:, action_column] = action
            # a dense float matrix in, a dense (n_held,) array out (the sparse and list returns are for other inputs)
            q_hat[held, action] = cast("np.ndarray", booster.predict(rows, num_threads=1))
    return q_hat


def cross_fitting_folds(
    n_rounds: int, n_folds: int, *, seed: int = 0, groups: Sequence[Any] | np.ndarray | pl.Series | None = None
) -> np.ndarray:
    """``(n_rounds,)`` fold index of each round.

    The rounds (or, with ``groups``, the groups) in a seeded random order are dealt to the folds in turn, so
    every fold has some and their numbers per fold differ by at most one.

    Examples
    --------
    >>> cross_fitting_folds(6, 3, seed=0)
    array([1, 2, 1, 0, 0, 2])
    >>> cross_fitting_folds(5, 2, seed=0, groups=["u1", "u2", "u1", "u3", "u2"])
    array([1, 0, 1, 0, 0])
    >>> cross_fitting_folds(4, 3, groups=["u1", "u1", "u2", "u2"])
    Traceback (most recent call last):
    ...
    ValueError: n_folds=3 exceeds the number of groups (2): every fold needs at least one
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise ValueError(
            f"n_folds must be an integer of at least 2 (a model needs other folds to train on); got {n_folds!r}"
        )
    if groups is None:
        codes, what = np.arange(n_rounds), "rounds"
    else:
        codes, what = _group_codes(groups, n_rounds), "groups"
    n_units = int(codes.max()) + 1 if codes.size else 0
    if n_folds > n_units:
        raise ValueError(f"n_folds={n_folds} exceeds the number of {what} ({n_units}): every fold needs at least one")
    fold_of_unit = np.empty(n_units, dtype=np.int64)
    fold_of_unit[np.random.default_rng(seed).permutation(n_units)] = np.arange(n_units) % n_folds
    return fold_of_unit[codes]


def q_hat_from_frame(
    frame: pl.DataFrame, actions: Sequence[str], n_rows: int, *, eligible: np.ndarray | None = None
) -> np.ndarray:
    """``(n_rows, k)`` predicted rewards read from a table with one ``q_<action>`` column per action.

    Its rows are aligned with the log's (other columns are ignored).

    Parameters
    ----------
    frame
        The predictions, e.g. a file given to ``offerlab ope --reward-predictions``.
    actions
        The action names, in the order of the log's action columns.
    n_rows
        The number of logged rounds.
    eligible
        Optional ``(n_rows, k)`` mask: where an action was not eligible its value may be missing (it comes
        back as NaN, which the estimators ignore where the target's probability is zero).

    Raises
    ------
    features.validation.SchemaError
        If a column is missing or not numeric, the row count differs, or a value (where eligible) is null,
        NaN or infinite; the message names the column and the first bad row.

    Examples
    --------
    >>> table = pl.DataFrame({"q_a": [0.5, 0.25], "q_b": [1.0, None]})
    >>> q_hat_from_frame(table, ("a", "b"), 2, eligible=np.array([[True, True], [True, False]]))
    array([[0.5 , 1.  ],
           [0.25,  nan]])
    >>> q_hat_from_frame(table, ("a", "b"), 2)
    Traceback (most recent call last):
    ...
    features.validation.SchemaError: reward predictions: column 'q_b' is null at row 1 (1 bad value(s) in it)
    >>> q_hat_from_frame(table.drop("q_b"), ("a", "b"), 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    features.validation.SchemaError: reward predictions: missing column(s) ['q_b'] ... present: q_a
    """
    names = [f"{Q_PREFIX}{a}" for a in actions]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"reward predictions: missing column(s) {missing} (one {Q_PREFIX}<action> column per action); "
            f"present: {', '.join(frame.columns) or 'none'}"
        )
    if frame.height != n_rows:
        raise SchemaError(
            f"reward predictions: {frame.height} row(s), but the log has {n_rows}; the rows must align with the log's"
        )
    mask = None if eligible is None else np.asarray(eligible, dtype=bool)
    if mask is not None and mask.shape != (n_rows, len(names)):
        raise ValueError(f"eligible has shape {mask.shape}, expected ({n_rows}, {len(names)})")
    q_hat = np.empty((n_rows, len(names)))
    for column, name in enumerate(names):
        values = frame.get_column(name)
        if not (values.dtype.is_numeric() or values.dtype == pl.Null):
            raise SchemaError(f"reward predictions: column {name!r} has dtype {values.dtype}, expected numbers")
        q_hat[:, column] = values.cast(pl.Float64).to_numpy()
        null = values.is_null().to_numpy()
        bad = ~np.isfinite(q_hat[:, column]) if mask is None else ~np.isfinite(q_hat[:, column]) & mask[:, column]
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            what = "null" if null[row] else f"{float(q_hat[row, column])!r}, not a finite number"
            raise SchemaError(
                f"reward predictions: column {name!r} is {what} at row {row} ({int(bad.sum())} bad value(s) in it)"
            )
    return q_hat


def _group_codes(groups: Sequence[Any] | np.ndarray | pl.Series, n_rounds: int) -> np.ndarray:
    """Dense codes ``0..g-1`` of the group labels, numbered in sorted order (so not by the rows' order)."""
    labels = groups if isinstance(groups, pl.Series) else pl.Series("groups", groups)
    if labels.len() != n_rounds:
        raise ValueError(f"groups has {labels.len()} label(s), expected one per round ({n_rounds})")
    if labels.null_count():
        row = int(np.flatnonzero(labels.is_null().to_numpy())[0])
        raise ValueError(f"groups must not be null; row {row} is ({labels.null_count()} null label(s))")
    return labels.rank("dense").cast(pl.Int64).to_numpy() - 1


def _design_matrix(contexts: pl.DataFrame) -> tuple[np.ndarray, list[int]]:
    """Return the model's inputs as float64, the action's column last (left zero here), and the categorical ones.

    See :func:`cross_fitted_rewards`'s Notes for how each dtype is coded.
    """
    expressions: list[pl.Expr] = []
    categorical: list[int] = []
    for name, dtype in contexts.schema.items():
        column = pl.col(name)
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
            categories = contexts.get_column(name).cast(pl.String).drop_nulls().unique().sort()
            categorical.append(len(expressions))
            expressions.append(column.cast(pl.String).cast(pl.Enum(categories)).to_physical())
        elif dtype.is_numeric() or dtype == pl.Boolean:
            expressions.append(column)
        elif isinstance(dtype, pl.Datetime):
            expressions.append(column.dt.epoch("us") / 1e6)
        elif dtype == pl.Date:
            expressions.append(column.cast(pl.Int32))
        elif isinstance(dtype, pl.Duration):
            expressions.append(column.dt.total_microseconds() / 1e6)
        elif dtype == pl.Time:
            expressions.append(column.cast(pl.Int64) / 1e9)
        # lists, arrays, structs, binaries, objects and all-null columns carry no usable feature: dropped
    design = np.zeros((contexts.height, len(expressions) + 1))
    if expressions:
        selected = contexts.select(e.cast(pl.Float64).alias(f"f{i}") for i, e in enumerate(expressions))
        design[:, :-1] = selected.to_numpy()
    return design, [*categorical, len(expressions)]
