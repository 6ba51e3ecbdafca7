"""The training and held-out halves of a log: a policy learns on one and is valued on the other.

Rounds are split by user when user ids are given (all of a user's rounds fall on one side, so the held-out
value says how the policy does on users it never saw), else round by round; the split is seeded.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> n = 8
>>> feedback = Feedback(pl.DataFrame({"x": np.arange(n, dtype=float)}), ("a", "b"), np.ones((n, 2), bool),
...     np.zeros(n, dtype=int), np.ones(n), np.full(n, 0.5))
>>> users = np.array(["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"])
>>> split = holdout_split(feedback, users, holdout=0.5, seed=0)
>>> split.train.contexts["x"].to_list(), split.test.contexts["x"].to_list(), split.test_clusters.tolist()
([2.0, 3.0, 6.0, 7.0], [0.0, 1.0, 4.0, 5.0], ['u1', 'u1', 'u3', 'u3'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.ope.resampling import Units
from policies.base import Feedback


@dataclass(frozen=True, eq=False)  # arrays: equality would be ambiguous
class Split:
    """A log cut in two.

    Attributes
    ----------
    train
        The rounds a policy learns from.
    test
        The held-out rounds every value is estimated on.
    test_clusters
        ``(n_test,)`` user id of each held-out round, or ``None`` when the log has none.
    """

    train: Feedback
    test: Feedback
    test_clusters: np.ndarray | None


def take(feedback: Feedback, rows: np.ndarray) -> Feedback:
    """Return the rounds ``rows`` (indices, in that order) of ``feedback``."""
    index = np.asarray(rows, dtype=np.intp)
    return Feedback(
        contexts=feedback.contexts[index],
        actions=feedback.actions,
        eligible=feedback.eligible[index],
        chosen=feedback.chosen[index],
        rewards=feedback.rewards[index],
        propensities=feedback.propensities[index],
    )


def holdout_split(feedback: Feedback, clusters: np.ndarray | None = None, holdout: float = 0.5, seed: int = 0) -> Split:
    """Split ``feedback`` into training and held-out rounds, by cluster (user) when ``clusters`` are given.

    Parameters
    ----------
    feedback
        The logged rounds.
    clusters
        ``(n,)`` user id of each round, or ``None`` to split rounds one by one.
    holdout
        Share of the users (or rounds) held out, in (0, 1).
    seed
        Seed of the split.

    Raises
    ------
    ValueError
        If ``holdout`` is outside (0, 1) or either side would be empty.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> one = Feedback(pl.DataFrame({"x": [0.0]}), ("a",), np.ones((1, 1), bool), np.zeros(1, int), np.ones(1),
    ...     np.ones(1))
    >>> holdout_split(one)
    Traceback (most recent call last):
    ...
    ValueError: can't hold out 0.5 of 1 round(s) and keep both sides non-empty; give a longer log
    """
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must lie in (0, 1); got {holdout!r}")
    units = Units.of(feedback.n_rounds, clusters)
    n_held = round(holdout * units.count)
    what = "user(s)" if clusters is not None else "round(s)"
    if not 0 < n_held < units.count:
        raise ValueError(
            f"can't hold out {holdout:g} of {units.count} {what} and keep both sides non-empty; give a longer log"
        )
    held_units = np.zeros(units.count, dtype=bool)
    held_units[np.random.default_rng(seed).permutation(units.count)[:n_held]] = True
    held = held_units if units.index is None else held_units[units.index]
    test_rows = np.flatnonzero(held)
    return Split(
        train=take(feedback, np.flatnonzero(~held)),
        test=take(feedback, test_rows),
        test_clusters=None if clusters is None else np.asarray(clusters)[test_rows],
    )
