"""The endpoint's decision log: one JSON line per decision and one per suppressed moment, durable and erasable.

Decisions follow the DECISIONS contract (the context columns beside it), suppressed moments the SUPPRESSIONS
contract; user ids are pseudonymised, and a user's lines can be erased.

Decisions go to ``decisions-YYYYMMDDTHHMMSS-NNNNNN.jsonl``, suppressions to ``suppressions-...jsonl`` in the same
folder, named after the UTC moment the file was started (:mod:`policies.serving.log_files`); a new file is started
when the current one reaches ``Rotation.max_bytes`` or a new UTC day (or hour) begins, and each ``DecisionLog``
writes its own files. Readers sort ``decisions-*.jsonl`` (:data:`PATTERN`) by name to read every line in order.

Durability: :meth:`DecisionLog.append` returns (and :meth:`DecisionLog.append_async` completes) only once its line
is written and fsynced. Concurrent appends are group-committed (:mod:`policies.serving.group_commit`): a writer
thread writes and fsyncs every line waiting, then releases all their callers. Opening a log cuts a torn last
record (left by a crash mid-write) off each file, with a warning naming the file and the bytes cut; a complete
line is never cut. :meth:`DecisionLog.stats` tells the lines committed, batches, and the lines waiting now (the
log's lag) for the endpoint's metrics.

User ids are replaced by a keyed hash (HMAC-SHA256 with a secret salt kept beside
the log), so the log can be joined per user but not read back to a person. A
user's lines can be erased: whoever holds the user id (and the salt) can find them.

Examples
--------
>>> import tempfile
>>> log = DecisionLog(tempfile.mkdtemp())
>>> a, b = log.pseudonym("alice"), log.pseudonym("alice")
>>> a == b, a != "alice", len(a)
(True, True, 16)
>>> log.append({"user_id": "alice", "action": "coupon"})
>>> log.append({"user_id": "bob", "action": "none"})
>>> log.append_suppression({"user_id": "alice", "suppressed_by": "opted_out", "why": "user alice opted out"})
>>> next(log.suppressions())["why"] == f"user {a} opted out"
True
>>> sum(log.erase(["alice"]).values()), [line["action"] for line in log.lines()], list(log.suppressions())
(2, ['none'], [])
>>> log.stats()
CommitStats(lines=3, batches=3, pending=0, last_batch_seconds=...)
>>> log.close()
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from features.io import atomic_path
from policies.serving.group_commit import CommitStats, GroupCommit
from policies.serving.log_files import RotatingFile, Rotation, cut_torn_tail, fsync_directory

logger = logging.getLogger(__name__)

SALT_FILE = ".pseudonym-salt"
SALT_ENV = "OFFERLAB_PSEUDONYM_SALT"
PATTERN = "decisions-*.jsonl"
SUPPRESSIONS_PATTERN = "suppressions-*.jsonl"
#: Every file of a decision log that holds user lines (all are pseudonymised and erasable).
PATTERNS: tuple[str, ...] = (PATTERN, SUPPRESSIONS_PATTERN)


def _json_default(value: Any) -> Any:
    """Datetimes as ISO 8601 (with their zone); anything else JSON lacks is an error."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"decision log: cannot write {type(value).__name__} {value!r} as JSON")


class DecisionLog:
    """Appends decisions to ``<folder>/decisions-*.jsonl`` and suppressions to ``<folder>/suppressions-*.jsonl``.

    Appends are durable (fsynced before :meth:`append` returns, concurrent appends group-committed), and the files
    are rotated by ``rotation`` (default: 64 MiB or a new UTC day).

    Writers and :meth:`erase` take an exclusive ``flock`` on a file, and a writer whose file was replaced by an
    erasure while it held it reopens it, so no line is lost to a concurrent erasure (even from another process).
    Opening the log (either way) cuts a torn last record off each of its files.

    Parameters
    ----------
    folder
        Where the log's files and its salt live.
    create
        Create the folder and the salt if missing (``False``: :meth:`existing`).
    rotation
        When to start a new file (:class:`~policies.serving.log_files.Rotation`: ``max_bytes``, ``every`` of
        ``"hour"``, ``"day"`` or ``None``); the server's config can carry one and pass it here.

    Notes
    -----
    For the endpoint: build one ``DecisionLog`` per process and share it between requests (each instance writes
    its own files and batches only its own appenders); :meth:`stats` feeds the metrics (``pending`` is the log's
    lag in lines, ``last_batch_seconds`` the latest fsync's time); :meth:`close` at shutdown.
    """

    def __init__(self, folder: str | Path, create: bool = True, rotation: Rotation | None = None) -> None:
        self.folder = Path(folder)
        if create and not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            fsync_directory(self.folder.parent)
        elif not self.folder.is_dir():
            raise FileNotFoundError(f"decision log: no folder {self.folder}")
        self._lock = threading.Lock()
        self._salt = self._load_salt(create)
        self.rotation = Rotation() if rotation is None else rotation
        for path in self.files():
            try:
                cut_torn_tail(path)
            except OSError as error:  # a read-only copy of a log can still be read (its torn tail is skipped)
                if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise
                logger.warning("decision log %s: cannot check its last record (%s)", path, error.strerror)
        self._streams = {kind: RotatingFile(self.folder, kind, self.rotation) for kind in ("decisions", "suppressions")}
        self._commits = {kind: GroupCommit(stream.write) for kind, stream in self._streams.items()}

    @classmethod
    def existing(cls, folder: str | Path) -> DecisionLog:
        """Open an existing log, never creating a folder or a salt (a new salt would pseudonymise differently)."""
        return cls(folder, create=False)

    def _load_salt(self, create: bool) -> bytes:
        from_env = os.environ.get(SALT_ENV)
        if from_env:
            return from_env.encode()
        path = self.folder / SALT_FILE
        if not path.exists():
            if not create:
                raise FileNotFoundError(
                    f"decision log {self.folder}: no {SALT_FILE} and {SALT_ENV} unset, so its pseudonyms can't be "
                    "recomputed"
                )
            _create_salt(path)
        salt = path.read_text().strip()
        if not salt:
            raise ValueError(f"decision log {self.folder}: {SALT_FILE} is empty, so its pseudonyms can't be recomputed")
        return salt.encode()

    def pseudonym(self, user_id: str) -> str:
        """Return a stable, keyed, one-way stand-in for ``user_id``."""
        return hmac.new(self._salt, user_id.encode(), hashlib.sha256).hexdigest()[:16]

    def files(self, pattern: str | None = None) -> list[Path]:
        """List the log's files: those matching ``pattern``, or decisions and suppressions alike."""
        patterns = PATTERNS if pattern is None else (pattern,)
        return sorted(path for each in patterns for path in self.folder.glob(each))

    def append(self, record: dict[str, Any]) -> None:
        """Write one decision, durably.

        ``record['user_id']`` is pseudonymised before it touches the disk (so is the id where a text field mentions
        it), and a record without a ``ts`` gets the time of writing. Datetimes are written in ISO 8601.
        """
        self._commits["decisions"].append(self._line(record))

    def append_suppression(self, record: dict[str, Any]) -> None:
        """Write one suppressed moment (SUPPRESSIONS contract), pseudonymised like a decision."""
        self._commits["suppressions"].append(self._line(record))

    async def append_async(self, record: dict[str, Any]) -> None:
        """:meth:`append` for a coroutine: done once the line is durable, the event loop free meanwhile."""
        await self._commits["decisions"].append_async(self._line(record))

    async def append_suppression_async(self, record: dict[str, Any]) -> None:
        """:meth:`append_suppression` for a coroutine."""
        await self._commits["suppressions"].append_async(self._line(record))

    def _line(self, record: dict[str, Any]) -> str:
        """Return the JSON line of ``record``, pseudonymised, with a ``ts``."""
        now = datetime.now(UTC)
        user_id, pseudonym = str(record["user_id"]), self.pseudonym(str(record["user_id"]))
        mentioned = [k for k, v in record.items() if isinstance(v, str) and user_id in v and k != "user_id"]
        pseudonymous = dict(record)
        if mentioned:  # the id as a word, e.g. in a `why` (compiled only then: a pattern per user costs ~0.1 ms)
            mention = re.compile(rf"(?<![\w-]){re.escape(user_id)}(?![\w-])")
            pseudonymous.update({k: mention.sub(pseudonym, record[k]) for k in mentioned})
        pseudonymous["user_id"] = pseudonym
        pseudonymous.setdefault("ts", now)
        return json.dumps(pseudonymous, default=_json_default) + "\n"

    def stats(self) -> CommitStats:
        """Return the decisions and suppressions made durable so far (lines, batches) and the lines waiting now.

        It also tells the seconds the latest batch of either took to write and fsync.
        """
        both = [commit.stats() for commit in self._commits.values()]
        return CommitStats(
            lines=sum(s.lines for s in both),
            batches=sum(s.batches for s in both),
            pending=sum(s.pending for s in both),
            last_batch_seconds=max(s.last_batch_seconds for s in both),
        )

    def close(self) -> None:
        """Write what is waiting, stop the writer threads and close the files being written.

        A later append starts new ones.
        """
        for commit in self._commits.values():
            commit.close()
        for stream in self._streams.values():
            stream.close()

    def lines(self) -> Iterator[dict[str, Any]]:
        """Every logged decision, oldest file first."""
        yield from self._read(PATTERN)

    def suppressions(self) -> Iterator[dict[str, Any]]:
        """Every logged suppression, oldest file first."""
        yield from self._read(SUPPRESSIONS_PATTERN)

    def _read(self, pattern: str) -> Iterator[dict[str, Any]]:
        for path in self.files(pattern):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if not line.endswith("\n"):
                        break  # a batch being written by another process (or a torn record): not acknowledged yet
                    if line.strip():
                        yield json.loads(line)

    def erase(self, user_ids: Iterable[str]) -> dict[Path, int]:
        """Remove every line of these users (by pseudonym) from the decision and suppression files.

        Each file is rewritten atomically. Returns the lines removed per file that had any.
        """
        pseudonyms = {self.pseudonym(str(user_id)) for user_id in user_ids}
        removed: dict[Path, int] = {}
        for path in self.files():
            with self._lock, _locked(path, "r") as handle:
                lines = handle.readlines()
                kept = [line for line in lines if not line.strip() or json.loads(line)["user_id"] not in pseudonyms]
                if len(kept) == len(lines):
                    continue
                with atomic_path(path) as tmp:
                    with open(tmp, "w", encoding="utf-8") as rewritten:
                        rewritten.write("".join(kept))
                        rewritten.flush()
                        os.fsync(rewritten.fileno())
                    tmp.chmod(path.stat().st_mode & 0o777)
                fsync_directory(self.folder)
                removed[path] = len(lines) - len(kept)
        return removed


def _create_salt(path: Path) -> None:
    """Write a new salt at ``path`` durably, unless another process just did.

    A hard link never replaces a file, and a reader never sees a salt half written.
    """
    fd, name = tempfile.mkstemp(prefix=".pseudonym-salt-", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        with suppress(FileExistsError):
            os.link(name, path)
    finally:
        os.unlink(name)
    fsync_directory(path.parent)


@contextmanager
def _locked(path: Path, mode: str) -> Iterator[IO[str]]:
    """``path`` opened and exclusively ``flock``-ed, reopened if it was replaced while waiting for the lock."""
    while True:
        with open(path, mode, encoding="utf-8") as handle:  # closing releases the lock
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                current = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                current = False  # removed while we waited: open it again
            if current:
                yield handle
                return
        # replaced (or removed) while we waited: open the file now at the path
