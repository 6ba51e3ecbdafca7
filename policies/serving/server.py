"""Start the decision endpoint: in the foreground (``offerlab serve``) or in a background thread (the demo)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from features.stores.online import WatchedSnapshot
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.decision_log import DecisionLog
from policies.serving.endpoint import create_app
from policies.serving.pyfunc import load_policy_model
from policies.serving.registry import resolve


def build_app(
    config: OfferlabConfig, model_uri: str | None = None, seed: int | None = None, features: Path | None = None
) -> FastAPI:
    """Load ``model_uri`` (default: the champion) pinned to its registry version, and wrap it in the endpoint;
    ``features`` is an online snapshot folder whose user and item features complete each request's context
    (reloaded when the folder is refreshed or a user erased)."""
    configure_mlflow(config)
    resolved = resolve(model_uri or config.champion_uri)
    model = load_policy_model(resolved.uri)
    snapshot = WatchedSnapshot(features) if features is not None else None
    return create_app(model, resolved.label, DecisionLog(config.serving.decision_log), seed=seed, features=snapshot)


def serve_forever(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="warning")


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
