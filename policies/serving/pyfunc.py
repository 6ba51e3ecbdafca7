"""A policy as an MLflow pyfunc model, so the registry can version it and any MLflow server can serve it.

The model's input is a pandas frame of context features (plus an optional
``actions`` column: a list or ``|``-separated eligible actions per row); its output
has the sampled ``action``, its ``probability``, and one ``p_<action>`` column per
action. Pass ``params={"seed": S}`` for reproducible sampling.

Examples
--------
>>> import pandas as pd
>>> from policies.bandits.baselines import FixedAction
>>> model = PolicyModel(FixedAction("coupon"))
>>> model.predict(None, pd.DataFrame({"price": [10.0]}), params={"seed": 0})[["action", "probability"]]
   action  probability
0  coupon          1.0
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc.model import PythonModel

from features.model_logging import log_saved_model
from features.schemas import ACTIONS
from policies.base import BasePolicy, eligibility_mask, load_policy
from policies.sampling import sample_actions

POLICY_ARTIFACT = "policy"
#: Inputs of at most this many rows are scored row by row (:meth:`BasePolicy.probabilities_one`) when the policy has a
#: one-row path: the demo champion's one-row ``predict`` took 8.6 ms through the frame path (most of it building
#: VW's input with polars), 1.5 ms this way.
ROW_BY_ROW = 16

#: What the serving environment needs besides Python; offerlab itself must be importable there.
PIP_REQUIREMENTS = ["vowpal-wabbit-next==0.7.0", "polars", "pandas", "numpy", "mlflow"]


class PolicyModel(PythonModel):
    """Wraps a saved offerlab policy. ``policy`` is set directly or loaded from the model's artifacts."""

    def __init__(self, policy: BasePolicy | None = None) -> None:
        self.policy = policy

    def load_context(self, context: Any) -> None:
        """Load the saved policy from the model's ``policy`` artifact."""
        self.policy = load_policy(context.artifacts[POLICY_ARTIFACT])

    def decide(
        self, contexts: pl.DataFrame, eligible: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(chosen index, probabilities (n, k))`` over :data:`~features.schemas.ACTIONS`."""
        assert self.policy is not None, "PolicyModel has no policy loaded"
        probs = self.policy.probabilities(contexts, ACTIONS, eligible)
        chosen, _ = sample_actions(probs, rng)
        return chosen, probs

    def decide_one(
        self, context: Mapping[str, Any], eligible: np.ndarray, rng: np.random.Generator
    ) -> tuple[int, np.ndarray]:
        """Return ``(chosen index, probabilities (k,))`` of one context given as a mapping (column → value).

        The probabilities are over :data:`~features.schemas.ACTIONS`: :meth:`decide` for the one-row frame, by the
        policy's one-row path.
        """
        assert self.policy is not None, "PolicyModel has no policy loaded"
        probs = self.policy.probabilities_one(context, ACTIONS, eligible)
        chosen, _ = sample_actions(probs.reshape(1, -1), rng)
        return int(chosen[0]), probs

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Decide every row: the action, its probability and ``p_<action>`` for each action, seeded by ``params``."""
        rng = np.random.default_rng((params or {}).get("seed"))
        if isinstance(model_input, pd.DataFrame) and len(model_input) <= ROW_BY_ROW and self._has_row_path():
            chosen, probs = self._decide_rows(model_input, rng)
        else:
            frame = pl.from_pandas(model_input) if isinstance(model_input, pd.DataFrame) else pl.DataFrame(model_input)
            eligible = eligibility_mask(frame, ACTIONS)
            contexts = frame.drop("actions") if "actions" in frame.columns else frame
            chosen, probs = self.decide(contexts, eligible, rng)
        out = pd.DataFrame({f"p_{a}": probs[:, i] for i, a in enumerate(ACTIONS)})
        out.insert(0, "probability", probs[np.arange(len(chosen)), chosen])
        out.insert(0, "action", np.array(ACTIONS)[chosen])
        return out

    def _has_row_path(self) -> bool:
        """Tell whether the policy has a one-row path of its own (VW's).

        Others go through their one-row frame, which the frame path does better for several rows (and pandas' NaN
        in an integer column reads the same).
        """
        return self.policy is not None and type(self.policy)._row_scores is not BasePolicy._row_scores

    def _decide_rows(self, model_input: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Run :meth:`decide` for a few rows (a server's request), row by row through the policy's one-row path.

        The same probabilities and draws, without turning the frame into polars (2 ms) and VW's input through it.
        """
        assert self.policy is not None, "PolicyModel has no policy loaded"
        names = [str(c) for c in model_input.columns]
        rows = [  # plain Python values, as DataFrame.to_dict("records") gives them (in a seventh of its time)
            {n: v.item() if isinstance(v, np.generic) else v for n, v in zip(names, values, strict=True)}
            for values in model_input.to_numpy(dtype=object)
        ]
        if "actions" in model_input.columns:
            listed = pl.DataFrame({"actions": [row.pop("actions") for row in rows]})
            eligible = eligibility_mask(listed, ACTIONS)
        else:
            eligible = np.ones((len(rows), len(ACTIONS)), dtype=bool)
        policy = self.policy
        probs = np.array([policy.probabilities_one(row, ACTIONS, eligible[i]) for i, row in enumerate(rows)])
        chosen, _ = sample_actions(probs.reshape(len(rows), len(ACTIONS)), rng)
        return chosen, probs.reshape(len(rows), len(ACTIONS))


def log_policy_model(policy: BasePolicy, registered_model_name: str | None = None) -> Any:
    """Log ``policy`` as a pyfunc model in the active run (and register it); return MLflow's ``ModelInfo``."""
    # MLflow warns that a Python object is pickled (ours is a thin class; the policy travels as artifact files)
    # and that it cannot infer a signature (inputs are whatever features the policy was trained on).
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    return log_saved_model(
        policy.save,
        POLICY_ARTIFACT,
        name="policy",
        python_model=PolicyModel(),
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_model_name,
    )


def load_policy_model(model_uri: str) -> PolicyModel:
    """Load a logged or registered policy model (``models:/offer-policy@champion``, ``runs:/...``, a path)."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, PolicyModel):
        raise TypeError(f"{model_uri} is not an offerlab policy model (it holds {type(wrapped).__name__})")
    return wrapped
