"""``offerlab train``, ``offerlab promote`` and ``offerlab serve``: the offer policy from log to endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from experiments.cli.app import app, console, platform_config
from experiments.cli.errors import EXIT_NOT_PASSED, errors, user_errors_exit_2
from features.schemas import ACTIONS


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
    run = jobs.train(platform_config(), frame, seed=seed, epsilon=epsilon, passes=passes)
    console.print(
        f"trained on {frame.height} rounds in {run.seconds:.2f}s; registered as version {run.version} ({run.model_uri})"
    )


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
) -> None:
    """Serve the champion policy over HTTP: POST /v1/decide (guardrails first, then the policy)."""
    from policies.serving.server import build_app, serve_forever

    config = platform_config()
    application = build_app(
        config, model_uri, seed=seed, features=features, users=users, triggers_config=triggers_config
    )
    bind_host, bind_port = host or config.serving.host, port or config.serving.port
    errors.print(f"serving {model_uri or config.champion_uri} on http://{bind_host}:{bind_port}/v1/decide")
    serve_forever(application, bind_host, bind_port)
