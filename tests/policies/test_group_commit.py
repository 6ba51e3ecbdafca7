"""Group commit with threads and coroutines mixed: every line written once.

No caller is released before its line is durable, and a failed write reaches exactly the callers of its batch.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from policies.serving.group_commit import GroupCommit


class SlowDisk:
    """A ``write`` that takes a little while (so batches form) and remembers what was made durable."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.durable: list[str] = []
        self.batches: list[int] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        lines = data.decode().splitlines()
        threading.Event().wait(0.002)
        if self.fail_on is not None and self.fail_on in lines:
            raise OSError(28, "No space left on device")
        with self.lock:
            self.durable.extend(lines)
            self.batches.append(len(lines))


def test_threads_and_coroutines_are_released_only_once_their_line_is_durable() -> None:
    disk = SlowDisk()
    commit = GroupCommit(disk.write)
    early: list[str] = []  # callers released before their line was durable

    def thread_caller(name: str) -> None:
        for i in range(25):
            line = f"{name}-{i}"
            commit.append(line + "\n")
            if line not in disk.durable:
                early.append(line)

    async def coroutine_caller(name: str) -> None:
        line = name
        await commit.append_async(line + "\n")
        if line not in disk.durable:
            early.append(line)

    async def main() -> None:
        await asyncio.gather(*(coroutine_caller(f"c{i}") for i in range(300)))

    threads = [threading.Thread(target=thread_caller, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    asyncio.run(main())
    for thread in threads:
        thread.join()
    commit.close()
    expected = {f"t{t}-{i}" for t in range(8) for i in range(25)} | {f"c{i}" for i in range(300)}
    assert sorted(disk.durable) == sorted(expected)  # each line once
    assert not early
    assert max(disk.batches) > 1, "concurrent callers should share batches"
    stats = commit.stats()
    assert (stats.lines, stats.pending, stats.batches) == (len(expected), 0, len(disk.batches))


def test_a_failed_write_reaches_the_callers_of_its_batch_only() -> None:
    disk = SlowDisk(fail_on="bad")
    commit = GroupCommit(disk.write)

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(commit.append_async("bad\n"), return_exceptions=True)

    (outcome,) = asyncio.run(main())
    assert isinstance(outcome, OSError)
    assert outcome.errno == 28
    with pytest.raises(OSError, match="No space left"):
        commit.append("bad\n")
    commit.append("good\n")  # the writer carries on after a failed batch
    asyncio.run(commit.append_async("fine\n"))
    commit.close()
    assert disk.durable == ["good", "fine"]
    assert commit.stats().lines == 2


def test_close_writes_what_waits_and_a_later_line_starts_a_new_writer() -> None:
    disk = SlowDisk()
    commit = GroupCommit(disk.write)
    commit.append("one\n")
    writer = commit._writer
    commit.close()
    assert writer is not None
    assert not writer.is_alive()
    commit.append("two\n")
    commit.close()
    assert disk.durable == ["one", "two"]
