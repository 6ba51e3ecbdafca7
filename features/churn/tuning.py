"""Tuning the churn model with Optuna.

TPE (seeded), trials pruned by Optuna's LightGBM callback, every trial a nested MLflow run through Optuna's
MLflow callback.

The objective is the validation log loss of the booster (the out-of-time snapshot it stops early on), which
rewards ranking and calibration at once; the best trial's settings are refitted and calibrated by
:meth:`features.churn.model.ChurnModel.fit`.

Examples
--------
>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(1)
>>> def frame(n):
...     idle = rng.exponential(30, n)
...     return pl.DataFrame({"idle": idle, "churned": (rng.uniform(size=n) < idle / (idle + 30)).astype(np.int8)})
>>> result = tune(frame(2000), frame(800), ["idle"], n_trials=4, seed=0, base=ChurnParams(n_estimators=40))
>>> len(result.study.trials), result.best_params.seed, result.best_value < 0.7
(4, 0, True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import optuna
import polars as pl
from optuna_integration import LightGBMPruningCallback

from features.churn.model import ChurnModel, ChurnParams, lightgbm_set, train_booster
from features.trial_runs import NestedTrialRuns

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna_integration").setLevel(logging.WARNING)


@dataclass(frozen=True)
class TuningResult:
    """The finished study and the best settings found."""

    study: optuna.Study
    best_params: ChurnParams
    best_value: float


def suggest(trial: optuna.Trial | optuna.trial.FixedTrial, base: ChurnParams) -> ChurnParams:
    """One trial's settings: the search space over ``base``.

    Notes
    -----
    Leaves 8–256, learning rate 0.01–0.3, minimum leaf size 10–500 and both penalties 1e-8–10 on log scales;
    feature and bagging fractions 0.4–1 and 0.5–1.
    """
    return replace(
        base,
        num_leaves=trial.suggest_int("num_leaves", 8, 256, log=True),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 10, 500, log=True),
        feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
        bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
        lambda_l1=trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
        lambda_l2=trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
    )


def tune(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    feature_columns: Sequence[str],
    n_trials: int = 50,
    seed: int = 0,
    base: ChurnParams | None = None,
    mlflow_experiment_id: str | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    prior: str | None = None,
) -> TuningResult:
    """Search LightGBM settings on ``train``, judged by the log loss on ``valid``.

    With ``mlflow_experiment_id``, each trial is logged as a nested run (params and ``valid_logloss``) under the
    active MLflow run. ``on_trial`` is called after each trial (progress bars).
    """
    if n_trials < 1:
        raise ValueError(f"tuning: n_trials must be at least 1, got {n_trials}")
    base = replace(base or ChurnParams(), seed=seed)
    columns = list(feature_columns)
    train_set = lightgbm_set(train, columns, prior)
    valid_set = lightgbm_set(valid, columns, prior, reference=train_set)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, base)
        pruning = LightGBMPruningCallback(trial, "binary_logloss", valid_name="valid")
        booster = train_booster(params, train_set, valid_set, [pruning])
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        return float(booster.best_score["valid"]["binary_logloss"])

    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if mlflow_experiment_id is not None:
        callbacks.append(NestedTrialRuns("valid_logloss", mlflow_experiment_id))
    if on_trial is not None:
        callbacks.append(on_trial)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
    )
    study.optimize(objective, n_trials=n_trials, callbacks=callbacks)
    best = suggest(optuna.trial.FixedTrial(study.best_params), base)
    return TuningResult(study, best, float(study.best_value))


def fit_best(
    result: TuningResult,
    train: pl.DataFrame,
    valid: pl.DataFrame,
    feature_columns: Sequence[str],
    prior: str | None = None,
) -> ChurnModel:
    """Fit and calibrate the best trial's settings."""
    return ChurnModel.fit(train, valid, feature_columns, result.best_params, prior=prior)
