"""The lab's jobs, each one tracked MLflow run: simulate, train, evaluate off-policy, promote.

The CLI and the demo call these; each returns typed results and logs its params,
metrics and artifacts to the experiment of its kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
from mlflow import MlflowClient

from experiments.ope import EstimatorResult, evaluate, on_policy_value
from experiments.promotion import GateDecision, PromotionGate, set_champion
from experiments.tracking import tracked_run
from features.io import write_frame
from features.schemas import ACTIONS
from policies import make_policy
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.base import BasePolicy, Feedback
from policies.serving.config import OfferlabConfig
from policies.serving.pyfunc import load_policy_model, log_policy_model
from policies.serving.registry import alias_version
from simulators.base import SimulationResult
from simulators.calibration import calibration_report
from simulators.marketplace import MarketplaceSimulator
from simulators.oracle import OraclePolicy
from simulators.scenario import Scenario


@dataclass(frozen=True)
class SimulationRun:
    """A tracked simulation: its result, summary, MLflow run id, seconds taken and calibration report (if made)."""

    result: SimulationResult
    summary: dict[str, Any]
    run_id: str
    seconds: float
    calibration: pl.DataFrame | None = None


def simulation_policy(name: str, seed: int = 0) -> BasePolicy:
    """Return a policy for the simulator by name: ``oracle`` (simulator-only) or anything :func:`make_policy` knows.

    The learned ones (``vw``, ``thompson``, ``linucb``, ``lin_ts``) learn online: the simulator hands each of
    them the date's feedback before the next date.

    Examples
    --------
    >>> simulation_policy("thompson", seed=1).name
    'thompson'
    >>> simulation_policy("greedy")
    Traceback (most recent call last):
    ...
    ValueError: unknown policy 'greedy'; expected oracle or one of lin_ts, linucb, rules, thompson, uniform, vw, ...
    """
    from policies import policy_names

    if name == "oracle":
        return OraclePolicy()
    if name not in policy_names():
        raise ValueError(f"unknown policy {name!r}; expected oracle or one of {', '.join(policy_names())}")
    return make_policy(name, seed=seed)


def simulate(
    config: OfferlabConfig,
    scenario: Scenario,
    policy: str = "uniform",
    seed: int = 0,
    out: Path | None = None,
    on_day: Callable[[int], None] | None = None,
    report: bool = False,
) -> SimulationRun:
    """Run ``scenario`` under ``policy``; write its frames (and the calibration report) to ``out``; track the run."""
    params = {"scenario": scenario.model_dump(mode="json"), "policy": policy, "seed": seed}
    with tracked_run(config, "simulate", params, run_name=f"simulate-{scenario.name}") as run:
        started = time.perf_counter()
        result = MarketplaceSimulator(scenario).run(simulation_policy(policy, seed), seed=seed, on_day=on_day)
        seconds = time.perf_counter() - started
        summary = result.summary()
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, int | float)})
        mlflow.log_metric("seconds", seconds)
        mlflow.log_dict(summary, "summary.json")
        calibration = calibration_report(result, scenario) if report else None
        if calibration is not None:
            mlflow.log_text(calibration.write_csv(), "calibration.csv")
        if out is not None:
            result.write(out)
            if calibration is not None:
                write_frame(calibration, Path(out) / "calibration.csv")
            mlflow.set_tag("offerlab.output", str(Path(out).resolve()))
    return SimulationRun(result, summary, run.info.run_id, seconds, calibration)


@dataclass(frozen=True)
class TrainingRun:
    """A trained VW policy, where it is registered, and how it learned.

    Attributes
    ----------
    curve
        Its learning curve when one was measured: by date against the truth
        (:func:`experiments.learning_curves.learning_curve`) or by chunk of the log, off-policy
        (:func:`experiments.progressive_validation.progressive_validation`).
    summary
        The headline figures logged as the run's metrics.
    """

    policy: VowpalWabbitPolicy
    version: str | None
    model_uri: str
    run_id: str
    seconds: float
    curve: pl.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def train(
    config: OfferlabConfig,
    log: pl.DataFrame,
    seed: int = 0,
    epsilon: float = 0.05,
    passes: int = 2,
    register: bool = True,
    vw_config: VWConfig | None = None,
    chunks: int | None = None,
    estimator: str = "snips",
    on_chunk: Callable[[int], None] | None = None,
) -> TrainingRun:
    """Train the VW policy on a bandit log, log it as a pyfunc model, register it and make it the challenger.

    ``vw_config`` gives every setting (then ``seed``, ``epsilon`` and ``passes`` are not used); without it the
    policy is ``VowpalWabbitPolicy(epsilon, passes, seed)``. With ``chunks``, the log is learned in time order
    (by its ``ts``, when it has one), chunk by chunk, each judged off-policy by ``estimator`` before it is
    learned (:func:`experiments.progressive_validation.progressive_validation`); the curve is logged in the run as
    step metrics (step: rounds learned) and ``progressive_validation.csv``.
    """
    from experiments.curve_logging import log_learning_curve
    from experiments.progressive_validation import progressive_summary, progressive_validation

    if chunks is not None and "ts" in log.columns:
        log = log.sort("ts", maintain_order=True)
    feedback = Feedback.from_log(log)
    if vw_config is not None:
        policy = VowpalWabbitPolicy(config=vw_config)
    else:
        policy = VowpalWabbitPolicy(epsilon=epsilon, passes=passes, seed=seed)
    params = {"policy": policy.name, **policy.params(), "n_rounds": feedback.n_rounds, "source": "log"}
    if chunks is not None:
        params.update({"chunks": chunks, "estimator": estimator})
    with tracked_run(config, "train", params, "train-vw") as run:
        started = time.perf_counter()
        curve = None
        if chunks is None:
            policy.learn(feedback)
        else:
            curve = progressive_validation(feedback, policy, chunks, estimator, on_chunk=on_chunk)
        seconds = time.perf_counter() - started
        summary: dict[str, Any] = {"n_rounds": feedback.n_rounds}
        if curve is not None:
            summary.update(progressive_summary(curve))
            log_learning_curve(curve, step="step", prefix="progressive_", name="progressive_validation")
        mlflow.log_metrics({**summary, "seconds": seconds, "rounds_per_second": feedback.n_rounds / max(seconds, 1e-9)})
        version, model_uri = _log_and_register(config, policy, register)
    return TrainingRun(policy, version, model_uri, run.info.run_id, seconds, curve, summary)


def train_simulated(
    config: OfferlabConfig,
    scenario: Scenario,
    vw_config: VWConfig | None = None,
    seed: int = 0,
    register: bool = True,
    on_day: Callable[[int], None] | None = None,
) -> TrainingRun:
    """Train the VW policy online in ``scenario``'s simulator and register it as the challenger.

    Its learning curve against the truth is tracked in the run (step metrics by day, ``curve.csv``,
    ``curve.png``, ``summary.json``).

    ``vw_config`` defaults to ``VWConfig(seed=seed)``; ``seed`` is the simulation's.
    """
    from experiments.curve_logging import log_learning_curve
    from experiments.learning_curves import final_summary, learning_curve

    policy = VowpalWabbitPolicy(config=vw_config if vw_config is not None else VWConfig(seed=seed))
    params = {
        "policy": policy.name,
        **policy.params(),
        "source": "simulate",
        "scenario": scenario.model_dump(mode="json"),
        "simulation_seed": seed,
    }
    with tracked_run(config, "train", params, f"train-vw-{scenario.name}") as run:
        started = time.perf_counter()
        curve = learning_curve(scenario, policy, seed=seed, on_day=on_day)
        seconds = time.perf_counter() - started
        summary = final_summary(curve)
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, int | float)})
        decisions = float(curve.get_column("decisions").sum())
        mlflow.log_metrics({"seconds": seconds, "decisions_per_second": decisions / max(seconds, 1e-9)})
        mlflow.log_dict(summary, "summary.json")
        log_learning_curve(curve, step="day", prefix="curve_", name="curve")
        version, model_uri = _log_and_register(config, policy, register)
    return TrainingRun(policy, version, model_uri, run.info.run_id, seconds, curve, summary)


def _log_and_register(config: OfferlabConfig, policy: BasePolicy, register: bool) -> tuple[str | None, str]:
    """Log ``policy`` as a pyfunc model in the active run; registered, it becomes the challenger."""
    info = log_policy_model(policy, config.registered_model if register else None)
    version = str(info.registered_model_version) if register and info.registered_model_version else None
    if version is not None:
        MlflowClient().set_registered_model_alias(config.registered_model, config.challenger_alias, version)
        mlflow.set_tag("offerlab.model_version", version)
    return version, str(info.model_uri)


@dataclass(frozen=True)
class Evaluation:
    """A tracked offline evaluation: each estimator's result, the logging policy's own, the MLflow run id."""

    results: list[EstimatorResult]
    logged: EstimatorResult
    run_id: str


def evaluate_offline(
    config: OfferlabConfig,
    feedback: Feedback,
    target_probs: np.ndarray,
    target: str,
    estimators: Sequence[str] = ("ips", "snips"),
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    extra_metrics: dict[str, float] | None = None,
    clusters: np.ndarray | None = None,
) -> Evaluation:
    """Off-policy estimates of ``target`` on ``feedback``, with the logging policy's own value beside them.

    Intervals resample ``clusters`` (each round's user id) when given.
    """
    params = {
        "target": target,
        "estimators": ",".join(estimators),
        "alpha": alpha,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
    }
    with tracked_run(config, "ope", {**params, "n_rounds": feedback.n_rounds}, run_name=f"ope-{target}"[:250]) as run:
        results = evaluate(
            feedback,
            target_probs,
            estimators=tuple(estimators),
            alpha=alpha,
            n_bootstrap=n_bootstrap,
            seed=seed,
            clusters=clusters,
        )
        logged = on_policy_value(feedback, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed, clusters=clusters)
        for result in [*results, logged]:
            prefix = result.estimator
            mlflow.log_metrics(
                {
                    f"{prefix}_value": result.value,
                    f"{prefix}_ci_low": result.ci_low,
                    f"{prefix}_ci_high": result.ci_high,
                }
            )
            mlflow.log_metrics({f"{prefix}_{k}": v for k, v in result.diagnostics.items()})
        if extra_metrics:
            mlflow.log_metrics(extra_metrics)
        mlflow.log_dict({"results": [r.to_dict() for r in [*results, logged]]}, "ope.json")
    return Evaluation(results, logged, run.info.run_id)


@dataclass(frozen=True)
class Promotion:
    """A promotion's outcome: the gate's decision, whether it promoted, the previous champion, the MLflow run id."""

    decision: GateDecision
    promoted: bool
    previous: str | None
    run_id: str


def promote(
    config: OfferlabConfig,
    version: str,
    feedback: Feedback,
    target_probs: np.ndarray,
    gate: PromotionGate,
    force: bool = False,
    clusters: np.ndarray | None = None,
) -> Promotion:
    """Judge registry ``version`` with the gate on ``feedback``; move the champion alias if it passes (or ``force``).

    The candidate must beat the logging policy and, if there is one, the current champion.
    """
    champion = alias_version(config.registered_model, config.champion_alias)
    champion_probs = None
    if champion is not None and champion != str(version):
        model = load_policy_model(f"models:/{config.registered_model}/{champion}")
        assert model.policy is not None
        champion_probs = model.policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    params = {**gate.model_dump(), "version": version, "force": force, "champion_before": champion}
    with tracked_run(config, "promote", params, f"promote-v{version}") as run:
        decision = gate.judge(feedback, target_probs, champion_probs, clusters)
        mlflow.log_metrics(decision.metrics())
        mlflow.log_dict({"passed": decision.passed, "reasons": decision.reasons}, "gate.json")
        promoted = decision.passed or force
        previous = set_champion(config, version) if promoted else None
        mlflow.set_tag("offerlab.promoted", str(promoted).lower())
    return Promotion(decision, promoted, previous, run.info.run_id)
