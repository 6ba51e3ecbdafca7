"""``offerlab tune``: Optuna searches the VW policy's settings, against the simulator's truth or a log.

``--scenario S`` judges each configuration by the simulator's true value of the VW policy learning online in
the scenario; ``--log LOG`` by an off-policy estimate (DR or SNIPS) of the policy trained on the earlier part
of the log (or on some users), on the rest (:mod:`experiments.tuning`). Every trial is an MLflow run nested
under one parent run (experiment ``offerlab-tune``); the best settings are written to ``--out`` (JSON, or
YAML by suffix; ``VWConfig`` loads it) and a policy trained with them is registered as a new version of the
offer policy, aliased challenger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config, progress_bar
from experiments.cli.errors import user_errors_exit_2


@app.command()
@user_errors_exit_2
def tune(
    trials: Annotated[int, typer.Option(help="Optuna trials (seeded TPE), each a nested MLflow run.")] = 30,
    scenario: Annotated[
        str | None,
        typer.Option(help="Tune against the simulator's truth in this scenario (name or YAML path)."),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(help="Tune against an off-policy estimate on this bandit log (file or folder) instead."),
    ] = None,
    users: Annotated[int | None, typer.Option(help="--scenario: override its number of users.")] = None,
    days: Annotated[int | None, typer.Option(help="--scenario: override its number of days.")] = None,
    worlds: Annotated[
        int, typer.Option(help="--scenario: judge each trial on this many worlds (seeds seed, seed+1, ...).")
    ] = 1,
    estimator: Annotated[str, typer.Option(help="--log: dr (cross-fitted reward model) or snips.")] = "dr",
    split: Annotated[
        str, typer.Option(help="--log: hold out the latest rounds ('time') or a share of the users ('user').")
    ] = "time",
    holdout: Annotated[float, typer.Option(help="--log: the held-out share of rounds or users.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the sampler, VW, the simulated world and the split.")] = 0,
    out: Annotated[Path, typer.Option(help="File for the best VW settings: .json, or .yaml / .yml.")] = Path(
        "runs/tune/vw-config.json"
    ),
    register: Annotated[
        bool, typer.Option(help="Register the tuned policy as a new version of the offer policy (challenger).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Tune the VW policy's explorer, cb_type, interactions, learning rate, L2 and passes with Optuna."""
    from experiments.tuning import run_tuning

    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    if (scenario is None) == (log is None):
        raise ValueError("give exactly one of --scenario (tune against the simulator) or --log (off-policy)")
    if log is not None and (users is not None or days is not None or worlds != 1):
        raise ValueError("--users, --days and --worlds describe simulated worlds; they do not apply to --log")
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file (.json, .yaml or .yml)")
    objective = _objective(scenario, log, users, days, worlds, estimator, split, holdout, seed)
    with progress_bar("tune: Optuna trials", trials) as progress:
        task = progress.add_task("trials", total=trials)
        run = run_tuning(
            platform_config(), objective, trials, out, seed, register, on_trial=lambda *_: progress.advance(task)
        )
    payload = run.payload()
    if as_json:
        print(json.dumps(payload))
        return
    _print(payload, objective.metric)


def _objective(
    scenario: str | None,
    log: Path | None,
    users: int | None,
    days: int | None,
    worlds: int,
    estimator: str,
    split: str,
    holdout: float,
    seed: int,
) -> Any:
    """Build the objective the options name, with every input checked before a run starts."""
    from experiments.tuning import OffPolicyValue, SimulatedValue

    if scenario is not None:
        from simulators.scenario import load_scenario

        return SimulatedValue(load_scenario(scenario).with_size(n_users=users, days=days), seed=seed, worlds=worlds)
    from experiments.inputs import load_bandit_log

    assert log is not None
    return OffPolicyValue(load_bandit_log(log), estimator=estimator, split=split, holdout=holdout, seed=seed)


def _print(payload: dict[str, Any], metric: str) -> None:
    table = Table(title=f"VW tuning: {payload['n_trials']} trials, best {metric} {payload['best_value']:.4f}")
    for column in ("trial", metric, "explorer", "cb_type", "interactions"):
        table.add_column(column, justify="right" if column in ("trial", metric) else "left")
    ranked = sorted(payload["trials"], key=lambda t: -(t["value"] if t["value"] is not None else float("-inf")))
    for trial in ranked[:10]:
        params = trial["params"]
        value = "-" if trial["value"] is None else f"{trial['value']:.4f}"
        table.add_row(
            str(trial["number"]),
            value,
            params.get("explorer", ""),
            params.get("cb_type", ""),
            params.get("interactions", ""),
        )
    console.print(table)
    console.print(
        f"best settings -> {payload['config_file']}; MLflow run {payload['run_id']}"
        + (f"; registered as version {payload['model_version']}" if payload["model_version"] else "")
    )
