"""The HTTP decision endpoint: POST ``/v1/decide`` → the champion policy's offer and its probability.

Started by ``offerlab serve``; it loads ``models:/offer-policy@champion`` (or any
model URI), answers each request with a sampled action and the full probability
vector, and appends the decision to the pseudonymised decision log.

Bad requests get a 422 naming the field; a request with features the policy
lacks gets a 422 naming them.
"""

from __future__ import annotations

import uuid
from typing import Literal

import numpy as np
import polars as pl
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.schemas import ACTIONS
from features.stores.online import OnlineSnapshot, WatchedSnapshot
from policies.serving.decision_log import DecisionLog
from policies.serving.pyfunc import PolicyModel

Scalar = float | int | str | bool | None


class DecideRequest(BaseModel):
    """A trigger moment: who, what the policy may see, and which offers are eligible."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1)
    trigger: str = Field(min_length=1)
    channel: Literal["in_app", "email", "sms"]
    item_id: str | None = Field(default=None, min_length=1)
    context: dict[str, Scalar] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=lambda: list(ACTIONS), min_length=1)

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
    decision_id: str
    action: str
    probability: float
    probabilities: dict[str, float]
    policy_version: str


def create_app(
    model: PolicyModel,
    policy_version: str,
    decision_log: DecisionLog,
    seed: int | None = None,
    features: OnlineSnapshot | WatchedSnapshot | None = None,
) -> FastAPI:
    """The FastAPI app around a loaded policy model; with ``features``, each request's context is completed
    from the online snapshot (the user's and the item's latest features; what the request sends wins). A
    :class:`WatchedSnapshot` is followed: a refreshed or erased snapshot folder is picked up without a restart."""
    app = FastAPI(title="offerlab decision endpoint", version="1")
    rng = np.random.default_rng(seed)

    @app.get("/healthz")
    def health() -> dict[str, str | None]:
        as_of = features.current().as_of.isoformat() if features is not None else None
        return {"status": "ok", "policy_version": policy_version, "features_as_of": as_of}

    @app.post("/v1/decide", response_model=DecideResponse)
    def decide(request: DecideRequest) -> DecideResponse:
        known: dict[str, Scalar] = {}
        if features is not None:
            snapshot = features.current()
            known.update(snapshot.user(request.user_id) or {})
            if request.item_id is not None:
                known.update(snapshot.item(request.item_id) or {})
        context = {**known, **request.context, "trigger": request.trigger, "channel": request.channel}
        contexts = pl.DataFrame([context])
        eligible = np.array([[a in request.actions for a in ACTIONS]])
        try:
            chosen, probs = model.decide(contexts, eligible, rng)
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        action = ACTIONS[int(chosen[0])]
        response = DecideResponse(
            decision_id=uuid.uuid4().hex,
            action=action,
            probability=float(probs[0, chosen[0]]),
            probabilities={a: float(probs[0, i]) for i, a in enumerate(ACTIONS) if a in request.actions},
            policy_version=policy_version,
        )
        decision_log.append(
            {
                **response.model_dump(),
                "user_id": request.user_id,
                "trigger": request.trigger,
                "channel": request.channel,
                "actions": request.actions,
                "item_id": request.item_id,
                "context": request.context,
            }
        )
        return response

    return app
