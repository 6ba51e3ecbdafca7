"""Start the decision endpoint: in the foreground (``offerlab serve``) or in a background thread (the demo)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import uvicorn
from fastapi import FastAPI

from features.stores.online import WatchedSnapshot
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.consent import load_users
from policies.serving.decision_log import DecisionLog
from policies.serving.endpoint import create_app
from policies.serving.live_models import LiveModels, TrafficSplit
from policies.serving.log_files import Rotation
from policies.serving.security import TOKEN_VARIABLE, api_token_from
from policies.triggers.config import load_trigger_config


def build_app(
    config: OfferlabConfig,
    model_uri: str | None = None,
    seed: int | None = None,
    features: Path | None = None,
    users: Path | pl.DataFrame | None = None,
    triggers_config: Path | None = None,
    api_token: str | None = None,
    insecure: bool = False,
) -> FastAPI:
    """Load ``model_uri`` (default: the champion) pinned to its registry version, and wrap it in the endpoint.

    ``features`` is an online snapshot folder whose user and item features complete each request's context
    (reloaded when the folder is refreshed or a user erased); ``users`` the users table whose consents and
    time zones the guardrails read (a file is followed; without it no one consents, so every moment is
    suppressed);
    ``triggers_config`` a trigger engine YAML whose guardrails and lifecycle thresholds apply. Every input is
    checked before the decision log is touched.

    The model is followed (:class:`~policies.serving.live_models.LiveModels`): every
    ``serving.reload_interval_s`` seconds its alias is resolved again and a moved alias swaps the model in without
    a restart; ``serving.challenger_share`` and ``serving.shadow`` send users to the challenger alias or score it
    beside the champion. :func:`stop_following` ends the polling.

    ``api_token`` is the bearer token ``/v1/*`` requires (default: ``OFFERLAB_API_TOKEN``, else the config's
    ``serving.api_token``); without any, the app is refused (``ValueError``) unless ``insecure`` is set.
    """
    configured = config.serving.api_token.get_secret_value() if config.serving.api_token is not None else None
    token = api_token or api_token_from(configured)
    if token is None and not insecure:
        raise ValueError(
            f"no API token: set the environment variable {TOKEN_VARIABLE} or serving.api_token in the config "
            "(or serve without authentication with --insecure, for local tests only)"
        )
    settings = load_trigger_config(triggers_config)
    if isinstance(users, Path):
        load_users(users)  # a bad file fails here, before anything is written (the endpoint follows the file)
    snapshot = WatchedSnapshot(features) if features is not None else None
    configure_mlflow(config)
    serving = config.serving
    split = TrafficSplit(challenger_share=serving.challenger_share, shadow=serving.shadow)
    follows_challenger = split.challenger_share > 0 or split.shadow
    challenger_uri = f"models:/{config.registered_model}@{config.challenger_alias}" if follows_challenger else None
    live = LiveModels(model_uri or config.champion_uri, challenger_uri, split)
    app_log = DecisionLog(
        serving.decision_log, rotation=Rotation(serving.log_rotation_bytes, serving.log_rotation_every)
    )
    app = create_app(
        live,
        live.current().champion.version,
        app_log,
        seed=seed,
        features=snapshot,
        users=users,
        guardrails=settings.guardrails,
        thresholds=settings.rules.lifecycle.stages,
        api_token=token,
        max_body_bytes=config.serving.max_body_bytes,
    )
    app.state.live_models = live
    app.state.decision_log = app_log
    if serving.reload_interval_s > 0:
        live.start(serving.reload_interval_s)
    return app


def stop_following(app: FastAPI) -> None:
    """Stop the registry polling :func:`build_app` started and close its decision log's files.

    Nothing is done for an app built otherwise.
    """
    live = getattr(app.state, "live_models", None)
    if isinstance(live, LiveModels):
        live.stop()
    decision_log = getattr(app.state, "decision_log", None)
    if isinstance(decision_log, DecisionLog):
        decision_log.close()


def serve_forever(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted.

    What is loaded by then (the libraries, the model, the snapshot: millions of objects) is moved out of the
    garbage collector's reach (``gc.freeze``): a full collection would otherwise walk all of it, stopping every
    request for 150-190 ms every few seconds under load (measured with the serving benchmark at 16 clients).
    """
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop_following(app)


@contextmanager
def serving_in_background(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` on a real socket in a thread; yield its base URL; stop it on exit. ``port=0`` picks a free one."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the endpoint did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        stop_following(app)
