"""Durable decision-log appends per second, fsync included, with 1 and 16 appending threads (group commit).

Beside them, the disk's own ceiling: one small ``write`` + ``fdatasync`` at a time. Each append is a decision the
size of the endpoint's (the DECISIONS contract and a user's context), all different.
Run: ``.venv/bin/python tests/benchmarks/decision_log_bench.py [--seconds 3] [--folder DIR]`` (the folder
defaults to a temporary one; give one on the disk the server logs to).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policies.serving.decision_log import DecisionLog


def a_decision(thread: int, i: int) -> dict[str, object]:
    """Build a decision line like the endpoint's: ids, the choice and its probabilities, and ~20 context values."""
    return {
        "decision_id": f"{thread:02d}-{i:08d}",
        "user_id": f"u{(thread * 7919 + i) % 50_000:07d}",
        "policy_version": "offer-policy/7",
        "actions": ["no_offer", "coupon", "installments", "free_shipping"],
        "action": ("no_offer", "coupon", "installments", "free_shipping")[i % 4],
        "propensity": 0.25 + (i % 7) / 100,
        "probabilities": [0.25, 0.25, 0.25, 0.25],
        "channel": "push",
        "send_at": "2026-11-27T20:00:00+00:00",
        **{f"context_{k}": (i * (k + 1)) % 1_000 / 7 for k in range(20)},
    }


def fsync_ceiling(folder: Path, seconds: float) -> float:
    """Lines/s when each line is written and fdatasync-ed on its own."""
    fd = os.open(folder / "ceiling.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        os.write(fd, b'{"decision_id": "x"}\n')
        os.fdatasync(fd)
        count += 1
    os.close(fd)
    return count / (time.perf_counter() - started)


def appends(folder: Path, threads: int, seconds: float) -> dict[str, float]:
    """Appends/s through DecisionLog with ``threads`` threads appending as fast as they can."""
    log = DecisionLog(folder)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def run(thread: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            record = a_decision(thread, i)
            started = time.perf_counter()
            log.append(record)
            latencies[thread].append(time.perf_counter() - started)
            i += 1

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    log.close()
    every = sorted(x for each in latencies for x in each)
    stats = log.stats()
    return {
        "appends_per_s": len(every) / elapsed,
        "lines_per_fsync": stats.lines / stats.batches,
        "p50_ms": 1_000 * statistics.median(every),
        "p99_ms": 1_000 * every[int(0.99 * (len(every) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        root = Path(folder)
        print(f"folder {root}, {args.seconds:g} s per row\n")
        print("| appenders | appends/s | lines per fsync | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        print(f"| write + fdatasync per line (the disk's ceiling) | {fsync_ceiling(root, args.seconds):,.0f} | 1 | | |")
        for threads in (1, 16):
            row = appends(root / f"threads-{threads}", threads, args.seconds)
            print(
                f"| DecisionLog, {threads} thread{'s' if threads > 1 else ''} | {row['appends_per_s']:,.0f} "
                f"| {row['lines_per_fsync']:.1f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |"
            )


if __name__ == "__main__":
    main()
