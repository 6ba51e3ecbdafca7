"""Measure the speed and accuracy of the cross-fitted reward model on synthetic logs with known truth.

The model is :mod:`experiments.ope.reward_model`; the logs' true expected rewards are known.

The log: ``n`` rounds, ``k`` actions, ten context columns (seven numbers, a string region, a boolean, a
count). A round converts with probability ``sigmoid(base(x) + effect_a(x))`` and then earns its price less the
action's cost, so the reward is money; the logging policy is a softmax over a noisy score, so propensities
vary. The accuracy is the RMSE of ``q_hat`` against the true ``E[r | x, a]`` over every round and action.

Run: ``.venv/bin/python tests/benchmarks/reward_model_bench.py [--rounds N --actions K --config NAME ...]``
(with no options: 1,000,000 x 4 and 100,000 x 200 with the default settings).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from experiments.ope.reward_model import RewardModelParams, cross_fitted_rewards
from policies.base import Feedback

#: Settings compared; ``default`` is :class:`RewardModelParams` as shipped.
CONFIGS: dict[str, RewardModelParams] = {
    "default": RewardModelParams(),
    "100x31x0.1": RewardModelParams(n_estimators=100, num_leaves=31, learning_rate=0.1),
    "50x31x0.2": RewardModelParams(n_estimators=50, num_leaves=31, learning_rate=0.2),
    "30x31x0.3": RewardModelParams(n_estimators=30, num_leaves=31, learning_rate=0.3),
    "40x15x0.25": RewardModelParams(n_estimators=40, num_leaves=15, learning_rate=0.25),
    "25x15x0.4": RewardModelParams(n_estimators=25, num_leaves=15, learning_rate=0.4),
    "all_rows": RewardModelParams(max_train_rows=None),
    "100k_rows": RewardModelParams(max_train_rows=100_000),
    "400k_rows": RewardModelParams(max_train_rows=400_000),
    "50k_rows": RewardModelParams(max_train_rows=50_000),
    "lgb_defaults": RewardModelParams(
        n_estimators=100, learning_rate=0.1, min_data_in_leaf=20, lambda_l2=0.0, max_bin=255, max_train_rows=None
    ),
}
REGIONS = ("north", "south", "east", "west", "centre")


def synthetic_log(n: int, k: int, seed: int = 0) -> tuple[Feedback, np.ndarray]:
    """Generate a logged feedback and its ``(n, k)`` true expected rewards."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 7))
    region = rng.integers(0, len(REGIONS), n)
    loyal = rng.random(n) < 0.3
    visits = rng.poisson(3, n)
    price = np.exp(3 + 0.5 * x[:, 0])
    base = -2.0 + 0.8 * x[:, 1] - 0.5 * x[:, 2] ** 2 + 0.4 * loyal + 0.1 * np.minimum(visits, 8)
    region_effect = np.array([0.3, -0.2, 0.0, 0.1, -0.3])[region]
    weights = rng.normal(scale=0.6, size=(k, 4))
    lift = np.tanh(x[:, 3:7] @ weights.T) + 0.2 * (region_effect[:, None] * (np.arange(k) % 3 - 1))
    lift[:, 0] = 0.0  # the first action is the control
    cost = np.concatenate([[0.0], rng.uniform(0.5, 2.0, k - 1)])
    convert = 1 / (1 + np.exp(-(base[:, None] + region_effect[:, None] + lift)))
    truth = convert * price[:, None] - cost
    score = 0.5 * lift + rng.normal(scale=0.5, size=(n, k))
    probs = np.exp(score - score.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    chosen = (rng.random((n, 1)) > probs.cumsum(axis=1)).sum(axis=1).clip(0, k - 1)
    rounds = np.arange(n)
    converted = rng.random(n) < convert[rounds, chosen]
    contexts = pl.DataFrame(
        {
            **{f"x{j}": x[:, j] for j in range(7)},
            "region": np.asarray(REGIONS)[region],
            "loyal": loyal,
            "visits": visits,
        }
    ).with_columns(price=pl.Series(price))
    contexts = contexts.drop("x0")  # the price stands for x0: ten columns in all
    feedback = Feedback(
        contexts=contexts,
        actions=tuple(f"a{j}" for j in range(k)),
        eligible=np.ones((n, k), dtype=bool),
        chosen=chosen,
        rewards=converted * price - cost[chosen],
        propensities=probs[rounds, chosen],
    )
    return feedback, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, nargs="*", default=[1_000_000, 100_000])
    parser.add_argument("--actions", type=int, nargs="*", default=[4, 200])
    parser.add_argument("--config", nargs="*", default=["default"], choices=sorted(CONFIGS))
    args = parser.parse_args()
    if len(args.rounds) != len(args.actions):
        parser.error("give as many --actions as --rounds")
    for n, k in zip(args.rounds, args.actions, strict=True):
        feedback, truth = synthetic_log(n, k)
        spread = float(truth.std())
        print(f"{n:,} rounds x {k} actions x {feedback.contexts.width} features; sd of the true q: {spread:.3f}")
        for name in args.config:
            start, start_cpu = time.perf_counter(), time.process_time()
            q_hat = cross_fitted_rewards(feedback, seed=0, params=CONFIGS[name])
            seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            rmse = float(np.sqrt(((q_hat - truth) ** 2).mean()))
            logged = np.arange(n), feedback.chosen
            rmse_logged = float(np.sqrt(((q_hat[logged] - truth[logged]) ** 2).mean()))
            print(
                f"  {name:>12}: {seconds:6.2f} s wall, {cpu:6.2f} s CPU; RMSE {rmse:.4f} "
                f"(logged actions {rmse_logged:.4f}); R2 {1 - rmse**2 / spread**2:.3f}"
            )


if __name__ == "__main__":
    main()
