"""``offerlab serve`` against ``mlflow models serve`` of the same champion, under the same wrk load, in one run.

Run: ``.venv/bin/python tests/benchmarks/serving_bench.py`` (``--help`` for the sizes; part of ``make bench``).

1. The demo's champion: ``offerlab demo`` runs in a temporary folder, with ``OFFERLAB_CONFIG`` at a copy of
   ``mlflow.yaml`` there (so the MLflow store and the decision log live there too). If it promoted no champion
   the benchmark says so and exits with status 1.
2. Both servers start as separate processes on free ports and are waited for: ``offerlab serve --features
   <demo>/online --users <demo>/users.parquet --seed 0`` (a bearer token, the durable decision log included)
   and ``mlflow models serve -m models:/offer-policy@champion --env-manager local`` (stock settings).
3. Request bodies, one logged decision of each user who may be messaged (consent on the logged channel, not
   opted out, not in the holdout), no two alike: for offerlab a trigger moment (user, item, trigger, channel,
   eligible actions) whose ``context`` carries every column of
   :data:`~policies.serving.request_context.SENDABLE_CONTEXT` the log holds (nulls left out); for mlflow the
   same context row as ``dataframe_split``. ``wrk_bodies.lua`` (beside this file) gives each offerlab request a
   unique ``event_id`` and moves its ``ts`` forward by 14 days on each pass over the bodies and each run, so a
   user's moments stay clear of the guardrails' caps and cooldowns and most requests take the full decision
   path; the decisions and suppressions each offerlab run left in the decision log are counted and printed.
4. wrk ``-t1 -c1`` and ``-t2 -c16`` with ``--latency``, a warm-up run before each measured one, alternating
   which server goes first. wrk shares the machine's cores with the server it measures (and with anything
   else running). Any non-2xx answer or socket error fails the run, printing the first error answer.
5. A Markdown table side by side, the ratios, the decision mix, the command and the load average at start and
   end. No figure is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from features.pipelines.context import CONTEXT  # noqa: E402
from policies.serving.config import OfferlabConfig, load_config  # noqa: E402
from policies.serving.request_context import SENDABLE_CONTEXT  # noqa: E402
from tests.benchmarks.wrk_runs import Target, WrkRun, run_wrk  # noqa: E402

#: The bearer token of the benchmarked offerlab server (a throwaway one, for this run only).
BENCH_TOKEN = "serving-bench-token"
SERVERS = ("offerlab", "mlflow")


def offerlab_command(*arguments: str) -> list[str]:
    """``offerlab ARGUMENTS`` as this checkout runs it."""
    return [sys.executable, "-m", "experiments.cli", *arguments]


def run_demo(folder: Path, users: int, days: int, seed: int) -> tuple[Path, OfferlabConfig]:
    """Run ``offerlab demo`` with its store in ``folder``; return its config file and settings.

    Exits 1 when the demo leaves no champion.
    """
    from mlflow import MlflowClient

    from policies.serving.registry import alias_version

    config = folder / "mlflow.yaml"
    shutil.copyfile(ROOT / "mlflow.yaml", config)
    command = offerlab_command("demo", "--users", str(users), "--days", str(days), "--seed", str(seed))
    command += ["--out", str(folder / "demo")]
    print(f"demo: {shlex.join(['offerlab', *command[3:]])} (OFFERLAB_CONFIG={config})", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=server_env(config), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"offerlab demo failed with status {done.returncode}:\n{done.stdout[-3000:]}{done.stderr}")
    settings = load_config(config, environ={})
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    champion = alias_version(settings.registered_model, settings.champion_alias, client)
    if champion is None:
        gate = [line for line in done.stdout.splitlines() if "gate:" in line or "promoted" in line]
        print(f"the demo promoted no champion, so there is nothing to serve: {' '.join(gate)}", file=sys.stderr)
        raise SystemExit(1)
    print(f"demo: champion {settings.registered_model} v{champion} in {time.perf_counter() - started:.0f} s")
    return config, settings


def server_env(config: Path) -> dict[str, str]:
    """Return the environment of the demo and both servers: this config, the venv's tools first on PATH."""
    env = {**os.environ, "OFFERLAB_CONFIG": str(config), "OFFERLAB_PSEUDONYM_SALT": "serving-bench-salt"}
    env["OFFERLAB_API_TOKEN"] = BENCH_TOKEN
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # mlflow execs uvicorn
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def request_bodies(demo: Path, limit: int) -> tuple[list[str], list[str], int]:
    """Read offerlab's moment lines and mlflow's bodies from the demo's log.

    The moment lines are for ``wrk_bodies.lua``'s ``moment`` mode; one logged decision of each user who may be
    messaged on its channel, at most ``limit``. Also returns how many columns of :data:`SENDABLE_CONTEXT` the log
    holds.
    """
    users = pl.read_parquet(demo / "users.parquet")
    decisions = pl.read_parquet(demo / "decisions.parquet")
    missing = [c for c in CONTEXT if c not in decisions.columns]
    if missing:
        raise ValueError(f"{demo / 'decisions.parquet'}: no context column(s) {missing}")
    may_message = users.filter(pl.col("opted_out_at").is_null() & ~pl.col("holdout"))
    rows = (
        decisions.join(may_message, on="user_id", how="inner", maintain_order="left")
        .filter(
            pl.when(pl.col("channel") == "in_app")
            .then(pl.col("consent_in_app"))
            .when(pl.col("channel") == "email")
            .then(pl.col("consent_email"))
            .otherwise(pl.col("consent_sms"))
        )
        .unique("user_id", keep="first", maintain_order=True)
        .head(limit)
    )
    offerlab, mlflow = [], []
    columns = [*CONTEXT, "actions"]
    for row in rows.iter_rows(named=True):
        context = {c: row[c] for c in SENDABLE_CONTEXT if not _missing(row[c])}
        moment = {"user_id": row["user_id"], "item_id": row["item_id"], "trigger": row["trigger"],
                  "channel": row["channel"], "actions": row["actions"], "context": context}  # fmt: skip
        seconds = int(row["ts"].astimezone(UTC).timestamp())
        offerlab.append(f"{seconds}\t{json.dumps(moment)[:-1]}")  # the Lua script closes it with event_id, ts
        values = [None if _missing(row[c]) else row[c] for c in CONTEXT]
        frame = {"columns": columns, "data": [[*values, "|".join(row["actions"])]]}
        mlflow.append(json.dumps({"dataframe_split": frame}))
    if len(offerlab) != len(set(offerlab)) or len(mlflow) != len(set(mlflow)):
        raise ValueError("two request bodies are alike")
    return offerlab, mlflow, len(SENDABLE_CONTEXT)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_lines(path: Path, lines: list[str]) -> Path:
    """``lines`` to ``path`` through a temporary file renamed into place."""
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"{line}\n" for line in lines))
    partial.replace(path)
    return path


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], ready_url: str, logs: Path) -> Iterator[None]:
    """Start ``command`` as its own process, wait until ``ready_url`` answers 200, stop it on the way out."""
    log_file = logs / f"{name}.log"
    with log_file.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with status {process.returncode}:\n{log_file.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not answer {ready_url} in 180 s:\n{log_file.read_text()[-3000:]}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            print(f"{name}: ready ({shlex.join(command)})", flush=True)
            yield
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def log_counts(folder: Path) -> Counter[str]:
    """Decisions (``decision``) and suppressions (by ``suppressed_by``) in a decision log folder."""
    from policies.serving.decision_log import PATTERN, SUPPRESSIONS_PATTERN

    counts: Counter[str] = Counter()
    for path in sorted(folder.glob(PATTERN)):
        with path.open() as lines:
            counts["decision"] += sum(1 for line in lines if line.strip())
    for path in sorted(folder.glob(SUPPRESSIONS_PATTERN)):
        with path.open() as lines:
            counts.update(f"suppressed: {json.loads(line)['suppressed_by']}" for line in lines if line.strip())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000, help="demo users (the demo's default)")
    parser.add_argument("--days", type=int, default=30, help="demo days (the demo's default)")
    parser.add_argument("--seed", type=int, default=0, help="demo seed")
    parser.add_argument("--bodies", type=int, default=10_000, help="distinct request bodies at most (one per user)")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="duration of the warm-up run before each measured one")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run 'make wrk' as root (apt-get install wrk)")
    from tests.conftest import free_port

    load_start = os.getloadavg()
    command = shlex.join([".venv/bin/python", "tests/benchmarks/serving_bench.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        folder = Path(tmp)
        config, settings = run_demo(folder, args.users, args.days, args.seed)
        demo = folder / "demo"
        offerlab_lines, mlflow_lines, sent_columns = request_bodies(demo, args.bodies)
        print(f"bodies: {len(offerlab_lines):,} distinct users, each with {sent_columns} context columns at most")
        ports = {name: free_port() for name in SERVERS}
        targets = {
            "offerlab": Target("offerlab", f"http://127.0.0.1:{ports['offerlab']}/v1/decide",
                               write_lines(folder / "offerlab.lines", offerlab_lines), "moment", BENCH_TOKEN),
            "mlflow": Target("mlflow", f"http://127.0.0.1:{ports['mlflow']}/invocations",
                             write_lines(folder / "mlflow.lines", mlflow_lines), "verbatim", None),
        }  # fmt: skip
        env = server_env(config)
        serve = offerlab_command("serve", "--port", str(ports["offerlab"]), "--seed", "0")
        serve += ["--features", str(demo / "online"), "--users", str(demo / "users.parquet")]
        mlflow_serve = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
                        settings.champion_uri, "--env-manager", "local", "--port", str(ports["mlflow"])]  # fmt: skip
        mlflow_env = {**env, "MLFLOW_TRACKING_URI": settings.tracking_uri}
        decision_log = settings.serving.decision_log
        results: list[tuple[str, int, WrkRun, Counter[str] | None]] = []
        with (
            running("offerlab", serve, env, f"http://127.0.0.1:{ports['offerlab']}/readyz", folder),
            running("mlflow", mlflow_serve, mlflow_env, f"http://127.0.0.1:{ports['mlflow']}/health", folder),
        ):
            print("wrk shares the machine's cores with the server it measures")
            for turn, (threads, connections) in enumerate(((1, 1), (2, 16))):
                order = SERVERS if turn % 2 == 0 else tuple(reversed(SERVERS))
                for name in order:
                    target = targets[name]
                    run_wrk(target, threads, connections, args.warmup, f"warm{turn}")
                    before = log_counts(decision_log) if name == "offerlab" else None
                    run = run_wrk(target, threads, connections, args.seconds, f"run{turn}")
                    mix = log_counts(decision_log) - before if before is not None else None
                    results.append((name, connections, run, mix))
                    print(f"{name}, {connections} client(s): {run.requests_per_s:,.1f} requests/s", flush=True)
    load_end = os.getloadavg()
    print_report(results, command, load_start, load_end)


def code_version() -> str:
    """Return the checkout's commit, and how many tracked files differ from it (the benchmark runs the working tree)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    changed = subprocess.run(["git", "diff", "--name-only", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        return "not a git checkout"
    files = [line for line in changed.stdout.splitlines() if line]
    return head.stdout.strip() + (f" with {len(files)} changed tracked file(s)" if files else "")


def print_report(
    results: list[tuple[str, int, WrkRun, Counter[str] | None]],
    command: str,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
) -> None:
    """Print the table side by side, the ratios, the decision mix, the command and the machine's load."""
    print("\n| server | clients | requests/s | p50 | p90 | p99 | requests |\n|---|---|---|---|---|---|---|")
    for name, clients, run, _ in sorted(results, key=lambda r: (r[1], SERVERS.index(r[0]))):
        print(
            f"| {name} | {clients} | {run.requests_per_s:,.1f} | {run.p50_ms:.2f} ms | {run.p90_ms:.2f} ms "
            f"| {run.p99_ms:.2f} ms | {run.requests:,} |"
        )
    by = {(name, clients): run for name, clients, run, _ in results}
    for clients in (1, 16):
        ours, theirs = by[("offerlab", clients)], by[("mlflow", clients)]
        print(
            f"\n{clients} client(s): offerlab / mlflow throughput {ours.requests_per_s / theirs.requests_per_s:.2f}×, "
            f"p50 {ours.p50_ms / theirs.p50_ms:.2f}×, p99 {ours.p99_ms / theirs.p99_ms:.2f}×"
        )
    one, many = by[("offerlab", 1)], by[("offerlab", 16)]
    print(
        f"targets (issue 12): one client p50 ≤ 2 ms: {one.p50_ms:.2f} ms; p99 ≤ 5 ms: {one.p99_ms:.2f} ms; "
        f"16 clients ≥ 10× mlflow's throughput: {many.requests_per_s / by[('mlflow', 16)].requests_per_s:.2f}×, "
        f"a lower p99: {many.p99_ms:.2f} vs {by[('mlflow', 16)].p99_ms:.2f} ms"
    )
    for _, clients, _, mix in results:
        if mix is not None:
            total = sum(mix.values())
            shares = ", ".join(f"{kind} {n:,} ({n / total:.1%})" for kind, n in mix.most_common())
            print(f"offerlab decision log, {clients} client(s), measured run: {total:,} moments: {shares}")
    print("every answer was 2xx, with no socket error (wrk counts the requests answered within its duration; the log")
    print("also holds those still in flight when it stopped)")
    print(f"\ncommand: {command}")
    print(f"code: {code_version()}; {os.cpu_count()} cores, shared by wrk, both servers and anything else running")
    print(f"load average (1, 5, 15 min): start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
