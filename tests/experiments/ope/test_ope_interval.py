"""The shared interval routine: the whole statistic resampled, by round or by user, blocked or exact, paired, normal."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from experiments.ope import (
    IPS,
    SNDR,
    SNIPS,
    ResamplePlan,
    RoundTerms,
    Units,
    bootstrap_interval,
    paired_difference,
    summarise,
    summarise_all,
)
from experiments.ope.toy import toy_log


def width(result: object) -> float:
    return float(result.ci_high - result.ci_low)  # type: ignore[attr-defined]


def weighted_log(n: int, seed: int, tail: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw importance weights (lognormal, log-sd ``tail``, mean one; zero in half the rounds) and 0/1 rewards."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(-(tail**2) / 2, tail, size=n) * 2 * rng.binomial(1, 0.5, size=n)
    rewards = rng.binomial(1, 0.3, size=n).astype(float)
    return weights, rewards


def test_the_same_seed_gives_the_same_interval() -> None:
    contributions = np.random.default_rng(5).exponential(size=3000)
    first = summarise(contributions, seed=42)
    again = summarise(contributions.copy(), seed=42)
    assert first == again
    assert bootstrap_interval(contributions, seed=42) == (first.ci_low, first.ci_high, first.std_error)


def test_different_seeds_give_different_resamples() -> None:
    contributions = np.random.default_rng(5).exponential(size=3000)
    assert bootstrap_interval(contributions, seed=1) != bootstrap_interval(contributions, seed=2)


@pytest.mark.parametrize("max_units", [None, 500], ids=["exact", "blocks of 40 rounds"])
def test_standard_error_matches_the_textbook_formula(max_units: int | None) -> None:
    contributions = np.random.default_rng(6).normal(scale=2.0, size=20_000)
    result = summarise(contributions, n_bootstrap=2000, max_units=max_units)
    textbook = contributions.std() / np.sqrt(contributions.size)
    assert result.std_error == pytest.approx(textbook, rel=0.1)
    # a normal mean: the 95% percentile interval is about +-1.96 standard errors
    assert width(result) == pytest.approx(2 * 1.96 * textbook, rel=0.1)
    normal = summarise(contributions, interval="normal")
    assert normal.std_error == pytest.approx(contributions.std(ddof=1) / np.sqrt(contributions.size), rel=1e-9)


def test_narrower_coverage_gives_a_narrower_interval() -> None:
    contributions = np.random.default_rng(7).normal(size=1000)
    for interval in ("bootstrap", "normal"):
        wide = summarise(contributions, alpha=0.01, interval=interval)
        narrow = summarise(contributions, alpha=0.3, interval=interval)
        assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_constant_contributions_give_a_degenerate_interval() -> None:
    result = summarise(np.full(7, 0.1), n_bootstrap=50)
    assert result.value == pytest.approx(0.1)
    assert result.ci_low == pytest.approx(result.value, rel=1e-12)
    assert result.ci_high == pytest.approx(result.value, rel=1e-12)
    assert result.std_error == pytest.approx(0.0, abs=1e-15)


def test_one_resample_has_no_spread() -> None:
    low, high, std_error = bootstrap_interval(np.array([0.0, 1.0, 2.0]), n_bootstrap=1)
    assert low == high
    assert std_error == 0.0


def test_the_ratio_is_resampled_whole_not_with_its_normaliser_held() -> None:
    """Equal rewards: SNIPS is that reward on every resample, while the contributions' mean still moves."""
    weights, _ = weighted_log(2000, seed=1)
    rewards = np.full(2000, 0.5)
    terms = RoundTerms(weights * rewards, weights)
    whole = summarise(terms, n_bootstrap=300)
    naive = summarise(terms.contributions(), n_bootstrap=300)
    assert whole.value == naive.value == pytest.approx(0.5)
    assert whole.std_error < 1e-12
    assert naive.std_error > 0.01


def test_the_whole_ratio_bootstrap_agrees_with_the_delta_method_where_the_naive_one_does_not() -> None:
    weights, rewards = weighted_log(20_000, seed=2)
    rewards = rewards + 5.0  # far from zero: holding the normaliser fixed then matters
    terms = RoundTerms(weights * rewards, weights)
    whole = summarise(terms, n_bootstrap=1000)
    delta = summarise(terms, interval="normal")
    naive = summarise(terms.contributions(), n_bootstrap=1000)
    assert whole.std_error == pytest.approx(delta.std_error, rel=0.1)
    assert naive.std_error > 5 * whole.std_error


def test_users_with_correlated_rewards_widen_the_interval_when_clustered() -> None:
    rng = np.random.default_rng(3)
    users = rng.integers(0, 400, size=20_000)
    rewards = rng.binomial(1, rng.beta(1, 3, size=400)[users]).astype(float)  # each user has a rate
    by_round = summarise(rewards, n_bootstrap=1000)
    by_user = summarise(rewards, n_bootstrap=1000, clusters=users)
    assert width(by_user) > 2.5 * width(by_round)
    normal = summarise(rewards, clusters=users, interval="normal")
    assert normal.std_error == pytest.approx(by_user.std_error, rel=0.15)


def test_users_without_correlation_leave_the_interval_as_it_was() -> None:
    rng = np.random.default_rng(4)
    users = rng.integers(0, 2000, size=20_000)
    rewards = rng.binomial(1, 0.3, size=20_000).astype(float)
    by_round = summarise(rewards, n_bootstrap=2000)
    by_user = summarise(rewards, n_bootstrap=2000, clusters=users)
    assert by_user.std_error == pytest.approx(by_round.std_error, rel=0.1)


def test_one_cluster_per_round_is_the_bootstrap_by_round() -> None:
    weights, rewards = weighted_log(3000, seed=5)
    terms = RoundTerms(weights * rewards, weights)
    by_round = summarise(terms, n_bootstrap=300, seed=9)
    by_label = summarise(terms, n_bootstrap=300, seed=9, clusters=np.arange(3000))
    assert (by_label.ci_low, by_label.ci_high, by_label.std_error) == pytest.approx(
        (by_round.ci_low, by_round.ci_high, by_round.std_error), rel=1e-12
    )


def test_clusters_may_be_any_labels() -> None:
    rewards = np.random.default_rng(6).binomial(1, 0.4, size=600).astype(float)
    numbers = np.arange(600) % 50
    names = np.array([f"user-{i:03d}" for i in numbers], dtype=object)
    assert summarise(rewards, clusters=numbers) == summarise(rewards, clusters=names)
    assert summarise(rewards, clusters=list(names)) == summarise(rewards, clusters=numbers)


@pytest.mark.parametrize("make", [IPS, SNIPS], ids=["ips", "snips"])
def test_normal_and_bootstrap_intervals_agree_on_a_large_log(make: type[IPS] | type[SNIPS]) -> None:
    weights, rewards = weighted_log(50_000, seed=7, tail=0.5)
    terms = RoundTerms(weights * rewards, weights if make is SNIPS else None)
    bootstrap = summarise(terms, n_bootstrap=2000)
    normal = summarise(terms, interval="normal")
    assert normal.value == bootstrap.value
    assert abs(normal.ci_low - bootstrap.ci_low) < 0.06 * width(bootstrap)
    assert abs(normal.ci_high - bootstrap.ci_high) < 0.06 * width(bootstrap)


def test_the_normal_interval_of_sndr_linearises_both_its_parts() -> None:
    rng = np.random.default_rng(8)
    weights, rewards = weighted_log(30_000, seed=8, tail=0.5)
    model = rng.uniform(0.2, 0.4, size=30_000)
    terms = RoundTerms(weights * (rewards - model), weights, offset=model + rng.normal(0, 0.3, size=30_000))
    bootstrap = summarise(terms, n_bootstrap=2000)
    normal = summarise(terms, interval="normal")
    assert normal.std_error == pytest.approx(bootstrap.std_error, rel=0.08)


@pytest.mark.slow
def test_random_blocks_agree_with_the_exact_bootstrap_on_heavy_tailed_weights() -> None:
    """200,000 rounds in 10,000 blocks of 20 against the bootstrap of the rounds themselves, IPS and SNIPS.

    With 2,000 and 1,000 resamples the Monte Carlo error of an endpoint's difference is about 2.6% of the
    width (seeds 0-3 gave at most 3.6%); 8% is three of those.
    """
    weights, rewards = weighted_log(200_000, seed=9, tail=1.5)  # lognormal weights: max ~ 700, skewed
    terms = {"ips": RoundTerms(weights * rewards), "snips": RoundTerms(weights * rewards, weights)}
    blocked = summarise_all(terms, n_bootstrap=2000, seed=1)
    exact = summarise_all(terms, n_bootstrap=1000, seed=1, max_units=None)
    for block, whole in zip(blocked, exact, strict=True):
        assert abs(block.ci_low - whole.ci_low) < 0.08 * width(whole)
        assert abs(block.ci_high - whole.ci_high) < 0.08 * width(whole)
        assert block.std_error == pytest.approx(whole.std_error, rel=0.08)


def test_blocks_are_balanced_random_groups_of_whole_units() -> None:
    users = np.random.default_rng(10).integers(0, 50_000, size=200_000)
    units = Units.of(users.size, users)
    plan = ResamplePlan(units, n_resamples=10, seed=3, max_units=1000)
    assert plan.blocked
    assert plan.n_groups == 1000
    units_per_block = np.bincount(plan.groups[np.unique(units.index, return_index=True)[1]], minlength=1000)
    assert units_per_block.max() - units_per_block.min() <= 1
    # every round of a user lands in that user's block
    first_block = np.full(units.count, -1)
    first_block[units.index] = plan.groups
    assert (first_block[units.index] == plan.groups).all()
    again = ResamplePlan(units, n_resamples=10, seed=3, max_units=1000)
    other = ResamplePlan(units, n_resamples=10, seed=4, max_units=1000)
    np.testing.assert_array_equal(again.groups, plan.groups)
    assert (other.groups != plan.groups).any()


def test_paired_difference_of_contributions_is_the_bootstrap_of_the_round_differences() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=500), rng.normal(size=500)
    lift = paired_difference(a, b, alpha=0.1, n_bootstrap=300, seed=3)
    direct = summarise(a - b, alpha=0.1, n_bootstrap=300, seed=3)
    assert lift.estimator == "difference"
    assert (lift.value, lift.ci_low, lift.ci_high) == pytest.approx((direct.value, direct.ci_low, direct.ci_high))


def test_pairing_narrows_the_interval_of_correlated_estimates() -> None:
    rng = np.random.default_rng(9)
    shared = rng.normal(size=2000)
    a, b = shared + 0.05 + rng.normal(scale=0.1, size=2000), shared
    for interval in ("bootstrap", "normal"):
        lift = paired_difference(a, b, interval=interval)
        unpaired_se = np.sqrt(a.var() / a.size + b.var() / b.size)
        assert lift.ci_low > 0
        assert lift.std_error < unpaired_se / 5


def test_two_similar_target_policies_are_compared_more_sharply_paired() -> None:
    """Two targets that agree on most rounds, scored by SNIPS on the same log: the paired interval is far narrower."""
    rng = np.random.default_rng(11)
    n = 20_000
    weights_a, rewards = weighted_log(n, seed=11, tail=0.5)
    weights_b = np.where(rng.random(n) < 0.9, weights_a, 2 * rng.binomial(1, 0.5, size=n))
    a = RoundTerms(weights_a * rewards, weights_a)
    b = RoundTerms(weights_b * rewards, weights_b)
    first, second = summarise_all({"a": a, "b": b}, n_bootstrap=1000)
    paired = paired_difference(a, b, n_bootstrap=1000)
    assert paired.value == pytest.approx(first.value - second.value)
    assert paired.std_error < 0.5 * np.hypot(first.std_error, second.std_error)
    clustered = paired_difference(a, b, n_bootstrap=1000, clusters=np.arange(n) // 4)
    assert clustered.ci_low <= clustered.value <= clustered.ci_high


def test_a_policy_against_the_logged_rewards() -> None:
    log = toy_log()
    snips = SNDR().round_terms(log.feedback, log.target_probs, log.q_hat)
    lift = paired_difference(snips, log.feedback.rewards, n_bootstrap=200)
    assert lift.value == pytest.approx(1 / 3 - log.feedback.rewards.mean())


def test_a_resample_without_weight_is_left_out() -> None:
    """One round of positive weight among 30: resamples that miss it have no SNIPS and do not count."""
    weights = np.zeros(30)
    weights[4] = 2.0
    terms = RoundTerms(weights * 0.7, weights)
    result = summarise(terms, n_bootstrap=500)
    assert result.ci_low == pytest.approx(0.7, rel=1e-12)
    assert result.ci_high == pytest.approx(0.7, rel=1e-12)


def test_a_million_rounds_and_a_thousand_resamples_stay_within_a_memory_bound() -> None:
    weights, rewards = weighted_log(1_000_000, seed=10, tail=0.5)
    terms = RoundTerms(weights * rewards, weights)
    tracemalloc.start()
    try:
        result = summarise(terms, n_bootstrap=1000, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # all resamples of rounds at once would hold 1000 x 1,000,000 indices: 8 GB; the blocks need the
    # partition (a permutation of the rounds, and the block of each: 16 MB) and a few MB per chunk
    assert peak < 48 * 2**20
    assert result.ci_low < result.value < result.ci_high
    assert result.std_error == pytest.approx(summarise(terms, interval="normal").std_error, rel=0.1)
