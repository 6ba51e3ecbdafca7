"""Regret of every policy in every scenario, measured against the simulator's truth (issue 11).

For each scenario YAML (``simulators/scenarios/*.yaml``, found, not listed) and each policy (uniform, each fixed
action, the rule policy, non-contextual Thompson sampling, LinUCB, linear Thompson sampling, VW with its default
configuration, the oracle), one seeded simulation in which the learned policies learn online from each date's
feedback. The figures come from the run's summary, so they are expected rewards from
:func:`simulators.truth.expected_rewards` (stock-outs and delivery counted), per decision:

* ``value``: the policy's expected net reward (``policy_expected_value``);
* ``best_fixed`` / ``oracle``: what the best single action and the oracle would have earned on the same decisions;
* ``regret``: ``oracle - value``; ``cum_value`` and ``cum_regret`` are the same times the number of decisions;
* ``captured``: the share of the oracle's margin over the best fixed action the policy earns,
  ``(value - best_fixed) / (oracle - best_fixed)`` (1 for the oracle, 0 for the best fixed action).

Each policy changes the world it runs in (stock, fatigue, unsubscribes), so ``best_fixed`` and ``oracle`` are
those of that policy's own run. Results are cached per (scenario, policy, users, days, seed) in ``--cache``, so an
interrupted run resumes.

Run (10,000 users x 30 days, every scenario and policy: about 10 minutes here)::

    .venv/bin/python tests/benchmarks/regret_table.py --users 10000 --days 30 --seed 0 --out /tmp/regret.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

from experiments.jobs import simulation_policy
from experiments.reporting.markdown import markdown_table
from features.io import write_bytes
from features.schemas import ACTIONS
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario, scenario_names

#: Every policy of the table, in its order; the fixed actions sit after uniform.
POLICIES = ("uniform", *ACTIONS, "rules", "thompson", "linucb", "lin_ts", "vw", "oracle")


def run_one(scenario: str, policy: str, users: int | None, days: int | None, seed: int) -> dict[str, object]:
    """One seeded simulation of ``policy`` in ``scenario``: the summary's values and the time it took."""
    loaded = load_scenario(scenario).with_size(n_users=users, days=days)
    started = time.perf_counter()
    summary = MarketplaceSimulator(loaded).run(simulation_policy(policy, seed), seed=seed).summary()
    return {
        "scenario": scenario,
        "policy": policy,
        "users": loaded.n_users,
        "days": loaded.days,
        "seed": seed,
        "decisions": summary["n_decisions"],
        "value": summary["policy_expected_value"],
        "best_fixed_action": summary["best_fixed_action"],
        "best_fixed": summary["best_fixed_value"],
        "oracle": summary["oracle_value"],
        "seconds": time.perf_counter() - started,
    }


def regret_table(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Regret, cumulative figures and the captured share of the oracle's margin, from :func:`run_one`'s rows."""
    margin = pl.col("oracle") - pl.col("best_fixed")
    return pl.DataFrame(rows).select(
        "scenario",
        "policy",
        "decisions",
        "value",
        "best_fixed_action",
        "best_fixed",
        "oracle",
        regret=pl.col("oracle") - pl.col("value"),
        cum_value=pl.col("value") * pl.col("decisions"),
        cum_regret=(pl.col("oracle") - pl.col("value")) * pl.col("decisions"),
        captured=pl.when(margin > 0).then((pl.col("value") - pl.col("best_fixed")) / margin),
        seconds=pl.col("seconds"),
    )


def names(text: str | None, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Parse a comma-separated selection from ``known`` (all of them when ``text`` is None); refuse unknown names."""
    if text is None:
        return known
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise SystemExit(f"unknown {what} {unknown or text!r}; expected some of {', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="users per simulation (default 10,000)")
    parser.add_argument("--days", type=int, default=30, help="days per simulation (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of every simulation")
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: every YAML)")
    parser.add_argument("--policies", help=f"comma-separated policies (default: {', '.join(POLICIES)})")
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/offerlab-regret-cache.jsonl"))
    args = parser.parse_args(argv)
    scenarios = names(args.scenarios, tuple(scenario_names()), "scenario")
    policies = names(args.policies, POLICIES, "policy")
    cached: dict[tuple[object, ...], dict[str, object]] = {}
    if args.cache.exists():
        for line in args.cache.read_text().splitlines():
            row = json.loads(line)
            cached[(row["scenario"], row["policy"], row["users"], row["days"], row["seed"])] = row
    rows = []
    for scenario in scenarios:
        for policy in policies:
            key = (scenario, policy, args.users, args.days, args.seed)
            if key not in cached:
                cached[key] = run_one(scenario, policy, args.users, args.days, args.seed)
                with args.cache.open("a") as cache:
                    cache.write(json.dumps(cached[key]) + "\n")
            rows.append(cached[key])
            print(f"{scenario:>14} {policy:>12} {cached[key]['seconds']:7.1f} s", file=sys.stderr, flush=True)
    text = markdown_table(regret_table(rows))
    print(text)
    if args.out is not None:
        write_bytes((text + "\n").encode(), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
