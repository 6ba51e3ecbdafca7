"""Bad inputs, each with the exact message it raises."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from experiments.ope import (
    DM,
    DR,
    DROS,
    IPS,
    SNDR,
    SNIPS,
    RoundTerms,
    SwitchDR,
    bootstrap_interval,
    check_target_probs,
    evaluate,
    make_estimator,
    paired_difference,
    summarise,
    summarise_all,
)
from policies.base import Feedback

GOOD = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])


def three_rounds() -> Feedback:
    return Feedback(
        contexts=pl.DataFrame({"x": [0, 1, 2]}),
        actions=("a", "b", "c"),
        eligible=np.ones((3, 3), dtype=bool),
        chosen=np.array([0, 1, 2]),
        rewards=np.array([1.0, 0.0, 0.5]),
        propensities=np.full(3, 1 / 3),
    )


def with_entries(*entries: tuple[int, int, float]) -> np.ndarray:
    probs = GOOD.copy()
    for row, column, value in entries:
        probs[row, column] = value
    return probs


BAD_TARGET_PROBS = [
    pytest.param(
        np.full((3, 2), 0.5),
        "target_probs has shape (3, 2), expected (3, 3) (rounds, actions)",
        id="too-few-actions",
    ),
    pytest.param(
        np.full((2, 3), 1 / 3),
        "target_probs has shape (2, 3), expected (3, 3) (rounds, actions)",
        id="too-few-rounds",
    ),
    pytest.param(
        np.full(3, 1 / 3),
        "target_probs has shape (3,), expected (3, 3) (rounds, actions)",
        id="one-dimensional",
    ),
    pytest.param(
        with_entries((1, 0, -0.5), (1, 1, 1.0)),
        "target_probs must lie in [0, 1]; row 1 has -0.5 for action 'a' (1 bad row(s))",
        id="negative",
    ),
    pytest.param(
        with_entries((0, 1, 1.5), (0, 2, -1.5), (2, 2, 2.0)),
        "target_probs must lie in [0, 1]; row 0 has 1.5 for action 'b' (2 bad row(s))",
        id="above-one",
    ),
    pytest.param(
        with_entries((2, 1, 0.25)),
        "target_probs rows must sum to 1 (within 1e-06); row 2 sums to 0.75 (1 bad row(s))",
        id="row-sums-below-one",
    ),
    pytest.param(
        np.zeros((3, 3)),
        "target_probs rows must sum to 1 (within 1e-06); row 0 sums to 0.0 (3 bad row(s))",
        id="all-zero",
    ),
    pytest.param(
        with_entries((1, 2, np.nan)),
        "target_probs must be finite; row 1 has nan for action 'c' (1 bad row(s))",
        id="nan",
    ),
    pytest.param(
        with_entries((0, 1, np.inf), (2, 0, -np.inf)),
        "target_probs must be finite; row 0 has inf for action 'b' (2 bad row(s))",
        id="infinite",
    ),
]


@pytest.mark.parametrize(("target_probs", "message"), BAD_TARGET_PROBS)
def test_bad_target_probs_are_named_by_row(target_probs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        IPS().estimate(three_rounds(), target_probs)


@pytest.mark.parametrize(("target_probs", "message"), BAD_TARGET_PROBS)
def test_check_target_probs_raises_the_same_messages(target_probs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_target_probs(three_rounds(), target_probs)


def test_rows_within_the_tolerance_pass() -> None:
    nearly = with_entries((1, 2, 0.5 + 5e-7))
    assert IPS().estimate(three_rounds(), nearly, n_bootstrap=10).n_rounds == 3


def test_nested_lists_are_accepted_as_target_probs() -> None:
    assert check_target_probs(three_rounds(), GOOD.tolist()).dtype == np.float64  # type: ignore[arg-type]


BAD_CALLS = [
    pytest.param(
        lambda: DR().estimate(three_rounds(), GOOD),
        "dr needs q_hat, the (n, k) estimated expected reward of every action; got None",
        id="dr-without-q-hat",
    ),
    pytest.param(
        lambda: DM().estimate(three_rounds(), GOOD),
        "dm needs q_hat, the (n, k) estimated expected reward of every action; got None",
        id="dm-without-q-hat",
    ),
    pytest.param(
        lambda: DR().estimate(three_rounds(), GOOD, np.zeros((3, 2))),
        "q_hat has shape (3, 2), expected (3, 3) (rounds, actions)",
        id="q-hat-shape",
    ),
    pytest.param(
        lambda: DM().estimate(three_rounds(), GOOD, np.where(np.eye(3, k=1) > 0, np.nan, 0.0)),
        "q_hat must be finite where the target's probability is positive; row 1 has nan for action 'c' (1 bad row(s))",
        id="q-hat-nan-where-used",
    ),
    pytest.param(
        lambda: SNIPS().estimate(three_rounds(), np.eye(3)[[1, 2, 0]]),  # never the logged action
        "snips: the target policy gives probability 0 to every logged action, "
        "so there is no weight to normalise by (match_rate is 0)",
        id="snips-without-overlap",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, alpha=0.0),
        "alpha must lie in (0, 1); got 0.0",
        id="alpha-zero",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, alpha=1.5),
        "alpha must lie in (0, 1); got 1.5",
        id="alpha-above-one",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, n_bootstrap=0),
        "n_bootstrap must be a positive integer; got 0",
        id="no-resamples",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, n_bootstrap=10.5),  # type: ignore[arg-type]
        "n_bootstrap must be a positive integer; got 10.5",
        id="fractional-resamples",
    ),
    pytest.param(
        lambda: evaluate(three_rounds(), GOOD, estimators=("ips", "xyz")),
        "unknown estimator 'xyz'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']",
        id="unknown-estimator",
    ),
    pytest.param(
        lambda: make_estimator("IPS"),
        "unknown estimator 'IPS'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']",
        id="estimator-names-are-lower-case",
    ),
    pytest.param(
        lambda: evaluate(three_rounds(), np.zeros((3, 3)), estimators=("ips", "xyz")),
        "unknown estimator 'xyz'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']",
        id="names-checked-before-the-probabilities",
    ),
    pytest.param(
        lambda: evaluate(three_rounds(), GOOD, estimators=("switch-dr",)),
        "switch-dr needs q_hat, the (n, k) estimated expected reward of every action; got None",
        id="switch-dr-without-q-hat",
    ),
    pytest.param(
        lambda: SNDR().estimate(three_rounds(), np.eye(3)[[1, 2, 0]], np.zeros((3, 3))),
        "sndr: the target policy gives probability 0 to every logged action, "
        "so there is no weight to normalise by (match_rate is 0)",
        id="sndr-without-overlap",
    ),
    pytest.param(lambda: IPS(clip=0.0), "ips: clip must be a positive number or None; got 0.0", id="clip-zero"),
    pytest.param(
        lambda: evaluate(three_rounds(), GOOD, clip=-1.0),
        "ips: clip must be a positive number or None; got -1.0",
        id="clip-negative",
    ),
    pytest.param(lambda: SwitchDR(tau=-1.0), "switch-dr: tau must be a number >= 0; got -1.0", id="tau-negative"),
    pytest.param(lambda: DROS(lambda_=float("nan")), "dr-os: lambda_ must be a number >= 0; got nan", id="lambda-nan"),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, clusters=np.array([1, 2])),
        "clusters has shape (2,), expected (3,) (one label per round)",
        id="clusters-shape",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, interval="percentile"),
        "unknown interval 'percentile'; known: ['bootstrap', 'normal']",
        id="unknown-interval",
    ),
    pytest.param(
        lambda: IPS().estimate(three_rounds(), GOOD, max_units=0),
        "max_units must be a positive integer or None; got 0",
        id="no-units",
    ),
    pytest.param(
        lambda: summarise(RoundTerms(np.ones(3), np.ones(2))),
        "terms: denominator has shape (2,) but numerator has shape (3,); give one term per round",
        id="terms-of-different-lengths",
    ),
    pytest.param(
        lambda: summarise_all({"ips": np.ones(3), "sndr": RoundTerms(np.ones(3), offset=np.array([0.0, np.inf, 1.0]))}),
        "sndr: offset must be finite; round 1 has inf (1 bad round(s))",
        id="infinite-offset",
    ),
    pytest.param(
        lambda: summarise_all({"snips": RoundTerms(np.ones(3), np.zeros(3)), "ips": np.ones(3)}),
        "snips: the denominator sums to 0.0, not above zero",
        id="zero-denominator",
    ),
    pytest.param(
        lambda: summarise_all({"a": np.ones(3), "b": np.ones(4)}),
        "b has 4 rounds but a has 3; give the same rounds",
        id="statistics-of-different-logs",
    ),
    pytest.param(
        lambda: summarise_all([("a", np.ones(2)), ("b", np.array([1.0, np.nan]))]),
        "b: contributions must be finite; round 1 has nan (1 bad round(s))",
        id="named-contributions",
    ),
    pytest.param(lambda: summarise_all({}), "terms is empty: give at least one statistic to summarise", id="none"),
    pytest.param(
        lambda: bootstrap_interval(np.array([0.0, np.nan, 1.0])),
        "contributions must be finite; round 1 has nan (1 bad round(s))",
        id="nan-contribution",
    ),
    pytest.param(
        lambda: summarise(np.array([])),
        "contributions must be a non-empty 1-D array; got shape (0,)",
        id="no-contributions",
    ),
    pytest.param(
        lambda: summarise(np.ones((2, 2))),
        "contributions must be a non-empty 1-D array; got shape (2, 2)",
        id="two-dimensional-contributions",
    ),
    pytest.param(
        lambda: paired_difference(np.ones(3), np.ones(4)),
        "contrib_a has shape (3,) but contrib_b has shape (4,); pair them round by round",
        id="unpaired",
    ),
    pytest.param(
        lambda: paired_difference(np.ones(3), np.array([1.0, 1.0, np.inf])),
        "contrib_b must be finite; round 2 has inf (1 bad round(s))",
        id="unpaired-infinite",
    ),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_calls_raise_clear_messages(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_q_hat_may_be_missing_where_the_target_never_goes() -> None:
    target = np.tile([1.0, 0.0, 0.0], (3, 1))
    q_hat = np.array([[0.5, np.nan, np.nan]] * 3)  # e.g. ineligible actions, null in the truth
    assert DR().estimate(three_rounds(), target, q_hat, n_bootstrap=10).value == pytest.approx(0.5 + 3 * 0.5 / 3)
    assert DM().estimate(three_rounds(), target, q_hat, n_bootstrap=10).value == 0.5
