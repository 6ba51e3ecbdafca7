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
from mlflow.pyfunc import PythonModel

from features.model_logging import log_saved_model
from features.schemas import ACTIONS
from policies.base import BasePolicy, eligibility_mask, load_policy
from policies.sampling import sample_actions

POLICY_ARTIFACT = "policy"

#: What the serving environment needs besides Python; offerlab itself must be importable there.
PIP_REQUIREMENTS = ["vowpal-wabbit-next==0.7.0", "polars", "pandas", "numpy", "mlflow"]


class PolicyModel(PythonModel):
    """Wraps a saved offerlab policy. ``policy`` is set directly or loaded from the model's artifacts."""

    def __init__(self, policy: BasePolicy | None = None) -> None:
        self.policy = policy

    def load_context(self, context: Any) -> None:
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
        """``(chosen index, probabilities (k,))`` of one context given as a mapping (column → value), over
        :data:`~features.schemas.ACTIONS`: :meth:`decide` for the one-row frame, by the policy's one-row path."""
        assert self.policy is not None, "PolicyModel has no policy loaded"
        probs = self.policy.probabilities_one(context, ACTIONS, eligible)
        chosen, _ = sample_actions(probs.reshape(1, -1), rng)
        return int(chosen[0]), probs

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = pl.from_pandas(model_input) if isinstance(model_input, pd.DataFrame) else pl.DataFrame(model_input)
        eligible = eligibility_mask(frame, ACTIONS)
        contexts = frame.drop("actions") if "actions" in frame.columns else frame
        seed = (params or {}).get("seed")
        chosen, probs = self.decide(contexts, eligible, np.random.default_rng(seed))
        out = pd.DataFrame({f"p_{a}": probs[:, i] for i, a in enumerate(ACTIONS)})
        out.insert(0, "probability", probs[np.arange(len(chosen)), chosen])
        out.insert(0, "action", np.array(ACTIONS)[chosen])
        return out


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
