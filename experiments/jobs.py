"""The lab's jobs, each one tracked MLflow run: simulate, train, evaluate off-policy, promote.

The CLI and the demo call these; each returns typed results and logs its params,
metrics and artifacts to the experiment of its kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    result: SimulationResult
    summary: dict[str, Any]
    run_id: str
    seconds: float
    calibration: pl.DataFrame | None = None


def simulation_policy(name: str, seed: int = 0) -> BasePolicy:
    """A policy for the simulator by name: ``oracle`` (simulator-only) or anything :func:`make_policy` knows.

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
    policy: VowpalWabbitPolicy
    version: str | None
    model_uri: str
    run_id: str
    seconds: float


def train(
    config: OfferlabConfig,
    log: pl.DataFrame,
    seed: int = 0,
    epsilon: float = 0.05,
    passes: int = 2,
    register: bool = True,
) -> TrainingRun:
    """Train the VW policy on a bandit log, log it as a pyfunc model, register it and make it the challenger."""
    feedback = Feedback.from_log(log)
    policy = VowpalWabbitPolicy(epsilon=epsilon, passes=passes, seed=seed)
    with tracked_run(
        config, "train", {"policy": policy.name, **policy.params(), "n_rounds": feedback.n_rounds}, "train-vw"
    ) as run:
        started = time.perf_counter()
        policy.learn(feedback)
        seconds = time.perf_counter() - started
        mlflow.log_metrics({"seconds": seconds, "rounds_per_second": feedback.n_rounds / max(seconds, 1e-9)})
        info = log_policy_model(policy, config.registered_model if register else None)
        version = str(info.registered_model_version) if register and info.registered_model_version else None
        if version is not None:
            MlflowClient().set_registered_model_alias(config.registered_model, config.challenger_alias, version)
            mlflow.set_tag("offerlab.model_version", version)
    return TrainingRun(policy, version, info.model_uri, run.info.run_id, seconds)


@dataclass(frozen=True)
class Evaluation:
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
    """Off-policy estimates of ``target`` on ``feedback``, with the logging policy's own value beside them;
    intervals resample ``clusters`` (each round's user id) when given."""
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
