"""The `Policy` protocol, the logged-feedback record, and the shared sampling logic.

A policy turns a batch of contexts into a probability for every eligible action;
acting samples from those probabilities, so every decision carries the
probability it was taken with (its propensity), which off-policy evaluation needs.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.bandits.baselines import UniformRandom
>>> contexts = pl.DataFrame({"price": [10.0, 250.0]})
>>> eligible = np.array([[True, True, False], [True, True, True]])
>>> UniformRandom().probabilities(contexts, ("no_offer", "coupon", "installment"), eligible).round(3)
array([[0.5  , 0.5  , 0.   ],
       [0.333, 0.333, 0.333]])
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import polars as pl

from features.io import write_bytes
from features.pipelines.context_row import context_frame
from features.schemas import ACTIONS, BANDIT_LOG, feature_columns
from features.validation import SchemaError, validate
from policies.action_sets import FEW_ROWS as FEW_ROWS
from policies.action_sets import eligibility_mask as eligibility_mask
from policies.action_sets import eligible_patterns as eligible_patterns
from policies.action_sets import order_actions as order_actions
from policies.action_sets import with_text_labels as with_text_labels
from policies.sampling import sample_actions, with_floor

POLICY_FILE = "policy.json"
#: The module of every policy kind, imported only when a saved policy needs it (some import heavy libraries).
_LAZY_MODULES = {
    "vw": "policies.bandits.vw",
    "rules": "policies.bandits.rules",
    "uniform": "policies.bandits.baselines",
    "fixed": "policies.bandits.baselines",
    "thompson": "policies.bandits.thompson",
    "linucb": "policies.bandits.linear",
    "lin_ts": "policies.bandits.linear",
    "apprentice": "policies.bandits.apprentice",
    "oracle": "simulators.oracle",  # the simulator's ceiling, listed so that every policy kind can be found
}


@dataclass(frozen=True)
class Feedback:
    """Logged bandit feedback: what was shown to whom, with which probability, and what it earned.

    Attributes
    ----------
    contexts
        One row of context features per round.
    actions
        The action names that the columns of ``eligible`` stand for.
    eligible
        ``(n, k)`` boolean mask of the actions that could have been chosen.
    chosen
        ``(n,)`` index into ``actions`` of the action taken.
    rewards
        ``(n,)`` observed reward.
    propensities
        ``(n,)`` probability with which the logging policy took ``chosen``.
    """

    contexts: pl.DataFrame
    actions: tuple[str, ...]
    eligible: np.ndarray
    chosen: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray

    def __post_init__(self) -> None:
        """Check the shapes, the propensities in (0, 1] and that every chosen action was eligible."""
        n, k = self.contexts.height, len(self.actions)
        if self.eligible.shape != (n, k):
            raise ValueError(f"eligible has shape {self.eligible.shape}, expected ({n}, {k})")
        for name in ("chosen", "rewards", "propensities"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        bad = np.flatnonzero(~((self.propensities > 0) & (self.propensities <= 1)))
        if bad.size:
            raise ValueError(
                f"propensity must lie in (0, 1]; row {int(bad[0])} has {float(self.propensities[bad[0]])} "
                f"({bad.size} bad row(s))"
            )
        if not self.eligible[np.arange(n), self.chosen].all():
            row = int(np.flatnonzero(~self.eligible[np.arange(n), self.chosen])[0])
            raise ValueError(f"row {row}: the chosen action {self.actions[self.chosen[row]]!r} was not eligible")

    @property
    def n_rounds(self) -> int:
        """Return the number of rounds (rows)."""
        return self.contexts.height

    @classmethod
    def from_log(cls, log: pl.DataFrame, actions: Sequence[str] = ACTIONS) -> Feedback:
        """Build feedback from a bandit log frame.

        The log has columns ``action``, ``reward``, ``propensity``; an optional
        ``actions`` column (a list, or a ``|``-separated string) names the eligible
        actions of each row, else every action in ``actions`` was eligible. Every
        other non-bookkeeping column is a context feature. Integer action labels are
        read as text (7 is ``"7"``), so ``actions`` names them as strings.
        :func:`experiments.inputs.feedback_from_log` checks a log more fully and
        infers its actions.
        """
        log = validate(with_text_labels(log), BANDIT_LOG, "log", not_null=("action", "reward", "propensity"))
        propensities = log.get_column("propensity").to_numpy().astype(float)
        bad = np.flatnonzero(~((propensities > 0) & (propensities <= 1)))
        if bad.size:
            raise SchemaError(
                f"log: column 'propensity' must lie in (0, 1]; row {int(bad[0])} has {float(propensities[bad[0]])} "
                f"({bad.size} bad row(s))"
            )
        actions = tuple(actions)
        index = {a: i for i, a in enumerate(actions)}
        unknown = sorted(set(log.get_column("action").unique().to_list()) - set(index))
        if unknown:
            raise SchemaError(f"log: column 'action' has unknown action(s) {unknown}; known: {list(actions)}")
        chosen = log.get_column("action").replace_strict(index, return_dtype=pl.Int64).to_numpy()
        eligible = eligibility_mask(log, actions)
        features = set(feature_columns(log))
        return cls(
            contexts=log.drop([c for c in log.columns if c not in features]),  # drop keeps the height
            actions=actions,
            eligible=eligible,
            chosen=chosen,
            rewards=log.get_column("reward").to_numpy().astype(float),
            propensities=propensities,
        )


@runtime_checkable
class Policy(Protocol):
    """What every policy offers: probabilities, acting on them, learning, saving."""

    @property
    def name(self) -> str:
        """Return the policy's short name."""
        ...

    def probabilities(
        self, contexts: pl.DataFrame, actions: Sequence[str], eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """Return the ``(n, k)`` probabilities of each action in each context (0 where ineligible)."""
        ...

    def act(
        self,
        contexts: pl.DataFrame,
        actions: Sequence[str],
        rng: np.random.Generator,
        eligible: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw one action per context; return the chosen indices and their probabilities."""
        ...

    def learn(self, feedback: Feedback) -> None:
        """Update the policy from logged feedback."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the policy to ``path``."""
        ...


class BasePolicy(ABC):
    r"""Shared logic: input checks, masking of ineligible actions, the exploration floor, sampling, saving.

    A subclass implements one hook, :meth:`_scores`, giving unnormalised
    probabilities; the public methods do the rest.

    Notes
    -----
    The exploration floor :math:`f` (attribute ``floor``, zero unless a policy sets one) mixes the scores'
    distribution :math:`q` with the uniform one over the :math:`m` eligible actions of a row:
    :math:`p_a = (1 - m f)\, q_a + f`, so each eligible action keeps at least :math:`f`. When
    :math:`m f > 1` the row is uniform.
    """

    name: ClassVar[str] = "base"
    registry: ClassVar[dict[str, type[BasePolicy]]] = {}
    #: The minimum probability of every eligible action; learned policies set their own.
    floor: float = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register the subclass under its ``name`` in :attr:`registry`."""
        super().__init_subclass__(**kwargs)
        BasePolicy.registry[cls.name] = cls

    @abstractmethod
    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        """``(n, k)`` non-negative weights; ineligible entries are ignored."""

    def probabilities(
        self, contexts: pl.DataFrame, actions: Sequence[str], eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """``(n, k)`` probabilities of choosing each action; zero where ineligible, rows sum to one."""
        actions = tuple(actions)
        mask = _check_eligible(contexts.height, actions, eligible)
        return self._normalised(self._scores(contexts, actions, mask), mask)

    def probabilities_one(
        self, context: Mapping[str, Any], actions: Sequence[str], eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """Return :meth:`probabilities` of one context given as a mapping (column → value), as ``(k,)``.

        This is what the decision endpoint asks once per request. The values are those of ``probabilities`` on
        the one-row frame (:func:`context_frame`); a policy with a faster path for one row overrides
        :meth:`_row_scores`.

        Examples
        --------
        >>> from policies.bandits.baselines import UniformRandom
        >>> UniformRandom().probabilities_one({"price": 10.0}, ("no_offer", "coupon"), np.array([True, True]))
        array([0.5, 0.5])
        """
        actions = tuple(actions)
        row = None if eligible is None else np.asarray(eligible, dtype=bool).reshape(1, -1)
        mask = _check_eligible(1, actions, row)
        scores = np.asarray(self._row_scores(context, actions, mask[0]), dtype=float).reshape(1, -1)
        return self._normalised(scores, mask)[0, :]

    def _row_scores(self, context: Mapping[str, Any], actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        """Return the ``(k,)`` weights of one context (hook for a fast path); by default ``_scores`` of one row."""
        return np.asarray(self._scores(context_frame(context), actions, eligible.reshape(1, -1)), dtype=float)[0, :]

    def _normalised(self, scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Scores → probabilities: zero where ineligible, rows summing to one, then the exploration floor."""
        scores = np.where(mask, np.asarray(scores, dtype=float), 0.0)
        totals = scores.sum(axis=1, keepdims=True)
        if (totals <= 0).any():
            row = int(np.flatnonzero(totals[:, 0] <= 0)[0])
            raise ValueError(f"{self.name}: row {row} gives no eligible action a positive probability")
        return with_floor(scores / totals, mask, self.floor)

    @classmethod
    def example(cls) -> BasePolicy:
        """Build a small ready-to-use instance for the conformance suite over :attr:`registry`; by default ``cls()``."""
        return cls()

    def act(
        self,
        contexts: pl.DataFrame,
        actions: Sequence[str],
        rng: np.random.Generator,
        eligible: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sample one action per row; return ``(chosen index, its probability)``."""
        probs = self.probabilities(contexts, actions, eligible)
        return sample_actions(probs, rng)

    def learn(self, feedback: Feedback) -> None:
        """Update from logged feedback; by default nothing: baselines that do not learn ignore it."""
        return None

    def params(self) -> dict[str, Any]:
        """Return the constructor arguments, saved with the policy and logged as run params."""
        return {}

    def save(self, path: str | Path) -> None:
        """Write the policy to the directory ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {"name": self.name, "params": self.saved_params()}
        write_bytes(json.dumps(payload).encode(), folder / POLICY_FILE)

    def saved_params(self) -> dict[str, Any]:
        """Return what :meth:`save` records to rebuild the policy: its params plus any learned settings."""
        return self.params()

    @classmethod
    def _from_folder(cls, folder: Path, params: dict[str, Any]) -> BasePolicy:
        return cls(**params)


def load_policy(path: str | Path) -> BasePolicy:
    """Load any saved policy from its directory.

    Examples
    --------
    >>> import tempfile
    >>> from policies.bandits.baselines import FixedAction
    >>> folder = tempfile.mkdtemp()
    >>> FixedAction("coupon").save(folder)
    >>> load_policy(folder).params()
    {'action': 'coupon'}
    """
    folder = Path(path)
    meta_file = folder / POLICY_FILE
    if not meta_file.exists():
        raise FileNotFoundError(f"no saved policy at {folder} (missing {POLICY_FILE})")
    meta = json.loads(meta_file.read_text())
    if meta["name"] in _LAZY_MODULES and meta["name"] not in BasePolicy.registry:
        importlib.import_module(_LAZY_MODULES[meta["name"]])
    cls = BasePolicy.registry.get(meta["name"])
    if cls is None:
        raise ValueError(f"unknown policy kind {meta['name']!r}; known: {sorted(BasePolicy.registry)}")
    return cls._from_folder(folder, meta["params"])


def _check_eligible(n: int, actions: tuple[str, ...], eligible: np.ndarray | None) -> np.ndarray:
    if not actions:
        raise ValueError("no actions given")
    if eligible is None:
        return np.ones((n, len(actions)), dtype=bool)
    mask = np.asarray(eligible, dtype=bool)
    if mask.shape != (n, len(actions)):
        raise ValueError(f"eligible has shape {mask.shape}, expected ({n}, {len(actions)})")
    empty = np.flatnonzero(~mask.any(axis=1))
    if empty.size:
        raise ValueError(f"row {int(empty[0])} has no eligible action ({empty.size} such row(s))")
    return mask
