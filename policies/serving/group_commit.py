"""Group commit: many threads append lines, one of them writes and fsyncs the lines waiting so far in one batch,
and every caller returns only once its own line is durable.

FastAPI runs a synchronous handler in a thread pool, so concurrent requests append concurrently. Each caller puts
its line in the open batch and waits on a condition variable; a caller that finds no batch being written takes
the open batch and writes it (one ``write`` and one ``fdatasync``), then wakes everyone. While it fsyncs, new lines
gather in the next batch, so the fsyncs per second stay about what the disk allows while the lines per fsync grow
with the load. No thread runs in the background and nobody busy-waits.

Examples
--------
>>> written = []
>>> commit = GroupCommit(lambda data: written.append(data))
>>> commit.append("one\\n"); commit.append("two\\n")
>>> written, commit.stats()
([b'one\\n', b'two\\n'], CommitStats(lines=2, batches=2, pending=0, last_batch_seconds=...))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommitStats:
    """What a :class:`GroupCommit` has done: lines and batches made durable, lines waiting now (the log's lag),
    and how long the last batch took to write and fsync."""

    lines: int
    batches: int
    pending: int
    last_batch_seconds: float


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Batches concurrent :meth:`append` calls onto one ``write`` callable (which must make its bytes durable
    before it returns, e.g. :meth:`~policies.serving.log_files.RotatingFile.write`).

    If ``write`` raises, every caller of that batch gets the error (nothing of the batch was acknowledged)."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._condition = threading.Condition()
        self._open = _Batch()
        self._writing = False
        self._lines = self._batches = 0
        self._last_batch_seconds = 0.0

    def append(self, line: str) -> None:
        """Add ``line`` (ending in a newline) and return once it is durable."""
        with self._condition:
            batch = self._open
            batch.lines.append(line)
            while not batch.done:
                if self._writing:
                    self._condition.wait()
                else:
                    self._write_open_batch()
            if batch.error is not None:
                raise batch.error

    def stats(self) -> CommitStats:
        """Counts so far, and the lines waiting for the batch being written."""
        with self._condition:
            return CommitStats(self._lines, self._batches, len(self._open.lines), self._last_batch_seconds)

    def _write_open_batch(self) -> None:
        """Called holding the condition's lock: take the open batch, write it without the lock, wake everyone."""
        batch, self._open, self._writing = self._open, _Batch(), True
        self._condition.release()
        started = time.perf_counter()
        try:
            self._write("".join(batch.lines).encode("utf-8"))
        except BaseException as error:
            batch.error = error
        finally:
            self._condition.acquire()
            self._writing, batch.done = False, True
            if batch.error is None:
                self._lines += len(batch.lines)
                self._batches += 1
            self._last_batch_seconds = time.perf_counter() - started
            self._condition.notify_all()
