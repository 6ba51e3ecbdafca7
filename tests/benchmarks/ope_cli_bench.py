"""The whole ``offerlab ope`` command on a large Parquet log, as a user runs it: a fresh process, reading included.

Writes a seeded synthetic log (``--rounds`` rounds, ``--actions`` actions, ten features, ``user_id``) and a target
table, then times each estimator set in its own fresh process (``--json`` output, 1,000 bootstrap resamples,
intervals clustered by user) and reports the seconds the command took, its own ``seconds`` figure (after start-up)
and the peak memory.

Run::

    .venv/bin/python tests/benchmarks/ope_cli_bench.py --rounds 1000000 --actions 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

SETS = ("ips,snips", "ips,snips,dr", "ips,snips,dm,dr,sndr,switch-dr,dr-os")


def write_log(folder: Path, n: int, k: int, seed: int) -> tuple[Path, Path]:
    """Write a log under a softmax logger on ten features, and a target table (a different softmax)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 10)).astype(np.float32)
    scores = features[:, :3] @ rng.normal(size=(3, k))
    logger = np.exp(scores * 0.5)
    logger /= logger.sum(axis=1, keepdims=True)
    action = (logger.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, k - 1)
    reward = rng.binomial(1, 1 / (1 + np.exp(-(scores[np.arange(n), action] - 1)))).astype(float)
    log = pl.DataFrame(
        {
            "action": action,
            "reward": reward,
            "propensity": logger[np.arange(n), action],
            "user_id": rng.integers(0, n // 10, size=n),
            **{f"x{j}": features[:, j] for j in range(10)},
        }
    )
    target = np.exp(scores * 1.5)
    target /= target.sum(axis=1, keepdims=True)
    log_path, target_path = folder / "log.parquet", folder / "target.parquet"
    log.write_parquet(log_path)
    pl.DataFrame({f"p_{a}": target[:, a] for a in range(k)}).write_parquet(target_path)
    return log_path, target_path


def run(log: Path, target: Path, estimators: str, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "ope", "--log", str(log), "--target-probs", str(target),
         "--estimators", estimators, "--json"],
        capture_output=True, text=True, check=True, cwd=folder,
    )  # fmt: skip
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    payload = json.loads(result.stdout)
    return {"wall": wall, "inside": float(payload["seconds"]), "peak_mb": max(peak, before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log, target = write_log(folder, args.rounds, args.actions, args.seed)
        print(f"log: {args.rounds:,} rounds x {args.actions} actions, {log.stat().st_size / 1e6:.0f} MB Parquet")
        print("| estimators | command, s | after start-up, s | peak memory (max so far), MB |")
        print("|---|---:|---:|---:|")
        for estimators in args.sets:
            figures = run(log, target, estimators, folder)
            print(f"| {estimators} | {figures['wall']:.2f} | {figures['inside']:.2f} | {figures['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
