"""Each finished Optuna trial as a nested MLflow run: what a tuning run shows in the tracking UI.

Both tuners (the churn model's, :mod:`features.churn.tuning`, and the bandit's, :mod:`experiments.tuning.study`)
pass a :class:`NestedTrialRuns` to ``study.optimize``. It stands in for ``optuna_integration.MLflowCallback``,
which Optuna 4.9 deprecated (removal planned for Optuna 6).

Examples
--------
>>> import tempfile, mlflow, optuna
>>> folder = tempfile.mkdtemp()
>>> mlflow.set_tracking_uri(f"sqlite:///{folder}/runs.db")
>>> experiment = mlflow.create_experiment("tuning", artifact_location=f"{folder}/artifacts")
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
>>> with mlflow.start_run(experiment_id=experiment) as parent:
...     study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=3,
...                    callbacks=[NestedTrialRuns("loss", experiment)])
>>> runs = mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
>>> len(runs), sorted(runs["tags.trial_number"]), runs["metrics.loss"].notna().all()
(3, ['0', '1', '2'], np.True_)
"""

from __future__ import annotations

import mlflow
import optuna


class NestedTrialRuns:
    """An Optuna callback that logs each finished trial as an MLflow run nested in the active one.

    The run is named ``trial N`` and holds the trial's parameters, its value as the metric ``metric_name``
    (none for a pruned or failed trial), and tags: the trial's number and state, the study's direction, and the
    trial's user attributes.

    Parameters
    ----------
    metric_name
        The name the trial's value is logged under.
    experiment_id
        The MLflow experiment of the runs (the parent run's).
    """

    def __init__(self, metric_name: str, experiment_id: str) -> None:
        self.metric_name = metric_name
        self.experiment_id = experiment_id

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Log ``trial`` (Optuna calls this once per finished trial)."""
        tags = {
            "trial_number": str(trial.number),
            "trial_state": trial.state.name,
            "study_direction": study.direction.name,
            **{f"user_attr.{k}": str(v) for k, v in trial.user_attrs.items()},
        }
        with mlflow.start_run(run_name=f"trial {trial.number}", experiment_id=self.experiment_id, nested=True):
            mlflow.log_params(trial.params)
            if trial.value is not None:
                mlflow.log_metric(self.metric_name, trial.value)
            mlflow.set_tags(tags)
