"""Simulator cost against size: the default scenario with the VW policy deciding every trigger.

Each size runs in a fresh process (so peak memory is that run's own); prints a Markdown table.
Run: ``.venv/bin/python tests/benchmarks/simulator_scaling.py [--users 10000 30000 100000] [--days 30]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from policies import make_policy
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario
scenario = load_scenario("default").with_size(n_users={users}, days={days})
started = time.perf_counter()
result = MarketplaceSimulator(scenario).run(make_policy("vw", seed=0), seed=0)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(json.dumps({{"seconds": seconds, "peak_gib": peak, "events": result.events.height,
                  "decisions": result.decisions.height}}))
"""


def measure(users: int, days: int) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), users=users, days=days)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    rows = [(users, measure(users, args.days)) for users in args.users]
    base_users, base = rows[0]
    print("| users × days | seconds | peak memory | events | decisions | µs per user-day | per user-day vs smallest |")
    print("|---|---|---|---|---|---|---|")
    for users, m in rows:
        per = m["seconds"] / (users * args.days) * 1e6
        base_per = base["seconds"] / (base_users * args.days) * 1e6
        print(
            f"| {users:,} × {args.days} | {m['seconds']:.1f} s | {m['peak_gib']:.2f} GiB | {int(m['events']):,} "
            f"| {int(m['decisions']):,} | {per:.1f} | {per / base_per:.2f}× |"
        )


if __name__ == "__main__":
    main()
