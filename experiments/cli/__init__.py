"""The ``offerlab`` command line, one module per command group.

Bad input ends with a message naming the problem on stderr and exit status 2, before anything is written
(:mod:`experiments.cli.errors`); logs are read by :mod:`experiments.inputs` and target policies by
:mod:`experiments.targets`, the one place each.
"""

from __future__ import annotations

import importlib

import typer

from experiments.cli.app import app

#: The modules whose import registers their commands on ``app``, in the order the commands are listed.
COMMAND_MODULES = ("simulation", "policy", "evaluation", "report", "data", "tuning", "feature_value")


def application() -> typer.Typer:
    """Return the application with every command group registered (once), e.g. for ``typer.testing.CliRunner``."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"experiments.cli.{name}")
    from experiments.cli.churn import app as churn_app
    from experiments.cli.features import app as features_app
    from experiments.cli.log import app as log_app
    from experiments.cli.triggers import app as triggers_app

    if not app.registered_groups:
        app.add_typer(churn_app, name="churn")
        app.add_typer(features_app, name="features")
        app.add_typer(triggers_app, name="triggers")
        app.add_typer(log_app, name="log")
    return app


def main() -> None:
    """Register every command group and run the application."""
    application()()


__all__ = ["app", "application", "main"]
