"""wrk runs for the serving benchmark: one run against one server, and what wrk printed, parsed.

:func:`run_wrk` runs wrk with ``wrk_bodies.lua`` (distinct bodies, read from a file) against a :class:`Target` and
fails loudly on any non-2xx answer or socket error; :func:`parse_wrk` reads wrk's ``--latency`` report.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_bodies.lua")


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run reported: throughput, latency percentiles (ms), failures, and the bodies' passes."""

    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    passes: int
    error_sample: str | None


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> WrkRun:
    r"""Read wrk's ``--latency`` report (and the ``passes`` / ``error sample`` lines of ``wrk_bodies.lua``).

    Examples
    --------
    >>> report = '''Running 10s test @ http://127.0.0.1:5005/v1/decide
    ...   1 threads and 1 connections
    ...   Thread Stats   Avg      Stdev     Max   +/- Stdev
    ...     Latency     9.91ms    1.02ms  31.20ms   93.10%
    ...     Req/Sec   101.20      6.11   111.00     71.00%
    ...   Latency Distribution
    ...      50%    9.80ms
    ...      75%   10.21ms
    ...      90%   10.90ms
    ...      99%    1.20s
    ...   1012 requests in 10.01s, 512.40KB read
    ...   Socket errors: connect 0, read 2, write 0, timeout 1
    ...   Non-2xx or 3xx responses: 4
    ... Requests/sec:    101.10
    ... Transfer/sec:     51.19KB
    ... passes: 1
    ... error sample: 422 {"detail": "context.price: 'x' is not a Float64"}
    ... '''
    >>> run = parse_wrk(report)
    >>> run.requests, run.requests_per_s, run.p50_ms, run.p99_ms, run.non_2xx, run.socket_errors, run.passes
    (1012, 101.1, 9.8, 1200.0, 4, 3, 1)
    >>> run.error_sample
    '422 {"detail": "context.price: \'x\' is not a Float64"}'
    >>> parse_wrk("Running 1s test")
    Traceback (most recent call last):
    ...
    ValueError: wrk output has no 'Requests/sec:' line: Running 1s test
    """

    def found(pattern: str, what: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output has no {what!r} line: {output.strip()[-2000:]}")
        return match

    rate = float(found(r"^Requests/sec:\s+([\d.]+)", "Requests/sec:").group(1))
    requests = int(found(r"^\s*(\d+) requests in ", "N requests in").group(1))
    percentiles = {p: _milliseconds(found(rf"^\s+{p}%\s+(\S+)$", f"{p}%").group(1)) for p in (50, 90, 99)}
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sample = re.search(r"^error sample: (.*)$", output, re.MULTILINE)
    return WrkRun(
        requests=requests,
        requests_per_s=rate,
        p50_ms=percentiles[50],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        passes=int(found(r"^passes: (\d+)$", "passes:").group(1)),
        error_sample=sample.group(1) if sample else None,
    )


@dataclass
class Target:
    """One server under load: where to post, which bodies, how the Lua script reads them, the next pass."""

    name: str
    url: str
    bodies: Path
    mode: str
    token: str | None
    epoch: int = 0


def run_wrk(target: Target, threads: int, connections: int, seconds: int, tag: str) -> WrkRun:
    """One wrk run against ``target``; fail loudly on any non-2xx answer or socket error."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    command += ["-s", str(LUA_SCRIPT), target.url, "--"]
    command += [str(target.bodies), target.mode, str(threads), str(target.epoch), tag]
    env = {**os.environ, "WRK_BEARER_TOKEN": target.token or ""}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({shlex.join(command)}): {done.stderr}{done.stdout}")
    run = parse_wrk(done.stdout)
    target.epoch += run.passes
    if run.non_2xx or run.socket_errors:
        raise SystemExit(
            f"{target.name}, {connections} client(s): {run.non_2xx} non-2xx answers, {run.socket_errors} socket "
            f"errors in {run.requests} requests; first error answer: {run.error_sample}\n{done.stdout}"
        )
    return run
