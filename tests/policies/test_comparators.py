"""The comparator policies: non-contextual Thompson sampling, LinUCB and linear Thompson sampling.

Ground truth on synthetic logs from a uniform logging policy (one action best for everyone; the best action
depending on a context feature), exactness of the Monte Carlo probabilities, incremental learning, saving, and
bad settings named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import integrate, stats

from policies.bandits.context_map import ContextFeatureMap
from policies.bandits.linear import LinearThompsonSampling, LinUCB
from policies.bandits.thompson import ThompsonSampling
from policies.base import BasePolicy, Feedback, load_policy

ACTIONS = ("no_offer", "coupon", "installment", "trust_badge")


def uniform_log(n: int, seed: int, mean_reward: np.ndarray | None = None) -> tuple[Feedback, np.ndarray]:
    """Simulate a uniformly logged synthetic log; return the feedback and each round's true mean reward per action.

    By default installment is best for heavy installment users, coupon for the others.
    """
    rng = np.random.default_rng(seed)
    contexts = pl.DataFrame(
        {
            "installment_use_rate": rng.random(n),
            "price": rng.lognormal(4.0, 1.0, n),
            "channel": rng.choice(["email", "push", "sms"], n),
            "merchant_verified": rng.random(n) < 0.8,
        }
    )
    heavy = contexts["installment_use_rate"].to_numpy() > 0.5
    if mean_reward is None:
        truth = np.column_stack([np.zeros(n), np.where(heavy, 0.5, 3.0), np.where(heavy, 4.0, -1.0), np.ones(n)])
    else:
        truth = np.tile(mean_reward, (n, 1))
    chosen = rng.integers(0, len(ACTIONS), n)
    rewards = truth[np.arange(n), chosen] + rng.normal(0.0, 3.0, n)
    eligible = np.ones((n, len(ACTIONS)), dtype=bool)
    return Feedback(contexts, ACTIONS, eligible, chosen, rewards, np.full(n, 1 / len(ACTIONS))), truth


def rounds(feedback: Feedback, which: slice) -> Feedback:
    """Return the rounds ``which`` of ``feedback``."""
    return Feedback(
        feedback.contexts[which],
        feedback.actions,
        feedback.eligible[which],
        feedback.chosen[which],
        feedback.rewards[which],
        feedback.propensities[which],
    )


def test_thompson_puts_most_mass_on_the_action_best_for_everyone() -> None:
    feedback, _ = uniform_log(4000, seed=1, mean_reward=np.array([0.0, 1.0, 0.2, 0.4]))
    policy = ThompsonSampling(seed=2)
    policy.learn(feedback)
    probs = policy.probabilities(feedback.contexts.head(5), ACTIONS)
    assert (probs[:, 1] > 0.9).all()
    assert np.allclose(probs, probs[0])  # contexts are ignored


@pytest.mark.parametrize("make", [LinUCB, LinearThompsonSampling])
def test_linear_policies_learn_a_context_split_from_a_uniform_log(make: type[BasePolicy]) -> None:
    feedback, _ = uniform_log(6000, seed=3)
    policy = make(floor=0.02, seed=5)  # type: ignore[call-arg]
    policy.learn(feedback)
    probe, truth = uniform_log(1000, seed=4)
    probs = policy.probabilities(probe.contexts, ACTIONS)
    picked = probs.argmax(axis=1)
    assert (picked == truth.argmax(axis=1)).mean() > 0.9
    heavy = probe.contexts["installment_use_rate"].to_numpy() > 0.5
    assert probs[heavy, 2].mean() > 0.8
    assert probs[~heavy, 1].mean() > 0.8


def test_thompson_probabilities_match_the_exact_posterior_probability_of_being_best() -> None:
    feedback, _ = uniform_log(40, seed=6, mean_reward=np.array([0.0, 0.5, 0.3, 0.1]))
    policy = ThompsonSampling(draws=20000, floor=0.0, seed=1)
    policy.learn(feedback)
    dof, location, scale = policy.posterior(ACTIONS)
    posteriors = [stats.t(d, loc, s) for d, loc, s in zip(dof, location, scale, strict=True)]

    def best(a: int) -> float:
        others = [p for b, p in enumerate(posteriors) if b != a]
        value, _ = integrate.quad(lambda x: posteriors[a].pdf(x) * np.prod([p.cdf(x) for p in others]), -50, 50)
        return float(value)

    exact = np.array([best(a) for a in range(len(ACTIONS))])
    estimated = policy.probabilities(feedback.contexts.head(1), ACTIONS)[0]
    assert np.allclose(estimated, exact, atol=4 * np.sqrt(0.25 / 20000))


def test_thompson_posterior_follows_the_normal_inverse_gamma_update() -> None:
    rewards = np.array([1.0, 3.0, -2.0])
    feedback = Feedback(pl.DataFrame({"x": [0, 0, 0]}), ("a",), np.ones((3, 1), bool), np.zeros(3, int), rewards,
                        np.ones(3))  # fmt: skip
    policy = ThompsonSampling(prior_mean=1.0, prior_count=2.0, prior_shape=3.0, prior_rate=4.0)
    policy.learn(feedback)
    dof, location, scale = policy.posterior(("a",))
    kappa, mean = 5.0, (2.0 * 1.0 + 3 * rewards.mean()) / 5.0
    alpha = 3.0 + 1.5
    beta = 4.0 + ((rewards - rewards.mean()) ** 2).sum() / 2 + 2.0 * 3 * (rewards.mean() - 1.0) ** 2 / (2 * kappa)
    assert np.allclose([dof[0], location[0], scale[0]], [2 * alpha, mean, np.sqrt(beta / (alpha * kappa))])


@pytest.mark.parametrize("make", [ThompsonSampling, LinUCB, LinearThompsonSampling])
def test_learning_in_batches_equals_learning_at_once(make: type[BasePolicy]) -> None:
    feedback, _ = uniform_log(900, seed=8)
    whole, parts = make(), make()
    whole.learn(feedback)
    parts.learn(rounds(feedback, slice(0, 400)))
    parts.learn(rounds(feedback, slice(400, None)))
    if isinstance(parts, LinUCB | LinearThompsonSampling):
        # the feature map is fitted on the first batch, so compare on a map shared by both
        whole = make()
        whole.ridge_.feature_map = parts.ridge_.feature_map  # type: ignore[attr-defined]
        whole.learn(feedback)
    probe = feedback.contexts.head(50)
    assert np.allclose(whole.probabilities(probe, ACTIONS), parts.probabilities(probe, ACTIONS), atol=1e-9)


@pytest.mark.parametrize("make", [ThompsonSampling, LinUCB, LinearThompsonSampling])
def test_save_and_load_reproduce_the_probabilities_exactly(make: type[BasePolicy], tmp_path: Path) -> None:
    feedback, _ = uniform_log(500, seed=9)
    policy = make()
    policy.learn(feedback)
    policy.save(tmp_path / "saved")
    loaded = load_policy(tmp_path / "saved")
    probe = feedback.contexts.head(100)
    assert np.array_equal(loaded.probabilities(probe, ACTIONS), policy.probabilities(probe, ACTIONS))
    more, _ = uniform_log(100, seed=10)
    policy.learn(more)
    loaded.learn(more)
    assert np.array_equal(loaded.probabilities(probe, ACTIONS), policy.probabilities(probe, ACTIONS))


def test_linucb_is_an_argmax_with_the_floor_spread_over_the_rest() -> None:
    feedback, _ = uniform_log(500, seed=11)
    policy = LinUCB(floor=0.05)
    policy.learn(feedback)
    probs = policy.probabilities(feedback.contexts, ACTIONS)
    assert set(np.round(probs, 12).ravel()) == {0.05, 0.85}


def test_an_unlearned_policy_is_uniform() -> None:
    contexts = pl.DataFrame({"x": [1.0, 2.0]})
    for policy in (ThompsonSampling(), LinUCB(), LinearThompsonSampling()):
        assert np.allclose(policy.probabilities(contexts, ACTIONS), 0.25, atol=0.05), policy.name


def test_the_feature_map_standardises_numbers_and_one_hots_levels() -> None:
    feedback, _ = uniform_log(300, seed=12)
    feature_map = ContextFeatureMap.fit(feedback.contexts)
    design = feature_map.transform(feedback.contexts)
    names = feature_map.names
    numeric = [names.index("installment_use_rate"), names.index("price")]
    assert np.allclose(design[:, numeric].mean(axis=0), 0.0)
    assert np.allclose(design[:, numeric].std(axis=0), 1.0)
    one_hot = [i for i, name in enumerate(names) if name.startswith("channel=")]
    assert np.array_equal(design[:, one_hot].sum(axis=1), np.ones(300))
    assert ContextFeatureMap.from_dict(feature_map.to_dict()) == feature_map


def test_a_missing_context_column_is_named() -> None:
    feedback, _ = uniform_log(100, seed=13)
    policy = LinUCB()
    policy.learn(feedback)
    with pytest.raises(ValueError, match=r"missing context feature\(s\) \['channel'\]"):
        policy.probabilities(feedback.contexts.drop("channel"), ACTIONS)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ThompsonSampling(floor=1.5), r"floor must lie in \[0, 1\], got 1.5"),
        (lambda: ThompsonSampling(prior_count=0.0), "prior_count must be positive, got 0.0"),
        (lambda: ThompsonSampling(draws=0), "draws must be at least 1, got 0"),
        (lambda: LinUCB(alpha=-1.0), "alpha must be non-negative, got -1.0"),
        (lambda: LinUCB(ridge=0.0), "ridge must be positive, got 0.0"),
        (lambda: LinearThompsonSampling(scale=-0.5), "scale must be non-negative, got -0.5"),
        (lambda: LinearThompsonSampling(floor=-0.1), r"floor must lie in \[0, 1\], got -0.1"),
    ],
)
def test_bad_settings_are_named(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
