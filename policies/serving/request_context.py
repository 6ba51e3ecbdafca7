"""What a request to the decision endpoint is, and how it becomes the context a policy sees.

:class:`DecideRequest` and :class:`DecideResponse` are the ``/v1/decide`` contract (strict: a 422 names the
field); :func:`moment_of` turns a request into the trigger moment the guardrails judge; :class:`ContextBuilder`
completes the moment's context (:data:`~features.pipelines.context.CONTEXT`) from the online snapshot's user and
item rows; :func:`after_quiet_hours` is the send time the guardrails will give it. The endpoint itself
(:mod:`policies.serving.endpoint`) wires these to the guardrails, the models and the decision log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from features.lifecycle import LifecycleThresholds
from features.pipelines.context import CONTEXT, ITEM_ATTRIBUTES, ITEM_CONTEXT, ITEM_INPUTS, USER_CONTEXT, USER_INPUTS
from features.pipelines.context_row import ContextSides, one_context
from features.schemas import ACTIONS, MOMENTS, TRIGGER_KINDS, schema_of
from features.stores.online import OnlineSnapshot, WatchedSnapshot
from policies.triggers.config import GuardrailSettings
from policies.triggers.guardrails.clock import defer_one, to_us

Scalar = float | int | str | bool | None
Channel = Literal["in_app", "email", "sms"]

#: Context columns read from the user's snapshot row (``region`` comes from the users table).
USER_SIDE: tuple[str, ...] = tuple(c for c in USER_CONTEXT if c != "region")
#: Context columns read from the item's snapshot row.
ITEM_SIDE: tuple[str, ...] = tuple(ITEM_CONTEXT)
#: The typed columns of a user's and an item's row (a snapshot may hold more, or lack some: those are null).
USER_ROW = schema_of({"user_id": pl.String, **{c: USER_CONTEXT.get(c, pl.Float64) for c in USER_INPUTS}})
ITEM_ROW = schema_of({"item_id": pl.String, **{c: ITEM_CONTEXT[c] for c in (*ITEM_ATTRIBUTES, *ITEM_INPUTS)}})
#: What a suppressed moment is answered with.
SUPPRESSED_ACTION = "no_offer"
#: The longest id (user, item, event) a request may carry.
MAX_ID_LENGTH = 200
#: Context columns a request may send (the trigger and the channel are the request's own fields).
SENDABLE_CONTEXT: tuple[str, ...] = tuple(c for c in CONTEXT if c not in ("trigger", "channel"))


def _value_type(dtype: pl.DataType) -> Any:
    """Return the JSON value a context column of ``dtype`` takes (strict: no text for a number, no number for a flag).

    Integers are within the column's range, text no longer than an id.
    """
    if dtype == pl.Boolean:
        return bool
    if dtype == pl.String:
        return Annotated[str, Field(max_length=MAX_ID_LENGTH)]
    if dtype.is_integer():
        widths: dict[Any, int] = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64}
        bits = widths[type(dtype)]
        return Annotated[int, Field(ge=-(2 ** (bits - 1)), le=2 ** (bits - 1) - 1)]
    if dtype.is_float():
        return float
    raise TypeError(f"no JSON type for a context column of type {dtype}")


#: The fields of :data:`ContextValues`: each sendable context column, optional (null: unknown).
_CONTEXT_FIELDS: dict[str, Any] = {c: (_value_type(CONTEXT[c]) | None, None) for c in SENDABLE_CONTEXT}

#: The context values a request may send, each typed as :data:`CONTEXT` declares it (null: unknown).
ContextValues = create_model("ContextValues", __config__=ConfigDict(extra="forbid", strict=True), **_CONTEXT_FIELDS)


class DecideRequest(BaseModel):
    """A trigger moment: who, which item, which trigger, and optionally the channel, times and context."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    trigger: str = Field(min_length=1, description="a trigger of features.schemas.TRIGGER_KINDS")
    item_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    channel: Channel | None = Field(default=None, description="the requested channel; absent: guardrails choose")
    event_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID_LENGTH, description="idempotency key of the firing event"
    )
    ts: AwareDatetime | None = Field(default=None, description="when the moment happened (default: now)")
    send_at: AwareDatetime | None = Field(default=None, description="when the message would go out (default: ts)")
    context: ContextValues = Field(
        default_factory=lambda: ContextValues(), description="context values that win over the store"
    )
    actions: list[str] = Field(default_factory=lambda: list(ACTIONS), min_length=1)

    @field_validator("trigger")
    @classmethod
    def _known_trigger(cls, trigger: str) -> str:
        if trigger not in TRIGGER_KINDS:
            raise ValueError(f"unknown trigger {trigger!r}; known: {', '.join(TRIGGER_KINDS)}")
        return trigger

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, actions: list[str]) -> list[str]:
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown action(s) {unknown}; known: {list(ACTIONS)}")
        if len(set(actions)) != len(actions):
            raise ValueError(f"duplicate actions in {actions}")
        return actions


class DecideResponse(BaseModel):
    """The answer: the action and its probability; for a suppressed moment ``no_offer`` and ``suppressed_by``."""

    decision_id: str | None
    moment_id: str
    action: str
    probability: float
    probabilities: dict[str, float]
    policy_version: str
    channel: str | None
    send_at: datetime
    reason: str
    suppressed_by: str | None = None


@dataclass(frozen=True)
class Moment:
    """One request as a trigger moment, with the times resolved."""

    moment_id: str
    ts: datetime
    send_at: datetime
    reason: str

    def row(self, request: DecideRequest) -> dict[str, Any]:
        """Return the moment in the MOMENTS columns, as :meth:`Guardrails.apply_one` reads it."""
        return {
            "moment_id": self.moment_id,
            "ts": self.ts,
            "user_id": request.user_id,
            "item_id": request.item_id,
            "trigger": request.trigger,
            "trigger_kind": TRIGGER_KINDS[request.trigger],
            "send_at": self.send_at,
            "reason": self.reason,
        }

    def frame(self, request: DecideRequest) -> pl.DataFrame:
        """Return the one-row MOMENTS frame the guardrails' batch path reads."""
        return pl.DataFrame([self.row(request)], schema=MOMENTS, orient="row")


def moment_of(request: DecideRequest, now: datetime) -> Moment:
    """Return the request's moment: id ``trigger:event_id`` (a fresh uuid without one), ``ts`` and ``send_at``.

    ``ts`` defaults to ``now`` and ``send_at`` to ``ts``, both in UTC.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    >>> moment = moment_of(DecideRequest(user_id="u1", trigger="cart_abandon", event_id="e7"), now)
    >>> moment.moment_id, moment.send_at == now, moment.reason
    ('cart_abandon:e7', True, 'cart_abandon (event e7) via /v1/decide')
    """
    ts = (request.ts or now).astimezone(UTC)
    send_at = (request.send_at or ts).astimezone(UTC)
    key = request.event_id or uuid.uuid4().hex
    source = f" (event {request.event_id})" if request.event_id else ""
    return Moment(f"{request.trigger}:{key}", ts, send_at, f"{request.trigger}{source} via /v1/decide")


def _typed(frame: pl.DataFrame, base: pl.Schema) -> pl.DataFrame:
    """``frame`` with every column of ``base`` it lacks, null and typed (the context definition needs types)."""
    return frame.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in base.items() if c not in frame.columns)


class ContextBuilder:
    """Completes a moment's context from the online snapshot.

    The user's and the item's sides are computed once per loaded snapshot by the batch definition
    (:class:`~features.pipelines.context_row.ContextSides`), the moment's own fields per request
    (:func:`~features.pipelines.context_row.one_context`); the request's own values win. Columns the store cannot
    give (no snapshot, or no row for the user or the item) and the request does not send are left out, so the
    policy names them if it needs them.
    """

    def __init__(
        self, features: OnlineSnapshot | WatchedSnapshot | None, thresholds: LifecycleThresholds | None
    ) -> None:
        self.features = features
        self.thresholds = thresholds
        self._sides: tuple[OnlineSnapshot, ContextSides] | None = None

    def sides(self) -> ContextSides | None:
        """Return the sides of the snapshot being served (computed again when a new one is loaded)."""
        snapshot = self.features.current() if self.features is not None else None
        if snapshot is None:
            return None
        held = self._sides
        if held is None or held[0] is not snapshot:
            users, items = _typed(snapshot.users_frame, USER_ROW), _typed(snapshot.items_frame, ITEM_ROW)
            held = self._sides = (snapshot, ContextSides.of(users, items, self.thresholds))
        return held[1]

    def build(
        self, request: DecideRequest, tz: str, channel: str, send_at: datetime
    ) -> tuple[dict[str, Any], list[str]]:
        """Return the context the policy sees (column → value, in :data:`CONTEXT` order), and the columns it lacks."""
        sides = self.sides()
        user = sides.user(request.user_id) if sides is not None else None
        item = sides.item(request.item_id) if sides is not None else None
        completed = one_context(request.trigger, channel, send_at, tz, user, item)
        overrides = request.context.model_dump(exclude_unset=True)
        unknown = [*(USER_SIDE if user is None else ()), *(ITEM_SIDE if item is None else ())]
        lacking = [c for c in unknown if c not in overrides]
        context = {c: overrides.get(c, v) for c, v in completed.items() if c not in lacking}
        return context, lacking


def after_quiet_hours(send_at: datetime, tz: str, settings: GuardrailSettings) -> datetime:
    """Return the send time the guardrails will give ``send_at`` (quiet hours in the user's zone), by their own clock.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> after_quiet_hours(datetime(2026, 3, 4, 22, 30, tzinfo=UTC), "Europe/Paris", GuardrailSettings())
    datetime.datetime(2026, 3, 5, 7, 0, tzinfo=datetime.timezone.utc)
    """
    moved, _ = defer_one(to_us(send_at), tz, settings.quiet_hours.start, settings.quiet_hours.end)
    return datetime.fromtimestamp(moved // 1_000_000, UTC).replace(microsecond=moved % 1_000_000)
