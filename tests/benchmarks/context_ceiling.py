"""Measure how much of the oracle's margin any policy on the observable context can earn (issue 11).

The oracle decides on the simulator's latent traits; a policy sees only the context
(:data:`features.pipelines.context.CONTEXT`). This benchmark bounds what the context allows, on a uniform log of
a scenario, each figure the share of the oracle's margin over the best fixed action captured by a greedy policy
on held-out users (``captured`` = (value - best fixed) / (oracle - best fixed), values by
:func:`simulators.truth.expected_rewards`):

* ``eligibility only``: the best action of each eligibility pattern by its true mean reward (no other context:
  what a non-contextual bandit can reach at best, after it has learned);
* ``context ceiling``: greedy on the project's reward model (:func:`experiments.ope.reward_model.cross_fitted_rewards`,
  LightGBM, cross-fitted by user) fitted to the *true* expected reward of the logged action: the context's
  information without the reward's noise, as far as a boosted model can take it;
* ``reward model on rewards``: the same model fitted to the realised rewards (the direct method's policy);
* ``VW on true values`` / ``VW on rewards``: the VW policy (``VWConfig`` defaults, greedy: epsilon 0) trained
  once on the training users' rounds, with the true expected reward or the realised reward as its label.

Run (100,000 users x 30 days, about 6 minutes here)::

    .venv/bin/python tests/benchmarks/context_ceiling.py --users 100000 --days 30 --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import polars as pl

from experiments.jobs import simulation_policy
from experiments.ope.reward_model import RewardModelParams, cross_fitted_rewards
from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.base import Feedback
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
from simulators.truth import expected_rewards

#: A reward model with more capacity than the OPE default: the ceiling should not be the model's limit.
CEILING_MODEL = RewardModelParams(n_estimators=150, learning_rate=0.1, num_leaves=31, max_train_rows=None)


def captured(choice: np.ndarray, mu: np.ndarray) -> float:
    """Share of the oracle's margin over the best fixed action (an ineligible fixed action sends no offer)."""
    value = float(mu[np.arange(len(mu)), choice].mean())
    fixed = max(float(np.where(np.isnan(mu[:, a]), mu[:, 0], mu[:, a]).mean()) for a in range(mu.shape[1]))
    oracle = float(np.nanmax(mu, axis=1).mean())
    return (value - fixed) / (oracle - fixed)


def greedy(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Return the eligible action with the highest score, row by row."""
    return np.where(eligible, scores, -np.inf).argmax(axis=1)


def by_eligibility(mu: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Each row's action: the best by true mean among the training rows of its eligibility pattern."""
    eligible = ~np.isnan(mu)
    pattern = eligible @ (1 << np.arange(mu.shape[1]))
    choice = np.zeros(len(mu), dtype=int)
    for code in np.unique(pattern):
        rows = pattern == code
        seen = mu[rows & train]
        if not len(seen):  # a pattern only held-out users met: no offer
            continue
        choice[rows] = int(np.argmax(np.where(eligible[rows][0], seen.mean(axis=0), -np.inf)))
    return choice


def vw_greedy(feedback: Feedback, train: np.ndarray, seed: int) -> np.ndarray:
    """VW (defaults, epsilon 0) trained on the training rows; each row's most probable action."""
    policy = VowpalWabbitPolicy(config=VWConfig(epsilon=0.0, seed=seed))
    mask = pl.Series(train)
    policy.learn(
        dataclasses.replace(
            feedback,
            contexts=feedback.contexts.filter(mask),
            eligible=feedback.eligible[train],
            chosen=feedback.chosen[train],
            rewards=feedback.rewards[train],
            propensities=feedback.propensities[train],
        )
    )
    return policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible).argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    scenario = load_scenario(args.scenario).with_size(n_users=args.users, days=args.days)
    result = MarketplaceSimulator(scenario).run(simulation_policy("uniform", args.seed), seed=args.seed)
    mu = expected_rewards(result.truth)
    eligible = ~np.isnan(mu)
    decisions = result.decisions
    chosen = np.array([ACTIONS.index(a) for a in decisions.get_column("action")])
    users = decisions.get_column("user_id")
    train = (users.str.slice(1).cast(pl.Int64).to_numpy() % 2) == 0
    test = ~train
    logged = Feedback(
        contexts=decisions.select(list(CONTEXT)),
        actions=ACTIONS,
        eligible=eligible,
        chosen=chosen,
        rewards=result.outcomes.get_column("reward").to_numpy().astype(float),
        propensities=1.0 / eligible.sum(axis=1),
    )
    truthful = dataclasses.replace(logged, rewards=mu[np.arange(len(mu)), chosen])
    rows: list[tuple[str, float]] = [("eligibility only", captured(by_eligibility(mu, train)[test], mu[test]))]
    for name, feedback in (("context ceiling", truthful), ("reward model on rewards", logged)):
        q_hat = cross_fitted_rewards(feedback, seed=args.seed, groups=users, params=CEILING_MODEL)
        rows.append((name, captured(greedy(q_hat, eligible)[test], mu[test])))
    for name, feedback in (("VW on true values", truthful), ("VW on rewards", logged)):
        rows.append((name, captured(vw_greedy(feedback, train, args.seed)[test], mu[test])))
    reward = logged.rewards
    print(
        f"{args.scenario}, {args.users:,} users x {args.days} days, seed {args.seed}: {len(mu):,} uniform decisions, "
        f"reward mean {reward.mean():.3f} sd {reward.std():.3f}; held-out users {int(test.sum()):,} decisions; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print("| greedy policy | captured share of the oracle's margin |\n|---|---:|")
    for name, share in rows:
        print(f"| {name} | {share:.3f} |")


if __name__ == "__main__":
    main()
