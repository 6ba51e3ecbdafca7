"""The churn model as an MLflow pyfunc model: user features in, ``churn_risk`` and the top reasons out.

The registry versions it (``churn-model``) and any MLflow server can score with it.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
import polars as pl
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from features.churn.model import ChurnModel
from features.model_logging import log_saved_model

REGISTERED_NAME = "churn-model"
MODEL_ARTIFACT = "churn_model"
PIP_REQUIREMENTS = ["lightgbm", "polars", "pandas", "numpy", "scikit-learn", "mlflow"]


class ChurnPyfunc(PythonModel):
    """Wraps a saved :class:`ChurnModel`; ``predict`` takes user features and returns ``churn_risk``.

    With ``params={"reasons": k}``, ``predict`` also returns ``reason_1..k``.
    """

    def __init__(self, model: ChurnModel | None = None) -> None:
        self.model = model

    def load_context(self, context: Any) -> None:
        """Load the saved model from the context's artifact."""
        self.model = ChurnModel.load(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Return ``churn_risk`` of each row and, with ``params={"reasons": k}``, its top ``k`` reasons."""
        assert self.model is not None, "ChurnPyfunc has no model loaded"
        frame = pl.from_pandas(model_input) if isinstance(model_input, pd.DataFrame) else pl.DataFrame(model_input)
        out = pl.DataFrame({"churn_risk": self.model.predict_proba(frame)})
        reasons = int((params or {}).get("reasons", 0))
        if reasons:
            out = pl.concat(
                [out, self.model.explain(frame, top=reasons).drop("user_id", strict=False)], how="horizontal"
            )
        return out.to_pandas()


def log_churn_model(
    model: ChurnModel, example: pl.DataFrame, registered_model_name: str | None = REGISTERED_NAME
) -> Any:
    """Log ``model`` as a pyfunc model in the active run (and register it); return MLflow's ``ModelInfo``.

    A few rows of ``example`` (features the model reads, e.g. the test snapshot) are kept as the input example.
    The signature declares the output and the ``reasons`` parameter but no input schema: MLflow would refuse
    integer features that arrive as floats once a value is missing (and the reverse), while the model itself
    checks its columns by name (its list is in the saved model).
    """
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    sample = example.select(model.feature_columns).head(5)
    signature = ModelSignature(
        inputs=None,
        outputs=Schema([ColSpec("double", "churn_risk")]),
        params=ParamSchema([ParamSpec("reasons", "long", 0)]),
    )
    return log_saved_model(
        model.save,
        MODEL_ARTIFACT,
        name="churn_model",
        python_model=ChurnPyfunc(),
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=sample.to_pandas(),
    )


def load_churn_model(model_uri: str) -> ChurnModel:
    """Load a logged or registered churn model (``models:/churn-model/latest``, ``runs:/...``, a path)."""
    loaded = mlflow.pyfunc.load_model(model_uri)
    wrapped = loaded.unwrap_python_model()
    if not isinstance(wrapped, ChurnPyfunc) or wrapped.model is None:
        raise TypeError(f"{model_uri} is not an offerlab churn model (it holds {type(wrapped).__name__})")
    return wrapped.model
