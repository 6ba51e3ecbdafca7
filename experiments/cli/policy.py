"""``offerlab train``, ``offerlab promote`` and ``offerlab serve``: the offer policy from log to endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from experiments.cli.app import app, console, platform_config, progress_bar
from experiments.cli.errors import EXIT_NOT_PASSED, errors, user_errors_exit_2
from features.schemas import ACTIONS


@app.command()
@user_errors_exit_2
def train(
    log: Annotated[
        Path | None,
        typer.Option(
            help="Learn offline from this bandit log: Parquet/CSV/JSON lines with action, reward, propensity + "
            "features, a simulate --out folder, or the endpoint's decision-log folder (with its outcomes)."
        ),
    ] = None,
    simulate: Annotated[
        str | None,
        typer.Option(
            help="Learn online in this simulated scenario instead: a name (simulators/scenarios/NAME.yaml) or a "
            "YAML path."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="VW settings (VWConfig) as YAML or JSON, e.g. the file offerlab tune saves."),
    ] = None,
    users: Annotated[int | None, typer.Option(help="--simulate: override the scenario's number of users.")] = None,
    days: Annotated[int | None, typer.Option(help="--simulate: override the scenario's number of days.")] = None,
    seed: Annotated[
        int, typer.Option(help="The simulation's seed; VW's too without --config (with it, VW's seed is the file's).")
    ] = 0,
    epsilon: Annotated[
        float | None, typer.Option(help="Exploration share (default: the shipped tuned setting); not with --config.")
    ] = None,
    passes: Annotated[
        int | None, typer.Option(help="Passes over each batch learned (default: the tuned setting); not with --config.")
    ] = None,
    chunks: Annotated[
        int, typer.Option(help="--log: chunks of the progressive-validation learning curve, in time order.")
    ] = 10,
    estimator: Annotated[
        str, typer.Option(help="--log: off-policy estimator of each chunk before it is learned (snips, dr, ...).")
    ] = "snips",
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="Register the trained policy as the challenger.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train the VW contextual bandit on a log or online in the simulator; register it as the challenger.

    Its learning curve goes to MLflow.
    """
    from experiments import jobs

    if (log is None) == (simulate is None):
        raise ValueError("give exactly one of --log (learn from a bandit log) or --simulate (learn in a scenario)")
    if log is not None and (users is not None or days is not None):
        raise ValueError("--users and --days size a simulated world; they do not apply to --log")
    if chunks < 1:
        raise ValueError(f"--chunks must be at least 1; got {chunks}")
    settings = _vw_settings(config, seed, epsilon, passes)
    if simulate is not None:
        from simulators.scenario import load_scenario

        scenario = load_scenario(simulate).with_size(n_users=users, days=days)
        with progress_bar("training: simulated days", scenario.days) as progress:
            task = progress.add_task("days", total=scenario.days)
            run = jobs.train_simulated(
                platform_config(), scenario, settings, seed, register, on_day=lambda _: progress.advance(task)
            )
    else:
        from experiments.inputs import load_bandit_log
        from experiments.offline_evaluation import check_estimator_names
        from policies.base import Feedback

        check_estimator_names([estimator])
        assert log is not None  # exactly one of --log and --simulate, checked above
        frame = load_bandit_log(log)
        Feedback.from_log(frame)  # validate before any run starts
        with progress_bar("training: chunks of the log", chunks) as progress:
            task = progress.add_task("chunks", total=chunks)
            run = jobs.train(
                platform_config(),
                frame,
                register=register,
                vw_config=settings,
                chunks=chunks,
                estimator=estimator,
                on_chunk=lambda _: progress.advance(task),
            )
    _report(run, "simulate" if simulate is not None else "log", as_json)


def _vw_settings(config: Path | None, seed: int, epsilon: float | None, passes: int | None) -> Any:
    """Return the VW settings the options name.

    That is the --config file, or the shipped tuned settings with --epsilon / --passes.
    """
    from experiments.tuning.config_files import load_config
    from policies.bandits.vw_config import VWConfig, tuned_config

    given = {k: v for k, v in {"epsilon": epsilon, "passes": passes}.items() if v is not None}
    if config is None:
        return VWConfig(**(tuned_config(seed).model_dump() | given))
    if given:
        raise ValueError(f"--config {config} holds every VW setting; drop {', '.join('--' + k for k in given)}")
    try:
        return load_config(config)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"--config {config}: {problems}") from error


def _report(run: Any, source: str, as_json: bool) -> None:
    """Print the training's one JSON object, or its table and a line naming the run and the registered version."""
    payload = {
        "source": source,
        **run.summary,
        "seconds": run.seconds,
        "run_id": run.run_id,
        "model_version": run.version,
        "model_uri": run.model_uri,
        "config": run.policy.params(),
    }
    if as_json:
        print(json.dumps(payload))
        return
    curve = run.curve
    columns: tuple[str, ...]
    if source == "simulate":
        columns = ("day", "decisions", "value", "best_fixed", "oracle", "cumulative_captured_share")
    else:
        columns = ("chunk", "step", "rounds", "value", "ci_low", "ci_high", "logged_value")
    table = Table(title=f"learning curve ({source})")
    for column in columns:
        table.add_column(column, justify="right")
    for row in curve.select(columns).iter_rows():
        table.add_row(*("-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    figures = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in run.summary.items())
    registered = f"registered as version {run.version}" if run.version else "not registered"
    console.print(f"{figures}; {run.seconds:.2f}s; {registered} ({run.model_uri}); MLflow run {run.run_id}")


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

    config = platform_config()
    configure_mlflow(config)
    if rollback:
        before, after = rollback_champion(config)
        console.print(f"champion moved back from version {before} to version {after}")
        return
    if log is None:
        raise ValueError("--log is required to judge a promotion")
    frame = load_bandit_log(log)
    feedback = Feedback.from_log(frame)
    clusters = frame.get_column("user_id").to_numpy() if "user_id" in frame.columns else None
    version = version or alias_version(config.registered_model, config.challenger_alias)
    if version is None:
        raise LookupError(f"no --version given and {config.registered_model!r} has no {config.challenger_alias!r}")
    model = load_policy_model(f"models:/{config.registered_model}/{version}")
    assert model.policy is not None
    probs = model.policy.probabilities(feedback.contexts, ACTIONS, feedback.eligible)
    result = jobs.promote(
        config, version, feedback, probs, PromotionGate(min_lift=min_lift), force=force, clusters=clusters
    )
    d = result.decision
    console.print(
        f"lift {d.lift.value:+.4f} [{d.lift.ci_low:+.4f}, {d.lift.ci_high:+.4f}] over the logging policy "
        f"({d.baseline.value:.4f}); candidate {d.candidate.estimator} {d.candidate.value:.4f}"
    )
    if result.promoted:
        console.print(f"[green]version {version} is now {config.champion_alias}[/] (was {result.previous})")
    else:
        console.print(f"[yellow]not promoted:[/] {'; '.join(d.reasons)}")
        raise typer.Exit(EXIT_NOT_PASSED)


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
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve without a bearer token (local tests only). Without this flag the server refuses to start "
            "unless OFFERLAB_API_TOKEN or serving.api_token in mlflow.yaml holds one.",
        ),
    ] = False,
) -> None:
    """Serve the champion policy over HTTP: POST /v1/decide (guardrails first, then the policy).

    /v1/* requires 'Authorization: Bearer <token>' (the token from OFFERLAB_API_TOKEN or serving.api_token);
    /healthz, /readyz and /metrics stay open for probes and scrapers.
    """
    from policies.serving.server import build_app, serve_forever

    config = platform_config()
    application = build_app(
        config,
        model_uri,
        seed=seed,
        features=features,
        users=users,
        triggers_config=triggers_config,
        insecure=insecure,
    )
    bind_host, bind_port = host or config.serving.host, port or config.serving.port
    errors.print(f"serving {model_uri or config.champion_uri} on http://{bind_host}:{bind_port}/v1/decide")
    if insecure:
        errors.print("[yellow]--insecure: with no token configured, /v1/* answers anyone[/]")
    serve_forever(application, bind_host, bind_port)
