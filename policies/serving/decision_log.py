"""The endpoint's decision log: one JSON line per decision, user ids pseudonymised.

User ids are replaced by a keyed hash (HMAC-SHA256 with a secret salt kept beside
the log), so the log can be joined per user but not read back to a person.

Examples
--------
>>> import tempfile
>>> log = DecisionLog(tempfile.mkdtemp())
>>> a, b = log.pseudonym("alice"), log.pseudonym("alice")
>>> a == b, a != "alice", len(a)
(True, True, 16)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SALT_FILE = ".pseudonym-salt"


class DecisionLog:
    """Appends decisions to ``<folder>/decisions-YYYYMMDD.jsonl``; one ``write`` per line, under a lock."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._salt = self._load_salt()

    def _load_salt(self) -> bytes:
        from_env = os.environ.get("OFFERLAB_PSEUDONYM_SALT")
        if from_env:
            return from_env.encode()
        path = self.folder / SALT_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def pseudonym(self, user_id: str) -> str:
        """A stable, keyed, one-way stand-in for ``user_id``."""
        return hmac.new(self._salt, user_id.encode(), hashlib.sha256).hexdigest()[:16]

    def append(self, record: dict[str, Any]) -> None:
        """Write one decision; ``record['user_id']`` is pseudonymised before it touches the disk."""
        now = datetime.now(UTC)
        line = json.dumps({**record, "user_id": self.pseudonym(str(record["user_id"])), "ts": now.isoformat()})
        path = self.folder / f"decisions-{now:%Y%m%d}.jsonl"
        with self._lock, open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
