"""``offerlab ope``: off-policy evaluation of a target policy on a logged decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config
from experiments.cli.errors import user_errors_exit_2
from features.schemas import ACTIONS


@app.command()
@user_errors_exit_2
def ope(
    log: Annotated[
        Path,
        typer.Option(
            help="Bandit log: Parquet/CSV with action, reward, propensity + features, or a simulate --out folder."
        ),
    ],
    policy: Annotated[
        str | None, typer.Option(help="Target policy model URI, e.g. models:/offer-policy@champion.")
    ] = None,
    target_probs: Annotated[
        Path | None, typer.Option(help="Parquet/CSV with one p_<action> column per action, row-aligned with the log.")
    ] = None,
    estimators: Annotated[str, typer.Option(help="Comma-separated: ips, snips.")] = "ips,snips",
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals.")] = 0.05,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Off-policy evaluation of a target policy on a logged decision log, with bootstrap intervals."""
    from experiments import jobs
    from experiments.inputs import load_bandit_log, load_target_probs
    from experiments.ope import ESTIMATORS
    from policies.base import Feedback

    if (policy is None) == (target_probs is None):
        raise ValueError("give exactly one of --policy URI or --target-probs FILE")
    names = [e.strip() for e in estimators.split(",") if e.strip()]
    unknown = [e for e in names if e not in ESTIMATORS or e in ("dm", "dr")]
    if unknown or not names:
        raise ValueError(f"unknown estimator(s) {unknown}; choose from ips, snips")
    frame = load_bandit_log(log)
    feedback = Feedback.from_log(frame)
    config = platform_config()
    if target_probs is not None:
        probs = load_target_probs(target_probs, feedback.n_rounds)
        target = str(target_probs)
    else:
        from policies.serving.config import configure_mlflow
        from policies.serving.pyfunc import load_policy_model

        configure_mlflow(config)
        model = load_policy_model(str(policy))
        assert model.policy is not None
        probs = model.policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
        target = str(policy)
    evaluation = jobs.evaluate_offline(config, feedback, probs, target, names, alpha, bootstrap, seed)
    rows = [*evaluation.results, evaluation.logged]
    if as_json:
        print(json.dumps({"target": target, "results": [r.to_dict() for r in rows], "run_id": evaluation.run_id}))
        return
    console.print(_estimates_table(rows, f"off-policy value of {target} on {feedback.n_rounds} logged rounds", alpha))
    console.print(f"MLflow run {evaluation.run_id}")


def _estimates_table(rows: list[Any], title: str, alpha: float) -> Table:
    table = Table(title=title)
    for column in ("estimator", "value", f"{1 - alpha:.0%} interval", "ESS ratio", "max weight"):
        table.add_column(column, justify="right" if column != "estimator" else "left")
    for r in rows:
        ess, wmax = r.diagnostics.get("ess_ratio"), r.diagnostics.get("max_weight")
        table.add_row(
            r.estimator if r.estimator != "logged" else "logged (on-policy)",
            f"{r.value:.4f}",
            f"[{r.ci_low:.4f}, {r.ci_high:.4f}]",
            "" if ess is None else f"{ess:.3f}",
            "" if wmax is None else f"{wmax:.2f}",
        )
    return table
