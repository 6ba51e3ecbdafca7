"""The shared bootstrap: reproducible, right in scale, paired, and memory-bounded on a million rounds."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from experiments.ope import bootstrap_interval, paired_difference, summarise
from experiments.ope.interval import CHUNK_ELEMENTS


def test_the_same_seed_gives_the_same_interval() -> None:
    contributions = np.random.default_rng(5).exponential(size=3000)
    first = summarise(contributions, seed=42)
    again = summarise(contributions.copy(), seed=42)
    assert first == again
    assert bootstrap_interval(contributions, seed=42) == (first.ci_low, first.ci_high, first.std_error)


def test_different_seeds_give_different_resamples() -> None:
    contributions = np.random.default_rng(5).exponential(size=3000)
    assert bootstrap_interval(contributions, seed=1) != bootstrap_interval(contributions, seed=2)


def test_standard_error_matches_the_textbook_formula() -> None:
    contributions = np.random.default_rng(6).normal(scale=2.0, size=5000)
    result = summarise(contributions, n_bootstrap=2000)
    textbook = contributions.std() / np.sqrt(contributions.size)
    assert result.std_error == pytest.approx(textbook, rel=0.1)
    # a normal mean: the 95% percentile interval is about +-1.96 standard errors
    assert result.ci_high - result.ci_low == pytest.approx(2 * 1.96 * textbook, rel=0.1)


def test_narrower_coverage_gives_a_narrower_interval() -> None:
    contributions = np.random.default_rng(7).normal(size=1000)
    wide = summarise(contributions, alpha=0.01)
    narrow = summarise(contributions, alpha=0.3)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_constant_contributions_give_a_degenerate_interval() -> None:
    result = summarise(np.full(7, 0.1), n_bootstrap=50)
    assert result.value == pytest.approx(0.1)
    assert result.ci_low == result.value == result.ci_high
    assert result.std_error == pytest.approx(0.0, abs=1e-15)


def test_one_resample_has_no_spread() -> None:
    low, high, std_error = bootstrap_interval(np.array([0.0, 1.0, 2.0]), n_bootstrap=1)
    assert low == high
    assert std_error == 0.0


def test_paired_difference_is_the_bootstrap_of_the_round_differences() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=500), rng.normal(size=500)
    lift = paired_difference(a, b, alpha=0.1, n_bootstrap=300, seed=3)
    direct = summarise(a - b, alpha=0.1, n_bootstrap=300, seed=3)
    assert lift.estimator == "difference"
    assert (lift.value, lift.ci_low, lift.ci_high) == (direct.value, direct.ci_low, direct.ci_high)


def test_pairing_narrows_the_interval_of_correlated_estimates() -> None:
    rng = np.random.default_rng(9)
    shared = rng.normal(size=2000)
    a, b = shared + 0.05 + rng.normal(scale=0.1, size=2000), shared
    lift = paired_difference(a, b)
    unpaired_se = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert lift.ci_low > 0
    assert lift.std_error < unpaired_se / 5


def test_a_million_rounds_and_a_thousand_resamples_stay_within_a_memory_bound() -> None:
    contributions = np.random.default_rng(10).binomial(1, 0.3, size=1_000_000).astype(float)
    tracemalloc.start()
    try:
        low, high, std_error = bootstrap_interval(contributions, n_bootstrap=1000, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # all resamples at once would hold 1000 x 1,000,000 indices: 8 GB
    assert peak < 2 * 16 * CHUNK_ELEMENTS  # a chunk's indices and gathered values, with room to spare
    assert low < contributions.mean() < high
    assert std_error == pytest.approx(np.sqrt(0.3 * 0.7 / 1_000_000), rel=0.15)
