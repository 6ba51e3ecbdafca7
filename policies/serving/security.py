"""Who may ask the endpoint, and how much: a bearer token on ``/v1/*`` and a limit on the request body's size.

Both are plain ASGI middlewares wrapped around the FastAPI app by
:func:`~policies.serving.endpoint.create_app`; they answer before any routing, validation or model call.

- :class:`BearerTokenGuard` requires ``Authorization: Bearer <token>`` on every path under ``/v1/``; a missing,
  malformed or wrong token gets a 401 with ``WWW-Authenticate: Bearer``. The comparison is
  :func:`hmac.compare_digest` (its time does not depend on where the tokens differ) and the token is never
  logged nor echoed. The probes ``/healthz``, ``/readyz`` and ``/metrics`` stay open so an orchestrator and a
  Prometheus scraper need no secret: they reveal the policy version, the snapshot's date and counts, never a
  user or a decision.
- :class:`BodySizeLimit` answers 413 to a body larger than ``max_body_bytes``, whether announced by
  ``Content-Length`` or streamed in chunks (counted as they arrive).

The token comes from the environment variable ``OFFERLAB_API_TOKEN``, else from ``serving.api_token`` in
``mlflow.yaml`` (:func:`api_token_from`).

Examples
--------
>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> app = FastAPI()
>>> @app.post("/v1/echo")
... def echo(body: dict[str, int]) -> dict[str, int]:
...     return body
>>> app.add_middleware(BodySizeLimit, max_body_bytes=64)
>>> app.add_middleware(BearerTokenGuard, token="s3cret")
>>> client = TestClient(app)
>>> client.post("/v1/echo", json={"a": 1}).status_code
401
>>> client.post("/v1/echo", json={"a": 1}, headers={"Authorization": "Bearer wrong"}).status_code
401
>>> auth = {"Authorization": "Bearer s3cret"}
>>> client.post("/v1/echo", json={"a": 1}, headers=auth).json()
{'a': 1}
>>> client.post("/v1/echo", json={f"k{i}": i for i in range(20)}, headers=auth).status_code
413
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The environment variable holding the endpoint's bearer token.
TOKEN_VARIABLE = "OFFERLAB_API_TOKEN"
#: The path prefix that requires the token.
PROTECTED_PREFIX = "/v1/"
#: The default limit on a request body (a trigger moment with its full context is about 1.5 kB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def api_token_from(configured: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the bearer token: ``OFFERLAB_API_TOKEN`` if set and not blank, else ``configured`` (blank counts as none).

    Examples
    --------
    >>> api_token_from("from-config", environ={"OFFERLAB_API_TOKEN": "from-env"})
    'from-env'
    >>> api_token_from("from-config", environ={}), api_token_from(" ", environ={"OFFERLAB_API_TOKEN": ""})
    ('from-config', None)
    """
    env = os.environ if environ is None else environ
    for candidate in (env.get(TOKEN_VARIABLE), configured):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return None


async def _answer(send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
    """Send a complete JSON error response ``{"detail": detail}``."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BearerTokenGuard:
    """Require ``Authorization: Bearer <token>`` on paths under :data:`PROTECTED_PREFIX`; else a 401.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    token
        The one accepted token (non-empty); as a :class:`~pydantic.SecretStr` it stays masked in a repr of the
        app's middleware list.
    """

    def __init__(self, app: ASGIApp, token: str | SecretStr) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not secret:
            raise ValueError("the bearer token must not be empty")
        self.app = app
        self._expected = secret.encode()

    def authorised(self, scope: Scope) -> bool | None:
        """Return True for the right token, False for a wrong one, None when no bearer token was sent."""
        header = dict(scope.get("headers") or ()).get(b"authorization")
        if header is None:
            return None
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer" or not credentials.strip():
            return None
        return hmac.compare_digest(credentials.strip(), self._expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request under :data:`PROTECTED_PREFIX` on only with the right token; answer 401 otherwise."""
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        verdict = self.authorised(scope)
        if verdict:
            await self.app(scope, receive, send)
        elif verdict is None:
            await _answer(send, 401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        else:
            challenge = 'Bearer error="invalid_token"'
            await _answer(send, 401, "the bearer token is not valid", {"WWW-Authenticate": challenge})


class BodySizeLimit:
    """Answer 413 to a request body larger than ``max_body_bytes`` (announced or streamed).

    The body is read here, at most ``max_body_bytes`` of it, before the wrapped app runs (FastAPI reads the
    whole body before validating it anyway), then handed on as one message.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    max_body_bytes
        The largest body accepted, in bytes (positive).
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive; got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to ``max_body_bytes`` and hand it on as one message; answer 413 past it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = f"the request body is larger than {self.max_body_bytes} bytes"
        announced = dict(scope.get("headers") or ()).get(b"content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > self.max_body_bytes):
            await _answer(send, 413, refusal)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replaying([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await _answer(send, 413, refusal)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replaying([whole], receive), send)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """Build a ``receive`` that gives ``messages`` first, then defers to ``receive`` (e.g. for ``http.disconnect``)."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def declare_bearer_auth(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer scheme in an OpenAPI ``schema`` (changed in place and returned).

    The scheme is required on every operation under :data:`PROTECTED_PREFIX`, with the 401 and 413 answers, so
    clients and schema-driven fuzzers know to send the token.

    Examples
    --------
    >>> schema = {"paths": {"/v1/decide": {"post": {"responses": {}}}, "/healthz": {"get": {"responses": {}}}}}
    >>> declared = declare_bearer_auth(schema)
    >>> declared["paths"]["/v1/decide"]["post"]["security"], "security" in declared["paths"]["/healthz"]["get"]
    ([{'bearer': []}], False)
    """
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PROTECTED_PREFIX):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "no bearer token, or a wrong one"})
            responses.setdefault("413", {"description": "the request body is too large"})
    return schema


def security_summary(token: str | None, max_body_bytes: int) -> dict[str, Any]:
    """Describe what the endpoint enforces, for a start-up line (never the token itself).

    Examples
    --------
    >>> security_summary("s3cret", 1024)
    {'bearer_token': 'required on /v1/*', 'max_body_bytes': 1024}
    """
    return {"bearer_token": "required on /v1/*" if token else "NONE (insecure)", "max_body_bytes": max_body_bytes}
