"""A contextual bandit on Vowpal Wabbit's ``cb_explore_adf`` (vowpal-wabbit-next).

This is the one module that imports ``vowpal_wabbit_next``. Rewards are learned
as costs (VW minimises cost): cost = -reward.

Examples are parsed and passed to VW's native workspace directly (``vowpal_wabbit_next._core``, pinned at
0.7.0): the Python wrapper around it only wraps each parsed example in an object and checks, on every call, that
each example's label type is the workspace's, which holds by construction for examples its own parser made; in
the simulator that wrapping and checking cost more than VW's learning itself.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> rng = np.random.default_rng(0)
>>> n = 400
>>> contexts = pl.DataFrame({"sensitive": rng.integers(0, 2, n).astype(float)})
>>> chosen = rng.integers(0, 2, n)
>>> rewards = np.where(chosen == contexts["sensitive"].to_numpy(), 1.0, 0.0)
>>> feedback = Feedback(contexts, ("no_offer", "coupon"), np.ones((n, 2), bool), chosen, rewards, np.full(n, 0.5))
>>> policy = VowpalWabbitPolicy(epsilon=0.1, seed=1)
>>> policy.learn(feedback)
>>> probe = pl.DataFrame({"sensitive": [0.0, 1.0]})
>>> policy.probabilities(probe, ("no_offer", "coupon")).round(2)
array([[0.95, 0.05],
       [0.05, 0.95]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import vowpal_wabbit_next as vw
from vowpal_wabbit_next import _core

from features.io import write_bytes
from policies.bandits.vw_config import VWConfig
from policies.bandits.vw_format import action_line, labelled_lines, shared_line, shared_lines
from policies.base import BasePolicy, Feedback, eligible_patterns

MODEL_FILE = "model.vw"

#: Explorers whose saved model records a seed of VW's own making: it refuses to load beside another
#: ``--random_seed`` ("Disagreeing option values for 'random_seed'"), so a saved one loads without the flag.
SEED_IN_MODEL: tuple[str, ...] = ("bag", "rnd")


class VowpalWabbitPolicy(BasePolicy):
    """A contextual bandit on VW's ``cb_explore_adf``, with any of seven explorers, over action-dependent features.

    Parameters
    ----------
    config
        Every setting (:class:`~policies.bandits.vw_config.VWConfig`): explorer and its parameters, ``cb_type``,
        interactions, learning rate, L2, seed, passes, exploration floor, per-action features.
    epsilon, explorer, cb_type, interactions, learning_rate, passes, seed
        A shorter path to the same settings, for callers that set a few (not with ``config``); unset ones take
        :class:`~policies.bandits.vw_config.VWConfig`'s defaults.
    feature_names
        The context columns learned from (fixed by the first :meth:`learn`); recorded by :meth:`save`.
    actions
        The actions learned about (eligible in some round :meth:`learn` saw); recorded by :meth:`save`.
    model_data
        VW's serialised weights, to resume a saved policy.

    Examples
    --------
    >>> VowpalWabbitPolicy(config=VWConfig(explorer="softmax", softmax_lambda=5.0)).vw_args()[:4]
    ['--cb_explore_adf', '--softmax', '--lambda', '5.0']
    >>> VowpalWabbitPolicy(explorer="bag", seed=2).config.explorer_args()
    ['--bag', '5']
    """

    name = "vw"

    def __init__(
        self,
        epsilon: float | None = None,
        explorer: str | None = None,
        cb_type: str | None = None,
        interactions: str | None = None,
        learning_rate: float | None = None,
        passes: int | None = None,
        seed: int | None = None,
        feature_names: list[str] | None = None,
        actions: list[str] | None = None,
        model_data: bytes | None = None,
        config: VWConfig | None = None,
    ) -> None:
        settings = {
            "epsilon": epsilon,
            "explorer": explorer,
            "cb_type": cb_type,
            "interactions": interactions,
            "learning_rate": learning_rate,
            "passes": passes,
            "seed": seed,
        }
        given = {key: value for key, value in settings.items() if value is not None}
        if config is not None and given:
            raise ValueError(f"give the settings either in config or as keywords, not both; got config and {given}")
        self.config = config if config is not None else VWConfig(**given)
        self.floor = self.config.floor  # applied by BasePolicy.probabilities (policies.sampling.with_floor)
        self.feature_names_ = feature_names
        self.actions_ = None if actions is None else tuple(actions)  # the actions learned about, in order
        self.rounds_learned_ = 0
        args = self.vw_args()
        if model_data is not None and self.config.explorer in SEED_IN_MODEL:
            at = args.index("--random_seed")
            del args[at : at + 2]
        self._workspace = vw.Workspace(args, model_data=model_data)
        self._native = self._workspace._workspace  # the wrapper's native workspace: see the module's docstring
        self._action_examples: dict[str, Any] = {}
        self._last_lines: tuple[pl.DataFrame, list[str]] | None = None

    def vw_args(self) -> list[str]:
        """Return the VW command line this policy runs."""
        return self.config.to_args()

    def params(self) -> dict[str, Any]:
        """Every setting of :attr:`config` that is set (unset explorer parameters are left out)."""
        return self.config.model_dump(mode="json", exclude_none=True)

    def _features(self, contexts: pl.DataFrame) -> pl.DataFrame:
        """Select the columns learned from, with the config's ``log_features`` as ``log(1 + max(x, 0))``.

        The columns are :attr:`feature_names_`, else the config's ``features``, else all.
        """
        names = self._learned_names(contexts.columns)
        if names is not None:
            contexts = contexts.select(names)
        logged = [c for c in self.config.log_features if c in contexts.columns]
        for column in logged:
            if not contexts.schema[column].is_numeric():
                raise ValueError(f"{self.name}: log feature {column!r} is {contexts.schema[column]}, not a number")
        return contexts.with_columns(pl.col(c).cast(pl.Float64).clip(lower_bound=0).log1p() for c in logged)

    def _learned_names(self, available: Sequence[str]) -> list[str] | None:
        """Return the columns learned from (None: all), checked against the ``available`` ones."""
        names = self.feature_names_
        if names is None and self.config.features is not None:
            names = list(self.config.features)
        if names is not None:
            missing = [c for c in names if c not in available]
            if missing:
                raise ValueError(f"{self.name}: missing context feature(s) {missing}; the policy learns from {names}")
        return names

    def _row_features(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Apply :meth:`_features` to one context given as a mapping.

        The same columns, the same ``log(1 + max(x, 0))`` of ``log_features``.
        """
        names = self._learned_names(list(context))
        row = {c: context[c] for c in names} if names is not None else dict(context)
        for column in self.config.log_features:
            value = row.get(column)
            if column not in row or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.name}: log feature {column!r} is {type(value).__name__}, not a number")
            row[column] = math.log1p(max(float(value), 0.0)) if not math.isnan(value) else value
        return row

    def _row_scores(self, context: Mapping[str, Any], actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        """Return one context's probabilities through :func:`~policies.bandits.vw_format.shared_line`.

        That is the line :meth:`_scores` would build from the one-row frame, in microseconds instead of milliseconds.
        """
        columns = np.flatnonzero(eligible).tolist()
        examples = [
            self._parse(shared_line(self._row_features(context))),
            *(self._action_example(actions[c]) for c in columns),
        ]
        predict = cast(Callable[[list[Any]], list[tuple[int, float]]], self._native.predict_multi_ex_one)
        probs = np.zeros(len(actions))
        for slot, p in predict(examples):
            probs[columns[slot]] = p
        return probs

    def _parse(self, line: str) -> Any:
        """Parse one text-format line into a native example of this workspace."""
        return _core._parse_line_text(self._native, line)

    def _action_example(self, action: str) -> Any:
        """Return the parsed, unlabelled ADF line of ``action``, parsed once and reused (VW leaves it unchanged)."""
        example = self._action_examples.get(action)
        if example is None:
            line = action_line(action, features=self.config.action_features.get(action))
            example = self._action_examples[action] = self._parse(line)
        return example

    def _shared_lines(self, contexts: pl.DataFrame) -> list[str]:
        """Return the shared lines of ``contexts``, reusing those of the last frame when the same frame comes back.

        The simulator asks for probabilities and then learns on the very same frame, so the lines of the last frame
        are kept (the lines, not the parsed examples: a native example holds every namespace's feature arrays, tens
        of kilobytes each).
        """
        if self._last_lines is not None and self._last_lines[0] is contexts:
            return self._last_lines[1]
        lines = shared_lines(self._features(contexts))
        self._last_lines = (contexts, lines)
        return lines

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        shared = self._shared_lines(contexts)
        parse = partial(_core._parse_line_text, self._native)
        predict = cast(Callable[[list[Any]], list[tuple[int, float]]], self._native.predict_multi_ex_one)
        codes, patterns = eligible_patterns(eligible)
        plain = self._plain_examples(actions, patterns)
        k = eligible.shape[1]
        # a flat list of floats (which the garbage collector does not track, unlike VW's (slot, p) tuples)
        probs = [0.0] * (len(shared) * k)
        for start, head, code in zip(range(0, len(probs), k), shared, codes.tolist(), strict=True):
            columns = patterns[code]
            for slot, p in predict([parse(head), *plain[code]]):  # slot: the place among the row's actions
                probs[start + columns[slot]] = p
        return np.array(probs, dtype=float).reshape(eligible.shape)

    def _plain_examples(self, actions: tuple[str, ...], patterns: list[list[int]]) -> list[list[Any]]:
        """For each pattern of eligible columns, the parsed, unlabelled examples of its actions."""
        plain = [self._action_example(a) for a in actions]
        return [[plain[c] for c in pattern] for pattern in patterns]

    def learn(self, feedback: Feedback) -> None:
        """Learn from logged feedback (importance-weighted by its propensities)."""
        if self.feature_names_ is None:
            configured = self.config.features
            self.feature_names_ = list(feedback.contexts.columns) if configured is None else list(configured)
            self._last_lines = None  # lines built before the feature names were fixed may hold other columns
        seen = [feedback.actions[i] for i in np.flatnonzero(feedback.eligible.any(axis=0))]
        self.actions_ = tuple(dict.fromkeys([*(self.actions_ or ()), *seen]))
        shared = self._shared_lines(feedback.contexts)
        parse, learn = partial(_core._parse_line_text, self._native), self._native.learn_multi_ex_one
        codes, patterns = eligible_patterns(feedback.eligible)
        plain = self._plain_examples(feedback.actions, patterns)
        chosen = feedback.chosen
        # the chosen action's place among its row's action examples, and its line, labelled with the cost
        slot_of = (np.cumsum(feedback.eligible, axis=1)[np.arange(feedback.n_rounds), chosen]).tolist()
        costs, features = -feedback.rewards, self.config.action_features
        labels = labelled_lines(feedback.actions, chosen, costs, feedback.propensities, features)
        codes_of = codes.tolist()
        order = np.arange(feedback.n_rounds)
        shuffler = np.random.default_rng(self.config.seed)
        for epoch in range(self.config.passes):
            if epoch:
                order = shuffler.permutation(feedback.n_rounds)
            for row in order.tolist():
                labelled = parse(labels[row])
                example = [parse(shared[row]), *plain[codes_of[row]]]
                example[slot_of[row]] = labelled
                learn(example)
        self.rounds_learned_ += feedback.n_rounds

    def save(self, path: str | Path) -> None:
        """Write ``policy.json`` (settings, feature names, actions learned about) and ``model.vw`` (VW's weights)."""
        super().save(path)
        write_bytes(self._workspace.serialize(), Path(path) / MODEL_FILE)

    def saved_params(self) -> dict[str, Any]:
        """Return the settings (as ``config``), the context columns and the actions learned about."""
        actions = None if self.actions_ is None else list(self.actions_)
        return {"config": self.params(), "feature_names": self.feature_names_, "actions": actions}

    @classmethod
    def _from_folder(cls, folder: Path, params: dict[str, Any]) -> BasePolicy:
        """Rebuild a saved policy; files saved before the settings were a config hold them as flat keywords."""
        model = folder / MODEL_FILE
        model_data = model.read_bytes() if model.exists() else None
        params = dict(params)
        if "config" in params:
            params["config"] = VWConfig(**params["config"])
        return cls(**params, model_data=model_data)

    # -- incremental updates: VW's model deltas ------------------------------------------------------------------

    #: Explorers whose model delta is exact: base + delta decides exactly as the model it was taken from (and, but
    #: for ``bag``, whose bootstrap's random state stays the base's, goes on learning as it would). For ``rnd``,
    #: ``squarecb`` and ``regcb`` vowpal-wabbit-next 0.7.0's delta leaves out the explorer's own state (SquareCB's
    #: decision counter, which sets its greediness, comes back as zero: the applied model is uniform), so they
    #: ship the whole model (:meth:`serialized_model`) instead.
    exact_delta_explorers: tuple[str, ...] = ("epsilon", "softmax", "bag", "cover")

    def serialized_model(self) -> bytes:
        """VW's weights as bytes (what :meth:`save` writes to ``model.vw``): the base of a later :meth:`model_delta`."""
        return self._workspace.serialize()

    def model_delta(self, since: bytes) -> bytes:
        """Return what this model learned since the model ``since`` (bytes of :meth:`serialized_model`).

        The result is VW's serialised model delta; a copy holding ``since`` catches up with :meth:`apply_delta`.

        The delta holds every weight that changed, so it is small only when the new rounds touch few features:
        with the offer context, whose features are in nearly every round, it is nearly the model's size (4,784
        against 4,896 bytes after 5,466 more rounds of the default scenario, epsilon-greedy).

        Examples
        --------
        >>> import numpy as np, polars as pl
        >>> from policies.base import Feedback
        >>> rng = np.random.default_rng(0)
        >>> def feedback(n):
        ...     contexts = pl.DataFrame({"sensitive": rng.integers(0, 2, n).astype(float)})
        ...     chosen = rng.integers(0, 2, n)
        ...     rewards = np.where(chosen == contexts["sensitive"].to_numpy(), 1.0, 0.0)
        ...     return Feedback(contexts, actions, np.ones((n, 2), bool), chosen, rewards, np.full(n, 0.5))
        >>> actions = ("no_offer", "coupon")
        >>> trainer = VowpalWabbitPolicy(epsilon=0.1, seed=1)
        >>> trainer.learn(feedback(50))
        >>> since = trainer.serialized_model()
        >>> replica = VowpalWabbitPolicy(epsilon=0.1, seed=1, model_data=since, feature_names=trainer.feature_names_)
        >>> trainer.learn(feedback(300))  # more feedback, learned by the trainer only
        >>> replica.apply_delta(trainer.model_delta(since))
        >>> probe = pl.DataFrame({"sensitive": [0.0, 1.0]})
        >>> bool((replica.probabilities(probe, actions) == trainer.probabilities(probe, actions)).all())
        True
        """
        self._check_exact_delta()
        base = vw.Workspace(self._resume_args(), model_data=since)
        return vw.calculate_delta(base, self._workspace).serialize()

    def apply_delta(self, delta: bytes) -> None:
        """Add a delta made by :meth:`model_delta` to this model, which must hold the delta's base (``since``).

        The delta carries VW's weights only: feature names and settings stay this policy's.
        """
        self._check_exact_delta()
        try:
            parsed = vw.ModelDelta(delta)
        except RuntimeError as error:
            raise ValueError(f"{self.name}: not a VW model delta ({error})") from error
        self._workspace = vw.apply_delta(self._workspace, parsed)
        self._native = self._workspace._workspace
        self._action_examples = {}  # parsed by the previous workspace

    def _resume_args(self) -> list[str]:
        """Return the command line that loads a saved model of this policy (see :data:`SEED_IN_MODEL`)."""
        args = self.vw_args()
        if self.config.explorer in SEED_IN_MODEL:
            at = args.index("--random_seed")
            del args[at : at + 2]
        return args

    def _check_exact_delta(self) -> None:
        if self.config.explorer not in self.exact_delta_explorers:
            raise ValueError(
                f"{self.name}: explorer {self.config.explorer!r} has no exact model delta in vowpal-wabbit-next "
                f"0.7.0 (the delta leaves out its explorer state); ship serialized_model() instead; exact for "
                f"{list(self.exact_delta_explorers)}"
            )
