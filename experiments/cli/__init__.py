"""The ``offerlab`` command line, one module per command group.

Bad input ends with a message naming the problem on stderr and exit status 2, before anything is written
(:mod:`experiments.cli.errors`); logs are read by :mod:`experiments.inputs` and target policies by
:mod:`experiments.targets`, the one place each.
"""

from __future__ import annotations

from experiments.cli.app import app


def main() -> None:
    """Register every command group and run the application."""
    from experiments.cli import simulation, policy, evaluation, data  # noqa: F401, I001  (commands register in this order)
    from experiments.cli import report  # noqa: F401  (offerlab report registers)
    from experiments.cli.churn import app as churn_app
    from experiments.cli.features import app as features_app
    from experiments.cli.triggers import app as triggers_app

    app.add_typer(churn_app, name="churn")
    app.add_typer(features_app, name="features")
    app.add_typer(triggers_app, name="triggers")
    app()


__all__ = ["app", "main"]
