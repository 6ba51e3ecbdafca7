"""The decision log's durability: group commit, fsync before acknowledging, rotation, torn-tail repair.

Also a ``kill -9`` mid-run that loses no acknowledged decision.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.inputs import load_decision_log
from policies.serving import log_files
from policies.serving.decision_log import PATTERN, DecisionLog
from policies.serving.group_commit import GroupCommit
from policies.serving.log_files import RotatingFile, Rotation

ROOT = Path(__file__).resolve().parents[2]


def decision(i: int, user: str = "u1", padding: int = 0) -> dict[str, object]:
    """Build a line of the DECISIONS contract (what the endpoint logs, without the context columns)."""
    return {
        "decision_id": f"d{i:05d}",
        "user_id": user,
        "actions": ["no_offer", "coupon"],
        "action": "coupon",
        "propensity": 0.5,
        "why": "x" * padding,
    }


# --- group commit -------------------------------------------------------------------------------------------------


def test_lines_waiting_while_a_batch_is_written_go_out_together_in_the_next() -> None:
    written: list[bytes] = []
    first_batch_started, release_first_batch = threading.Event(), threading.Event()

    def write(data: bytes) -> None:
        if not written:
            first_batch_started.set()
            release_first_batch.wait(timeout=10)
        written.append(data)

    commit = GroupCommit(write)
    first = threading.Thread(target=commit.append, args=("first\n",))
    first.start()
    assert first_batch_started.wait(timeout=10)
    others = [threading.Thread(target=commit.append, args=(f"line {i}\n",)) for i in range(15)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 10
    while commit.stats().pending < 15 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert all(thread.is_alive() for thread in [first, *others])  # nobody acknowledged before its batch is durable
    release_first_batch.set()
    for thread in [first, *others]:
        thread.join(timeout=10)
    assert written[0] == b"first\n"
    assert sorted(written[1].decode().splitlines()) == sorted(f"line {i}" for i in range(15))
    stats = commit.stats()
    assert (stats.lines, stats.batches, stats.pending) == (16, 2, 0)


def test_every_caller_of_a_failed_batch_gets_the_error_and_later_batches_still_commit() -> None:
    calls: list[bytes] = []

    def write(data: bytes) -> None:
        calls.append(data)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")

    commit = GroupCommit(write)
    with pytest.raises(OSError, match="No space left"):
        commit.append("lost\n")
    commit.append("kept\n")
    assert calls == [b"lost\n", b"kept\n"]
    assert (commit.stats().lines, commit.stats().batches) == (1, 1)


def test_sixteen_threads_lose_no_line_and_share_fsyncs(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path)
    threads = [
        threading.Thread(target=lambda t=t: [log.append(decision(t * 100 + i)) for i in range(40)]) for t in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [line["decision_id"] for line in log.lines()]
    assert sorted(ids) == sorted(f"d{t * 100 + i:05d}" for t in range(16) for i in range(40))
    assert log.stats().lines == 640


def test_append_returns_only_after_its_line_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bytes] = []
    fdatasync = os.fdatasync

    def spy(fd: int) -> None:
        fdatasync(fd)
        synced.append(Path(f"/proc/self/fd/{fd}").read_bytes())

    monkeypatch.setattr(log_files.os, "fdatasync", spy)
    log = DecisionLog(tmp_path)
    log.append(decision(1))
    assert len(synced) == 1
    assert b'"d00001"' in synced[0]
    log.append(decision(2))
    assert len(synced) == 2
    assert b'"d00002"' in synced[1]


def test_a_failed_write_leaves_no_partial_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = DecisionLog(tmp_path)
    log.append(decision(1))
    write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(log_files.os, "write", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        log.append(decision(2))
    monkeypatch.undo()
    log.append(decision(3))
    assert [line["decision_id"] for line in log.lines()] == ["d00001", "d00003"]


# --- torn tail ----------------------------------------------------------------------------------------------------


def test_opening_a_log_cuts_torn_last_records_and_keeps_every_whole_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = b"".join(json.dumps(decision(i)).encode() + b"\n" for i in range(3))
    torn = {
        "decisions-20261127T100000-000000.jsonl": (whole + b'{"decision_id": "d9', len(whole)),
        "decisions-20261127T110000-000000.jsonl": (whole + b"\0\0\0\0\n", len(whole)),  # garbage, terminated
        "suppressions-20261127T100000-000000.jsonl": (b'{"user_id": "a"', 0),
        "decisions-20261127T120000-000000.jsonl": (whole, len(whole)),
    }
    for name, (content, _) in torn.items():
        (tmp_path / name).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger=log_files.__name__):
        log = DecisionLog(tmp_path)
    for name, (content, kept) in torn.items():
        assert (tmp_path / name).read_bytes() == content[:kept], name
    cuts = {record.args[0].name: record.args[1] for record in caplog.records}  # type: ignore[index,union-attr]
    assert cuts == {
        "decisions-20261127T100000-000000.jsonl": 19,
        "decisions-20261127T110000-000000.jsonl": 5,
        "suppressions-20261127T100000-000000.jsonl": 15,
    }
    assert "decisions-20261127T100000-000000.jsonl: cut a torn last record of 19 bytes" in caplog.text
    assert len(list(log.lines())) == 9


def test_reading_while_a_batch_is_half_written_yields_only_whole_lines(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path)
    log.append(decision(1))
    (path,) = log.files()
    with open(path, "ab") as handle:
        handle.write(b'{"decision_id": "d00002", "us')  # what another process's write looks like half done
    assert [line["decision_id"] for line in log.lines()] == ["d00001"]


def test_concurrent_first_opens_agree_on_one_salt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFERLAB_PSEUDONYM_SALT", raising=False)
    pseudonyms: list[str] = []
    threads = [
        threading.Thread(target=lambda: pseudonyms.append(DecisionLog(tmp_path / "log").pseudonym("alice")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pseudonyms) == 8
    assert len(set(pseudonyms)) == 1
    assert [path.name for path in (tmp_path / "log").iterdir()] == [".pseudonym-salt"]


def test_an_empty_salt_is_refused_rather_than_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFERLAB_PSEUDONYM_SALT", raising=False)
    (tmp_path / ".pseudonym-salt").write_text("\n")
    with pytest.raises(ValueError, match=r"\.pseudonym-salt is empty, so its pseudonyms can't be recomputed"):
        DecisionLog(tmp_path)


# --- rotation -----------------------------------------------------------------------------------------------------


def test_size_rotation_spreads_lines_over_files_that_every_reader_finds_in_order(tmp_path: Path) -> None:
    old = {**decision(0), "ts": "2000-01-01T00:00:00+00:00"}
    (tmp_path / "decisions-20000101.jsonl").write_text(json.dumps(old) + "\n")  # the older naming
    log = DecisionLog(tmp_path, rotation=Rotation(max_bytes=1_000))
    for i in range(1, 60):
        log.append(decision(i, user="alice" if i % 3 else "bob", padding=i))
    files = sorted(tmp_path.glob(PATTERN))
    assert len(files) > 5
    assert all(path.stat().st_size < 1_000 + 300 for path in files)
    expected = [f"d{i:05d}" for i in range(60)]
    assert [line["decision_id"] for line in log.lines()] == expected
    assert load_decision_log(tmp_path)["decision_id"].to_list() == expected
    assert sum(log.erase(["alice"]).values()) == 40
    assert [line["decision_id"] for line in log.lines()] == [f"d{i:05d}" for i in range(60) if i % 3 == 0]


def test_a_new_utc_hour_or_day_starts_a_new_file(tmp_path: Path) -> None:
    start = datetime(2026, 11, 27, 22, 59, 59, tzinfo=UTC)
    moments = iter(
        [start, start + timedelta(seconds=1), start + timedelta(seconds=2), start + timedelta(hours=1, seconds=2)]
    )
    hourly = RotatingFile(tmp_path, "decisions", Rotation(every="hour"), clock=lambda: next(moments))
    names = [hourly.write(b"{}\n").name for _ in range(4)]
    hourly.close()
    assert names == [
        "decisions-20261127T225959-000000.jsonl",
        "decisions-20261127T230000-000000.jsonl",
        "decisions-20261127T230000-000000.jsonl",
        "decisions-20261128T000001-000000.jsonl",
    ]


def test_a_clock_stepping_back_never_names_a_file_before_the_previous_one(tmp_path: Path) -> None:
    start = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    moments = iter([start, start - timedelta(days=1)])
    stream = RotatingFile(tmp_path, "decisions", Rotation(), clock=lambda: next(moments))
    names = [stream.write(b"{}\n").name for _ in range(2)]
    stream.close()
    assert names == sorted(names)
    assert len(set(names)) == 2


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=30),
    max_bytes=st.integers(min_value=1, max_value=2_000),
)
def test_rotated_files_read_in_name_order_give_back_every_line_in_order(sizes: list[int], max_bytes: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        stream = RotatingFile(Path(folder), "decisions", Rotation(max_bytes=max_bytes, every=None))
        lines = [json.dumps({"i": i, "pad": "x" * size}).encode() + b"\n" for i, size in enumerate(sizes)]
        for line in lines:
            stream.write(line)
        stream.close()
        files = sorted(Path(folder).glob(PATTERN))
        assert b"".join(path.read_bytes() for path in files) == b"".join(lines)
        assert all(path.stat().st_size < max_bytes + 300 for path in files)


# --- kill -9 --------------------------------------------------------------------------------------------------------

APPENDER = """
import sys, threading
from policies.serving.decision_log import DecisionLog
from policies.serving.log_files import Rotation

log = DecisionLog(sys.argv[1], rotation=Rotation(max_bytes=50_000))
printing = threading.Lock()

def append_forever(thread):
    for i in range(10**9):
        decision_id = f"t{thread}-{i}"
        log.append({"decision_id": decision_id, "user_id": f"u{i % 97}", "action": "coupon", "why": "x" * (i % 500)})
        with printing:
            sys.stdout.write(decision_id + "\\n")
            sys.stdout.flush()

for thread in range(8):
    threading.Thread(target=append_forever, args=(thread,)).start()
"""


def test_kill_9_mid_run_loses_no_acknowledged_decision_and_tears_no_record(tmp_path: Path) -> None:
    appender = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert appender.stdout is not None
    assert appender.stderr is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 3_000 and (line := appender.stdout.readline()).endswith("\n"):
            acknowledged.append(line.strip())
    finally:
        appender.send_signal(signal.SIGKILL)
        appender.wait(timeout=10)
    # the rest through the same reader as readline: communicate() reads the pipe itself, past what readline had
    # already buffered, and its first id could come cut ("-482" of "t3-482")
    rest, errors = appender.stdout.read(), appender.stderr.read()
    appender.stdout.close()
    appender.stderr.close()
    assert appender.returncode == -signal.SIGKILL, errors
    acknowledged += [line for line in rest.split("\n")[:-1]]  # a last id without its newline was not all printed
    assert len(acknowledged) >= 3_000, errors

    files = DecisionLog.existing(tmp_path).files()
    assert len(files) > 1  # it rotated, too
    assert all(path.read_bytes().endswith(b"\n") for path in files if path.stat().st_size)  # no torn record
    logged = [line["decision_id"] for line in DecisionLog.existing(tmp_path).lines()]
    assert len(logged) == len(set(logged))
    assert not set(acknowledged) - set(logged)
