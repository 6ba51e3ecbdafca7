"""Tuning the VW policy with Optuna: a seeded TPE search over :class:`~policies.bandits.vw_config.VWConfig`.

Trials are judged by the simulator's truth or by an off-policy estimate on a log, every trial a nested MLflow
run.

Two objectives, one interface (:class:`~experiments.tuning.objectives.Objective`: a config in, a value and
the trained policy out):

* :class:`SimulatedValue` runs the scenario with the VW policy learning online, day by day, and returns the
  run's ``policy_expected_value`` (:meth:`simulators.base.SimulationResult.summary`): the true expected reward
  per decision of what the policy chose, which no policy sees; with ``worlds > 1``, the mean over that many
  seeds. Every trial runs the same worlds, so two configurations are compared on the same users and moments,
  and weak trials are pruned day by day (a median pruner, as the churn model's tuning does).
* :class:`OffPolicyValue` splits a log in two (:func:`split_log`): the policy learns from the training part
  and is judged on the held-out part by an off-policy estimator, ``dr`` (doubly robust, with the cross-fitted
  LightGBM reward model, fitted once on the held-out part since it does not depend on the policy) or
  ``snips``. The split is by time (the earliest rounds train, the latest are held out: what deploying the
  tuned policy next would face) or by user (a seeded share of the users held out, every round of a user on
  one side, so no user is both learned from and judged on).

:func:`tune` runs the study; the best configuration is written by :func:`save_config` as JSON or YAML that
:func:`load_config` (or ``VWConfig(**data)``) reads back.
"""

from experiments.tuning.config_files import config_data, load_config, save_config
from experiments.tuning.objectives import Judged, Objective, OffPolicyValue, SimulatedValue, chosen_truth, split_log
from experiments.tuning.space import INTERACTIONS, OFF_POLICY_ESTIMATORS, SPLITS, suggest_config
from experiments.tuning.study import TuningResult, TuningRun, run_tuning, trial_table, tune
from policies.bandits.vw_config import MTR_ONLY

__all__ = [
    "INTERACTIONS",
    "MTR_ONLY",
    "OFF_POLICY_ESTIMATORS",
    "SPLITS",
    "Judged",
    "Objective",
    "OffPolicyValue",
    "SimulatedValue",
    "TuningResult",
    "TuningRun",
    "chosen_truth",
    "config_data",
    "load_config",
    "run_tuning",
    "save_config",
    "split_log",
    "suggest_config",
    "trial_table",
    "tune",
]
