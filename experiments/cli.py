"""The ``offerlab`` command line: simulate, train, ope, export-dsjson, promote, serve, demo, erase.

Bad input ends with a message naming the problem on stderr and exit status 2,
before anything is written.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.schemas import ACTIONS
from features.validation import SchemaError

app = typer.Typer(
    name="offerlab",
    help="Bandit-optimised triggered marketing: simulate, train, evaluate off-policy, promote, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
USER_ERRORS = (SchemaError, ValueError, FileNotFoundError, LookupError, KeyError)


def user_errors_exit_2(command: F) -> F:
    """Turn bad input into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            if not isinstance(error, USER_ERRORS) and not _missing_in_mlflow(error):
                raise
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from error

    return wrapper  # type: ignore[return-value]


def _missing_in_mlflow(error: Exception) -> bool:
    """MLflow's 'no such model / version / run': the user named something that is not there."""
    return getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _config() -> Any:
    from policies.serving.config import load_config

    return load_config()


def progress_bar(label: str, total: int) -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not sys.stderr.isatty(),
    )


@app.command()
@user_errors_exit_2
def simulate(
    scenario: Annotated[
        str, typer.Option(help="Scenario name (simulators/scenarios/NAME.yaml) or path to a YAML file.")
    ] = "default",
    users: Annotated[int | None, typer.Option(help="Override the scenario's number of users.")] = None,
    days: Annotated[int | None, typer.Option(help="Override the scenario's number of days.")] = None,
    policy: Annotated[
        str, typer.Option(help=f"uniform, vw, rules, oracle, or a fixed action: {', '.join(ACTIONS)}.")
    ] = "uniform",
    seed: Annotated[int, typer.Option(help="The one seed that drives the run.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Folder for events/items/users/decisions/outcomes/truth Parquet.")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Print (and save to --out) the calibration table against the brief.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Simulate the marketplace under a policy, with the counterfactual truth of every decision."""
    from experiments import jobs
    from simulators.scenario import load_scenario

    loaded = load_scenario(scenario).with_size(n_users=users, days=days)
    jobs.simulation_policy(policy)  # check the name before any run starts
    with progress_bar("simulating days", loaded.days) as progress:
        task = progress.add_task("simulate", total=loaded.days)
        run = jobs.simulate(
            _config(), loaded, policy, seed, out, on_day=lambda _: progress.advance(task), report=report
        )
    if as_json:
        payload = dict(run.summary)
        if run.calibration is not None:
            payload["calibration"] = run.calibration.to_dicts()
        print(json.dumps(payload))
        return
    table = Table(title=f"simulation: {loaded.name}, policy {policy}, seed {seed}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in run.summary.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    if run.calibration is not None:
        _print_calibration(run.calibration)
    console.print(f"MLflow run {run.run_id}" + (f"; files in {out}" if out else ""))


def _print_calibration(calibration: Any) -> None:
    """The figures side by side; knobs and notes below, numbered, so the table fits a terminal."""
    table = Table(title="calibration against the brief (knobs and notes below)")
    for column in ("#", "figure", "vendor claim", "benchmark", "simulated"):
        table.add_column(column, overflow="fold")
    notes = []
    for number, row in enumerate(calibration.iter_rows(named=True), start=1):
        table.add_row(str(number), row["figure"], row["vendor_claim"], row["benchmark"], row["simulated"])
        notes.append(f"{number}. {row['note']}" + (f" [knobs: {row['knobs']}]" if row["knobs"] else ""))
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)


@app.command()
@user_errors_exit_2
def train(
    log: Annotated[
        Path,
        typer.Option(
            help="Bandit log: Parquet/CSV with action, reward, propensity + features, or a simulate --out folder."
        ),
    ],
    seed: Annotated[int, typer.Option(help="VW's random seed.")] = 0,
    epsilon: Annotated[float, typer.Option(help="Exploration share of the trained policy.")] = 0.05,
    passes: Annotated[int, typer.Option(help="Passes over the log.")] = 2,
) -> None:
    """Train the VW contextual bandit on a log; register it as the challenger."""
    from experiments import jobs
    from experiments.inputs import load_bandit_log
    from policies.base import Feedback

    frame = load_bandit_log(log)
    Feedback.from_log(frame)  # validate before any run starts
    run = jobs.train(_config(), frame, seed=seed, epsilon=epsilon, passes=passes)
    console.print(
        f"trained on {frame.height} rounds in {run.seconds:.2f}s; registered as version {run.version} ({run.model_uri})"
    )


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
    config = _config()
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


@app.command("export-dsjson")
@user_errors_exit_2
def export_dsjson(
    log: Annotated[
        Path,
        typer.Option(
            help="Bandit log: Parquet with decision_id, actions, action, propensity, probabilities, reward + features, "
            "or a simulate --out folder."
        ),
    ],
    out: Annotated[Path, typer.Option(help="DSJSON file to write: one JSON object per decision.")],
) -> None:
    """Export a decision log to Vowpal Wabbit's DSJSON, which `vw --dsjson --cb_explore_adf` reads."""
    from experiments.inputs import load_bandit_log
    from policies.bandits.dsjson import write_dsjson

    rows = write_dsjson(load_bandit_log(log), out)
    console.print(f"exported {rows:,} decisions to {out} (DSJSON)", highlight=False, soft_wrap=True)


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


@app.command()
@user_errors_exit_2
def promote(
    version: Annotated[str | None, typer.Option(help="Registry version to promote (default: the challenger).")] = None,
    log: Annotated[Path | None, typer.Option(help="Held-out bandit log the gate judges on.")] = None,
    min_lift: Annotated[float, typer.Option(help="The lift's interval must clear this.")] = 0.0,
    force: Annotated[bool, typer.Option(help="Promote even if the gate fails (recorded in the run).")] = False,
    rollback: Annotated[bool, typer.Option(help="Move the champion alias back to the previous champion.")] = False,
) -> None:
    """Promote a registered policy to champion if it passes the off-policy gate; or roll back."""
    from experiments import jobs
    from experiments.inputs import load_bandit_log
    from experiments.promotion import PromotionGate, rollback_champion
    from policies.base import Feedback
    from policies.serving.config import configure_mlflow
    from policies.serving.pyfunc import load_policy_model
    from policies.serving.registry import alias_version

    config = _config()
    configure_mlflow(config)
    if rollback:
        before, after = rollback_champion(config)
        console.print(f"champion moved back from version {before} to version {after}")
        return
    if log is None:
        raise ValueError("--log is required to judge a promotion")
    feedback = Feedback.from_log(load_bandit_log(log))
    version = version or alias_version(config.registered_model, config.challenger_alias)
    if version is None:
        raise LookupError(f"no --version given and {config.registered_model!r} has no {config.challenger_alias!r}")
    model = load_policy_model(f"models:/{config.registered_model}/{version}")
    assert model.policy is not None
    probs = model.policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    result = jobs.promote(config, version, feedback, probs, PromotionGate(min_lift=min_lift), force=force)
    d = result.decision
    console.print(
        f"lift {d.lift.value:+.4f} [{d.lift.ci_low:+.4f}, {d.lift.ci_high:+.4f}] over the logging policy "
        f"({d.baseline.value:.4f}); candidate {d.candidate.estimator} {d.candidate.value:.4f}"
    )
    if result.promoted:
        console.print(f"[green]version {version} is now {config.champion_alias}[/] (was {result.previous})")
    else:
        console.print(f"[yellow]not promoted:[/] {'; '.join(d.reasons)}")
        raise typer.Exit(1)


@app.command()
@user_errors_exit_2
def serve(
    users: Annotated[
        Path, typer.Option(help="Users table (Parquet/CSV, USERS contract): consents and time zones for guardrails.")
    ],
    model_uri: Annotated[
        str | None, typer.Option(help="Model to serve (default: models:/offer-policy@champion).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from mlflow.yaml).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from mlflow.yaml).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed the endpoint's action sampling (for tests).")] = None,
    features: Annotated[
        Path | None, typer.Option(help="Online snapshot folder (offerlab features snapshot) to complete contexts.")
    ] = None,
    triggers_config: Annotated[
        Path | None, typer.Option(help="Trigger engine YAML (guardrails, lifecycle stages); default: shipped.")
    ] = None,
) -> None:
    """Serve the champion policy over HTTP: POST /v1/decide (guardrails first, then the policy)."""
    from policies.serving.server import build_app, serve_forever

    config = _config()
    application = build_app(
        config, model_uri, seed=seed, features=features, users=users, triggers_config=triggers_config
    )
    bind_host, bind_port = host or config.serving.host, port or config.serving.port
    errors.print(f"serving {model_uri or config.champion_uri} on http://{bind_host}:{bind_port}/v1/decide")
    serve_forever(application, bind_host, bind_port)


@app.command()
@user_errors_exit_2
def demo(
    users: Annotated[
        int, typer.Option(help="Users in the simulated marketplace (more users: tighter intervals).")
    ] = 20000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 30,
    seed: Annotated[int, typer.Option(help="The one seed of the whole chain.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the simulated data.")] = Path("runs/demo"),
) -> None:
    """The whole loop: simulate → features → train → evaluate offline → promote → serve one decision."""
    from experiments.demo import run_demo

    run_demo(_config(), users=users, days=days, seed=seed, out=out, console=console)


@app.command()
@user_errors_exit_2
def erase(
    user: Annotated[list[str], typer.Option("--user", help="A user id to erase (repeat for several).")],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders or files to sweep (default: ./runs and the decision log of mlflow.yaml)."),
    ] = None,
) -> None:
    """Erase users' data: their rows in every Parquet / CSV file under PATHS and their decision-log lines."""
    from experiments.erasure import erase_users

    if not paths:
        defaults = [Path("runs"), _config().serving.decision_log]
        paths = [path for path in defaults if path.exists()]
        if not paths:
            raise FileNotFoundError("erase: no PATHS given and neither ./runs nor the decision log exists")
    removed = erase_users(user, paths)
    table = Table(title=f"erased {len(user)} user(s)")
    table.add_column("file", overflow="fold")
    table.add_column("rows removed", justify="right")
    for path, rows in removed.items():
        table.add_row(str(path), f"{rows:,}")
    if removed:
        console.print(table)
    console.print(f"{sum(removed.values()):,} row(s) removed from {len(removed)} file(s) under {len(paths)} path(s)")


def main() -> None:
    from experiments.churn_cli import app as churn_app
    from experiments.features_cli import app as features_app
    from experiments.triggers_cli import app as triggers_app

    app.add_typer(churn_app, name="churn")
    app.add_typer(features_app, name="features")
    app.add_typer(triggers_app, name="triggers")
    app()


if __name__ == "__main__":
    main()
