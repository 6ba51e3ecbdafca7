"""The one place the command line turns errors into exit statuses.

Bad input (a missing file, a column that is not there, a value out of range, a model the registry does not
hold) ends with a one-line message naming the problem on stderr and exit status 2, before anything is
written. Anything else is a bug in offerlab and ends with its traceback: a ``KeyError`` or ``IndexError``
(a lookup our code got wrong), and a ``ValueError`` raised inside a library rather than by offerlab's own
checks (numpy's "operands could not be broadcast", say).

Examples
--------
>>> import typer
>>> @user_errors_exit_2
... def command(value: int) -> int:
...     if value < 0:
...         raise ValueError(f"--value must be at least 0; got {value}")
...     return value
>>> command(3)
3
>>> try:
...     command(-1)
... except typer.Exit as stop:
...     stop.exit_code
2
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from features.validation import SchemaError

#: Exit status of a command that ran and found what was asked (e.g. a gate that did not pass).
EXIT_NOT_PASSED = 1
#: Exit status of bad input: the user can fix it.
EXIT_BAD_INPUT = 2
#: Exit status of ``--strict`` when a diagnostic fails.
EXIT_STRICT = 3
#: The exceptions that mean bad input; everything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (SchemaError, ValueError, FileNotFoundError, LookupError)

#: Top-level packages whose ``ValueError`` is a deliberate input check.
OFFERLAB_PACKAGES = frozenset({"features", "policies", "simulators", "experiments"})

errors = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def user_errors_exit_2(command: Callable[P, R]) -> Callable[P, R]:
    """Turn bad input into a one-line message on stderr and exit status 2; let bugs raise."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            if not is_bad_input(error):
                raise
            errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from error

    return wrapper


def is_bad_input(error: BaseException) -> bool:
    """Whether ``error`` reports the user's bad input (exit 2) rather than a bug (a traceback).

    Examples
    --------
    >>> is_bad_input(FileNotFoundError("no such log: x.parquet"))
    True
    >>> is_bad_input(KeyError("action"))
    False
    >>> import numpy as np
    >>> try:
    ...     np.ones(3) + np.ones(4)
    ... except ValueError as error:
    ...     is_bad_input(error)
    False
    """
    if missing_in_mlflow(error) or is_validation_error(error):
        return True
    if not isinstance(error, USER_ERRORS) or isinstance(error, KeyError | IndexError):
        return False
    if isinstance(error, ValueError) and not isinstance(error, SchemaError):
        return raised_by_offerlab(error)
    return True


def raised_by_offerlab(error: BaseException) -> bool:
    """Whether ``error`` comes from a ``raise`` statement in one of offerlab's packages (a deliberate check).

    A ``ValueError`` that numpy or polars raise from compiled code surfaces at the offerlab line that called
    them, which is not a ``raise`` statement; one never raised (built by hand) counts as deliberate.
    """
    frame = error.__traceback__
    if frame is None:
        return True
    while frame.tb_next is not None:
        frame = frame.tb_next
    module = str(frame.tb_frame.f_globals.get("__name__", ""))
    line = linecache.getline(frame.tb_frame.f_code.co_filename, frame.tb_lineno).strip()
    return module.split(".")[0] in OFFERLAB_PACKAGES and line.startswith("raise")


def is_validation_error(error: BaseException) -> bool:
    """Pydantic's report of a configuration file or option that does not fit its model."""
    from pydantic import ValidationError

    return isinstance(error, ValidationError)


def missing_in_mlflow(error: BaseException) -> bool:
    """MLflow's 'no such model / version / run': the user named something that is not there."""
    return getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
