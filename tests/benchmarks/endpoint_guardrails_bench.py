"""Latency of ``/v1/decide`` with the guardrails, over real HTTP, one client, side by side.

Run: ``.venv/bin/python tests/benchmarks/endpoint_guardrails_bench.py --before /tmp/offerlab-before`` (a checkout
of the code to compare with, e.g. ``git worktree add /tmp/offerlab-before <commit>``; without ``--before`` only
this checkout is measured). It simulates a small world (1,000 users, 7 days, seed 11, as the tests do), builds
the online snapshot and the users table, trains and registers a VW champion in a temporary MLflow store, starts
one ``offerlab serve --features --users`` per checkout and sends the same requests (one trigger moment each, on
distinct users, in random order) to each in turn, alternating which goes first. Prints p50/p90 per checkout,
and the verdicts (kept/suppressed) so both can be seen to do the same work. No timed assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def world(folder: Path) -> tuple[Path, Path, list[str], list[str]]:
    """Build the snapshot, the users file, the user and item ids, and register the champion in ``folder``'s store."""
    import mlflow
    from mlflow import MlflowClient

    from features.pipelines import build_features
    from features.stores import OnlineSnapshot
    from policies.bandits.baselines import UniformRandom
    from policies.bandits.vw import VowpalWabbitPolicy
    from policies.base import Feedback
    from policies.serving.config import configure_mlflow, load_config
    from policies.serving.pyfunc import log_policy_model
    from simulators.marketplace import MarketplaceSimulator
    from simulators.scenario import load_scenario

    run = MarketplaceSimulator(load_scenario("default").with_size(n_users=1000, days=7)).run(UniformRandom(), seed=11)
    features = build_features(run.events.lazy(), run.items.lazy(), run.users.lazy(), datetime(2026, 3, 9, tzinfo=UTC))
    OnlineSnapshot(features.users, features.items, features.as_of).save(folder / "online")
    run.users.write_parquet(folder / "users.parquet")
    store = load_config(folder / "mlflow.yaml")
    policy = VowpalWabbitPolicy(seed=1)
    policy.learn(Feedback.from_log(run.bandit_log()))
    configure_mlflow(store)
    mlflow.set_experiment("endpoint-bench")
    with mlflow.start_run():
        info = log_policy_model(policy, store.registered_model)
    MlflowClient().set_registered_model_alias(
        store.registered_model, store.champion_alias, str(info.registered_model_version)
    )
    return (
        folder / "online",
        folder / "users.parquet",
        run.users.get_column("user_id").to_list(),
        features.items.get_column("item_id").to_list(),
    )


#: The bearer token the benchmarked servers require.
BENCH_TOKEN = "bench-token"


def start(root: Path, config: Path, port: int, online: Path, users: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OFFERLAB_CONFIG": str(config), "OFFERLAB_PSEUDONYM_SALT": "bench-salt"}
    env["OFFERLAB_API_TOKEN"] = BENCH_TOKEN  # a checkout from before the token ignores it
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "experiments.cli", "serve", "--port", str(port), "--seed", "0"]
    command += ["--features", str(online), "--users", str(users)]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server in {root} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, help="a checkout to compare with (measured side by side)")
    parser.add_argument("--requests", type=int, default=500, help="requests per server, one user each")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = (ROOT / "mlflow.yaml").read_text()
        for name in ("before", "after"):  # one store, one decision log per server
            (folder / f"{name}.yaml").write_text(base.replace("./runs/decision-log", f"./runs/{name}-log"))
        (folder / "mlflow.yaml").write_text(base)
        os.environ["OFFERLAB_PSEUDONYM_SALT"] = "bench-salt"
        online, users, user_ids, items = world(folder)
        roots = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
        servers, urls = {}, {}
        try:
            for name, root in roots.items():
                port = free_port()
                servers[name] = start(root, folder / f"{name}.yaml", port, online, users)
                urls[name] = f"http://127.0.0.1:{port}/v1/decide"
            rng = np.random.default_rng(0)
            order = rng.permutation(user_ids)
            need = args.warmup + args.requests
            if len(order) < need:
                raise SystemExit(f"{len(order)} users for {need} requests")
            times: dict[str, list[float]] = {name: [] for name in roots}
            verdicts: dict[str, dict[str, int]] = {name: {} for name in roots}
            with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}) as client:
                for i, user in enumerate(order[:need]):
                    body = {"user_id": str(user), "trigger": "cart_abandon", "item_id": items[i % len(items)],
                            "event_id": f"bench-{i}"}  # fmt: skip
                    names = list(roots) if i % 2 else list(reversed(list(roots)))
                    for name in names:
                        start_ns = time.perf_counter_ns()
                        answer = client.post(urls[name], json=body)
                        elapsed = (time.perf_counter_ns() - start_ns) / 1e6
                        answer.raise_for_status()
                        if i >= args.warmup:
                            times[name].append(elapsed)
                            code = answer.json()["suppressed_by"] or "kept"
                            verdicts[name][code] = verdicts[name].get(code, 0) + 1
        finally:
            for process in servers.values():
                process.terminate()
                process.wait(10)
    for name in reversed(list(roots)):
        p50, p90 = np.percentile(times[name], [50, 90])
        print(f"{name:>6} ({roots[name]}): p50 {p50:.2f} ms, p90 {p90:.2f} ms over {len(times[name])} requests")
        print(f"        verdicts: {dict(sorted(verdicts[name].items()))}")


if __name__ == "__main__":
    main()
