"""`make bench`: speed figures of the spine, measured side by side in one run (the machine is shared and noisy).

Prints a Markdown table; docs/benchmarks.md records the figures with this command.
Run: ``.venv/bin/python tests/benchmarks/run.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datetime import UTC

from experiments.ope import evaluate
from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.base import Feedback
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    users = 500 if args.quick else 2000
    rows: list[tuple[str, str, str]] = []
    scenario = load_scenario("default").with_size(n_users=users, days=14)

    result = MarketplaceSimulator(scenario).run(UniformRandom(), seed=0)
    n_decisions = result.decisions.height
    t_uniform = timed(lambda: MarketplaceSimulator(scenario).run(UniformRandom(), seed=0))
    t_vw = timed(lambda: MarketplaceSimulator(scenario).run(VowpalWabbitPolicy(epsilon=0.2, seed=0), seed=0))
    rows.append(
        (f"simulate default ({users} users × 14 days, {n_decisions} decisions), uniform", f"{t_uniform:.2f} s", "1.00×")
    )
    rows.append(
        ("same, VW deciding every trigger and learning daily", f"{t_vw:.2f} s", f"{t_vw / t_uniform:.2f}× uniform")
    )

    feedback = Feedback.from_log(result.bandit_log())
    policy = VowpalWabbitPolicy(seed=0)
    t_learn = timed(lambda: VowpalWabbitPolicy(seed=0).learn(feedback))
    policy.learn(feedback)
    # a fresh frame each time, so the policy cannot reuse the text lines it built while learning
    t_predict = timed(lambda: policy.probabilities(feedback.contexts.clone(), ACTIONS, feedback.eligible))
    rows.append(
        ("VW learn (text lines built with polars, parsed, learned)", f"{feedback.n_rounds / t_learn:,.0f} rounds/s", "")
    )
    rows.append(
        ("VW probabilities", f"{feedback.n_rounds / t_predict:,.0f} rounds/s", f"{t_learn / t_predict:.2f}× learn")
    )

    n = 100_000 if args.quick else 1_000_000
    rng = np.random.default_rng(0)
    big = Feedback(
        contexts=pl.DataFrame({"x": np.zeros(n)}),
        actions=ACTIONS,
        eligible=np.ones((n, 4), dtype=bool),
        chosen=rng.integers(0, 4, n),
        rewards=rng.random(n),
        propensities=np.full(n, 0.25),
    )
    target = rng.dirichlet(np.ones(4), n)
    t_ips = timed(lambda: evaluate(big, target, estimators=("ips",), n_bootstrap=1000), repeat=1)
    t_snips = timed(lambda: evaluate(big, target, estimators=("ips", "snips"), n_bootstrap=1000), repeat=1)
    rows.append((f"OPE: IPS + 1,000-resample bootstrap, {n:,} rounds", f"{t_ips:.2f} s", ""))
    rows.append(
        (f"OPE: IPS and SNIPS + bootstraps, {n:,} rounds", f"{t_snips:.2f} s", f"{t_snips / t_ips:.2f}× IPS alone")
    )

    rows.extend(endpoint_latency(policy, feedback, 100 if args.quick else 500))
    rows.extend(online_lookup_latency(result, 10_000 if args.quick else 100_000))
    print("| what | figure | side by side |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


def endpoint_latency(policy: VowpalWabbitPolicy, feedback: Feedback, requests: int) -> list[tuple[str, str, str]]:
    """p50 / p99 of POST /v1/decide over a real socket, one client, against the in-process policy call."""
    import httpx

    from features.schemas import feature_columns
    from policies.serving.decision_log import DecisionLog
    from policies.serving.endpoint import create_app
    from policies.serving.pyfunc import PolicyModel
    from policies.serving.server import serving_in_background

    contexts = feedback.contexts
    row = contexts.row(0, named=True)
    body = {
        "user_id": "bench",
        "trigger": row["trigger"],
        "channel": row["channel"],
        "context": {k: row[k] for k in feature_columns(contexts) if k not in ("trigger", "channel")},
        "actions": list(ACTIONS),
    }
    model = PolicyModel(policy)
    rng = np.random.default_rng(0)
    direct = []
    for _ in range(requests):
        started = time.perf_counter()
        model.decide(contexts.head(1), np.ones((1, 4), dtype=bool), rng)
        direct.append(time.perf_counter() - started)
    # as served: the bearer token checked on every request
    app = create_app(model, "bench", DecisionLog(tempfile.mkdtemp()), seed=0, api_token="bench-token")
    latencies = []
    with serving_in_background(app) as url, httpx.Client(headers={"Authorization": "Bearer bench-token"}) as client:
        for _ in range(20):
            client.post(f"{url}/v1/decide", json=body)
        for _ in range(requests):
            started = time.perf_counter()
            client.post(f"{url}/v1/decide", json=body).raise_for_status()
            latencies.append(time.perf_counter() - started)
    p50, p99 = statistics.quantiles(latencies, n=100)[49], statistics.quantiles(latencies, n=100)[98]
    d50 = statistics.median(direct)
    return [
        (
            f"endpoint POST /v1/decide, one client, {requests} requests: p50",
            f"{p50 * 1000:.2f} ms",
            f"{p50 / d50:.1f}× the in-process decision",
        ),
        ("endpoint p99", f"{p99 * 1000:.2f} ms", ""),
        ("in-process decision (policy call, 1 row): p50", f"{d50 * 1000:.2f} ms", ""),
    ]


def online_lookup_latency(result: object, lookups: int) -> list[tuple[str, str, str]]:
    """p50 / p99 of one in-process user lookup plus one item lookup in the online snapshot."""
    from datetime import datetime

    from features.pipelines import build_features
    from features.stores import OnlineSnapshot

    as_of = datetime(2026, 3, 12, tzinfo=UTC)
    built = build_features(result.events.lazy(), result.items.lazy(), result.users.lazy(), as_of)  # type: ignore[attr-defined]
    snapshot = OnlineSnapshot(built.users, built.items, as_of)
    rng = np.random.default_rng(0)
    user_ids = built.users["user_id"].to_numpy()[rng.integers(0, built.users.height, lookups)]
    item_ids = built.items["item_id"].to_numpy()[rng.integers(0, built.items.height, lookups)]
    timings = []
    for user_id, item_id in zip(user_ids.tolist(), item_ids.tolist(), strict=True):
        started = time.perf_counter_ns()
        snapshot.user(user_id)
        snapshot.item(item_id)
        timings.append(time.perf_counter_ns() - started)
    q = np.percentile(timings, [50, 99])
    return [
        (
            f"online snapshot: user + item lookup, {lookups:,} lookups: p50 / p99",
            f"{q[0] / 1000:.2f} / {q[1] / 1000:.2f} µs",
            "target p99 ≤ 1 ms",
        )
    ]


if __name__ == "__main__":
    main()
