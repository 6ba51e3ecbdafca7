r"""The decision log's files on disk: their names, rotation by size and by time, durable appends, crash repair.

The repair cuts off a torn last record left by a crash.

A log stream (``decisions`` or ``suppressions``) is a series of JSON-lines files named after the UTC moment each
was started and a sequence number, ``decisions-20261127T225500-000000.jsonl``: the names sort in the order the
files were started (an older ``decisions-20261127.jsonl`` of the same day sorts before them, ``.`` < ``T``), so
every reader that sorts ``decisions-*.jsonl`` reads the lines in order.

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime, timedelta
>>> moments = iter(datetime(2026, 11, 27, 23, 59, 58, tzinfo=UTC) + timedelta(seconds=s) for s in range(10))
>>> stream = RotatingFile(Path(tempfile.mkdtemp()), "decisions", Rotation(max_bytes=10, every="day"),
...                       clock=lambda: next(moments))
>>> for line in (b'{"a": 1}\n', b'{"a": 2}\n', b'{"a": 3}\n'):  # the third passes 10 bytes and midnight
...     print(stream.write(line).name)
decisions-20261127T235958-000000.jsonl
decisions-20261127T235958-000000.jsonl
decisions-20261128T000000-000000.jsonl
>>> stream.close()
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

#: How much of a file's end is read at a time when looking for its last line.
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Rotation:
    """When a log stream starts a new file: once the current one holds ``max_bytes`` or more, or a new UTC period.

    The period is an ``hour`` or a ``day`` (``every=None``: by size only).

    Examples
    --------
    >>> Rotation(max_bytes=1024, every="hour").period(datetime(2026, 11, 27, 22, 55, tzinfo=UTC))
    '2026112722'
    >>> Rotation(max_bytes=0)
    Traceback (most recent call last):
    ...
    ValueError: Rotation: max_bytes must be a positive number of bytes, got 0
    """

    max_bytes: int = 64 * 1024 * 1024
    every: Literal["hour", "day"] | None = "day"

    def __post_init__(self) -> None:
        """Check ``max_bytes`` and ``every``."""
        if not isinstance(self.max_bytes, int) or self.max_bytes <= 0:
            raise ValueError(f"Rotation: max_bytes must be a positive number of bytes, got {self.max_bytes!r}")
        if self.every not in ("hour", "day", None):
            raise ValueError(f"Rotation: every must be 'hour', 'day' or None, got {self.every!r}")

    def period(self, moment: datetime) -> str:
        """Return the UTC period ``moment`` falls in; a file is rotated when the period changes."""
        utc = moment.astimezone(UTC)
        return {"hour": f"{utc:%Y%m%d%H}", "day": f"{utc:%Y%m%d}", None: ""}[self.every]


def file_name(kind: str, started: datetime, sequence: int) -> str:
    """Return the name of a ``kind`` file started at ``started`` (UTC).

    ``sequence`` tells apart files started within the same second.

    >>> file_name("decisions", datetime(2026, 11, 27, 22, 55, 1, tzinfo=UTC), 3)
    'decisions-20261127T225501-000003.jsonl'
    """
    return f"{kind}-{started.astimezone(UTC):%Y%m%dT%H%M%S}-{sequence:06d}.jsonl"


def fsync_directory(folder: Path) -> None:
    """Make the folder's entries (a new or renamed file) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cut_torn_tail(path: Path) -> int:
    r"""Cut a torn last record off ``path``: an unterminated last line, or a terminated one that is not JSON.

    Returns the bytes cut (0 when the file ends in a whole record); a cut is logged as a warning naming the file.
    Takes the file's ``flock`` so that it never cuts a line another process is writing.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "decisions-20261127.jsonl"
    >>> _ = path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a"')
    >>> cut_torn_tail(path), path.read_bytes(), cut_torn_tail(path)
    (4, b'{"a": 1}\n{"a": 2}\n', 0)
    """
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        keep = _whole_records_end(fd, size)
        if keep == size:
            return 0
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    logger.warning("decision log %s: cut a torn last record of %d bytes (kept %d bytes)", path, size - keep, keep)
    return size - keep


def _whole_records_end(fd: int, size: int) -> int:
    """Return the offset just past the last whole record of the file.

    That is past its last newline, and before its last line too if that line is not JSON.
    """
    end = _last_newline_before(fd, size)
    if end == 0:
        return 0
    start = _last_newline_before(fd, end - 1)
    try:
        json.loads(os.pread(fd, end - start, start))
    except ValueError:
        return start
    return end


def _last_newline_before(fd: int, end: int) -> int:
    r"""Return the offset just past the last ``\n`` among the file's first ``end`` bytes (0 if there is none)."""
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


class RotatingFile:
    """One log stream's current file, appended to durably.

    Each :meth:`write` holds the file's ``flock``, appends its bytes and ``fdatasync``-s before it returns, starting
    a new file first when :class:`Rotation` says so.

    A file replaced while the stream held it open (:meth:`DecisionLog.erase` rewrites files and renames them into
    place, maybe from another process) is reopened at its path, so no write lands in a replaced file. A failed
    write is cut back off the file, so a later write never follows a partial record. The first file is created
    by the first write, so a stream that writes nothing leaves no file.
    """

    def __init__(
        self,
        folder: Path,
        kind: str,
        rotation: Rotation,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.folder, self.kind, self.rotation, self.clock = folder, kind, rotation, clock
        self.path: Path | None = None
        self._fd: int | None = None
        self._started = datetime.min.replace(tzinfo=UTC)
        self._period = ""

    def write(self, data: bytes) -> Path:
        """Append ``data`` (whole lines) and make it durable; the file it went to."""
        now = self.clock()
        if self._fd is None or self._due(now):
            self._start_file(now)
        fd = self._locked_current()
        try:
            before = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fdatasync(fd)
            except BaseException:
                _truncate_quietly(fd, before)
                raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        assert self.path is not None
        return self.path

    def close(self) -> None:
        """Close the current file (the next write opens a new one)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _due(self, now: datetime) -> bool:
        assert self._fd is not None
        return self.rotation.period(now) != self._period or os.fstat(self._fd).st_size >= self.rotation.max_bytes

    def _start_file(self, now: datetime) -> None:
        self.close()
        started = max(now, self._started)  # a clock stepping back never names a file before the previous one
        sequence = 0
        while True:
            path = self.folder / file_name(self.kind, started, sequence)
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                sequence += 1
        fsync_directory(self.folder)
        self.path, self._started, self._period = path, started, self.rotation.period(now)

    def _locked_current(self) -> int:
        """Return the current file's descriptor, ``flock``-ed, reopened if the file at the path was replaced."""
        assert self.path is not None
        while True:
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                    return self._fd
            except FileNotFoundError:
                pass
            except BaseException:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                raise
            os.close(self._fd)  # replaced (or removed) while we held it: open the file now at the path
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _truncate_quietly(fd: int, size: int) -> None:
    """Cut a failed write's partial bytes off; if even that fails, :func:`cut_torn_tail` does it on the next open."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        logger.exception("decision log: could not cut a failed write back to %d bytes", size)
