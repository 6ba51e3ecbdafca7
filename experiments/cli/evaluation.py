"""``offerlab ope``: off-policy evaluation of a target policy on any logged decision log.

The log is read by :mod:`experiments.inputs` (Parquet, CSV, DSJSON, a simulation or decision-log folder; any
actions), the target by :mod:`experiments.targets` (a model URI, a saved policy, or a table of ``p_<action>``
columns); :mod:`experiments.offline_evaluation` computes the figures and :mod:`experiments.reporting` draws
the report. Exit status 0 when it ran, 2 on bad input (nothing written), 3 when ``--strict`` and a diagnostic
warns (the files are still written, so the warning can be read).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config
from experiments.cli.errors import EXIT_STRICT, errors, user_errors_exit_2
from experiments.offline_evaluation import DEFAULT_ESTIMATORS, OffPolicyEvaluation

#: What ``--out`` writes.
JSON_FILE, HTML_FILE = "ope.json", "report.html"


@app.command()
@user_errors_exit_2
def ope(
    log: Annotated[
        Path,
        typer.Option(
            help="Decision log: Parquet, CSV or DSJSON with action, reward, propensity (+ user_id, features), "
            "or a simulate --out / decision-log folder."
        ),
    ],
    policy: Annotated[
        str | None,
        typer.Option(help="Target policy: a model URI (models:/offer-policy@champion) or a saved policy folder."),
    ] = None,
    target_probs: Annotated[
        Path | None, typer.Option(help="Parquet/CSV with one p_<action> column per action, row-aligned with the log.")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="A second policy (URI, saved policy or p_<action> table): the lift is paired against it."),
    ] = None,
    estimators: Annotated[
        str, typer.Option(help="Comma-separated: dm, ips, snips, dr, sndr, switch-dr, dr-os.")
    ] = ",".join(DEFAULT_ESTIMATORS),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    interval: Annotated[str, typer.Option(help="bootstrap (percentile, whole statistic) or normal.")] = "bootstrap",
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals.")] = 0.05,
    clip: Annotated[float | None, typer.Option(help="Clip importance weights at this value.")] = None,
    reward_predictions: Annotated[
        Path | None, typer.Option(help="Parquet/CSV with one q_<action> column per action, instead of the model.")
    ] = None,
    folds: Annotated[int, typer.Option(help="Folds of the cross-fitted LightGBM reward model.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the reward model's folds and of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder for ope.json and report.html; also logs an MLflow run.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 3 when a diagnostic warns (low ESS, support, weights).")] = False,
) -> None:
    """Off-policy evaluation of a target policy on a logged decision log: estimates, intervals, diagnostics."""
    from experiments.inputs import check_bandit_log, feedback_from_checked, load_bandit_log, logging_probabilities
    from experiments.offline_evaluation import check_estimator_names, evaluate_target, needs_reward_model
    from experiments.ope.interval import check_settings
    from experiments.ope.reward_model import q_hat_from_frame
    from experiments.targets import target_probabilities
    from features.io import read_frame

    started = time.perf_counter()
    if (policy is None) == (target_probs is None):
        raise ValueError("give exactly one of --policy (model URI or saved policy) or --target-probs FILE")
    names = check_estimator_names(estimators.split(","))
    check_settings(alpha, bootstrap, interval)
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    frame = check_bandit_log(load_bandit_log(log))
    feedback = feedback_from_checked(frame)
    config = platform_config()
    probs, target = target_probabilities(str(policy if policy is not None else target_probs), feedback, config)
    baseline_probs, baseline_name = None, "logged"
    if baseline is not None:
        baseline_probs, baseline_name = target_probabilities(baseline, feedback, config)
    q_hat = None
    if reward_predictions is not None and needs_reward_model(names):
        q_hat = q_hat_from_frame(
            read_frame(reward_predictions), feedback.actions, feedback.n_rounds, eligible=feedback.eligible
        )
    clusters = frame.get_column("user_id").to_numpy() if "user_id" in frame.columns else None
    evaluation = evaluate_target(
        feedback,
        probs,
        names,
        q_hat=q_hat,
        baseline_probs=baseline_probs,
        baseline=baseline_name,
        logging_probs=logging_probabilities(frame, feedback.actions),
        clusters=clusters,
        alpha=alpha,
        n_bootstrap=bootstrap,
        seed=seed,
        interval=interval,
        clip=clip,
        n_folds=folds,
    )
    payload = evaluation.payload(target=target, log=str(log), seconds=round(time.perf_counter() - started, 3))
    if out is not None:
        payload["run_id"] = write_outputs(config, evaluation, payload, out)
    if as_json:
        print(json.dumps(payload))
    else:
        print_summary(evaluation, payload)
    if strict and evaluation.diagnostics.warnings:
        errors.print(
            f"[bold red]--strict:[/] {len(evaluation.diagnostics.warnings)} diagnostic(s) warn", highlight=False
        )
        raise typer.Exit(EXIT_STRICT)


def write_outputs(config: Any, evaluation: OffPolicyEvaluation, payload: dict[str, Any], out: Path) -> str:
    """Write ``ope.json`` and ``report.html`` into ``out`` and log both, with the figures, as one MLflow run.

    Each file is written atomically; the run's id is returned.
    """
    import mlflow

    from experiments.reporting import ope_report
    from experiments.tracking import tracked_run
    from features.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    params = {k: v for k, v in payload["settings"].items() if v is not None}
    params |= {"target": payload["target"], "log": payload["log"], "estimators": ",".join(payload["estimates"])}
    with tracked_run(config, "ope", params, run_name=f"ope-{payload['target']}"[:250]) as run:
        payload = {**payload, "run_id": run.info.run_id}
        with atomic_path(out / JSON_FILE) as path:
            path.write_text(json.dumps(payload, indent=2))
        title = f"Off-policy evaluation of {payload['target']}"
        ope_report(payload, evaluation.weights, title=title).write(out / HTML_FILE)
        metrics = {f"{name}_{key}": value for name, row in payload["estimates"].items() for key, value in row.items()}
        metrics |= {f"logged_{key}": value for key, value in payload["logged"].items()}
        metrics |= {f"lift_{n}_{k}": v for n, row in payload["lift"].items() for k, v in row.items()}
        metrics |= {k: float(v) for k, v in payload["diagnostics"].items() if isinstance(v, int | float)}
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(out / JSON_FILE))
        mlflow.log_artifact(str(out / HTML_FILE))
        return str(run.info.run_id)


def print_summary(evaluation: OffPolicyEvaluation, payload: dict[str, Any]) -> None:
    """Print the estimates as a table, the lift and the warnings below it."""
    alpha = float(payload["alpha"])
    table = Table(
        title=f"off-policy value of {payload['target']} on {evaluation.n_rounds:,} logged rounds, "
        f"{evaluation.n_actions} actions"
    )
    for column in ("estimator", "value", f"{1 - alpha:.0%} interval", "se", f"lift over {evaluation.reference}"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for result in evaluation.estimates:
        lift = evaluation.lift[result.estimator]
        table.add_row(
            result.estimator,
            f"{result.value:.4f}",
            f"[{result.ci_low:.4f}, {result.ci_high:.4f}]",
            f"{result.std_error:.4f}",
            f"{lift.value:+.3f} [{lift.ci_low:+.3f}, {lift.ci_high:+.3f}]",
        )
    logged = evaluation.logged
    table.add_row(
        "logged (on-policy)",
        f"{logged.value:.4f}",
        f"[{logged.ci_low:.4f}, {logged.ci_high:.4f}]",
        f"{logged.std_error:.4f}",
        "",
    )
    console.print(table)
    values = evaluation.diagnostics.values
    console.print(
        f"ESS {values['effective_sample_size']:,.0f} ({values['ess_ratio']:.1%} of rounds), "
        f"max weight {values['max_weight']:.2f}, mean weight {values['mean_weight']:.3f}, "
        f"support deficit {values.get('support_deficit_rate', 0.0):.1%} of rounds",
        highlight=False,
    )
    for warning in evaluation.diagnostics.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if "run_id" in payload:
        console.print(f"MLflow run {payload['run_id']}")
