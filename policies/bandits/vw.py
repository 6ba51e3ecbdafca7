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

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import vowpal_wabbit_next as vw
from vowpal_wabbit_next import _core

from features.io import write_bytes
from policies.bandits.vw_format import action_line, labelled_lines, shared_lines
from policies.base import BasePolicy, Feedback, eligible_patterns

MODEL_FILE = "model.vw"

#: VW's exploration strategies for ``cb_explore_adf``, by name; ``--epsilon`` is added to each (with ``bag`` and
#: ``cover`` it is the share spread uniformly; ``squarecb`` ignores it).
EXPLORERS: dict[str, list[str]] = {
    "epsilon": [],
    "squarecb": ["--squarecb"],
    "bag": ["--bag", "5"],
    "cover": ["--cover", "4"],
}


class VowpalWabbitPolicy(BasePolicy):
    """Epsilon-greedy (or other explorer) contextual bandit over action-dependent features.

    Parameters
    ----------
    epsilon
        Exploration: the share of probability spread over the eligible actions.
    explorer
        ``epsilon`` (greedy), ``squarecb``, ``bag`` (5 bootstrapped models) or ``cover`` (4 policies).
    cb_type
        VW's reduction to cost-sensitive learning: ``mtr`` (default), ``dr`` or ``ips``.
    interactions
        Quadratic interactions between namespaces; ``ua`` crosses context and action.
    learning_rate
        VW's ``-l``.
    passes
        Passes over the feedback in each :meth:`learn` call (more than one for offline training).
    seed
        VW's ``--random_seed`` and the shuffling of passes after the first.
    actions
        The actions learned about (eligible in some round :meth:`learn` saw); recorded by :meth:`save`.
    """

    name = "vw"

    def __init__(
        self,
        epsilon: float = 0.05,
        explorer: str = "epsilon",
        cb_type: str = "mtr",
        interactions: str = "ua",
        learning_rate: float = 0.05,
        passes: int = 1,
        seed: int = 0,
        feature_names: list[str] | None = None,
        actions: list[str] | None = None,
        model_data: bytes | None = None,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        if explorer not in EXPLORERS:
            raise ValueError(f"explorer must be one of {', '.join(EXPLORERS)}; got {explorer!r}")
        if cb_type not in ("mtr", "dr", "ips"):
            raise ValueError(f"cb_type must be one of mtr, dr, ips; got {cb_type!r}")
        if passes < 1:
            raise ValueError(f"passes must be at least 1, got {passes}")
        self.epsilon = epsilon
        self.explorer = explorer
        self.cb_type = cb_type
        self.interactions = interactions
        self.learning_rate = learning_rate
        self.passes = passes
        self.seed = seed
        self.feature_names_ = feature_names
        self.actions_ = None if actions is None else tuple(actions)  # the actions learned about, in order
        self.rounds_learned_ = 0
        self._workspace = vw.Workspace(self.vw_args(), model_data=model_data)
        self._native = self._workspace._workspace  # the wrapper's native workspace: see the module's docstring
        self._action_examples: dict[str, Any] = {}
        self._last_lines: tuple[pl.DataFrame, list[str]] | None = None

    def vw_args(self) -> list[str]:
        """The VW command line this policy runs."""
        args = [
            "--cb_explore_adf",
            *EXPLORERS[self.explorer],
            "--epsilon",
            str(self.epsilon),
            "--cb_type",
            self.cb_type,
        ]
        args += ["-l", str(self.learning_rate), "--random_seed", str(self.seed), "--quiet"]
        for pair in self.interactions.split(",") if self.interactions else []:
            args += ["-q", pair]
        return args

    def params(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "explorer": self.explorer,
            "cb_type": self.cb_type,
            "interactions": self.interactions,
            "learning_rate": self.learning_rate,
            "passes": self.passes,
            "seed": self.seed,
        }

    def _features(self, contexts: pl.DataFrame) -> pl.DataFrame:
        if self.feature_names_ is None:
            return contexts
        missing = [c for c in self.feature_names_ if c not in contexts.columns]
        if missing:
            raise ValueError(
                f"{self.name}: missing context feature(s) {missing}; the policy was trained on {self.feature_names_}"
            )
        return contexts.select(self.feature_names_)

    def _parse(self, line: str) -> Any:
        """One text-format line as a native example of this workspace."""
        return _core._parse_line_text(self._native, line)

    def _action_example(self, action: str) -> Any:
        """The parsed, unlabelled ADF line of ``action``, parsed once and reused (VW leaves it unchanged)."""
        example = self._action_examples.get(action)
        if example is None:
            example = self._action_examples[action] = self._parse(action_line(action))
        return example

    def _shared_lines(self, contexts: pl.DataFrame) -> list[str]:
        """Shared lines of ``contexts``; the simulator asks for probabilities and then learns on the very same
        frame, so the lines of the last frame are kept and reused when it comes back (the lines, not the parsed
        examples: a native example holds every namespace's feature arrays, tens of kilobytes each)."""
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
            self.feature_names_ = list(feedback.contexts.columns)
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
        labels = labelled_lines(feedback.actions, chosen, -feedback.rewards, feedback.propensities)
        codes_of = codes.tolist()
        order = np.arange(feedback.n_rounds)
        shuffler = np.random.default_rng(self.seed)
        for epoch in range(self.passes):
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
        actions = None if self.actions_ is None else list(self.actions_)
        return {**self.params(), "feature_names": self.feature_names_, "actions": actions}

    @classmethod
    def _from_folder(cls, folder: Path, params: dict[str, Any]) -> BasePolicy:
        model = folder / MODEL_FILE
        return cls(**params, model_data=model.read_bytes() if model.exists() else None)
