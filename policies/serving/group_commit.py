r"""Group commit: callers hand over lines, one writer thread writes and fsyncs the lines waiting so far in one batch.

Every caller is released only once its own line is durable.

Callers come in two kinds and can mix: a thread calls :meth:`GroupCommit.append` and blocks until its line is
durable; a coroutine awaits :meth:`GroupCommit.append_async`, which leaves its event loop free meanwhile (the
decision endpoint's handler is a coroutine, so a request waiting for the disk holds no thread). The writer takes
the open batch whole (one ``write`` and one ``fdatasync``); while it fsyncs, new lines gather in the next batch,
so the fsyncs per second stay about what the disk allows while the lines per fsync grow with the load.

The writer thread starts with the first line and stops at :meth:`GroupCommit.close` (a daemon: a process that
exits without closing loses only lines nobody was told were durable).

Examples
--------
>>> import asyncio
>>> written = []
>>> commit = GroupCommit(lambda data: written.append(data))
>>> commit.append("one\n")
>>> asyncio.run(commit.append_async("two\n"))
>>> written, commit.stats()
([b'one\n', b'two\n'], CommitStats(lines=2, batches=2, pending=0, last_batch_seconds=...))
>>> commit.close()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommitStats:
    """What a :class:`GroupCommit` has done: lines and batches made durable, lines waiting now (the log's lag).

    It also holds how long the last batch took to write and fsync.
    """

    lines: int
    batches: int
    pending: int
    last_batch_seconds: float


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    #: The futures of the coroutines waiting for this batch, by their event loop.
    waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = field(default_factory=dict)
    done: bool = False
    error: BaseException | None = None


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """In the waiters' own loop: each future done (with ``error`` if the batch failed)."""
    for future in futures:
        if future.done():  # the request was cancelled (its client went away)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class GroupCommit:
    """Batches :meth:`append` / :meth:`append_async` calls onto one ``write`` callable.

    ``write`` must make its bytes durable before it returns (e.g.
    :meth:`~policies.serving.log_files.RotatingFile.write`).

    If ``write`` raises, every caller of that batch gets the error (nothing of the batch was acknowledged).
    """

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._condition = threading.Condition()
        self._open = _Batch()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._writing = 0
        self._lines = self._batches = 0
        self._last_batch_seconds = 0.0

    def append(self, line: str) -> None:
        """Add ``line`` (ending in a newline) and return once it is durable."""
        with self._condition:
            batch = self._add(line)
            while not batch.done:
                self._condition.wait()
        if batch.error is not None:
            raise batch.error

    async def append_async(self, line: str) -> None:
        """Add ``line`` (ending in a newline); complete once it is durable, without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._condition:
            self._add(line).waiters.setdefault(loop, []).append(future)
        await future

    def stats(self) -> CommitStats:
        """Return the counts so far, and the lines waiting to be written or being written."""
        with self._condition:
            pending = len(self._open.lines) + self._writing
            return CommitStats(self._lines, self._batches, pending, self._last_batch_seconds)

    def close(self) -> None:
        """Write what is waiting, then stop the writer thread (a later line starts it again)."""
        with self._condition:
            writer, self._closed = self._writer, True
            self._condition.notify_all()
        if writer is not None:
            writer.join()
        with self._condition:
            self._writer, self._closed = None, False

    def _add(self, line: str) -> _Batch:
        """Put ``line`` into the open batch and wake the writer (start it if need be); call it holding the lock."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_batches, name="group-commit", daemon=True)
            self._writer.start()
        batch = self._open
        batch.lines.append(line)
        self._condition.notify_all()
        return batch

    def _write_batches(self) -> None:
        """Run the writer thread: take the open batch whenever it holds lines, write it, release its callers."""
        with self._condition:
            while True:
                while not self._open.lines and not self._closed:
                    self._condition.wait()
                if not self._open.lines:
                    return
                batch, self._open = self._open, _Batch()
                self._writing = len(batch.lines)
                self._condition.release()
                started = time.perf_counter()
                try:
                    self._write("".join(batch.lines).encode("utf-8"))
                except BaseException as error:
                    batch.error = error
                finally:
                    self._condition.acquire()
                self._writing, batch.done = 0, True
                if batch.error is None:
                    self._lines += len(batch.lines)
                    self._batches += 1
                self._last_batch_seconds = time.perf_counter() - started
                self._condition.notify_all()
                for loop, futures in batch.waiters.items():
                    if not loop.is_closed():
                        loop.call_soon_threadsafe(_settle, futures, batch.error)
