"""Reliability of the decision log (issue 12): ``kill -9`` of a real ``offerlab serve`` under load, then a restart.

Several client threads ask ``POST /v1/decide`` as fast as the server answers; the server is then killed with
SIGKILL and started again on the same config and decision log folder. Every answer the clients received (a 200) must
be in the log: a decision by its ``decision_id``, a suppressed moment by its ``moment_id``; every line of every file
must parse; a torn tail (any the kill left, and one the test appends, as a crash mid-write could leave) is cut on
restart with a warning; and the restarted server decides and logs again.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from policies.serving.config import OfferlabConfig
from policies.serving.decision_log import PATTERN, SUPPRESSIONS_PATTERN, DecisionLog
from tests.policies.test_endpoint import (  # noqa: F401  (champion, open_log and users_file are fixtures)
    AUTH,
    champion,
    open_log,
    request_from,
    start_server,
    users_file,
)

#: a server killed under load and restarted: skipped by `make quick`
pytestmark = pytest.mark.slow

#: Client threads asking at once.
CLIENTS = 4
#: Seconds of load before the kill (the kill waits for at least ``MIN_ACKNOWLEDGED`` answers, up to a limit).
LOAD_SECONDS = 1.5
MIN_ACKNOWLEDGED = 20
#: The warning :func:`policies.serving.log_files.cut_torn_tail` logs for each torn tail it cuts.
CUT_WARNING = "cut a torn last record"
#: A record half written, as a crash in the middle of a write could leave at the end of a file.
TORN_FRAGMENT = b'{"decision_id": "torn-by-the-test", "action": "cou'


@dataclass
class Acknowledged:
    """What the clients were answered with a 200, shared between their threads."""

    decision_ids: set[str] = field(default_factory=set)
    suppressed_moments: set[str] = field(default_factory=set)
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, answer: dict[str, Any]) -> None:
        with self.lock:
            if answer["decision_id"] is None:
                self.suppressed_moments.add(answer["moment_id"])
            else:
                self.decision_ids.add(answer["decision_id"])

    def total(self) -> int:
        with self.lock:
            return len(self.decision_ids) + len(self.suppressed_moments)


def ask_until_refused(url: str, bodies: list[dict[str, Any]], start: int, acknowledged: Acknowledged) -> None:
    """Post decide requests back to back (body ``start``, ``start + CLIENTS``, ...) until the server is gone."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        for i in count(start, CLIENTS):
            try:
                response = client.post("/v1/decide", json=bodies[i % len(bodies)])
            except httpx.TransportError:
                return  # killed: this request was never acknowledged
            if response.status_code != 200:
                with acknowledged.lock:
                    acknowledged.refusals.append(f"{response.status_code}: {response.text}")
                return
            acknowledged.note(response.json())


def read_raw(folder: Path, pattern: str) -> tuple[list[dict[str, Any]], int]:
    """Parse every whole line of the log's files matching ``pattern``; count the files that end in a torn record.

    Lines are parsed with ``json.loads``; a torn record is an unterminated last line, or a last line that is not
    JSON.
    """
    records: list[dict[str, Any]] = []
    torn = 0
    for path in sorted(folder.glob(pattern)):
        *whole, tail = path.read_bytes().split(b"\n")  # ``tail`` is empty when the file ends with a newline
        if not tail and whole:
            try:
                json.loads(whole[-1])
            except ValueError:
                tail = whole.pop()
        torn += bool(tail)
        records.extend(json.loads(line) for line in whole)  # any other line that is not JSON fails the test
    return records, torn


def test_every_acknowledged_decision_survives_a_kill_9_and_the_restart_cuts_torn_tails(
    champion: str,  # noqa: F811
    store: OfferlabConfig,
    users_file: Path,  # noqa: F811
    open_log: pl.DataFrame,  # noqa: F811
) -> None:
    folder = Path(store.serving.decision_log)
    # each user asked twice in a row (by two clients): the guardrails' cap suppresses the second ask
    bodies = [request_from(open_log, row // 2) for row in range(2 * open_log.height)]
    process, url = start_server("--users", str(users_file))
    acknowledged = Acknowledged()
    clients = [
        threading.Thread(target=ask_until_refused, args=(url, bodies, i, acknowledged), daemon=True)
        for i in range(CLIENTS)
    ]
    try:
        for client in clients:
            client.start()
        started = time.monotonic()
        while time.monotonic() - started < LOAD_SECONDS or (
            acknowledged.total() < MIN_ACKNOWLEDGED and time.monotonic() - started < 5 * LOAD_SECONDS
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    for client in clients:
        client.join(15)
    assert not any(client.is_alive() for client in clients)
    assert not acknowledged.refusals, acknowledged.refusals[:3]
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged.decision_ids) >= MIN_ACKNOWLEDGED // 2, acknowledged.total()
    assert acknowledged.suppressed_moments, "no suppressed moment was acknowledged"

    # Right after the kill: every acknowledged answer is on disk, whole.
    decisions, torn_by_the_kill = read_raw(folder, PATTERN)
    suppressions, torn_suppressions = read_raw(folder, SUPPRESSIONS_PATTERN)
    assert acknowledged.decision_ids <= {line["decision_id"] for line in decisions}
    assert acknowledged.suppressed_moments <= {line["moment_id"] for line in suppressions}

    # A torn tail the restart must cut, beside any the kill left.
    newest = sorted(folder.glob(PATTERN))[-1]
    with open(newest, "ab") as handle:
        handle.write(TORN_FRAGMENT)
    torn_before_restart = read_raw(folder, PATTERN)[1] + read_raw(folder, SUPPRESSIONS_PATTERN)[1]

    process, url = start_server("--users", str(users_file))
    try:
        fresh_user = request_from(open_log, open_log.height - 1)  # far beyond the users asked under load
        after = httpx.post(f"{url}/v1/decide", json=fresh_user, headers=AUTH, timeout=10)
        assert after.status_code == 200, after.text
        assert after.json()["decision_id"] is not None, after.json()["reason"]
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert output.count(CUT_WARNING) == torn_before_restart, output

    # After the restart: no torn line anywhere, and the log's reader holds every acknowledged decision.
    for path in sorted(folder.glob("*.jsonl")):
        content = path.read_text(encoding="utf-8")
        assert not content or content.endswith("\n"), path
        for line in content.splitlines():
            assert isinstance(json.loads(line), dict), (path, line)
    logged = {line["decision_id"] for line in DecisionLog(folder).lines()}
    assert acknowledged.decision_ids | {after.json()["decision_id"]} <= logged
    assert "torn-by-the-test" not in logged
    print(  # the counts, for `pytest -s`
        f"acknowledged {len(acknowledged.decision_ids)} decisions + {len(acknowledged.suppressed_moments)} "
        f"suppressions; logged {len(decisions)} decisions + {len(suppressions)} suppressions before the restart; "
        f"torn tails left by the kill {torn_by_the_kill + torn_suppressions}, cut on restart {torn_before_restart}"
    )
