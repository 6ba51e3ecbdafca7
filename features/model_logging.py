"""Logging a model that saves itself to a folder as an MLflow pyfunc model.

The churn model and the offer policy both travel this way (their own files as one artifact, a thin
:class:`mlflow.pyfunc.PythonModel` that loads them).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow


def log_saved_model(save: Callable[[Path], None], artifact: str, **log_model: Any) -> Any:
    """Save a model with ``save(path)`` into a temporary folder and log it in the active run; return the ``ModelInfo``.

    It is logged with :func:`mlflow.pyfunc.log_model` (``log_model`` its other arguments), the saved files as
    the artifact named ``artifact``.
    """
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / artifact
        save(saved)
        return mlflow.pyfunc.log_model(artifacts={artifact: str(saved)}, **log_model)
