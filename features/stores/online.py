"""The online snapshot: the latest features of every user and item, held in memory for the endpoint.

A refresh writes ``users.parquet``, ``items.parquet`` and ``meta.json`` into one
folder (each atomically); the endpoint loads the folder once and looks features up
by id from plain dictionaries, in microseconds.

Examples
--------
>>> import tempfile
>>> from datetime import datetime, timezone
>>> import polars as pl
>>> snapshot = OnlineSnapshot(
...     pl.DataFrame({"user_id": ["u1"], "views_30d": [12]}),
...     pl.DataFrame({"item_id": ["i1"], "price_percentile": [0.8]}),
...     datetime(2026, 3, 1, tzinfo=timezone.utc),
... )
>>> folder = tempfile.mkdtemp()
>>> snapshot.save(folder)
>>> loaded = OnlineSnapshot.load(folder)
>>> loaded.user("u1"), loaded.item("nope")
({'views_30d': 12}, None)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from features.io import write_bytes, write_frame

logger = logging.getLogger(__name__)


class OnlineSnapshot:
    """Features by id: ``user(user_id)`` and ``item(item_id)`` return a dict of features, or ``None``."""

    def __init__(self, users: pl.DataFrame, items: pl.DataFrame, as_of: datetime) -> None:
        for frame, key in ((users, "user_id"), (items, "item_id")):
            if key not in frame.columns:
                raise ValueError(f"online snapshot: missing column {key!r}")
            dupes = frame.height - frame.get_column(key).n_unique()
            if dupes:
                raise ValueError(f"online snapshot: column {key!r} has {dupes} duplicate id(s)")
        self.as_of = as_of
        self.users_frame, self.items_frame = users, items
        self._users = self._index(users, "user_id")
        self._items = self._index(items, "item_id")

    @staticmethod
    def _index(frame: pl.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
        columns = [c for c in frame.columns if c != key]
        keys = frame.get_column(key).to_list()
        rows = frame.select(columns).rows()
        return {k: dict(zip(columns, row, strict=True)) for k, row in zip(keys, rows, strict=True)}

    def user(self, user_id: str) -> dict[str, Any] | None:
        """Return the side of ``user_id`` (column → value), or None for a user not in the snapshot."""
        return self._users.get(user_id)

    def item(self, item_id: str) -> dict[str, Any] | None:
        """Return the side of ``item_id`` (column → value), or None for an item not in the snapshot."""
        return self._items.get(item_id)

    def current(self) -> OnlineSnapshot:
        """Itself (a fixed snapshot; :class:`WatchedSnapshot` follows a folder)."""
        return self

    def __len__(self) -> int:
        """Return the number of users and items held."""
        return len(self._users) + len(self._items)

    def save(self, folder: str | Path) -> None:
        """Write the snapshot to ``folder``: ``users.parquet``, ``items.parquet`` and ``meta.json`` (its ``as_of``)."""
        folder = Path(folder)
        write_frame(self.users_frame, folder / "users.parquet")
        write_frame(self.items_frame, folder / "items.parquet")
        write_bytes(json.dumps({"as_of": self.as_of.isoformat()}).encode(), folder / "meta.json")

    @classmethod
    def load(cls, folder: str | Path) -> OnlineSnapshot:
        """Read the snapshot :meth:`save` wrote to ``folder``."""
        folder = Path(folder)
        meta = folder / "meta.json"
        if not meta.exists():
            raise FileNotFoundError(f"no online snapshot in {folder} (missing meta.json)")
        as_of = datetime.fromisoformat(json.loads(meta.read_text())["as_of"])
        return cls(pl.read_parquet(folder / "users.parquet"), pl.read_parquet(folder / "items.parquet"), as_of)


class WatchedSnapshot:
    """The online snapshot in ``folder``, reloaded when a refresh (or an erasure) replaces its files.

    :meth:`current` looks at the files' identity (inode, size, modification time) at most every ``interval``
    seconds and loads the folder again when it changed; until a new load succeeds the previous snapshot keeps
    serving, so a running endpoint follows ``offerlab features snapshot`` and ``offerlab erase`` without a
    restart.

    Examples
    --------
    >>> import tempfile, time
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> folder, as_of = tempfile.mkdtemp(), datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> items = pl.DataFrame({"item_id": ["i1"], "price": [9.0]})
    >>> OnlineSnapshot(pl.DataFrame({"user_id": ["u1"], "views_30d": [1]}), items, as_of).save(folder)
    >>> watched = WatchedSnapshot(folder, interval=0.0)
    >>> watched.current().user("u1")
    {'views_30d': 1}
    >>> OnlineSnapshot(pl.DataFrame({"user_id": ["u1"], "views_30d": [7]}), items, as_of).save(folder)
    >>> watched.current().user("u1"), watched.reloads
    ({'views_30d': 7}, 1)
    """

    FILES = ("users.parquet", "items.parquet", "meta.json")

    def __init__(self, folder: str | Path, interval: float = 1.0) -> None:
        self.folder = Path(folder)
        self.interval = interval
        self.reloads = 0
        self._lock = threading.Lock()
        self._stamp = self._files_stamp()
        self._snapshot = OnlineSnapshot.load(self.folder)
        self._checked = time.monotonic()

    def _files_stamp(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for name in self.FILES:
            try:
                info = os.stat(self.folder / name)
            except FileNotFoundError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(stamps)

    def current(self) -> OnlineSnapshot:
        """Return the latest snapshot (reloaded first if the folder changed since the last look)."""
        if time.monotonic() - self._checked < self.interval:
            return self._snapshot
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._files_stamp()
            if stamp != self._stamp:
                try:
                    self._snapshot = OnlineSnapshot.load(self.folder)
                except Exception as error:  # a refresh caught half way: keep serving the previous snapshot
                    logger.warning("online snapshot in %s not reloaded: %s", self.folder, error)
                else:
                    self._stamp = stamp
                    self.reloads += 1
        return self._snapshot
