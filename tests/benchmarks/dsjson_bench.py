"""DSJSON export cost: ``write_dsjson`` on a large decision log, written in chunks against all at once.

A simulated log (default scenario, uniform logging) is repeated, with fresh decision ids, up to ``--rows``; each
measured write runs in a fresh process (peak = its own maximum resident set, the log read included), the two
chunk sizes alternating ``--repeat`` times. Prints a Markdown table.
Run: ``.venv/bin/python tests/benchmarks/dsjson_bench.py [--rows 1000000] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import polars as pl
from policies.bandits.dsjson import write_dsjson
log = pl.read_parquet({log!r})
read_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
started = time.perf_counter()
write_dsjson(log, {out!r}, chunk_rows={chunk})
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({{"seconds": seconds, "peak_gib": peak, "read_peak_gib": read_peak}}))
"""


def make_log(path: Path, rows: int, users: int) -> int:
    """Write a simulated log repeated up to ``rows`` rows to ``path``; return its column count."""
    import polars as pl

    from policies.bandits.baselines import UniformRandom
    from simulators.marketplace import MarketplaceSimulator
    from simulators.scenario import load_scenario

    log = MarketplaceSimulator(load_scenario("default").with_size(n_users=users, days=30)).run(UniformRandom(), seed=0)
    frame = log.bandit_log()
    copies = -(-rows // frame.height)
    big = pl.concat([frame.with_columns(decision_id=pl.col("decision_id") + f"-{i}") for i in range(copies)])
    big.head(rows).write_parquet(path)
    return big.width


def measure(log: Path, out: Path, chunk: int) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), log=str(log), out=str(out), chunk=chunk)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000, help="users of the simulated log that is repeated")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsjson_bench_") as tmp:
        log, out = Path(tmp) / "log.parquet", Path(tmp) / "log.dsjson"
        width = make_log(log, args.rows, args.users)
        runs: dict[int, list[dict[str, float]]] = {args.chunk_rows: [], args.rows: []}
        for _ in range(args.repeat):
            for chunk in runs:
                runs[chunk].append(measure(log, out, chunk))
        size_mb = out.stat().st_size / 1e6
    print(f"DSJSON export of {args.rows:,} decisions × {width} columns; file {size_mb:,.0f} MB.")
    print()
    print("| chunk rows | seconds (median) | rows/s | peak RSS | of which the log read |")
    print("|---|---|---|---|---|")
    for chunk, measured in runs.items():
        seconds = statistics.median(m["seconds"] for m in measured)
        peak = max(m["peak_gib"] for m in measured)
        read = max(m["read_peak_gib"] for m in measured)
        label = f"{chunk:,}" + (" (all at once)" if chunk == args.rows else "")
        print(f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} | {peak:.2f} GiB | {read:.2f} GiB |")


if __name__ == "__main__":
    main()
