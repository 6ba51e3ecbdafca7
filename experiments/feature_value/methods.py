r"""Two ways to take a feature group from a policy, behind one interface: permute its columns, or retrain without them.

A :class:`GroupMethod` gives the target policy's probabilities on the held-out rounds, with every column
(:meth:`~GroupMethod.full_probabilities`) and without one group (:meth:`~GroupMethod.probabilities_without`);
:func:`experiments.feature_value.value.group_values` turns the two into off-policy values and their paired
difference.

- :class:`Permutation` (``"permute"``): the trained policy scores the held-out rounds with the group's columns
  permuted jointly across rounds (one seeded permutation per repeat, the same for every column of the group,
  so the columns keep their joint distribution and lose only their link to the rest of the context). Nothing
  is retrained: it measures what *this* policy draws from the group.
- :class:`Retraining` (``"remove"``): a fresh policy from a factory learns the training rounds without the
  group's columns and scores the held-out rounds. It measures what the group adds that the other columns can't
  stand in for, and costs one training per group.

Notes
-----
Permuting gives a policy of the true context ``x``: :math:`\pi_{-G}(a \mid x) = E_\sigma\,
\pi(a \mid x_{-G}, x_{\sigma, G})`, the policy fed the group's values of a random other round ``sigma``. With
``R`` repeats the probabilities are averaged over ``R`` permutations, a Monte Carlo estimate of that
expectation; every off-policy estimator here is linear in the target's probabilities, so this is the mean of
the ``R`` permuted values with less noise. The reward model of the doubly robust estimators keeps the true
context: only the policy is deprived of the group.

Examples
--------
A policy that learned from ``x`` alone loses everything when ``x`` is permuted, and nothing when ``z`` is:

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> n = 400
>>> x, chosen = rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n)
>>> learned = Feedback(pl.DataFrame({"x": x}), ("a", "b"), np.ones((n, 2), bool), chosen,
...     (chosen == x).astype(float), np.full(n, 0.5))
>>> policy = trained(VWFactory(seed=1), learned)
>>> test = Feedback(pl.DataFrame({"x": x[:6], "z": np.arange(6.0)}), ("a", "b"), np.ones((6, 2), bool),
...     chosen[:6], np.ones(6), np.full(6, 0.5))
>>> method = Permutation(policy, seed=0)
>>> x[:6].tolist()
[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
>>> method.full_probabilities(test)[:, 1].round(3).tolist()  # b pays when x is 1
[0.975, 0.975, 0.975, 0.025, 0.025, 0.025]
>>> method.probabilities_without(test, ("x",))[:, 1].round(3).tolist()
[0.975, 0.025, 0.975, 0.975, 0.025, 0.025]
>>> bool((method.probabilities_without(test, ("z",)) == method.full_probabilities(test)).all())
True
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import polars as pl

from experiments.targets import policy_probabilities
from policies.base import BasePolicy, Feedback

if TYPE_CHECKING:
    from policies.bandits.vw_config import VWConfig

#: A callable that returns a fresh, untrained policy.
PolicyFactory = Callable[[], BasePolicy]
#: The column a policy is given when a group takes every context column: a constant, so it learns per action only.
CONSTANT = "constant"


class GroupMethod(ABC):
    """A way to take a feature group from the target policy; subclasses set ``name`` and implement the two hooks."""

    name: ClassVar[str]

    @abstractmethod
    def full_probabilities(self, test: Feedback) -> np.ndarray:
        """``(n, k)`` the target policy's probabilities on the held-out rounds, every column in place."""

    @abstractmethod
    def probabilities_without(self, test: Feedback, columns: Sequence[str]) -> np.ndarray:
        """``(n, k)`` the target policy's probabilities on the held-out rounds without the group ``columns``."""


class Permutation(GroupMethod):
    """The trained ``policy`` scores the held-out rounds with the group's columns permuted jointly (no retraining).

    Parameters
    ----------
    policy
        The trained target policy.
    seed
        Seed of the permutations; each group's come from the seed and the group's columns, so a group gets the
        same permutations whatever else is evaluated.
    repeats
        Permutations per group; the probabilities are averaged over them (see the module's Notes).
    """

    name = "permute"

    def __init__(self, policy: BasePolicy, seed: int = 0, repeats: int = 1) -> None:
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer; got {repeats!r}")
        self.policy = policy
        self.seed = seed
        self.repeats = repeats

    def full_probabilities(self, test: Feedback) -> np.ndarray:
        """Score the held-out rounds with every column in place."""
        return policy_probabilities(self.policy, test, f"{self.name}: target")

    def probabilities_without(self, test: Feedback, columns: Sequence[str]) -> np.ndarray:
        """Score the held-out rounds with the group's ``columns`` permuted jointly, averaged over ``repeats``."""
        rng = np.random.default_rng([self.seed, zlib.crc32("\x1f".join(columns).encode())])
        total = np.zeros((test.n_rounds, len(test.actions)))
        for _ in range(self.repeats):
            order = rng.permutation(test.n_rounds)
            shuffled = test.contexts.with_columns(test.contexts.get_column(c).gather(order) for c in columns)
            total += self.policy.probabilities(shuffled, test.actions, test.eligible)
        return total / self.repeats


class Retraining(GroupMethod):
    """A fresh policy from ``factory`` learns the training rounds without the group's columns.

    It then scores the held-out rounds without them.

    Parameters
    ----------
    factory
        Returns a fresh, untrained policy (:class:`VWFactory` by default in
        :func:`~experiments.feature_value.value.feature_value`).
    train
        The rounds every policy learns from.
    trained_full
        The factory's policy already trained on ``train`` with every column, if at hand (it is not trained again).
    """

    name = "remove"

    def __init__(self, factory: PolicyFactory, train: Feedback, trained_full: BasePolicy | None = None) -> None:
        self.factory = factory
        self.train = train
        self.trained_full = trained_full

    def full_probabilities(self, test: Feedback) -> np.ndarray:
        """Score the held-out rounds with a policy trained on every column (``trained_full`` when given)."""
        policy = self.trained_full if self.trained_full is not None else trained(self.factory, self.train)
        return policy_probabilities(policy, test, f"{self.name}: target")

    def probabilities_without(self, test: Feedback, columns: Sequence[str]) -> np.ndarray:
        """Retrain without the group's ``columns``, then score the held-out rounds without them."""
        policy = trained(self.factory, without_columns(self.train, columns))
        reduced = without_columns(test, columns)
        return policy.probabilities(reduced.contexts, reduced.actions, reduced.eligible)


def trained(factory: PolicyFactory, feedback: Feedback) -> BasePolicy:
    """Return a fresh policy from ``factory``, trained on ``feedback`` (``learn``)."""
    policy = factory()
    if not isinstance(policy, BasePolicy):
        raise ValueError(f"the policy factory returned {type(policy).__name__}, not a policy (BasePolicy)")
    policy.learn(feedback)
    return policy


def without_columns(feedback: Feedback, columns: Sequence[str]) -> Feedback:
    """``feedback`` with the context ``columns`` dropped; with none left, one :data:`CONSTANT` column instead.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> one = Feedback(pl.DataFrame({"x": [2.0], "y": [3.0]}), ("a",), np.ones((1, 1), bool), np.zeros(1, int),
    ...     np.ones(1), np.ones(1))
    >>> without_columns(one, ["x"]).contexts.columns, without_columns(one, ["x", "y"]).contexts.columns
    (['y'], ['constant'])
    """
    kept = [c for c in feedback.contexts.columns if c not in set(columns)]
    contexts = feedback.contexts.select(kept) if kept else pl.DataFrame({CONSTANT: np.ones(feedback.n_rounds)})
    return Feedback(
        contexts, feedback.actions, feedback.eligible, feedback.chosen, feedback.rewards, feedback.propensities
    )


@dataclass(frozen=True)
class VWFactory:
    """Fresh Vowpal Wabbit policies with one configuration: the default policy factory.

    Parameters
    ----------
    config
        The VW settings; ``None``: :class:`~policies.bandits.vw_config.VWConfig`'s defaults with ``seed``.
    seed
        VW's seed when ``config`` is ``None``.

    Examples
    --------
    >>> VWFactory(seed=3)().config.seed
    3
    """

    config: VWConfig | None = None
    seed: int = 0

    def __call__(self) -> BasePolicy:
        """Return a fresh VW policy with ``config``, or the defaults seeded with ``seed``."""
        from policies.bandits.vw import VowpalWabbitPolicy
        from policies.bandits.vw_config import VWConfig

        return VowpalWabbitPolicy(config=self.config if self.config is not None else VWConfig(seed=self.seed))
