"""``offerlab report``: the business report of a simulation or decision-log folder, as JSON and HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from experiments.cli.app import app, console
from experiments.cli.errors import user_errors_exit_2


@app.command()
@user_errors_exit_2
def report(
    log: Annotated[
        Path,
        typer.Option(help="Folder with events, items, decisions, outcomes and holdout (e.g. a simulate --out folder)."),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write report.json and report.html into.")],
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (users resampled within each group).")] = 1000,
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals.")] = 0.05,
    window_days: Annotated[
        float, typer.Option(help="Attribution window of the trigger-kind breakdown, in days.")
    ] = 7.0,
    take_rate: Annotated[
        float | None, typer.Option(help="Platform's share of revenue (default: implied by the logged rewards).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Compare treated users against the global holdout: overall, by trigger kind and by merchant segment.

    Conversion, net revenue, repurchase, order value, acquisition cost, attributed against incremental.
    """
    from experiments.business import business_report, load_business_log, write_report
    from experiments.business.page import kpi_table

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    result = business_report(
        load_business_log(log),
        seed=seed,
        n_bootstrap=bootstrap,
        alpha=alpha,
        window_days=window_days,
        take_rate=take_rate,
    )
    paths = write_report(result, out, source=str(log))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    console.print(result.headline, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    level = f"{1 - alpha:.0%}"
    rows = kpi_table(result.overall, level).select(
        "KPI", "treated", "holdout", "incremental", f"incremental {level} interval"
    )
    table = Table(title=f"treated ({result.overall.n_treated:,}) against holdout ({result.overall.n_holdout:,})")
    for column in rows.columns:
        table.add_column(column, justify="left" if column == "KPI" else "right")
    for row in rows.iter_rows():
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {paths['json']} and {paths['html']}", highlight=False, soft_wrap=True)
