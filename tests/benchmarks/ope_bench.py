"""Speed of the OPE core: each estimator's point estimate and bootstrap interval (blocked, exact; by round, by user).

Fresh synthetic logs from a seeded generator (Dirichlet logging and target
policies, Bernoulli rewards, a noisy reward model ``q_hat``): ``--rounds`` x
``--actions`` (default 1,000,000 x 4), with ``--users`` users for the clustered
bootstrap, and ``--wide-rounds`` x ``--wide-actions`` (default 100,000 x 200).
Point estimates are the median of ``--repeat`` runs of ``round_terms`` plus the
ratio (the check of ``target_probs`` is timed on its own); bootstrap intervals
are 1,000 resamples of the whole statistic over random blocks (the default
``MAX_UNITS`` groups), timed on terms already computed, per estimator and for
all estimators in one plan; the exact bootstrap (``max_units=None``) runs
``--exact-resamples`` resamples and is scaled to 1,000. Open Bandit Pipeline's
figures (FACTS.md: 1M rounds x 4 actions) stand beside ours as ratios.
Prints a Markdown table.

Run: ``.venv/bin/python tests/benchmarks/ope_bench.py [--rounds 1000000] [--users 100000] [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from experiments.ope import (
    ESTIMATORS,
    MAX_UNITS,
    RoundTerms,
    Units,
    check_target_probs,
    diagnose,
    evaluate,
    summarise_all,
)
from policies.base import Feedback

#: Open Bandit Pipeline 0.5.7, 1M rounds x 4 actions (FACTS.md), in seconds.
OBP_SECONDS = {"ips": 0.036, "dr": 0.280, "bootstrap": 9.0}
RESAMPLES = 1000


@dataclass(frozen=True)
class Log:
    feedback: Feedback
    target_probs: np.ndarray
    q_hat: np.ndarray
    users: np.ndarray


def synthetic_log(n: int, k: int, users: int, seed: int) -> Log:
    """Generate a log of ``n`` rounds and ``k`` actions, seeded; ``users`` users, each with their own rate."""
    rng = np.random.default_rng(seed)
    logging = rng.dirichlet(np.full(k, 2.0), size=n)
    chosen = np.minimum((rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1), k - 1)
    user = rng.integers(0, users, size=n)
    truth = np.clip(rng.beta(2, 5, size=(n, k)) + rng.normal(0, 0.1, size=users)[user, None], 0, 1)
    rewards = rng.binomial(1, truth[np.arange(n), chosen]).astype(float)
    feedback = Feedback(
        contexts=pl.DataFrame({"x": np.zeros(n)}),
        actions=tuple(f"a{j}" for j in range(k)),
        eligible=np.ones((n, k), dtype=bool),
        chosen=chosen,
        rewards=rewards,
        propensities=logging[np.arange(n), chosen],
    )
    target = rng.dirichlet(np.ones(k), size=n)
    q_hat = np.clip(truth + rng.normal(0, 0.05, size=(n, k)), 0, 1)
    return Log(feedback, target, q_hat, user)


def timed(call: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def terms_of(log: Log) -> dict[str, RoundTerms]:
    return {name: cls().round_terms(log.feedback, log.target_probs, log.q_hat) for name, cls in ESTIMATORS.items()}


def bootstrap(terms: dict[str, RoundTerms], units: Units, resamples: int, max_units: int | None) -> None:
    summarise_all(terms, n_bootstrap=resamples, seed=0, clusters=units, max_units=max_units)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--wide-rounds", type=int, default=100_000)
    parser.add_argument("--wide-actions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7, help="repeats of each point estimate (median)")
    parser.add_argument("--boot-repeat", type=int, default=3, help="repeats of each bootstrap (median)")
    parser.add_argument("--exact-resamples", type=int, default=20, help="resamples of the exact bootstrap")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows: list[tuple[str, str, str]] = []
    log = synthetic_log(args.rounds, args.actions, args.users, args.seed)
    size = f"{args.rounds:,} x {args.actions}"
    check = timed(lambda: check_target_probs(log.feedback, log.target_probs), args.repeat)
    rows.append((f"check_target_probs, {size}", ms(check), ""))
    rows.append(
        (
            f"diagnose (weights, ESS, support, warnings), {size}",
            ms(timed(lambda: diagnose(log.feedback, log.target_probs), args.repeat)),
            "",
        )
    )
    for name, cls in ESTIMATORS.items():
        estimator = cls()
        seconds = timed(
            lambda estimator=estimator: estimator.round_terms(log.feedback, log.target_probs, log.q_hat).value(),
            args.repeat,
        )
        obp = {"ips": "ips", "dr": "dr"}.get(name)
        rows.append(
            (
                f"point estimate {name}, {size}",
                ms(seconds),
                f"OBP / ours = {OBP_SECONDS[obp] / seconds:.1f}" if obp else "",
            )
        )

    terms = terms_of(log)
    by_round, by_user = Units.of(args.rounds), Units.of(args.rounds, log.users)
    for name in ESTIMATORS:
        one = {name: terms[name]}
        seconds = timed(lambda one=one: bootstrap(one, by_round, RESAMPLES, MAX_UNITS), args.boot_repeat)
        rows.append(
            (
                f"bootstrap {name}, {RESAMPLES:,} resamples, blocks of rounds",
                ms(seconds),
                f"OBP / ours = {OBP_SECONDS['bootstrap'] / seconds:.0f}",
            )
        )
    seconds = timed(lambda: bootstrap(terms, by_round, RESAMPLES, MAX_UNITS), args.boot_repeat)
    rows.append(
        (
            f"bootstrap all {len(terms)} estimators in one plan, blocks of rounds",
            ms(seconds),
            f"OBP / ours = {OBP_SECONDS['bootstrap'] * len(terms) / seconds:.0f} (OBP: {len(terms)} bootstraps)",
        )
    )
    seconds = timed(lambda: bootstrap(terms, by_user, RESAMPLES, MAX_UNITS), args.boot_repeat)
    rows.append((f"bootstrap all {len(terms)} estimators, blocks of users ({by_user.count:,} users)", ms(seconds), ""))
    seconds = timed(lambda: Units.of(args.rounds, log.users), args.boot_repeat)
    rows.append((f"grouping rounds by user ({by_user.count:,} integer ids; not in the row above)", ms(seconds), ""))
    names = log.users.astype(str).astype(object)
    seconds = timed(lambda: Units.of(args.rounds, names), args.boot_repeat)
    rows.append((f"grouping rounds by user ({by_user.count:,} string ids)", ms(seconds), ""))
    every = tuple(ESTIMATORS)
    for label, clusters in (("by round", None), ("by user", log.users)):
        seconds = timed(
            lambda clusters=clusters: evaluate(log.feedback, log.target_probs, every, log.q_hat, clusters=clusters),
            args.boot_repeat,
        )
        rows.append(
            (
                f"evaluate(all {len(every)}, 1,000 resamples {label}): checks, terms, diagnostics, intervals",
                ms(seconds),
                "",
            )
        )
    seconds = timed(
        lambda: summarise_all({"snips": terms["snips"]}, clusters=by_user, interval="normal"), args.boot_repeat
    )
    rows.append(("normal interval (delta method) snips, by user", ms(seconds), ""))

    exact = args.exact_resamples
    for label, units in (("rounds", by_round), ("users", by_user)):
        for name in ("ips", "snips"):
            seconds = (
                timed(lambda name=name, units=units: bootstrap({name: terms[name]}, units, exact, None), 1)
                * RESAMPLES
                / exact
            )
            rows.append(
                (
                    f"exact bootstrap {name} by {label} ({units.count:,} units), "
                    f"{exact} resamples scaled to {RESAMPLES:,}",
                    ms(seconds),
                    f"OBP / ours = {OBP_SECONDS['bootstrap'] / seconds:.1f}",
                )
            )

    wide = synthetic_log(args.wide_rounds, args.wide_actions, args.users, args.seed + 1)
    wide_size = f"{args.wide_rounds:,} x {args.wide_actions}"
    rows.append(
        (
            f"check_target_probs, {wide_size}",
            ms(timed(lambda: check_target_probs(wide.feedback, wide.target_probs), args.repeat)),
            "",
        )
    )
    for name, cls in ESTIMATORS.items():
        estimator = cls()
        seconds = timed(
            lambda estimator=estimator: estimator.round_terms(wide.feedback, wide.target_probs, wide.q_hat).value(),
            args.repeat,
        )
        rows.append((f"point estimate {name}, {wide_size}", ms(seconds), ""))
    wide_terms = terms_of(wide)
    seconds = timed(lambda: bootstrap(wide_terms, Units.of(args.wide_rounds), RESAMPLES, MAX_UNITS), args.boot_repeat)
    rows.append((f"bootstrap all {len(wide_terms)} estimators, {wide_size}, blocks of rounds", ms(seconds), ""))

    print("| what | ours (median) | beside Open Bandit Pipeline |\n|---|---|---|")
    for what, figure, beside in rows:
        print(f"| {what} | {figure} | {beside} |")


if __name__ == "__main__":
    main()
