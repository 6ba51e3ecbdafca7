r"""How well the off-policy estimators recover the simulator's truth: bias, RMSE and interval coverage over seeds.

For each scenario and seed, a small world is simulated under an exploring logging policy (uniform over the
eligible actions, or the online VW policy); each target policy is then evaluated on that log by every estimator
in :data:`experiments.ope.ESTIMATORS`, and each estimate is set beside the target's true value on the same log.
:func:`run_study` gives one row per (scenario, seed, target, estimator); :func:`summarise_study` turns them
into bias, RMSE and coverage per (scenario, target, estimator). Simulated logs are cached as Parquet, so
re-running the estimators after the OPE package changes costs no simulation.

Notes
-----
**The estimand.** For a log of rounds ``i = 1..n`` with contexts ``x_i``, the value of a target ``pi`` is

.. math:: V(\pi) = \frac{1}{n} \sum_i \sum_a \pi(a \mid x_i)\, \mu_i(a),

where ``mu_i(a)`` is the expected reward of round ``i`` had action ``a`` been taken there and every other round
gone as logged. It is conditional on the logged contexts (the target's own effect on later moments, through
fatigue, purchases and stock, is not in it) and on what the other rounds did.

**The truth.** ``mu`` is :func:`simulators.truth.expected_rewards` of the simulator's truth frame: each action's
decision-time expected reward ``q_<action>`` (the expected net contribution of a message that is delivered about an
item in stock), scaled by ``in_stock`` (a purchase goes through only if stock allows: first come, first served
among the date's purchases) and flattened to ``q(no_offer)`` where the round is not ``deliverable`` (consent at the
send time). Stock-outs are common: at 3,000 users x 14 days, 9% (``default``) to 22% (``cold-start``) of rounds are
about an item a purchase would not get, and ``q`` alone overstates the targets' values by 9% to 25%. Neither
``in_stock`` nor ``deliverable`` depends on the round's own action, so every unbiased estimator is unbiased for
``V`` on the log. The ``oracle-eps`` target decides by ``q``, as the oracle does while simulating.

**The figures.** Per (scenario, target, estimator) over seeds ``s``: bias ``mean(V_hat_s - V_s)``, RMSE
``sqrt(mean((V_hat_s - V_s)^2))``, relative RMSE (RMSE over the mean ``|V_s|``), coverage (share of seeds with
``ci_low <= V_s <= ci_high``), mean interval width, mean reported standard error and the spread
``sd(V_hat_s - V_s)`` it should match.

Examples
--------
>>> raw = run_study(
...     ["default"], seeds=[0, 1], n_users=300, days=3, estimators=("ips", "snips"), reward_model=None, n_bootstrap=100
... )
>>> table = summarise_study(raw)
>>> table.select("target", "estimator", "n_seeds").head(2).rows()
[('coupon', 'ips', 2), ('coupon', 'snips', 2)]
>>> bool((table.get_column("coverage").is_between(0, 1)).all())
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from experiments.ope import ESTIMATORS, evaluate
from features.io import read_frame, write_frame
from features.schemas import ACTIONS
from policies import make_policy
from policies.bandits.baselines import FixedAction, UniformRandom
from policies.base import Feedback
from simulators.marketplace import MarketplaceSimulator
from simulators.oracle import OraclePolicy
from simulators.scenario import Scenario, load_scenario, scenario_names
from simulators.truth import TRUTH_COLUMNS, expected_rewards

#: Logging policies that explore (every eligible action has a positive probability).
LOGGERS: tuple[str, ...] = ("uniform", "vw")
#: The target policies, each different from the loggers: always a coupon (where eligible), the hand-written
#: rules, and the oracle (best action by the simulator's truth) with 20% uniform exploration.
TARGETS: tuple[str, ...] = ("coupon", "rules", "oracle-eps")
ORACLE_EXPLORATION = 0.2
#: A reward model: ``(feedback, clusters, seed) -> (n, k)`` estimated expected rewards (cross-fitted).
RewardModel = Callable[[Feedback, np.ndarray, int], np.ndarray]


def simulate_log(scenario: Scenario, seed: int, logger: str = "uniform") -> pl.DataFrame:
    """Simulate one bandit log (decisions joined with outcomes) with the simulator's truth.

    Among its columns are :data:`~simulators.truth.TRUTH_COLUMNS`, which
    :func:`~simulators.truth.expected_rewards` reads.

    Examples
    --------
    >>> log = simulate_log(load_scenario("default").with_size(n_users=300, days=2), seed=0)
    >>> set(TRUTH_COLUMNS) <= set(log.columns), log.get_column("propensity").min() > 0
    (True, True)
    """
    if logger not in LOGGERS:
        raise ValueError(f"logger {logger!r} is not an exploring policy; expected one of {list(LOGGERS)}")
    result = MarketplaceSimulator(scenario).run(make_policy(logger, seed=seed), seed=seed)
    return result.bandit_log().join(result.truth, on="decision_id", how="left", maintain_order="left")


def cached_log(scenario: Scenario, seed: int, logger: str = "uniform", cache: Path | None = None) -> pl.DataFrame:
    """:func:`simulate_log`, read from ``cache`` if it was simulated before.

    Keyed by scenario name and settings, size, logger and seed; the simulator's code is not in the key: clear
    the folder when it changes.
    """
    if cache is None:
        return simulate_log(scenario, seed, logger)
    settings = hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()[:10]
    path = Path(cache) / f"{scenario.name}-{settings}-u{scenario.n_users}-d{scenario.days}-{logger}-s{seed}.parquet"
    if path.is_file():
        return read_frame(path)
    log = simulate_log(scenario, seed, logger)
    write_frame(log, path)
    return log


def true_value(mu: np.ndarray, target_probs: np.ndarray) -> float:
    """Return the target's value on the log: the mean over rounds of ``sum_a pi(a | x_i) mu_i(a)``.

    Examples
    --------
    >>> true_value(np.array([[1.0, np.nan], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.5, 0.5]]))
    1.0
    """
    if np.any(np.isnan(mu) & (target_probs > 0)):
        row = int(np.flatnonzero((np.isnan(mu) & (target_probs > 0)).any(axis=1))[0])
        raise ValueError(f"row {row}: the target gives an ineligible action (no truth) a positive probability")
    return float((np.nan_to_num(mu) * target_probs).sum(axis=1).mean())


def target_probabilities(target: str, feedback: Feedback, log: pl.DataFrame) -> np.ndarray:
    """``(n, k)`` probabilities of a target from :data:`TARGETS` on the log's rounds.

    ``oracle-eps`` reads the simulator's truth, as the oracle does while simulating.
    """
    contexts, eligible = feedback.contexts, feedback.eligible
    if target == "coupon":
        return FixedAction("coupon").probabilities(contexts, ACTIONS, eligible)
    if target == "rules":
        return make_policy("rules").probabilities(contexts, ACTIONS, eligible)
    if target == "oracle-eps":
        oracle = OraclePolicy()
        oracle.observe_truth(log.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float))
        uniform = UniformRandom().probabilities(contexts, ACTIONS, eligible)
        best = oracle.probabilities(contexts, ACTIONS, eligible)
        return (1 - ORACLE_EXPLORATION) * best + ORACLE_EXPLORATION * uniform
    raise ValueError(f"unknown target {target!r}; expected one of {list(TARGETS)}")


def cross_fitted_reward_model(feedback: Feedback, clusters: np.ndarray, seed: int) -> np.ndarray:
    """Predict rewards with the study's model, :func:`experiments.ope.reward_model.cross_fitted_rewards`.

    Each user's rounds are kept in one fold (LightGBM is imported on use).
    """
    from experiments.ope.reward_model import cross_fitted_rewards

    return cross_fitted_rewards(feedback, seed=seed, groups=clusters)


def evaluate_log(
    log: pl.DataFrame,
    targets: Sequence[str] = TARGETS,
    estimators: Sequence[str] | None = None,
    reward_model: RewardModel | None = cross_fitted_reward_model,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    interval: str = "bootstrap",
) -> pl.DataFrame:
    """Every estimator's estimate of every target on one simulated log, beside the target's true value.

    The true value comes from :func:`simulators.truth.expected_rewards`.

    ``estimators`` defaults to every registered one; ``reward_model`` gives the ``q_hat`` of the model-based
    estimators (fitted once per log; cross-fitted LightGBM by default; ``None``: no ``q_hat``, so only estimators
    that need none can run); the intervals (``interval``: ``"bootstrap"`` or ``"normal"``) treat each user's
    rounds as one cluster.
    """
    names = tuple(ESTIMATORS) if estimators is None else tuple(estimators)
    feedback = Feedback.from_log(log.drop(TRUTH_COLUMNS))
    clusters = log.get_column("user_id").to_numpy()
    q_hat = reward_model(feedback, clusters, seed) if reward_model is not None else None
    mu = expected_rewards(log)
    rows = []
    for target in targets:
        probs = target_probabilities(target, feedback, log)
        truth = true_value(mu, probs)
        results = evaluate(
            feedback,
            probs,
            estimators=names,
            q_hat=q_hat,
            alpha=alpha,
            n_bootstrap=n_bootstrap,
            seed=seed,
            clusters=clusters,
            interval=interval,
        )
        rows += [
            {
                "target": target,
                "estimator": r.estimator,
                "n_rounds": r.n_rounds,
                "truth": truth,
                "value": r.value,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "std_error": r.std_error,
            }
            for r in results
        ]
    return pl.DataFrame(rows)


def run_study(
    scenarios: Sequence[str] | None = None,
    seeds: Sequence[int] = range(50),
    n_users: int = 3000,
    days: int = 14,
    logger: str = "uniform",
    targets: Sequence[str] = TARGETS,
    estimators: Sequence[str] | None = None,
    reward_model: RewardModel | None = cross_fitted_reward_model,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    interval: str = "bootstrap",
    cache: Path | None = None,
    on_log: Callable[[str, int], None] | None = None,
) -> pl.DataFrame:
    """One row per (scenario, seed, target, estimator): the estimate, its interval, the truth.

    Parameters
    ----------
    scenarios
        Scenario names or YAML paths; all shipped scenarios by default.
    seeds
        Seeds of the simulations (the bootstrap and the reward model use the same seed).
    n_users, days
        Size of each simulated world.
    logger
        The logging policy, one of :data:`LOGGERS`.
    targets, estimators
        Targets from :data:`TARGETS`; estimator names (every registered one by default).
    reward_model
        Fits ``q_hat`` for the model-based estimators (cross-fitted LightGBM by default); ``None`` runs only
        those that need none.
    alpha, n_bootstrap, interval
        One minus the intervals' coverage; bootstrap resamples; ``"bootstrap"`` or ``"normal"`` intervals.
    cache
        Folder of simulated logs (see :func:`cached_log`).
    on_log
        Called with ``(scenario, seed)`` after each log is evaluated (progress).
    """
    frames = []
    for name in scenario_names() if scenarios is None else scenarios:
        scenario = load_scenario(name).with_size(n_users=n_users, days=days)
        for seed in seeds:
            log = cached_log(scenario, seed, logger, cache)
            rows = evaluate_log(log, targets, estimators, reward_model, alpha, n_bootstrap, seed, interval)
            frames.append(rows.select(pl.lit(scenario.name).alias("scenario"), pl.lit(seed).alias("seed"), pl.all()))
            if on_log is not None:
                on_log(scenario.name, seed)
    return pl.concat(frames)


def summarise_study(raw: pl.DataFrame) -> pl.DataFrame:
    """Bias, RMSE, relative RMSE, coverage, interval width and standard errors per (scenario, target, estimator).

    Sorted by them; see the module's Notes.

    Examples
    --------
    >>> raw = pl.DataFrame({"scenario": ["a"] * 2, "target": ["t"] * 2, "estimator": ["ips"] * 2,
    ...     "seed": [0, 1], "truth": [1.0, 1.0], "value": [1.1, 0.8], "ci_low": [0.9, 0.7],
    ...     "ci_high": [1.3, 0.95], "std_error": [0.1, 0.06]})
    >>> summarise_study(raw).select(pl.col("bias", "rmse", "coverage", "mean_width").round(4)).rows()
    [(-0.05, 0.1581, 0.5, 0.325)]
    """
    error = pl.col("value") - pl.col("truth")
    return (
        raw.group_by("scenario", "target", "estimator")
        .agg(
            pl.col("seed").n_unique().alias("n_seeds"),
            pl.col("truth").mean().alias("truth"),
            error.mean().alias("bias"),
            (error**2).mean().sqrt().alias("rmse"),
            ((error**2).mean().sqrt() / pl.col("truth").abs().mean()).alias("relative_rmse"),
            pl.col("truth").is_between(pl.col("ci_low"), pl.col("ci_high")).mean().alias("coverage"),
            (pl.col("ci_high") - pl.col("ci_low")).mean().alias("mean_width"),
            pl.col("std_error").mean().alias("mean_se"),
            error.std().alias("error_sd"),
        )
        .sort("scenario", "target", "estimator")
    )
