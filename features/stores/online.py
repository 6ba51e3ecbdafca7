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
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from features.io import write_bytes, write_frame


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
        return self._users.get(user_id)

    def item(self, item_id: str) -> dict[str, Any] | None:
        return self._items.get(item_id)

    def __len__(self) -> int:
        return len(self._users) + len(self._items)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        write_frame(self.users_frame, folder / "users.parquet")
        write_frame(self.items_frame, folder / "items.parquet")
        write_bytes(json.dumps({"as_of": self.as_of.isoformat()}).encode(), folder / "meta.json")

    @classmethod
    def load(cls, folder: str | Path) -> OnlineSnapshot:
        folder = Path(folder)
        meta = folder / "meta.json"
        if not meta.exists():
            raise FileNotFoundError(f"no online snapshot in {folder} (missing meta.json)")
        as_of = datetime.fromisoformat(json.loads(meta.read_text())["as_of"])
        return cls(pl.read_parquet(folder / "users.parquet"), pl.read_parquet(folder / "items.parquet"), as_of)
