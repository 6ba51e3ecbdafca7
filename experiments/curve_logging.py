"""Learning curves in MLflow: a curve's numbers as step metrics, the frame as CSV and, when simulated, its plot.

Either kind of curve goes in a run: the simulated one, by date against the truth
(:func:`experiments.learning_curves.learning_curve`, step ``day``), and the one of a log, by chunk
(:func:`experiments.progressive_validation.progressive_validation`, step ``step``, the rounds learned before
the chunk). :func:`curve_metrics` turns a curve into metric records; :func:`log_learning_curve` writes them,
the CSV and the figure of :func:`experiments.learning_curves.plot_learning_curves` to the active run.

Examples
--------
>>> curve = pl.DataFrame({"day": [0, 1], "regret": [0.5, 0.25]})
>>> curve_metrics(curve)
[('curve_regret', 0.5, 0), ('curve_regret', 0.25, 1)]
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from experiments.learning_curves import plot_learning_curves


def curve_metrics(curve: pl.DataFrame, step: str = "day", prefix: str = "curve_") -> list[tuple[str, float, int]]:
    """Every finite number of ``curve``'s numeric columns as ``(prefix + column, value, step)``, column by column.

    Examples
    --------
    >>> curve = pl.DataFrame({"chunk": [0, 1], "step": [0, 50], "value": [0.1, None]})
    >>> curve_metrics(curve, step="step")
    [('curve_chunk', 0.0, 0), ('curve_chunk', 1.0, 50), ('curve_value', 0.1, 0)]
    >>> curve_metrics(curve, step="days")
    Traceback (most recent call last):
    ...
    ValueError: the curve has no step column 'days'; columns: ['chunk', 'step', 'value']
    """
    if step not in curve.columns:
        raise ValueError(f"the curve has no step column {step!r}; columns: {curve.columns}")
    steps = [int(at) for at in curve.get_column(step).to_list()]
    numeric = [c for c, t in curve.schema.items() if t.is_numeric() and c != step]
    return [
        (f"{prefix}{column}", float(value), at)
        for column in numeric
        for value, at in zip(curve.get_column(column).to_list(), steps, strict=True)
        if value is not None and np.isfinite(value)
    ]


def log_learning_curve(curve: pl.DataFrame, step: str = "day", prefix: str = "curve_", name: str = "curve") -> None:
    """Log ``curve`` in the active MLflow run: step metrics, the frame as a CSV file and, if simulated, a plot.

    Its numbers go as step metrics (:func:`curve_metrics`: ``prefix`` + column at step ``curve[step]``), the
    frame as ``<name>.csv`` and, for a simulated curve, the plot of
    :func:`~experiments.learning_curves.plot_learning_curves` as ``<name>.png``.

    Raises
    ------
    ValueError
        If no MLflow run is active, or ``step`` is not a column.
    """
    import mlflow
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        raise ValueError("log_learning_curve needs an active MLflow run")
    stamp = int(time.time() * 1000)
    metrics = [Metric(key, value, stamp, at) for key, value, at in curve_metrics(curve, step, prefix)]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), 1000):  # the tracking API's limit per batch
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    mlflow.log_text(curve.write_csv(), f"{name}.csv")
    if {"day", "cumulative_regret", "value", "oracle"} <= set(curve.columns):
        mlflow.log_figure(plot_learning_curves(curve), f"{name}.png")
