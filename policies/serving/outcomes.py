r"""Outcomes posted to the endpoint (``POST /v1/outcome {decision_id, converted, revenue}``), kept beside the log.

They are kept in ``outcomes-posted.jsonl`` beside the decision log, one fsynced JSON line per outcome:
``decision_id``, ``converted``, ``revenue``, ``received_at``.

The store is idempotent: the same outcome posted twice is kept once (the second post is answered 200 with
``"duplicate": true`` and writes nothing); another outcome for a decision that already has one is refused with
409, naming both. An outcome for a decision the log does not hold is refused with 404: the store indexes the
decision ids of the log's files when it opens, learns of each new decision through :meth:`OutcomeStore.note_decision`,
and reads the files again (at most once a second) before it answers 404, so a decision written by another
process is found too. A torn last line (a crash in mid-write) is cut when the store opens.

Wiring it into the endpoint (the integration's two lines, in ``create_app``)::

    outcomes = OutcomeStore(decision_log)               # once, beside the decision log
    app.include_router(outcome_router(outcomes))          # POST /v1/outcome
    ...
    decision_log.append(record)
    outcomes.note_decision(record["decision_id"])        # after each logged decision

``offerlab log join`` (:mod:`experiments.log_join`) reads the file back: posted outcomes win over purchase
events joined for the same decision.

Examples
--------
>>> import tempfile
>>> from policies.serving.decision_log import DecisionLog
>>> log = DecisionLog(tempfile.mkdtemp())
>>> log.append({"decision_id": "d1", "user_id": "alice", "action": "coupon"})
>>> store = OutcomeStore(log)
>>> store.record("d1", converted=True, revenue=40.0).duplicate
False
>>> store.record("d1", converted=True, revenue=40.0).duplicate
True
>>> try:
...     store.record("d1", converted=False, revenue=0.0)
... except ConflictingOutcome as error:
...     print(*str(error).split("; "), sep=";\n")
decision d1 already has an outcome (converted=True, revenue=40.0);
refusing converted=False, revenue=0.0
>>> store.record("d9", converted=False, revenue=0.0)
Traceback (most recent call last):
...
policies.serving.outcomes.UnknownDecision: no decision d9 in the decision log
>>> store.note_decision("d2")
>>> [row["decision_id"] for row in read_outcomes(store.path)]
['d1']
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from policies.serving.decision_log import PATTERN, DecisionLog

#: The outcome file's name, in the decision log's folder.
OUTCOMES_FILE = "outcomes-posted.jsonl"
#: Least time between two re-reads of the decision log on a miss (seconds): unknown ids cannot make it read on
#: every request.
RESCAN_INTERVAL = 1.0


class UnknownDecision(LookupError):
    """An outcome for a decision id the decision log does not hold."""


class ConflictingOutcome(ValueError):
    """An outcome that differs from the one already recorded for the same decision."""


@dataclass(frozen=True)
class RecordedOutcome:
    """An outcome as kept, and whether this post repeated one already kept."""

    decision_id: str
    converted: bool
    revenue: float
    received_at: datetime
    duplicate: bool


class OutcomeStore:
    """The append-only, idempotent outcome file beside ``decision_log``; safe to call from many threads.

    Parameters
    ----------
    decision_log
        The endpoint's decision log; the outcome file is ``<its folder>/outcomes-posted.jsonl``.
    """

    def __init__(self, decision_log: DecisionLog) -> None:
        self.decision_log = decision_log
        self.path = decision_log.folder / OUTCOMES_FILE
        self._lock = threading.Lock()
        self._decisions: set[str] = set()
        self._scanned_at = float("-inf")
        self._rescan()
        cut_torn_tail(self.path)
        self._outcomes: dict[str, RecordedOutcome] = {}
        for row in read_outcomes(self.path):
            self._outcomes[row["decision_id"]] = _as_outcome(row, duplicate=False)

    def note_decision(self, decision_id: str) -> None:
        """Tell the store of a decision just logged, so an outcome for it is accepted."""
        with self._lock:
            self._decisions.add(decision_id)

    def knows(self, decision_id: str) -> bool:
        """Whether ``decision_id`` is a logged decision (reading the log again if the last read is old)."""
        with self._lock:
            if decision_id not in self._decisions and time.monotonic() - self._scanned_at >= RESCAN_INTERVAL:
                self._rescan()
            return decision_id in self._decisions

    def _rescan(self) -> None:
        self._decisions.update(logged_decision_ids(self.decision_log))
        self._scanned_at = time.monotonic()

    def record(self, decision_id: str, converted: bool, revenue: float) -> RecordedOutcome:
        """Keep the outcome of ``decision_id`` (fsynced before returning), or return the one kept if it is the same.

        Raises :class:`UnknownDecision` or :class:`ConflictingOutcome`.
        """
        if not self.knows(decision_id):
            raise UnknownDecision(f"no decision {decision_id} in the decision log")
        with self._lock:
            kept = self._outcomes.get(decision_id)
            if kept is not None:
                if (kept.converted, kept.revenue) != (converted, revenue):
                    raise ConflictingOutcome(
                        f"decision {decision_id} already has an outcome (converted={kept.converted}, "
                        f"revenue={kept.revenue}); refusing converted={converted}, revenue={revenue}"
                    )
                return RecordedOutcome(decision_id, kept.converted, kept.revenue, kept.received_at, duplicate=True)
            outcome = RecordedOutcome(decision_id, converted, revenue, datetime.now(UTC), duplicate=False)
            line = {"decision_id": decision_id, "converted": converted, "revenue": revenue,
                    "received_at": outcome.received_at.isoformat()}  # fmt: skip
            append_durably(self.path, json.dumps(line) + "\n")
            self._outcomes[decision_id] = outcome
            return outcome


def logged_decision_ids(decision_log: DecisionLog) -> set[str]:
    """Return the ``decision_id`` of every readable line of the log's decision files (a torn line is skipped)."""
    ids: set[str] = set()
    for path in decision_log.files(PATTERN):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    ids.add(str(json.loads(line)["decision_id"]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
    return ids


def append_durably(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` and fsync it (and the folder, when the file is new)."""
    new = not path.exists()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if new:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def cut_torn_tail(path: Path) -> int:
    r"""Cut a last line without its newline (a write a crash interrupted) from ``path``; return the bytes cut.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = path.write_text('{"a": 1}\n{"a": ')
    >>> cut_torn_tail(path), path.read_text()
    (6, '{"a": 1}\n')
    """
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return len(data) - keep


def read_outcomes(path: Path) -> Iterator[dict[str, Any]]:
    """Read the outcome lines of ``path`` (none if it does not exist), as dicts."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number} is not JSON ({error.msg})") from error


def _as_outcome(row: dict[str, Any], duplicate: bool) -> RecordedOutcome:
    received = datetime.fromisoformat(row["received_at"])
    return RecordedOutcome(row["decision_id"], bool(row["converted"]), float(row["revenue"]), received, duplicate)


class OutcomeRequest(BaseModel):
    """What happened after a decision: did the user buy, and for how much (0 when not)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    decision_id: str = Field(min_length=1, max_length=128, description="the id /v1/decide answered with")
    converted: bool = Field(description="whether the user bought in the attribution window")
    revenue: float = Field(ge=0, allow_inf_nan=False, description="the purchase's value (0 without one)")

    @model_validator(mode="after")
    def _no_revenue_without_purchase(self) -> OutcomeRequest:
        if not self.converted and self.revenue != 0:
            raise ValueError(f"revenue must be 0 when converted is false; got {self.revenue}")
        return self


class OutcomeResponse(BaseModel):
    """The outcome as kept; ``duplicate`` when it repeats one kept before (nothing new was written)."""

    decision_id: str
    converted: bool
    revenue: float
    received_at: datetime
    duplicate: bool


def outcome_router(store: OutcomeStore) -> APIRouter:
    """Build the router of ``POST /v1/outcome``.

    It answers 201 for a new outcome, 200 for a repeat, 404 for an unknown decision, 409 for an outcome that
    contradicts the one kept, 422 (naming the field) for a malformed body.
    """
    router = APIRouter()

    @router.post("/v1/outcome", response_model=OutcomeResponse, status_code=201)
    def post_outcome(request: OutcomeRequest, response: Response) -> OutcomeResponse:
        try:
            kept = store.record(request.decision_id, request.converted, request.revenue)
        except UnknownDecision as error:
            raise HTTPException(status_code=404, detail=str(error)) from error
        except ConflictingOutcome as error:
            raise HTTPException(status_code=409, detail=str(error)) from error
        if kept.duplicate:
            response.status_code = 200
        return OutcomeResponse(
            decision_id=kept.decision_id,
            converted=kept.converted,
            revenue=kept.revenue,
            received_at=kept.received_at,
            duplicate=kept.duplicate,
        )

    return router
