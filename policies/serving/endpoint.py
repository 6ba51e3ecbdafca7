"""The HTTP decision endpoint: POST ``/v1/decide`` → guardrails, then the champion policy's offer and its probability.

Started by ``offerlab serve``; it loads ``models:/offer-policy@champion`` (or any model URI). Each request is a
trigger moment (``user_id``, ``item_id``, ``trigger``, optionally ``channel``, ``event_id``, ``ts``, ``send_at``).
The moment goes through the same :class:`~policies.triggers.guardrails.Guardrails` as in simulation, held by the
app so its state (caps, cooldowns, seen moment ids) lasts across requests:

- a suppressed moment (opted out, no consent, holdout, a cap, a cooldown, a duplicate ``event_id``, a
  higher-priority send) is answered with ``no_offer`` at probability 1, ``suppressed_by`` and the guardrail's
  ``reason``, and logged as a suppression (never as a bandit decision);
- a kept moment is completed into the one :data:`~features.pipelines.context.CONTEXT` from the online snapshot:
  the user's and the item's sides are computed once per loaded snapshot by the batch definition, the moment's own
  fields per request (:mod:`features.pipelines.context_row`, held equal to
  :func:`~features.pipelines.context.context_features` by its tests); what the request sends in ``context``
  wins. The policy then samples an action among the eligible ones through its one-row path
  (:meth:`~policies.base.BasePolicy.probabilities_one`), and the decision is logged in the DECISIONS contract
  with the context exactly as the policy saw it.

The decide handler is a coroutine: its work is CPU only (no polars query on the way, ~1 ms), and it waits for the
durable log with :meth:`~policies.serving.decision_log.DecisionLog.append_async`, so requests waiting for the disk
hold no thread and share fsyncs (group commit).

The guardrails choose the channel (the first open one with room, in the configured order); a requested
``channel`` is the one the context is first built for, and when the guardrails pick another the answer carries
theirs and says so in ``reason`` (:class:`~policies.triggers.guardrails.Guardrails` takes no per-moment channel).
A user missing from the users table gets ``no_consent``: consent is always honoured.

Bad requests get a 422 naming the field (unknown fields, unknown context columns and over-long ids included);
a request whose context lacks features the policy needs gets a 422 naming them, before the guardrails count the
moment (a retry is not a duplicate). Every path under ``/v1/`` requires the bearer token when one is given, and
bodies over ``max_body_bytes`` get a 413 (:mod:`policies.serving.security`).

``POST /v1/outcome {decision_id, converted, revenue}`` records what followed a decision
(:mod:`policies.serving.outcomes`: idempotent, 404 for an id the log does not hold).

The models come from :class:`~policies.serving.live_models.LiveModels`: the champion alias is followed (a
promotion or a rollback swaps the model between two requests, none fails), a configured share of users goes to
the challenger, and in shadow mode the model that does not act is scored on every request. The answer's and the
logged ``policy_version`` are the acting model's; with a challenger loaded each logged decision also holds
``arm`` and, in shadow mode, ``shadow_policy_version`` and ``shadow_probabilities``.

The request and answer models and the context building live in :mod:`policies.serving.request_context`.

Open probes: ``/healthz`` (alive), ``/readyz`` (200 once the model and the online snapshot are loaded, else 503
naming what is missing) and ``/metrics`` (Prometheus text format, :mod:`policies.serving.metrics`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr

from features.lifecycle import LifecycleThresholds
from features.pipelines.context import (
    CONTEXT,
)
from features.schemas import ACTIONS
from features.stores.online import OnlineSnapshot, WatchedSnapshot
from policies.serving.consent import ConsentBook
from policies.serving.decision_log import DecisionLog
from policies.serving.live_models import Assignment, LiveModel, LiveModels
from policies.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from policies.serving.metrics import EndpointMetrics, RequestMetrics
from policies.serving.outcomes import OutcomeStore, outcome_router
from policies.serving.pyfunc import PolicyModel
from policies.serving.registry import ResolvedModel
from policies.serving.request_context import (
    SUPPRESSED_ACTION,
    ContextBuilder,
    DecideRequest,
    DecideResponse,
    after_quiet_hours,
    moment_of,
)
from policies.serving.security import DEFAULT_MAX_BODY_BYTES, BearerTokenGuard, BodySizeLimit, declare_bearer_auth
from policies.triggers.config import GuardrailSettings

logger = logging.getLogger(__name__)


def fixed_models(model: PolicyModel, policy_version: str) -> LiveModels:
    """``model`` as :class:`LiveModels` that never reload and have no challenger (no registry is asked).

    Examples
    --------
    >>> from policies.bandits.baselines import FixedAction
    >>> fixed_models(PolicyModel(FixedAction("coupon")), "fixed/v1").choose("u1").acting.version
    'fixed/v1'
    """
    return LiveModels(policy_version, resolver=lambda uri: ResolvedModel(uri, None), loader=lambda _: model)


def create_app(
    model: PolicyModel | LiveModels,
    policy_version: str,
    decision_log: DecisionLog,
    seed: int | None = None,
    features: OnlineSnapshot | WatchedSnapshot | None = None,
    users: Path | pl.DataFrame | None = None,
    guardrails: GuardrailSettings | None = None,
    thresholds: LifecycleThresholds | None = None,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the FastAPI app around a loaded policy model.

    Parameters
    ----------
    model, policy_version
        The policy and the version it is logged under; or :class:`LiveModels` that follow the registry (then
        ``policy_version`` is unused: each decision logs the version of the model that acted).
    decision_log
        Where decisions and suppressions are written.
    seed
        Seed of the action sampling.
    features
        The online snapshot whose user and item rows complete each context; a :class:`WatchedSnapshot` is
        followed (a refreshed or erased snapshot folder is picked up without a restart).
    users
        The users table (USERS contract): time zones and consent, as a frame or a Parquet/CSV file that is
        followed (reloaded when rewritten). A user not in it is never sent anything.
    guardrails, thresholds
        The guardrails' settings and the lifecycle thresholds (default: the trigger engine's shipped ones).
    api_token
        The bearer token every ``/v1/*`` request must carry (None: no authentication, for in-process tests and
        benchmarks only; :func:`~policies.serving.server.build_app` refuses to go without one unless told).
    max_body_bytes
        The largest request body accepted; a larger one gets a 413.
    """
    app = FastAPI(title="offerlab decision endpoint", version="1")
    rng = np.random.default_rng(seed)
    settings = guardrails or GuardrailSettings()
    book = ConsentBook(users, settings)
    contexts = ContextBuilder(features, thresholds)
    policy_lock = threading.Lock()
    live = model if isinstance(model, LiveModels) else fixed_models(model, policy_version)
    metrics = EndpointMetrics(
        pending_lines=lambda: decision_log.stats().pending,
        last_batch_seconds=lambda: decision_log.stats().last_batch_seconds,
    )

    def show_models() -> None:
        serving = live.current()
        metrics.set_model(serving.champion.version, "champion")
        if serving.challenger is None:
            metrics.clear_model("challenger")
        else:
            metrics.set_model(serving.challenger.version, "challenger")

    show_models()
    outcomes = OutcomeStore(decision_log)
    app.include_router(outcome_router(outcomes))  # POST /v1/outcome

    def decide_with_policy(acting: LiveModel, context: dict[str, Any], eligible: np.ndarray) -> tuple[int, np.ndarray]:
        with policy_lock:
            try:
                chosen, probs = acting.model.decide_one(context, eligible, rng)
            except ValueError as error:
                raise HTTPException(status_code=422, detail=str(error)) from error
        return chosen, np.where(eligible, probs, 0.0)

    def arm_fields(assignment: Assignment, context: dict[str, Any], eligible: np.ndarray) -> dict[str, Any]:
        """Return ``arm`` and the shadow's version and probabilities for the log (nothing without a challenger).

        A shadow that cannot score the context is left out of this one decision, which still stands.
        """
        if live.current().challenger is None:
            return {}
        shadow = assignment.shadow
        if shadow is None or shadow.model.policy is None:
            return Assignment(assignment.arm, assignment.acting, None).log_fields()
        try:
            with policy_lock:
                scored = shadow.model.policy.probabilities_one(context, ACTIONS, eligible)
        except ValueError as error:
            logger.warning("shadow %s could not score a decision: %s", shadow.version, error)
            return Assignment(assignment.arm, assignment.acting, None).log_fields()
        return assignment.log_fields(np.where(eligible, scored, 0.0))

    async def suppressed(row: dict[str, Any], policy_version: str) -> DecideResponse:
        await decision_log.append_suppression_async(row)
        metrics.note_append()
        metrics.note_suppression(row["suppressed_by"])
        return DecideResponse(
            decision_id=None,
            moment_id=row["moment_id"],
            action=SUPPRESSED_ACTION,
            probability=1.0,
            probabilities={SUPPRESSED_ACTION: 1.0},
            policy_version=policy_version,
            channel=row["channel"],
            send_at=row["send_at"],
            reason=row["why"],
            suppressed_by=row["suppressed_by"],
        )

    @app.get("/healthz")
    def health() -> dict[str, str | None]:
        as_of = features.current().as_of.isoformat() if features is not None else None
        serving = live.current()
        challenger = serving.challenger.version if serving.challenger is not None else None
        return {
            "status": "ok",
            "policy_version": serving.champion.version,
            "challenger_version": challenger,
            "features_as_of": as_of,
        }

    @app.get("/readyz")
    def ready() -> JSONResponse:
        serving = live.current()
        missing = [] if serving.champion.model.policy is not None else ["model"]
        try:
            as_of = features.current().as_of.isoformat() if features is not None else None
        except Exception:
            as_of, missing = None, [*missing, "features snapshot"]
        body = {
            "status": "not ready" if missing else "ready",
            "policy_version": serving.champion.version,
            "missing": missing,
            "registry_errors": dict(serving.errors),
        }
        return JSONResponse({**body, "features_as_of": as_of}, status_code=503 if missing else 200)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        show_models()
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.post("/v1/decide", response_model=DecideResponse)
    async def decide(request: DecideRequest) -> DecideResponse:
        moment = moment_of(request, datetime.now(UTC))
        row = moment.row(request)
        assignment = live.choose(request.user_id)  # one user meets one arm; one snapshot for the whole request
        acting = assignment.acting
        tz = book.time_zone(request.user_id)
        if tz is None:  # consent is always honoured: no record, no consent
            why = f"no consent record for user {request.user_id}"
            return await suppressed(
                {**row, "channel": request.channel, "suppressed_by": "no_consent", "why": why}, acting.version
            )
        eligible = np.array([a in request.actions for a in ACTIONS])
        # Ask first with the channel and time requested, so a context the policy cannot use is refused (422)
        # before the guardrails count the moment; ask again only if they moved the channel or the send time.
        wanted = request.channel or settings.channels[0]
        planned = after_quiet_hours(moment.send_at, tz, settings)
        context, _ = contexts.build(request, tz, wanted, planned)
        chosen, probs = decide_with_policy(acting, context, eligible)
        verdict = book.apply_one(row)
        if not verdict.kept:
            return await suppressed(verdict.row(), acting.version)
        decided = verdict.row()
        channel, send_at = decided["channel"], decided["send_at"]
        if (channel, send_at) != (wanted, planned):
            context, _ = contexts.build(request, tz, channel, send_at)
            chosen, probs = decide_with_policy(acting, context, eligible)
        notes = [moment.reason]
        if send_at != moment.send_at:
            notes.append(f"deferred by quiet hours from {moment.send_at:%Y-%m-%d %H:%M} UTC")
        if request.channel is not None and channel != request.channel:
            notes.append(f"{request.channel} requested, the guardrails chose {channel}")
        action = ACTIONS[chosen]
        decision_id = uuid.uuid4().hex
        response = DecideResponse(
            decision_id=decision_id,
            moment_id=moment.moment_id,
            action=action,
            probability=float(probs[chosen]),
            probabilities={a: float(probs[i]) for i, a in enumerate(ACTIONS) if eligible[i]},
            policy_version=acting.version,
            channel=channel,
            send_at=send_at,
            reason="; ".join(notes),
        )
        await decision_log.append_async(
            {
                "decision_id": response.decision_id,
                "ts": moment.ts,
                "user_id": request.user_id,
                "trigger": request.trigger,
                "actions": request.actions,
                "action": action,
                "propensity": response.probability,
                "probabilities": [float(p) for p in probs],
                "policy_version": acting.version,
                "channel": channel,
                "send_at": send_at,
                "item_id": request.item_id,
                "moment_id": moment.moment_id,
                "reason": response.reason,
                **{c: context.get(c) for c in CONTEXT if c not in ("trigger", "channel")},
                **arm_fields(assignment, context, eligible),
            }
        )
        outcomes.note_decision(decision_id)
        metrics.note_append()
        metrics.note_decision(action, acting.version)
        return response

    # the last added runs first: count and time everything, then turn strangers away, then bound the body
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)
    if api_token is not None:
        app.add_middleware(BearerTokenGuard, token=SecretStr(api_token))  # masked in any repr of the app
    schema = app.openapi()  # built once and kept by the app
    if api_token is not None:
        declare_bearer_auth(schema)
    app.add_middleware(RequestMetrics, metrics=metrics, routes=list(schema["paths"]))
    return app
