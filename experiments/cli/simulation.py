"""``offerlab simulate`` and ``offerlab demo``: the marketplace simulator, and the whole loop on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config, progress_bar
from experiments.cli.errors import user_errors_exit_2
from features.schemas import ACTIONS


@app.command()
@user_errors_exit_2
def simulate(
    scenario: Annotated[
        str, typer.Option(help="Scenario name (simulators/scenarios/NAME.yaml) or path to a YAML file.")
    ] = "default",
    users: Annotated[int | None, typer.Option(help="Override the scenario's number of users.")] = None,
    days: Annotated[int | None, typer.Option(help="Override the scenario's number of days.")] = None,
    policy: Annotated[
        str,
        typer.Option(
            help="uniform, rules, vw, thompson, linucb, lin_ts, oracle, or a fixed action: " + ", ".join(ACTIONS) + "."
        ),
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
            platform_config(), loaded, policy, seed, out, on_day=lambda _: progress.advance(task), report=report
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
    """Print the figures side by side; knobs and notes below, numbered, so the table fits a terminal."""
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
def demo(
    users: Annotated[
        int, typer.Option(help="Users in the simulated marketplace (more users: tighter intervals).")
    ] = 20000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 30,
    seed: Annotated[int, typer.Option(help="The one seed of the whole chain.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the simulated data.")] = Path("runs/demo"),
) -> None:
    """Run the whole loop: simulate → features → train → evaluate offline → promote → serve one decision."""
    from experiments.demo import run_demo

    run_demo(platform_config(), users=users, days=days, seed=seed, out=out, console=console)
