"""``offerlab churn``: evaluate, train, tune and score the churn model on CDNOW or any event log in the contract.

Every command that fits records one MLflow run (experiment ``offerlab-churn``): the protocol, the metrics of
the model and both baselines, calibration, lift and importance plots; ``train`` and ``tune`` log the model and
register it as ``churn-model``; ``tune`` logs each Optuna trial as a nested run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from experiments.cli.app import platform_config, progress_bar
from experiments.cli.errors import user_errors_exit_2

console = Console()
app = typer.Typer(help="Churn model: evaluate against baselines, train, tune, score.", no_args_is_help=True)

DatasetOpt = Annotated[
    str,
    typer.Option(help="'cdnow' (the CDNOW purchase log) or a folder with events, items and users Parquet files."),
]
TrainOpt = Annotated[str, typer.Option("--train-snapshot", help="Train date (ISO): features before it, labels after.")]
TestOpt = Annotated[str, typer.Option("--test-snapshot", help="Later test date (ISO).")]
HorizonOpt = Annotated[int, typer.Option("--horizon-days", help="Churned: no purchase within this many days.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of LightGBM and Optuna.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def load_dataset(dataset: str) -> tuple[Any, Any, Any]:
    """Load ``(events, items, users)`` of ``cdnow`` or of a folder, validated against the contracts.

    The folder holds ``events``, ``items`` and ``users`` (Parquet files named so, or ``events/`` a folder of them).
    """
    if dataset.lower() == "cdnow":
        from features.adapters.cdnow import load_cdnow

        data = load_cdnow()
        return data.events.lazy(), data.items.lazy(), data.users.lazy()
    from experiments.cli.features import load_inputs

    folder = Path(dataset)
    if not folder.is_dir():
        raise FileNotFoundError(f"--dataset: {dataset!r} is neither 'cdnow' nor a folder")
    paths = {}
    for name in ("events", "items", "users"):
        found = [p for p in (folder / f"{name}.parquet", folder / name, folder / f"{name}.csv") if p.exists()]
        if not found:
            raise FileNotFoundError(f"--dataset: {folder} has no {name}.parquet (nor {name}/ or {name}.csv)")
        paths[name] = found[0]
    return load_inputs(paths["events"], paths["items"], paths["users"])


def _protocol(train_snapshot: str, test_snapshot: str, horizon_days: int) -> Any:
    from features.churn.evaluation import Protocol, as_date

    protocol = Protocol(as_date(train_snapshot), as_date(test_snapshot), horizon_days)
    protocol.check()
    return protocol


def _log_evaluation(evaluation: Any, protocol: Any, seconds: float) -> None:
    import mlflow

    from features.churn.plots import calibration_plot, importance_plot, lift_plot

    y = evaluation.test["churned"].to_numpy()
    scores = {"lightgbm": evaluation.test_proba, **evaluation.baseline_proba}
    mlflow.log_metrics({f"test_{k}": v for k, v in evaluation.metrics.items()})
    for name, values in evaluation.baselines.items():
        mlflow.log_metrics({f"{name}_{k}": v for k, v in values.items()})
    mlflow.log_metrics({"n_train": evaluation.n_train, "n_test": evaluation.n_test, "fit_seconds": seconds})
    mlflow.log_params({f"model.{k}": v for k, v in vars(evaluation.model.params).items()})
    mlflow.log_figure(calibration_plot(y, scores), "plots/calibration.png")
    mlflow.log_figure(lift_plot(y, scores), "plots/lift.png")
    mlflow.log_figure(importance_plot(evaluation.model.importance()), "plots/importance.png")
    mlflow.log_dict(evaluation.summary(), "evaluation.json")


def _run(
    command: str,
    dataset: str,
    train_snapshot: str,
    test_snapshot: str,
    horizon_days: int,
    trials: int,
    seed: int,
    register: bool,
) -> Any:
    from experiments.tracking import ensure_experiment, tracked_run
    from features.churn.evaluation import check_protocol, evaluate

    protocol = _protocol(train_snapshot, test_snapshot, horizon_days)
    events, items, users = load_dataset(dataset)
    check_protocol(events, protocol)  # bad dates stop here, before an MLflow run is opened
    config = platform_config()
    params = {"dataset": dataset, "protocol": {k: str(v) for k, v in vars(protocol).items()}, "trials": trials}
    with tracked_run(config, "churn", params | {"seed": seed}, run_name=f"churn-{command}"):
        experiment_id = ensure_experiment(config, "churn") if trials else None
        with progress_bar(f"churn {command}: Optuna trials", max(trials, 1)) as progress:
            task = progress.add_task("trials", total=max(trials, 1))
            started = time.perf_counter()
            evaluation = evaluate(
                events,
                items,
                users,
                protocol,
                trials=trials,
                seed=seed,
                mlflow_experiment_id=experiment_id,
                on_trial=lambda *_: progress.advance(task),
            )
            seconds = time.perf_counter() - started
            progress.update(task, completed=max(trials, 1))
        _log_evaluation(evaluation, protocol, seconds)
        if register:
            from features.churn.pyfunc import log_churn_model

            log_churn_model(evaluation.model, evaluation.test)
    return evaluation


def _print(evaluation: Any, as_json: bool) -> None:
    summary = evaluation.summary()
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table(title=f"churn on the test snapshot ({summary['n_test']:,} users; trained on {summary['n_train']:,})")
    for column in ("scorer", "ROC AUC", "PR AUC", "Brier"):
        table.add_column(column, justify="right" if column != "scorer" else "left")
    table.add_row("LightGBM", *(f"{summary[k]:.4f}" for k in ("auc", "pr_auc", "brier")))
    for name, values in summary["baselines"].items():
        table.add_row(name, *(f"{values[k]:.4f}" for k in ("auc", "pr_auc", "brier")))
    console.print(table)


@app.command()
@user_errors_exit_2
def evaluate(
    dataset: DatasetOpt,
    train_snapshot: TrainOpt,
    test_snapshot: TestOpt,
    horizon_days: HorizonOpt = 60,
    trials: Annotated[int, typer.Option(help="Optuna trials before fitting (0: default settings).")] = 0,
    seed: SeedOpt = 0,
    json_output: JsonOpt = False,
) -> None:
    """Fit on snapshots up to the train date; ROC AUC, PR AUC, Brier on the test date, against BG/NBD and recency."""
    _print(_run("evaluate", dataset, train_snapshot, test_snapshot, horizon_days, trials, seed, False), json_output)


@app.command()
@user_errors_exit_2
def train(
    dataset: DatasetOpt,
    train_snapshot: TrainOpt,
    test_snapshot: TestOpt,
    horizon_days: HorizonOpt = 60,
    seed: SeedOpt = 0,
    json_output: JsonOpt = False,
) -> None:
    """Fit with default settings, evaluate, log and register the model as ``churn-model``."""
    _print(_run("train", dataset, train_snapshot, test_snapshot, horizon_days, 0, seed, True), json_output)


@app.command()
@user_errors_exit_2
def tune(
    dataset: DatasetOpt,
    train_snapshot: TrainOpt,
    test_snapshot: TestOpt,
    horizon_days: HorizonOpt = 60,
    trials: Annotated[int, typer.Option(help="Optuna trials (TPE, pruned), each a nested MLflow run.")] = 50,
    seed: SeedOpt = 0,
    json_output: JsonOpt = False,
) -> None:
    """Tune with Optuna, fit the best settings, evaluate, log and register the model as ``churn-model``."""
    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    _print(_run("tune", dataset, train_snapshot, test_snapshot, horizon_days, trials, seed, True), json_output)


@app.command()
@user_errors_exit_2
def score(
    dataset: DatasetOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Score the customers as of this date (ISO; UTC).")],
    out: Annotated[Path, typer.Option(help="Parquet (or .csv) file: user_id, churn_risk, reason_1..k.")],
    model: Annotated[str, typer.Option(help="MLflow model URI of the churn model.")] = "models:/churn-model/latest",
    reasons: Annotated[int, typer.Option(help="Top reasons per user from LightGBM's contributions.")] = 3,
) -> None:
    """Churn risk of every customer as of a date, with each score's top reasons; written atomically."""
    from features.churn.dataset import customer_features
    from features.churn.evaluation import as_date, to_datetime
    from features.churn.pyfunc import load_churn_model
    from features.io import write_frame

    if reasons < 0:
        raise ValueError(f"--reasons must be 0 or more, got {reasons}")
    moment = to_datetime(as_date(as_of))
    platform_config()
    from policies.serving.config import configure_mlflow

    configure_mlflow(platform_config())
    churn_model = load_churn_model(model)
    events, items, users = load_dataset(dataset)
    with progress_bar("churn score", 3) as progress:
        task = progress.add_task("score", total=3)
        customers = customer_features(events, items, users, moment, churn_model.horizon_days or 60)
        progress.advance(task)
        scored = customers.select("user_id", pl.Series("churn_risk", churn_model.predict_proba(customers)))
        if reasons:
            scored = scored.join(churn_model.explain(customers, top=reasons), on="user_id", how="left")
        progress.advance(task)
        write_frame(scored.sort("churn_risk", descending=True), out)
        progress.advance(task)
    mean_risk = float(scored.select(pl.mean("churn_risk")).item())
    console.print(
        f"{scored.height:,} customers scored as of {moment.date()} (mean churn risk {mean_risk:.3f}) -> {out}"
    )
