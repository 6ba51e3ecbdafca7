"""``offerlab export-dsjson`` and ``offerlab erase``: moving a decision log out, and users' data out of everything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from experiments.cli.app import app, console, platform_config
from experiments.cli.errors import user_errors_exit_2


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
        defaults = [Path("runs"), platform_config().serving.decision_log]
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
