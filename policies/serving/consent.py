"""Who may be messaged: the users table behind the endpoint's guardrails, followed as its file changes.

Examples
--------
>>> from datetime import datetime, UTC
>>> from policies.triggers.config import GuardrailSettings
>>> users = pl.DataFrame({"user_id": ["u1"], "signup_ts": [datetime(2026, 1, 1, tzinfo=UTC)], "tz": ["Asia/Tokyo"],
...     "consent_in_app": [True], "consent_email": [False], "consent_sms": [False], "opted_out_at": [None]},
...     schema_overrides={"opted_out_at": pl.Datetime("us", "UTC")})
>>> book = ConsentBook(users, GuardrailSettings())
>>> book.time_zone("u1"), book.time_zone("u2")
('Asia/Tokyo', None)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl

from features.io import read_frame
from features.schemas import CHANNELS, USERS
from features.validation import validate
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails import Guardrails, Verdict

logger = logging.getLogger(__name__)


def load_users(source: Path | pl.DataFrame) -> pl.DataFrame:
    """Read the users table (USERS contract) from a Parquet/CSV file or a frame, and validate it.

    Ids must be present and unique, time zones and consents not null (a ``SchemaError`` names the problem).

    Examples
    --------
    >>> load_users(pl.DataFrame({"user_id": ["u1"], "tz": ["UTC"]}))
    Traceback (most recent call last):
    ...
    features.validation.SchemaError: users: missing column 'signup_ts' (expected Datetime(time_unit='us', \
time_zone='UTC')); present: user_id, tz
    """
    frame = read_frame(source) if isinstance(source, Path) else source
    consents = [f"consent_{c}" for c in CHANNELS]
    return validate(frame, USERS, "users", unique="user_id", not_null=["tz", *consents])


class ConsentBook:
    """The users table (USERS contract) behind the guardrails, and each user's time zone for the context.

    ``users=None`` means no consent records at all: every moment is suppressed with ``no_consent``. Given a
    file, the book follows it like :class:`~features.stores.online.WatchedSnapshot` follows its folder: at most
    every ``interval`` seconds it looks at the file, and a rewritten one (new consents or opt-outs, an erased
    user) is loaded again; until a load succeeds the previous table keeps serving. A user no longer in the
    table has no consent record (the guardrails keep their state: caps, cooldowns and seen moments stay).
    """

    def __init__(self, users: Path | pl.DataFrame | None, settings: GuardrailSettings, interval: float = 1.0) -> None:
        self.source = users if isinstance(users, Path) else None
        self.interval = interval
        self.lock = threading.Lock()
        self._stamp = self._file_stamp()
        frame = load_users(users) if users is not None else pl.DataFrame(schema=USERS)
        self.guardrails = Guardrails(settings, frame)  # checks the columns, ids and time zones
        self.time_zones: dict[str, str] = dict(frame.select("user_id", "tz").iter_rows())
        self._checked = time.monotonic()

    def _file_stamp(self) -> tuple[int, int, int]:
        if self.source is None:
            return (0, 0, 0)
        try:
            info = os.stat(self.source)
        except FileNotFoundError:
            return (0, 0, 0)
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def time_zone(self, user_id: str) -> str | None:
        """Return the user's time zone, or ``None`` if the users table has no record of them."""
        if self.source is not None and time.monotonic() - self._checked >= self.interval:
            with self.lock:
                self._checked = time.monotonic()
                stamp = self._file_stamp()
                if stamp != self._stamp:
                    try:
                        frame = load_users(self.source)
                        self.guardrails.add_users(frame)
                    except Exception as error:  # a rewrite caught half way: keep the previous table
                        logger.warning("users table %s not reloaded: %s", self.source, error)
                    else:
                        self.time_zones = dict(frame.select("user_id", "tz").iter_rows())
                        self._stamp = stamp
        return self.time_zones.get(user_id)

    def apply(self, moments: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Apply the guardrails to a batch of moments, one batch at a time: return (kept, suppressed)."""
        with self.lock:
            result = self.guardrails.apply(moments)
        return result.kept, result.suppressed

    def apply_one(self, moment: dict[str, Any]) -> Verdict:
        """Return the guardrails' verdict on one moment (the fast path, same result as :meth:`apply` on one row)."""
        with self.lock:
            return self.guardrails.apply_one(moment)
