"""The business report's bootstrap: whole users resampled, seeded, intervals ordered."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.business import (
    business_report,
    percentile_interval,
    resampled_sums,
)
from experiments.business.toy import toy_log


# --- the bootstrap ---------------------------------------------------------------------------------------------------
def test_resampled_sums_are_draws_of_whole_users() -> None:
    values = np.column_stack([np.ones(50), np.arange(50.0), np.arange(50.0) ** 2])
    sums = resampled_sums(values, 40, 7)
    assert sums.shape == (40, 3)
    np.testing.assert_array_equal(sums[:, 0], 50.0)  # each resample draws 50 users
    assert len(np.unique(sums[:, 1])) > 30  # and which ones varies
    assert abs(sums[:, 1].mean() / 50 - 24.5) < 2


def test_resampled_sums_are_seeded_and_chunked_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.arange(20.0).reshape(10, 2)
    whole = resampled_sums(values, 30, 3)
    np.testing.assert_array_equal(whole, resampled_sums(values, 30, 3))
    monkeypatch.setattr("experiments.ope.resampling.CHUNK_ELEMENTS", 25)  # two resamples per chunk
    chunked = resampled_sums(values, 30, 3)
    assert chunked.shape == (30, 2)
    assert np.all(chunked[:, 0] % 2 == 0)  # sums of even numbers


@pytest.mark.parametrize(
    ("values", "n_bootstrap", "message"),
    [
        (np.empty((0, 2)), 10, r"non-empty \(n_users, k\) array; got shape \(0, 2\)"),
        (np.ones(3), 10, r"got shape \(3,\)"),
        (np.ones((3, 1)), 0, "n_bootstrap must be a positive integer; got 0"),
        (np.ones((3, 1)), True, "n_bootstrap must be a positive integer; got True"),
    ],
)
def test_resampled_sums_reject_bad_input(values: np.ndarray, n_bootstrap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resampled_sums(values, n_bootstrap, 0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
)
def test_resampled_means_stay_within_the_data_and_intervals_are_ordered(
    data: list[float], n_bootstrap: int, seed: int
) -> None:
    values = np.array(data)[:, None]
    means = resampled_sums(values, n_bootstrap, seed)[:, 0] / len(data)
    assert np.all(means >= values.min() - 1e-9)
    assert np.all(means <= values.max() + 1e-9)
    low, high = percentile_interval(means[:, None])
    assert low[0] <= high[0]


def test_the_report_is_reproducible_from_its_seed() -> None:
    first = business_report(toy_log(), n_bootstrap=100, seed=5).to_dict()
    assert first == business_report(toy_log(), n_bootstrap=100, seed=5).to_dict()
    assert first != business_report(toy_log(), n_bootstrap=100, seed=6).to_dict()
