"""Benchmark the feature build: polars against the pandas reference, and a streaming build of a larger log.

Polars ``build_features`` is timed against the plain pandas reference, and a streaming build of a larger event
log that is never held in memory:

1. Generate ``--events`` synthetic events (``events/part-XXXX.parquet`` chunks, items, users; timed on its own).
2. Build all user and item features with polars from ``pl.scan_parquet`` (time of the build only, the scan
   included), in a fresh process, with its peak RSS (``ru_maxrss``).
3. The same with the pandas reference (``tests/benchmarks/pandas_features.py``), reading the parquet files,
   in its own fresh process. Steps 2 and 3 alternate ``--repeat`` times (default 3): the median
   time of each is reported, and the speed-up of every (polars, pandas) pair, since the machine is shared.
4. Check both give the same rows and columns (integers equal, floats within 1e-9 relative).
5. Generate ``--stream-events`` events in chunks and build the user and item plans from
   ``pl.scan_parquet("events/*.parquet")`` with the streaming engine (``pl.collect_all(..., engine="streaming")``)
   in a fresh process, with its time and peak RSS, against the in-memory size those events would take.

Every measured run is a child process; the parent polls its RSS and kills it if it passes ``--memory-cap-gib``
(the machine is shared). Prints a Markdown table.

Run: ``.venv/bin/python tests/benchmarks/features_bench.py [--events 10000000] [--stream-events 50000000]``;
smoke run: ``--events 200000 --stream-events 1000000``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from tests.benchmarks.synthetic_events import AS_OF, write_synthetic  # noqa: E402

GIB = 2**30
TARGET_SECONDS = 15.0
TARGET_PEAK_GIB = 6.0
TARGET_SPEEDUP = 5.0
#: Users are built in this many hash shares in the streaming run, so peak memory stays bounded.
STREAM_PARTITIONS = 4


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _scans(folder: Path) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    return (
        pl.scan_parquet(folder / "events" / "*.parquet"),
        pl.scan_parquet(folder / "items.parquet"),
        pl.scan_parquet(folder / "users.parquet"),
    )


def child(kind: str, folder: Path, out: Path) -> dict[str, object]:
    """One measured run, in this (fresh) process; outputs go to ``out`` after the peak is taken."""
    if kind == "polars":
        from features.pipelines import build_features

        started = time.perf_counter()
        built = build_features(*_scans(folder), AS_OF)
        seconds, peak = time.perf_counter() - started, _peak_gib()
        built.users.write_parquet(out / "polars_users.parquet")
        built.items.write_parquet(out / "polars_items.parquet")
        return {"seconds": seconds, "peak_gib": peak, "users": built.users.shape, "items": built.items.shape}
    if kind == "pandas":
        from tests.benchmarks.pandas_features import pandas_features, read_pandas

        started = time.perf_counter()
        events, items, users = read_pandas(folder)
        read = time.perf_counter() - started
        user_frame, item_frame = pandas_features(events, items, users, AS_OF)
        seconds, peak = time.perf_counter() - started, _peak_gib()
        pl.from_pandas(user_frame, nan_to_null=True).write_parquet(out / "pandas_users.parquet")
        pl.from_pandas(item_frame, nan_to_null=True).write_parquet(out / "pandas_items.parquet")
        return {"seconds": seconds, "read_seconds": read, "peak_gib": peak}
    if kind == "streaming":
        from features.pipelines import build_features

        started = time.perf_counter()
        events, items, users = _scans(folder)
        built = build_features(events, items, users, AS_OF, partitions=STREAM_PARTITIONS)
        user_frame, item_frame = built.users, built.items
        seconds, peak = time.perf_counter() - started, _peak_gib()
        return {"seconds": seconds, "peak_gib": peak, "users": user_frame.shape, "items": item_frame.shape}
    raise ValueError(f"unknown run {kind!r}")


def _rss_gib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0.0


@dataclass
class Measured:
    seconds: float | None
    peak_gib: float
    extra: dict[str, object]
    failure: str | None = None


def measure(kind: str, folder: Path, out: Path, cap_gib: float) -> Measured:
    """Run :func:`child` in a fresh interpreter; kill it (by its pid) if its RSS passes ``cap_gib``."""
    log = out / f"{kind}.log"
    with log.open("w") as err, tempfile.TemporaryFile("w+") as result:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(folder), str(out)]
        proc = subprocess.Popen(command, stdout=result, stderr=err, cwd=ROOT)
        polled, killed, started = 0.0, False, time.perf_counter()
        while proc.poll() is None:
            polled = max(polled, _rss_gib(proc.pid))
            if polled > cap_gib:
                proc.kill()
                killed = True
                break
            time.sleep(0.1)
        proc.wait()
        result.seek(0)
        lines = result.read().strip().splitlines()
    if killed:
        elapsed = time.perf_counter() - started
        return Measured(None, polled, {}, f"killed after {elapsed:.0f} s: RSS passed the {cap_gib:g} GiB cap")
    if proc.returncode != 0 or not lines:
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        return Measured(None, polled, {}, f"failed (exit {proc.returncode}): {tail[0]}")
    data = json.loads(lines[-1])
    return Measured(float(data.pop("seconds")), float(data.pop("peak_gib")), data)


def median_run(runs: list[Measured]) -> Measured:
    """Return the run of median time (a failure if any run failed), with the highest peak of all runs."""
    failed = [run for run in runs if run.seconds is None]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda run: run.seconds or 0.0)
    middle = ordered[(len(ordered) - 1) // 2]
    return Measured(middle.seconds, max(run.peak_gib for run in runs), middle.extra)


def generate(folder: Path, n_events: int, seed: int, chunk_events: int) -> float:
    started = time.perf_counter()
    write_synthetic(folder, n_events, seed, chunk_events)
    return time.perf_counter() - started


def compare(out: Path) -> str:
    from tests.benchmarks.pandas_features import first_difference

    for name, key in (("users", "user_id"), ("items", "item_id")):
        difference = first_difference(
            pl.read_parquet(out / f"polars_{name}.parquet"), pl.read_parquet(out / f"pandas_{name}.parquet"), key
        )
        if difference is not None:
            return f"no: {name}: {difference}"
    return "yes"


def _seconds(m: Measured) -> str:
    return f"{m.seconds:.1f}" if m.seconds is not None else f"— ({m.failure})"


def _size(gib: float) -> str:
    return f"{gib:.2f} GiB" if gib >= 0.1 else f"{gib * 1024:.1f} MiB"


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--stream-events", type=int, default=50_000_000, help="0 skips the streaming run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="alternating polars / pandas runs (median reported)")
    parser.add_argument("--chunk-events", type=int, default=5_000_000)
    parser.add_argument("--memory-cap-gib", type=float, default=12.0, help="kill a measured run past this RSS")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here (default: a temp folder)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, out = args.child
        print(json.dumps(child(kind, Path(folder), Path(out))))
        return

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="features_bench_", dir=args.workdir) as tmp:
        work = Path(tmp)
        n, n_stream = args.events, args.stream_events
        small, out = work / f"events_{n}", work / "out"
        out.mkdir()
        print(f"generating {n:,} events …", file=sys.stderr, flush=True)
        t_generate = generate(small, n, args.seed, args.chunk_events)
        loaded = pl.read_parquet(small / "events" / "*.parquet")
        in_memory_gib = loaded.estimated_size() / GIB
        on_disk_gib = sum(f.stat().st_size for f in (small / "events").iterdir()) / GIB
        del loaded

        polars_runs, pandas_runs = [], []
        for round_ in range(1, args.repeat + 1):  # alternate, so both see the same load on a shared machine
            print(f"polars build ({round_}/{args.repeat}) …", file=sys.stderr, flush=True)
            polars_runs.append(measure("polars", small, out, args.memory_cap_gib))
            print(f"pandas reference ({round_}/{args.repeat}) …", file=sys.stderr, flush=True)
            pandas_runs.append(measure("pandas", small, out, args.memory_cap_gib))
        polars_run, pandas_run = median_run(polars_runs), median_run(pandas_runs)
        equal = compare(out) if polars_run.failure is None and pandas_run.failure is None else "not checked"

        stream_run: Measured | None = None
        t_stream_generate = 0.0
        if n_stream:
            big = work / f"events_{n_stream}"
            print(f"generating {n_stream:,} events in chunks …", file=sys.stderr, flush=True)
            t_stream_generate = generate(big, n_stream, args.seed, args.chunk_events)
            shutil.rmtree(small, ignore_errors=True)
            print("polars streaming build …", file=sys.stderr, flush=True)
            stream_run = measure("streaming", big, out, args.memory_cap_gib)

    print()
    print(f"Feature build benchmark: as_of {AS_OF:%Y-%m-%d}, seed {args.seed}, polars {pl.__version__}.")
    print(
        f"{n:,} events: generated in {t_generate:.1f} s (not part of any build time), "
        f"{_size(on_disk_gib)} of parquet, {_size(in_memory_gib)} in memory as a polars frame."
    )
    print()
    print("| run | events | seconds | peak RSS (GiB) | target | met |")
    print("|---|---|---|---|---|---|")
    p, q = polars_run, pandas_run
    fast = p.seconds is not None and p.seconds <= TARGET_SECONDS
    print(
        f"| polars `build_features` (scan_parquet, in-memory engine), median | {n:,} | {_seconds(p)} "
        f"| {p.peak_gib:.2f} "
        f"| ≤ {TARGET_SECONDS:g} s, ≤ {TARGET_PEAK_GIB:g} GiB | {_mark(fast and p.peak_gib <= TARGET_PEAK_GIB)} |"
    )
    read_note = f" (read {q.extra['read_seconds']:.1f} s)" if "read_seconds" in q.extra else ""
    print(
        f"| pandas reference (read_parquet + groupby), median | {n:,} | {_seconds(q)}{read_note} "
        f"| {q.peak_gib:.2f} | | |"
    )
    ratios = sorted(
        b.seconds / a.seconds for a, b in zip(polars_runs, pandas_runs, strict=True) if a.seconds and b.seconds
    )
    if ratios:
        spread = f" (pairs {ratios[0]:.1f}–{ratios[-1]:.1f}×)" if len(ratios) > 1 else ""
        met = _mark(ratios[0] >= TARGET_SPEEDUP)
        print(
            f"| speed-up, pandas ÷ polars, median of {len(ratios)} alternating pairs | | "
            f"{statistics.median(ratios):.1f}×{spread} | | ≥ {TARGET_SPEEDUP:g}× in every pair | {met} |"
        )
    print(f"| equal results | | {equal} | | yes | {_mark(equal == 'yes')} |")
    if stream_run is not None:
        s = stream_run
        estimate = in_memory_gib * n_stream / n
        print(
            f"| polars streaming engine, users in {STREAM_PARTITIONS} hash shares (events/*.parquet) "
            f"| {n_stream:,} | {_seconds(s)} "
            f"| {s.peak_gib:.2f} | completes; peak below the events' in-memory size, {_size(estimate)} "
            f"({n:,} events' {_size(in_memory_gib)} × {n_stream / n:g}) "
            f"| {_mark(s.seconds is not None and s.peak_gib < estimate)} |"
        )
        print()
        print(f"{n_stream:,} events generated in {t_stream_generate:.1f} s in chunks of {args.chunk_events:,}.")


if __name__ == "__main__":
    main()
