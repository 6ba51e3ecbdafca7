"""MLflow tracking for every command that computes something: one run, its params, metrics and artifacts.

Examples
--------
>>> flatten_params({"scenario": {"n_users": 10, "offers": {"coupon_lift": 2.0}}, "seed": 1})
{'scenario.n_users': 10, 'scenario.offers.coupon_lift': 2.0, 'seed': 1}
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow

from policies.serving.config import OfferlabConfig, configure_mlflow

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
for _noisy in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent", "mlflow.models.model"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def ensure_experiment(config: OfferlabConfig, kind: str) -> str:
    """Return the id of the experiment for ``kind``, created with its artifacts under the configured location."""
    configure_mlflow(config)
    name = config.experiment(kind)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = config.artifact_location
    artifact_location = f"{location.rstrip('/')}/{name}" if "://" in location else f"file://{location}/{name}"
    return str(mlflow.create_experiment(name, artifact_location=artifact_location))


@contextmanager
def tracked_run(
    config: OfferlabConfig,
    kind: str,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    nested: bool = False,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run in the experiment for ``kind`` and log ``params`` (flattened)."""
    experiment_id = ensure_experiment(config, kind)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested) as run:
        mlflow.set_tag("offerlab.command", kind)
        if params:
            mlflow.log_params(flatten_params(params))
        yield run
