"""``offerlab feature-value``: which feature groups matter to a policy.

They are judged by off-policy value with each group permuted or removed.

The log is read by :mod:`experiments.inputs`, a given policy loaded by :mod:`experiments.targets`;
:mod:`experiments.feature_value` computes the table. Without ``--policy`` a VW policy is trained on the log's
training split. ``--out`` writes the table (CSV and JSON) and the chart (PNG), each atomically, and logs them
as one MLflow run. Exit status 0 when it ran, 2 on bad input (nothing written).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config
from experiments.cli.errors import user_errors_exit_2

if TYPE_CHECKING:
    from policies.base import BasePolicy

#: What ``--out`` writes.
CSV_FILE, JSON_FILE, PNG_FILE = "feature_value.csv", "feature_value.json", "feature_value.png"
#: ``--method`` values and the methods each runs.
METHOD_CHOICES: dict[str, tuple[str, ...]] = {
    "permute": ("permute",),
    "remove": ("remove",),
    "both": ("permute", "remove"),
}


@app.command("feature-value")
@user_errors_exit_2
def feature_value_command(
    log: Annotated[
        Path,
        typer.Option(
            help="Decision log: Parquet, CSV or DSJSON with action, reward, propensity, user_id and the context "
            "features, or a simulate --out / decision-log folder."
        ),
    ],
    policy: Annotated[
        str | None,
        typer.Option(
            help="Target policy for 'permute': a model URI or a saved policy folder. Default: a VW policy trained "
            "on the log's training split."
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="permute, remove or both.")] = "both",
    groups: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON file: group name -> list of context columns. Default: the context's groups."),
    ] = None,
    estimator: Annotated[str, typer.Option(help="Off-policy estimator: dr, sndr, ips, snips, dm, ...")] = "dr",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of each paired interval.")] = 1000,
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals.")] = 0.05,
    holdout: Annotated[float, typer.Option(help="Share of users held out to estimate the values on.")] = 0.5,
    repeats: Annotated[int, typer.Option(help="Permutations per group ('permute'), averaged.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the split, VW, the permutations and the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for feature_value.csv, .json and .png; also logs an MLflow run."),
    ] = None,
) -> None:
    """Show which feature groups matter to the policy.

    The drop in off-policy value with each group permuted or removed, with paired intervals.
    """
    from experiments.feature_value import feature_value, load_groups
    from experiments.inputs import check_bandit_log, feedback_from_checked, load_bandit_log
    from experiments.ope import make_estimator
    from experiments.ope.interval import check_settings
    from experiments.targets import target_policy

    started = time.perf_counter()
    if method not in METHOD_CHOICES:
        raise ValueError(f"--method must be one of {', '.join(METHOD_CHOICES)}; got {method!r}")
    make_estimator(estimator)
    check_settings(alpha, bootstrap, "bootstrap")
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    custom = load_groups(groups) if groups is not None else None
    frame = check_bandit_log(load_bandit_log(log))
    feedback = feedback_from_checked(frame)
    config = platform_config()
    target: BasePolicy | None = None
    described = "vw policy trained on the training split"
    if policy is not None:
        target, described = target_policy(policy, config)
    clusters = frame.get_column("user_id").to_numpy() if "user_id" in frame.columns else None
    result = feature_value(
        feedback,
        clusters,
        policy=target,
        methods=METHOD_CHOICES[method],
        groups=custom,
        estimator=estimator,
        holdout=holdout,
        repeats=repeats,
        alpha=alpha,
        n_bootstrap=bootstrap,
        seed=seed,
    )
    payload = result.payload(log=str(log), policy=described, seconds=round(time.perf_counter() - started, 3))
    if out is not None:
        payload["run_id"] = write_outputs(config, result.table, payload, out)
    if as_json:
        print(json.dumps(payload))
    else:
        print_table(payload)


def write_outputs(config: Any, table: Any, payload: dict[str, Any], out: Path) -> str:
    """Write the table (CSV, JSON) and the chart (PNG) into ``out``, and log them with the drops as one MLflow run.

    Each file is written atomically; the run's id is returned.
    """
    import mlflow

    from experiments.feature_value import feature_value_chart, save_png
    from experiments.tracking import tracked_run
    from features.io import atomic_path, write_frame

    out.mkdir(parents=True, exist_ok=True)
    params = {**{k: v for k, v in payload["settings"].items() if v is not None}, "log": payload["log"]}
    params["policy"] = payload["policy"]
    params["methods"] = ",".join(params["methods"])
    with tracked_run(config, "feature-value", params, run_name="feature-value") as run:
        payload = {**payload, "run_id": run.info.run_id}
        write_frame(table, out / CSV_FILE)
        with atomic_path(out / JSON_FILE) as path:
            path.write_text(json.dumps(payload, indent=2))
        figure = feature_value_chart(table, title=f"Value of each feature group to the {payload['policy']}")
        save_png(figure, out / PNG_FILE)
        metrics = {}
        for row in payload["groups"]:
            for key in ("drop", "lower", "upper"):
                metrics[re.sub(r"[^\w\-. /]", "_", f"{row['method']}.{row['group']}.{key}")] = row[key]
        mlflow.log_metrics(metrics)
        for name in (CSV_FILE, JSON_FILE, PNG_FILE):
            mlflow.log_artifact(str(out / name))
        return str(run.info.run_id)


def print_table(payload: dict[str, Any]) -> None:
    """Print the groups as a table, the largest drop first."""
    settings = payload["settings"]
    table = Table(
        title=f"value of each feature group to the {payload['policy']}: {settings['estimator']} on "
        f"{settings['test_rounds']:,} held-out rounds"
    )
    level = f"{1 - settings['alpha']:.0%} interval"
    for column in ("group", "method", "value full", "value without", "drop", level, "rounds changed"):
        table.add_column(column, justify="left" if column in ("group", "method") else "right")
    for row in payload["groups"]:
        table.add_row(
            row["group"],
            row["method"],
            f"{row['value_full']:.4f}",
            f"{row['value_without']:.4f}",
            f"{row['drop']:+.4f}",
            f"[{row['lower']:+.4f}, {row['upper']:+.4f}]",
            f"{row['share_of_rounds_changed']:.1%}",
        )
    console.print(table)
    if "run_id" in payload:
        console.print(f"MLflow run {payload['run_id']}")
