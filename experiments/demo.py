"""The demo chain, from a simulated uniform log to one served decision.

Simulate with uniform logging → features → train VW → OPE against uniform → gate → serve one decision.

The served decision is a bare trigger moment (user, item, trigger, channel): the endpoint applies the guardrails
and completes the context from the online snapshot of the simulated log's features, as in production.

Every step is a tracked MLflow run; the demo's own run records the summary and
the ids of the step runs. The simulator's truth sits beside the estimates, so
the printed table shows how close off-policy evaluation came.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from experiments import jobs
from experiments.promotion import PromotionGate
from experiments.tracking import tracked_run
from features.schemas import ACTIONS
from policies.base import Feedback
from policies.serving.config import OfferlabConfig
from policies.serving.registry import alias_version
from policies.serving.server import build_app, serving_in_background
from simulators.scenario import load_scenario
from simulators.truth import TRUTH_COLUMNS, expected_rewards

TRAIN_SHARE = 0.7


class StepClock:
    """Times named steps for the summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the ``with`` block and record its seconds under ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started


def split_by_time(log: pl.DataFrame, train_share: float = TRAIN_SHARE) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Earlier decisions to train on, later ones to evaluate on (no peeking across the cut)."""
    ordered = log.sort("ts", maintain_order=True)
    cut = int(ordered.height * train_share)
    return ordered.head(cut), ordered.tail(ordered.height - cut)


def run_demo(config: OfferlabConfig, users: int, days: int, seed: int, out: Path, console: Console) -> dict[str, Any]:
    """Run the chain and print its summary; return the summary."""
    clock = StepClock()
    scenario = load_scenario("default").with_size(n_users=users, days=days)

    with clock.step("simulate"):
        simulation = jobs.simulate(config, scenario, "uniform", seed, out)
    log = simulation.result.bandit_log().join(
        simulation.result.truth, on="decision_id", how="left", maintain_order="left"
    )
    with clock.step("features"):
        snapshot = snapshot_of(simulation.result, out / "online")
    train_log, eval_log = split_by_time(log)
    truth = expected_rewards(eval_log)  # each action's expected reward on the log, given its stock and delivery
    train_log, eval_log = train_log.drop(TRUTH_COLUMNS), eval_log.drop(TRUTH_COLUMNS)

    with clock.step("train"):
        training = jobs.train(config, train_log, seed=seed)
    feedback = Feedback.from_log(eval_log)
    users_of_rounds = eval_log.get_column("user_id").to_numpy()
    target = training.policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    uniform = feedback.eligible / feedback.eligible.sum(axis=1, keepdims=True)
    mu = np.nan_to_num(truth)
    true_values = {"vw": float((target * mu).sum(axis=1).mean()), "uniform": float((uniform * mu).sum(axis=1).mean())}
    true_values["oracle"] = float(np.nanmax(truth, axis=1).mean())  # the oracle's choice, argmax q, is best by mu

    with clock.step("evaluate offline"):
        evaluation = jobs.evaluate_offline(
            config,
            feedback,
            target,
            f"models:/{config.registered_model}/{training.version}",
            seed=seed,
            extra_metrics={f"true_value_{k}": v for k, v in true_values.items()},
            clusters=users_of_rounds,
        )
    with clock.step("promote"):
        promotion = jobs.promote(
            config, str(training.version), feedback, target, PromotionGate(seed=seed), clusters=users_of_rounds
        )
    champion = alias_version(config.registered_model, config.champion_alias)

    decision: dict[str, Any] | None = None
    with clock.step("serve one decision"):
        if champion is not None:
            decision = _one_decision(config, eval_log, simulation.result.users, snapshot, seed)

    summary = {
        "users": users,
        "days": days,
        "seed": seed,
        "events_logged": simulation.result.events.height,
        "decisions_logged": simulation.result.decisions.height,
        "train_rounds": train_log.height,
        "eval_rounds": eval_log.height,
        "model_version": training.version,
        "champion_version": champion,
        "promoted": promotion.promoted,
        "gate_reasons": promotion.decision.reasons,
        "estimates": {r.estimator: r.to_dict() for r in [*evaluation.results, evaluation.logged]},
        "lift": promotion.decision.lift.to_dict(),
        "lift_over_champion": (
            promotion.decision.lift_over_champion.to_dict() if promotion.decision.lift_over_champion else None
        ),
        "true_values": true_values,
        "decision": decision,
        "seconds": clock.seconds,
    }
    with tracked_run(config, "demo", {"users": users, "days": days, "seed": seed}, run_name="demo") as run:
        mlflow.log_dict(summary, "summary.json")
        mlflow.log_metrics({f"seconds_{k.replace(' ', '_')}": v for k, v in clock.seconds.items()})
        mlflow.log_metrics(
            {"promoted": float(promotion.promoted), **{f"true_value_{k}": v for k, v in true_values.items()}}
        )
        for name, run_id in {
            "simulate": simulation.run_id,
            "train": training.run_id,
            "ope": evaluation.run_id,
            "promote": promotion.run_id,
        }.items():
            mlflow.set_tag(f"offerlab.{name}_run", run_id)
    summary["run_id"] = run.info.run_id
    _print_summary(console, summary, evaluation, config)
    return summary


def snapshot_of(result: Any, folder: Path) -> Path:
    """Save the online snapshot the endpoint serves into ``folder``; return ``folder``.

    It holds the user and item features of the simulated log as of the midnight after its last event.
    """
    from datetime import UTC, datetime, time, timedelta

    from features.pipelines import build_features
    from features.stores.online import OnlineSnapshot

    last = result.events.get_column("ts").max()
    as_of = datetime.combine(last.date() + timedelta(days=1), time(0), tzinfo=UTC)
    built = build_features(result.events.lazy(), result.items.lazy(), result.users.lazy(), as_of)
    OnlineSnapshot(built.users, built.items, as_of).save(folder)
    return folder


def _servable_moment(eval_log: pl.DataFrame, users: pl.DataFrame) -> dict[str, Any]:
    """Pick a logged moment whose user still consents to its channel (a bare request: who, what, why, where)."""
    consent = users.select(
        "user_id",
        pl.concat_list(pl.when(pl.col(f"consent_{c}")).then(pl.lit(c)) for c in ("in_app", "email", "sms"))
        .list.drop_nulls()
        .alias("open_channels"),
        "opted_out_at",
    )
    candidates = eval_log.join(consent, on="user_id", how="inner", maintain_order="left").filter(
        pl.col("open_channels").list.contains(pl.col("channel")) & pl.col("opted_out_at").is_null()
    )
    row = (candidates if candidates.height else eval_log).row(0, named=True)
    return {"user_id": row["user_id"], "item_id": row["item_id"], "trigger": row["trigger"], "channel": row["channel"]}


def _one_decision(
    config: OfferlabConfig, eval_log: pl.DataFrame, users: pl.DataFrame, snapshot: Path, seed: int
) -> dict[str, Any]:
    """Start the real endpoint on a free port, ask it over HTTP about one bare moment, stop it.

    The endpoint serves the snapshot and the users table.
    """
    request = _servable_moment(eval_log, users)
    token = secrets.token_urlsafe(24)  # the demo's own server: a fresh bearer token, never printed
    app = build_app(config, seed=seed, features=snapshot, users=users, api_token=token)
    with serving_in_background(app) as url:
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.post(f"{url}/v1/decide", json=request, headers=headers, timeout=10.0)
        response.raise_for_status()
        return {"url": f"{url}/v1/decide", "request": request, "response": response.json()}


def _print_summary(
    console: Console, summary: dict[str, Any], evaluation: jobs.Evaluation, config: OfferlabConfig
) -> None:
    console.print(
        f"simulated {summary['users']:,} users × {summary['days']} days (seed {summary['seed']}): "
        f"{summary['events_logged']:,} events, {summary['decisions_logged']:,} decisions under uniform-random logging; "
        f"VW trained on the first {summary['train_rounds']:,}, judged on the last {summary['eval_rounds']:,}"
    )
    table = Table(title="off-policy value per decision on the held-out days (net contribution)")
    for column in ("policy", "estimator", "value", "95% interval", "true value"):
        table.add_column(column, justify="left" if column in ("policy", "estimator") else "right")
    truth = summary["true_values"]
    for r in evaluation.results:
        table.add_row("vw", r.estimator, f"{r.value:.4f}", f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", f"{truth['vw']:.4f}")
    logged = evaluation.logged
    table.add_row(
        "uniform (logging)",
        "on-policy",
        f"{logged.value:.4f}",
        f"[{logged.ci_low:.4f}, {logged.ci_high:.4f}]",
        f"{truth['uniform']:.4f}",
    )
    table.add_row("oracle", "truth", "", "", f"{truth['oracle']:.4f}")
    console.print(table)
    lift = summary["lift"]
    verdict = "promoted to champion" if summary["promoted"] else "not promoted: " + "; ".join(summary["gate_reasons"])
    over = summary["lift_over_champion"]
    against = (
        ""
        if over is None
        else f", {over['value']:+.4f} [{over['ci_low']:+.4f}, {over['ci_high']:+.4f}] over the champion"
    )
    console.print(
        f"gate: lift {lift['value']:+.4f} [{lift['ci_low']:+.4f}, {lift['ci_high']:+.4f}] over uniform{against} → "
        f"version {summary['model_version']} {verdict}"
    )
    if summary["decision"]:
        answer = summary["decision"]["response"]
        probs = ", ".join(f"{a} {p:.2f}" for a, p in (answer.get("probabilities") or {}).items())
        asked = summary["decision"]["request"]
        console.print(
            f"served by {answer['policy_version']} at {summary['decision']['url']} for {asked['trigger']} of "
            f"{asked['user_id']} on {asked['item_id']} ({asked['channel']}): {answer['action']} "
            f"(p={answer['probability']:.2f}; {probs}); send at {answer.get('send_at')}; {answer.get('reason')}"
        )
    else:
        console.print("no champion yet, so nothing was served")
    steps = Table(title="steps")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for name, seconds in summary["seconds"].items():
        steps.add_row(name, f"{seconds:.2f}")
    steps.add_row("all steps", f"{sum(summary['seconds'].values()):.2f}")
    console.print(steps)
    console.print(
        f"tracking: {config.tracking_uri} (demo run {summary['run_id']}); "
        f"browse with: mlflow ui --backend-store-uri {config.tracking_uri}"
    )
