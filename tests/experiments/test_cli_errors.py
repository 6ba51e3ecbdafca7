"""Only the user's bad input becomes exit status 2; a bug in offerlab keeps its traceback."""

from __future__ import annotations

import numpy as np
import pytest
import typer

from experiments.cli.errors import EXIT_BAD_INPUT, is_bad_input, user_errors_exit_2
from features.validation import SchemaError


def command_raising(error: Exception) -> typer.models.CommandFunctionType:
    @user_errors_exit_2
    def command() -> None:
        raise error

    return command


@pytest.mark.parametrize(
    "error",
    [
        SchemaError("log: missing column 'reward'"),
        FileNotFoundError("no such log: x.parquet"),
        LookupError("'offer-policy' has no earlier champion to roll back to"),
    ],
)
def test_bad_input_exits_2(error: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as stop:
        command_raising(error)()
    assert stop.value.exit_code == EXIT_BAD_INPUT
    assert str(error) in " ".join(capsys.readouterr().err.split())


def test_an_offerlab_check_raising_value_error_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.ope.interval import check_settings

    @user_errors_exit_2
    def command() -> None:
        check_settings(2.0, 100, "bootstrap")

    with pytest.raises(typer.Exit) as stop:
        command()
    assert stop.value.exit_code == EXIT_BAD_INPUT
    assert "alpha must lie in (0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [
        ValueError("raised outside offerlab's packages"),
        KeyError("action"),
        IndexError("list index out of range"),
        TypeError("bad"),
    ],
)
def test_a_bug_keeps_its_traceback(error: Exception) -> None:
    with pytest.raises(type(error)):
        command_raising(error)()


def test_a_value_error_from_inside_numpy_is_a_bug() -> None:
    @user_errors_exit_2
    def broadcast() -> None:
        np.ones(3) + np.ones(4)

    with pytest.raises(ValueError, match="could not be broadcast"):
        broadcast()


def test_a_pydantic_validation_error_is_bad_input() -> None:
    from experiments.promotion import PromotionGate

    with pytest.raises(ValueError, match="min_ess_ratio") as caught:
        PromotionGate(min_ess_ratio=2.0)
    assert is_bad_input(caught.value)
