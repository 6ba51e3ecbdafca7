"""The ``offerlab`` application object, its consoles and what every command shares (configuration, progress bars).

Commands live in one module per group (:mod:`experiments.cli.simulation`, :mod:`~experiments.cli.policy`,
:mod:`~experiments.cli.evaluation`, :mod:`~experiments.cli.data`) and register themselves on :data:`app` when
imported; the ``churn``, ``features`` and ``triggers`` groups are sub-applications.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from experiments.cli.errors import errors

app = typer.Typer(
    name="offerlab",
    help="Bandit-optimised triggered marketing: simulate, train, evaluate off-policy, promote, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def platform_config() -> Any:
    """Return the platform's configuration (``mlflow.yaml`` and ``OFFERLAB_*`` variables)."""
    from policies.serving.config import load_config

    return load_config()


def progress_bar(label: str, total: int) -> Progress:
    """Return a progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not sys.stderr.isatty(),
    )
