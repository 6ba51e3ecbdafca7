"""Tuning the VW policy with Optuna: a seeded TPE search over :class:`~policies.bandits.vw_config.VWConfig`,
judged by the simulator's truth or by an off-policy estimate on a log, every trial a nested MLflow run.

Two objectives, one interface (:class:`Objective`: a config in, a value and the trained policy out):

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

Examples
--------
>>> import optuna
>>> config = suggest_config(optuna.trial.FixedTrial({"explorer": "softmax", "softmax_lambda": 8.0,
...     "epsilon": 0.02, "cb_type": "dr", "interactions": "ua,uu", "learning_rate": 0.1, "l2": 1e-7,
...     "passes": 2}), VWConfig(seed=3))
>>> config.to_args()[:5], config.interactions, config.seed
(['--cb_explore_adf', '--softmax', '--lambda', '8.0', '--epsilon'], ('ua', 'uu'), 3)
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
import polars as pl
import yaml
from optuna_integration import MLflowCallback

from experiments.inputs import check_bandit_log, feedback_from_log, log_actions
from experiments.ope import make_estimator
from experiments.targets import policy_probabilities
from experiments.tracking import flatten_params
from features.io import atomic_path
from features.schemas import ACTIONS
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import EXPLORER_FIELDS, EXPLORERS, VWConfig
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import Scenario

if TYPE_CHECKING:
    from policies.serving.config import OfferlabConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna_integration").setLevel(logging.WARNING)

#: The interaction sets tried: pairs of the formatter's namespaces (u: shared context, a: action).
INTERACTIONS: tuple[str, ...] = ("ua", "ua,uu", "ua,aa", "ua,uu,aa", "")
#: Explorers VW runs with ``--cb_type mtr`` only (it refuses ``ips`` and ``dr`` for them).
MTR_ONLY: tuple[str, ...] = ("squarecb", "regcb")
#: Estimators an off-policy objective may use.
OFF_POLICY_ESTIMATORS: tuple[str, ...] = ("dr", "snips")
#: Ways to split a log into the part learned from and the part judged on.
SPLITS: tuple[str, ...] = ("time", "user")


def suggest_config(
    trial: optuna.Trial | optuna.trial.FixedTrial,
    base: VWConfig | None = None,
    reward_range: tuple[float, float] | None = None,
) -> VWConfig:
    """One trial's VW settings: the search space, over ``base`` (its seed, floor and action features kept).

    Parameters
    ----------
    trial
        The Optuna trial that picks the values.
    base
        The settings not searched; ``None``: :class:`VWConfig`'s defaults.
    reward_range
        ``(low, high)`` of the rewards, when known: RegCB then learns costs in ``[-high, -low]``. ``None``: the
        range is searched too (``regcb_reward_scale``).

    Notes
    -----
    The explorer is one of the seven; its own parameter is searched only when it is the one drawn (a
    conditional space, which TPE handles parameter by parameter):

    - ``epsilon`` in [0.005, 0.3] (log) for epsilon-greedy, softmax, bag, cover and RND;
    - softmax's ``softmax_lambda`` in [0.5, 100] (log); ``n_policies`` in 2..8 for bag, cover and RND;
    - SquareCB's ``gamma_scale`` in [1, 1000] (log) and ``gamma_exponent`` in [0, 1];
    - RegCB's ``mellowness`` in [0.001, 1] (log), ``optimistic`` (RegCB-opt) or not, and its cost range
      ``[-s, 1]`` with the scale ``s`` in [1, 100] (log) when the rewards' range is not known.

    Then ``cb_type`` (ips, dr, mtr; SquareCB and RegCB run ``mtr`` only, VW refuses the others for them),
    and for every explorer the interactions (one of :data:`INTERACTIONS`),
    the learning rate in [0.001, 1] and L2 in [1e-10, 1e-3] (both log), and 1..4 passes.
    """
    base = base or VWConfig()
    explorer = str(trial.suggest_categorical("explorer", list(EXPLORERS)))
    settings: dict[str, Any] = {"explorer": explorer}
    if explorer in ("epsilon", "softmax", "bag", "cover", "rnd"):
        settings["epsilon"] = trial.suggest_float("epsilon", 0.005, 0.3, log=True)
    if explorer == "softmax":
        settings["softmax_lambda"] = trial.suggest_float("softmax_lambda", 0.5, 100.0, log=True)
    elif explorer in ("bag", "cover", "rnd"):
        settings["n_policies"] = trial.suggest_int("n_policies", 2, 8)
    elif explorer == "squarecb":
        settings["gamma_scale"] = trial.suggest_float("gamma_scale", 1.0, 1000.0, log=True)
        settings["gamma_exponent"] = trial.suggest_float("gamma_exponent", 0.0, 1.0)
    elif explorer == "regcb":
        settings["mellowness"] = trial.suggest_float("mellowness", 0.001, 1.0, log=True)
        settings["optimistic"] = bool(trial.suggest_categorical("optimistic", [False, True]))
        if reward_range is None:
            low, high = -1.0, trial.suggest_float("regcb_reward_scale", 1.0, 100.0, log=True)
        else:
            low, high = reward_range
        settings["min_cost"], settings["max_cost"] = -high, -low if low < high else 1.0 - high
    if explorer in MTR_ONLY:
        settings["cb_type"] = "mtr"
    else:
        settings["cb_type"] = trial.suggest_categorical("cb_type", ["ips", "dr", "mtr"])
    settings["interactions"] = str(trial.suggest_categorical("interactions", list(INTERACTIONS)))
    settings["learning_rate"] = trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
    settings["l2"] = trial.suggest_float("l2", 1e-10, 1e-3, log=True)
    settings["passes"] = trial.suggest_int("passes", 1, 4)
    kept = {k: v for k, v in base.model_dump().items() if k not in EXPLORER_FIELDS and k != "optimistic"}
    return VWConfig(**(kept | settings))


@dataclass(frozen=True)
class Judged:
    """What an objective makes of one configuration: its value, other figures to record, the policy."""

    value: float
    figures: dict[str, float]
    policy: VowpalWabbitPolicy


class Objective(Protocol):
    """What :func:`tune` maximises: a value for a configuration."""

    #: The name of the value, as the trials' MLflow metric.
    metric: str

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged: ...

    def describe(self) -> dict[str, Any]: ...

    def reward_range(self) -> tuple[float, float] | None: ...

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy: ...


@dataclass
class SimulatedValue:
    """The simulator's true value of the VW policy learning online in ``scenario``, over ``worlds`` worlds.

    World ``i`` is the scenario run with seed ``seed + i`` (what ``offerlab simulate --seed`` runs), each with a
    fresh policy; the value is the mean of the worlds' ``policy_expected_value``, the other figures the means
    of theirs. More worlds make a configuration's value less a matter of one world's luck (the best of many
    trials on one world flatters it) at the cost of that many runs per trial.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> objective = SimulatedValue(load_scenario("default").with_size(n_users=150, days=2), seed=1)
    >>> judged = objective.judge(VWConfig())
    >>> judged.value == judged.figures["policy_expected_value"], judged.value <= judged.figures["oracle_value"]
    (True, True)
    """

    scenario: Scenario
    seed: int = 0
    worlds: int = 1
    metric: str = "policy_expected_value"

    def __post_init__(self) -> None:
        if self.worlds < 1:
            raise ValueError(f"--worlds must be at least 1, got {self.worlds}")

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged:
        """Run each world with the policy learning after each date; with ``trial``, report the running value
        after each date and stop early (``optuna.TrialPruned``) when the pruner says so.

        Notes
        -----
        The running value a pruner sees at date ``d`` of world ``i`` (step ``i * days + d``) is the mean, over
        the decisions so far, of the chosen action's expected reward as the decision was taken (``q``,
        :meth:`~simulators.base.SimulationResult.truth_matrix`); the trial's value is the worlds' mean
        ``policy_expected_value``, which also counts stock-outs and delivery. Every trial runs the same worlds,
        so the running values of two trials are compared on the same moments.
        """
        earned, decided = 0.0, 0
        summaries = []
        for world in range(self.worlds):
            policy = VowpalWabbitPolicy(config=config)
            session = MarketplaceSimulator(self.scenario).start(self.seed + world)
            for day in range(self.scenario.days):
                batch = session.step(policy)
                if batch.feedback.n_rounds:
                    policy.learn(batch.feedback)
                if trial is None or not batch.decisions.height:
                    continue
                earned += float(chosen_truth(batch.decisions, batch.truth).sum())
                decided += batch.decisions.height
                trial.report(earned / decided, world * self.scenario.days + day)
                if trial.should_prune():
                    raise optuna.TrialPruned(
                        f"pruned after day {day} of world {world}: running value {earned / decided:.4f}"
                    )
            summaries.append(session.result().summary())
        names = [k for k, v in summaries[0].items() if k.endswith("value") and isinstance(v, int | float)]
        figures = {k: float(np.mean([float(summary[k]) for summary in summaries])) for k in names}
        gap = figures["oracle_value"] - figures["best_fixed_value"]
        if gap > 0:
            figures["oracle_margin_captured"] = (figures["policy_expected_value"] - figures["best_fixed_value"]) / gap
        return Judged(figures["policy_expected_value"], figures, policy)

    def describe(self) -> dict[str, Any]:
        return {
            "objective": "simulated",
            "scenario": self.scenario.name,
            "users": self.scenario.n_users,
            "days": self.scenario.days,
            "seed": self.seed,
            "worlds": self.worlds,
        }

    def reward_range(self) -> tuple[float, float] | None:
        return None

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy:
        """The best trial's own policy, as it stood at the end of its (last world's) run."""
        return judged.policy


def chosen_truth(decisions: pl.DataFrame, truth: pl.DataFrame) -> np.ndarray:
    """``(n,)`` expected reward ``q`` of the action each decision took, as the decision was taken.

    Examples
    --------
    >>> decisions = pl.DataFrame({"decision_id": ["b", "a"], "action": ["coupon", "no_offer"]})
    >>> truth = pl.DataFrame({"decision_id": ["a", "b"], "q_no_offer": [0.1, 0.2], "q_coupon": [0.5, 0.7],
    ...     "q_installment": [None, 0.3], "q_trust_badge": [0.0, 0.0]})
    >>> chosen_truth(decisions, truth)
    array([0.7, 0.1])
    """
    aligned = decisions.select("decision_id", "action").join(truth, on="decision_id", how="left", maintain_order="left")
    q = aligned.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float)
    index = aligned.get_column("action").replace_strict({a: i for i, a in enumerate(ACTIONS)}).to_numpy()
    return q[np.arange(len(index)), index]


def split_log(
    log: pl.DataFrame, by: str = "time", holdout: float = 0.3, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(train, held_out)`` parts of a log.

    ``by="time"``: the earliest ``1 - holdout`` of the rounds (by ``ts`` when the log has it, else in the
    log's order) train, the rest are held out. ``by="user"``: a seeded ``holdout`` share of the ``user_id``\\ s
    (at least one) is held out with all their rounds.

    Examples
    --------
    >>> log = pl.DataFrame({"ts": [3, 1, 2, 4], "user_id": ["a", "b", "a", "c"], "reward": [0.0, 1.0, 0.0, 1.0]})
    >>> [part["ts"].to_list() for part in split_log(log, "time", 0.5)]
    [[1, 2], [3, 4]]
    >>> train, held_out = split_log(log, "user", 0.3, seed=0)
    >>> set(train["user_id"]) & set(held_out["user_id"]), train.height + held_out.height
    (set(), 4)
    >>> split_log(log, "day")
    Traceback (most recent call last):
    ...
    ValueError: --split: unknown split 'day'; known: time, user
    """
    if by not in SPLITS:
        raise ValueError(f"--split: unknown split {by!r}; known: {', '.join(SPLITS)}")
    if not 0 < holdout < 1:
        raise ValueError(f"--holdout: the held-out share must lie in (0, 1); got {holdout}")
    if by == "time":
        ordered = log.sort("ts", maintain_order=True) if "ts" in log.columns else log
        cut = min(max(round(ordered.height * (1 - holdout)), 1), ordered.height - 1)
        return ordered.head(cut), ordered.slice(cut)
    if "user_id" not in log.columns:
        raise ValueError("--split user: the log has no user_id column; split by time instead")
    users = log.get_column("user_id").unique(maintain_order=True).sort().to_numpy()
    if len(users) < 2:
        raise ValueError(f"--split user: the log has {len(users)} user(s); at least 2 are needed")
    n_held = min(max(round(len(users) * holdout), 1), len(users) - 1)
    held = np.random.default_rng(seed).choice(users, size=n_held, replace=False)
    in_held = log.get_column("user_id").is_in(pl.Series(held))
    return log.filter(~in_held), log.filter(in_held)


@dataclass
class OffPolicyValue:
    """An off-policy estimate of the VW policy trained on one part of ``log``, on the other part.

    Parameters
    ----------
    log
        A bandit log (:func:`experiments.inputs.load_bandit_log`), checked here.
    estimator
        ``dr`` (cross-fitted reward model) or ``snips``.
    split, holdout, seed
        How the log is split (:func:`split_log`); ``seed`` also drives the reward model's folds.
    n_folds
        Folds of the cross-fitted reward model.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 1200
    >>> x = rng.integers(0, 2, n).astype(float)
    >>> action = rng.integers(0, 2, n)
    >>> log = pl.DataFrame({"x": x, "action": np.array(["no_offer", "coupon"])[action], "propensity": 0.5,
    ...     "reward": (action == x).astype(float)})
    >>> objective = OffPolicyValue(log, estimator="snips", holdout=0.5)
    >>> judged = objective.judge(VWConfig(epsilon=0.1))
    >>> judged.value > 0.9, round(judged.figures["logged_value"], 2)
    (True, 0.49)
    """

    log: pl.DataFrame
    estimator: str = "dr"
    split: str = "time"
    holdout: float = 0.3
    seed: int = 0
    n_folds: int = 5
    metric: str = field(init=False)

    def __post_init__(self) -> None:
        if self.estimator not in OFF_POLICY_ESTIMATORS:
            raise ValueError(f"--estimator: {self.estimator!r} is not one of {', '.join(OFF_POLICY_ESTIMATORS)}")
        self.metric = f"{self.estimator}_value"
        checked = check_bandit_log(self.log)
        self.actions = log_actions(checked)
        train, held_out = split_log(checked, self.split, self.holdout, self.seed)
        self.everything = feedback_from_log(checked, self.actions)
        self.train = feedback_from_log(train, self.actions)
        self.held_out = feedback_from_log(held_out, self.actions)
        self.clusters = held_out.get_column("user_id").to_numpy() if "user_id" in held_out.columns else None
        self.q_hat: np.ndarray | None = None
        if self.estimator == "dr":
            from experiments.ope.reward_model import cross_fitted_rewards

            self.q_hat = cross_fitted_rewards(self.held_out, n_folds=self.n_folds, seed=self.seed, groups=self.clusters)

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged:
        """Learn from the training part, estimate on the held-out part (``trial`` is not used: no pruning)."""
        policy = VowpalWabbitPolicy(config=config)
        policy.learn(self.train)
        probs = policy_probabilities(policy, self.held_out, "tuned policy")
        result = make_estimator(self.estimator).estimate(
            self.held_out, probs, self.q_hat, clusters=self.clusters, interval="normal"
        )
        figures = {self.metric: result.value, "ci_low": result.ci_low, "ci_high": result.ci_high}
        figures["logged_value"] = float(self.held_out.rewards.mean())
        return Judged(result.value, figures, policy)

    def describe(self) -> dict[str, Any]:
        return {
            "objective": "off-policy",
            "estimator": self.estimator,
            "split": self.split,
            "holdout": self.holdout,
            "seed": self.seed,
            "n_train": self.train.n_rounds,
            "n_held_out": self.held_out.n_rounds,
        }

    def reward_range(self) -> tuple[float, float] | None:
        rewards = self.train.rewards
        return float(rewards.min()), float(rewards.max())

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy:
        """A policy with the best settings trained on the whole log (both parts), as it would be deployed."""
        policy = VowpalWabbitPolicy(config=config)
        policy.learn(self.everything)
        return policy


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
    """Search VW's settings (:func:`suggest_config`) with a TPE sampler seeded by ``seed``, maximising
    ``objective``'s value. A trial whose running value (:meth:`SimulatedValue.judge`) falls below the median
    of earlier trials' at the same date is pruned, once 5 trials have finished and ``warmup_steps`` dates have
    passed.

    VW's own seed is ``seed`` too (over ``base``). With ``mlflow_experiment_id``, each trial is logged by Optuna's
    MLflow callback as a run nested under the active one: its parameters, the objective's value (named
    ``objective.metric``) and the objective's other figures as tags. ``on_trial`` is called after each trial.
    """
    if n_trials < 1:
        raise ValueError(f"--trials must be at least 1, got {n_trials}")
    base = (base or VWConfig()).model_copy(update={"seed": seed})
    reward_range = objective.reward_range()
    best: dict[int, Judged] = {}

    def run_trial(trial: optuna.Trial) -> float:
        config = suggest_config(trial, base, reward_range)
        judged = objective.judge(config, trial)
        for name, value in judged.figures.items():
            trial.set_user_attr(name, value)
        if not best or judged.value > next(iter(best.values())).value:
            best.clear()
            best[trial.number] = judged  # keep the best trial's policy only
        return judged.value

    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if mlflow_experiment_id is not None:
        with warnings.catch_warnings():  # optuna 4.9 deprecates the callback (removal planned for optuna 6)
            warnings.filterwarnings("ignore", "MLflowCallback has been deprecated", FutureWarning)
            tracker = MLflowCallback(
                metric_name=objective.metric,
                create_experiment=False,
                mlflow_kwargs={"nested": True, "experiment_id": mlflow_experiment_id},
            )
        callbacks.append(tracker)
    if on_trial is not None:
        callbacks.append(on_trial)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps),
    )
    study.optimize(run_trial, n_trials=n_trials, callbacks=callbacks)
    config = suggest_config(optuna.trial.FixedTrial(study.best_params), base, reward_range)
    policy = objective.final_policy(config, best[study.best_trial.number])
    return TuningResult(study, config, float(study.best_value), policy)


def config_data(config: VWConfig) -> dict[str, Any]:
    """The settings as plain data (JSON types), every field named, that ``VWConfig(**data)`` reads back."""
    return config.model_dump(mode="json")


def save_config(config: VWConfig, path: str | Path) -> Path:
    """Write ``config`` atomically as YAML (``.yaml`` / ``.yml``) or JSON (any other suffix).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> chosen = VWConfig(explorer="bag", n_policies=3, interactions="ua,uu")
    >>> [load_config(save_config(chosen, folder / name)) == chosen for name in ("vw.json", "vw.yaml")]
    [True, True]
    """
    path = Path(path)
    data = config_data(config)
    text = yaml.safe_dump(data, sort_keys=False) if _is_yaml(path) else json.dumps(data, indent=2) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def load_config(path: str | Path) -> VWConfig:
    """The :class:`VWConfig` of a JSON or YAML file (a bad field fails naming it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no VW config file {str(path)!r}")
    text = path.read_text()
    data = yaml.safe_load(text) if _is_yaml(path) else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"VW config {path}: expected a mapping of settings, got {type(data).__name__}")
    return VWConfig(**data)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


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
        """The one JSON object ``offerlab tune --json`` prints."""
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
    """Tune under one parent MLflow run (experiment ``tune``), each trial a nested run; save the best settings
    to ``out``; log the policy trained with them and register it as a new version of the platform's model,
    aliased challenger (as :func:`experiments.jobs.train` does)."""
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
