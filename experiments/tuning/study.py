"""The Optuna study (:func:`tune`) and the tracked, registered run around it (:func:`run_tuning`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import polars as pl

from experiments.tracking import flatten_params
from features.trial_runs import NestedTrialRuns
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig

if TYPE_CHECKING:
    from policies.serving.config import OfferlabConfig

from experiments.tuning.config_files import config_data, save_config
from experiments.tuning.objectives import Judged, Objective
from experiments.tuning.space import suggest_config

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna_integration").setLevel(logging.WARNING)


@dataclass(frozen=True)
class TuningResult:
    """The finished study, the best settings and their value, and the policy trained with them."""

    study: optuna.Study
    best_config: VWConfig
    best_value: float
    policy: VowpalWabbitPolicy

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's number, state, value and searched parameters (JSON-ready)."""
        return [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params)}
            for t in self.study.trials
        ]


def tune(
    objective: Objective,
    n_trials: int = 30,
    seed: int = 0,
    base: VWConfig | None = None,
    mlflow_experiment_id: str | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    warmup_steps: int = 7,
) -> TuningResult:
    """Search VW's settings (:func:`suggest_config`) with a TPE sampler seeded by ``seed``, maximising ``objective``.

    A trial whose running value (:meth:`SimulatedValue.judge`) falls below the median of earlier trials' at the
    same date is pruned, once 5 trials have finished and ``warmup_steps`` dates have passed.

    VW's own seed is ``seed`` too (over ``base``). With ``mlflow_experiment_id``, each trial is logged by Optuna's
    MLflow callback as a run nested under the active one: its parameters, the objective's value (named
    ``objective.metric``) and the objective's other figures as tags. ``on_trial`` is called after each trial.
    """
    if n_trials < 1:
        raise ValueError(f"--trials must be at least 1, got {n_trials}")
    base = (base or VWConfig()).model_copy(update={"seed": seed})
    reward_range, columns = objective.reward_range(), objective.context_columns()
    best: dict[int, Judged] = {}

    def run_trial(trial: optuna.Trial) -> float:
        config = suggest_config(trial, base, reward_range, columns)
        judged = objective.judge(config, trial)
        for name, value in judged.figures.items():
            trial.set_user_attr(name, value)
        if not best or judged.value > next(iter(best.values())).value:
            best.clear()
            best[trial.number] = judged  # keep the best trial's policy only
        return judged.value

    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if mlflow_experiment_id is not None:
        callbacks.append(NestedTrialRuns(objective.metric, mlflow_experiment_id))
    if on_trial is not None:
        callbacks.append(on_trial)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps),
    )
    study.optimize(run_trial, n_trials=n_trials, callbacks=callbacks)
    config = suggest_config(optuna.trial.FixedTrial(study.best_params), base, reward_range, columns)
    policy = objective.final_policy(config, best[study.best_trial.number])
    return TuningResult(study, config, float(study.best_value), policy)


def trial_table(result: TuningResult, names: Sequence[str] = ("explorer", "cb_type", "interactions")) -> pl.DataFrame:
    """One row per trial: number, value and the named parameters (missing ones null), best first."""
    rows = [
        {"trial": t.number, "value": t.value, **{n: str(t.params.get(n, "")) for n in names}}
        for t in result.study.trials
    ]
    return pl.DataFrame(rows).sort("value", descending=True, nulls_last=True)


@dataclass(frozen=True)
class TuningRun:
    """A tracked tuning: the result, the parent MLflow run, the registered version and the config file."""

    result: TuningResult
    run_id: str
    version: str | None
    model_uri: str
    config_path: Path
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Return the one JSON object ``offerlab tune --json`` prints."""
        return {
            "objective": dict(self.settings),
            "best_value": self.result.best_value,
            "best_config": config_data(self.result.best_config),
            "n_trials": len(self.result.study.trials),
            "trials": self.result.trials(),
            "run_id": self.run_id,
            "model_version": self.version,
            "model_uri": self.model_uri,
            "config_file": str(self.config_path),
            "seconds": round(self.seconds, 3),
        }


def run_tuning(
    platform: OfferlabConfig,
    objective: Objective,
    n_trials: int,
    out: str | Path,
    seed: int = 0,
    register: bool = True,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> TuningRun:
    """Tune under one parent MLflow run (experiment ``tune``), each trial a nested run.

    Save the best settings to ``out``; log the policy trained with them and register it as a new version of the
    platform's model, aliased challenger (as :func:`experiments.jobs.train` does).
    """
    import mlflow
    from mlflow import MlflowClient

    from experiments.tracking import ensure_experiment, tracked_run
    from policies.serving.pyfunc import log_policy_model

    if n_trials < 1:
        raise ValueError(f"--trials must be at least 1, got {n_trials}")
    params = {**objective.describe(), "trials": n_trials, "sampler": "tpe", "sampler_seed": seed}
    with tracked_run(platform, "tune", params, run_name=f"tune-vw-{params['objective']}") as run:
        started = time.perf_counter()
        experiment_id = ensure_experiment(platform, "tune")
        result = tune(objective, n_trials, seed, mlflow_experiment_id=experiment_id, on_trial=on_trial)
        seconds = time.perf_counter() - started
        path = save_config(result.best_config, out)
        mlflow.log_dict(config_data(result.best_config), "best_vw_config.json")
        mlflow.log_params(flatten_params(config_data(result.best_config), "best."))
        best_figures = {k: v for k, v in result.study.best_trial.user_attrs.items() if isinstance(v, int | float)}
        mlflow.log_metrics({f"best_{k}": float(v) for k, v in best_figures.items()} | {"seconds": seconds})
        mlflow.log_metric(f"best_{objective.metric}", result.best_value)
        info = log_policy_model(result.policy, platform.registered_model if register else None)
        version = str(info.registered_model_version) if register and info.registered_model_version else None
        if version is not None:
            MlflowClient().set_registered_model_alias(platform.registered_model, platform.challenger_alias, version)
            mlflow.set_tag("offerlab.model_version", version)
        mlflow.set_tag("offerlab.output", str(path.resolve()))
    return TuningRun(result, run.info.run_id, version, info.model_uri, path, seconds, objective.describe())
