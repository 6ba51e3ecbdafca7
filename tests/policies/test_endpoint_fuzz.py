"""Fuzzing the endpoint from its own OpenAPI schema (Schemathesis): no 5xx answer, the server survives.

Every fuzzed request sent without the token gets a 401.

The registered champion (a VW policy, loaded back from the test's MLflow registry) is served on a real socket
(``serving_in_background``). Schemathesis draws bodies that follow the served schema and bodies that break it
(its negative mode also fuzzes or drops the Authorization header). Most fuzzed JSON objects are grafted onto a
valid request (a user with a consent record, a decision id the server answered with), keeping a random subset of
the fuzzed fields, so the fuzz reaches the policy, the decision log and the outcome store instead of stopping at
the first field a random body gets wrong.

The suite sends ``OFFERLAB_FUZZ_EXAMPLES`` fuzzed requests in all (default 300, split over the two routes)::

    OFFERLAB_FUZZ_EXAMPLES=10000 .venv/bin/pytest -q -p no:cacheprovider tests/policies/test_endpoint_fuzz.py
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from policies.serving.config import OfferlabConfig
from policies.serving.decision_log import DecisionLog
from policies.serving.endpoint import create_app
from policies.serving.pyfunc import load_policy_model
from policies.serving.server import serving_in_background
from simulators.base import SimulationResult
from tests.policies.test_endpoint import champion, reachable_rows, request_from

#: Schemathesis against a running server: skipped by `make quick`
pytestmark = pytest.mark.slow

__all__ = ["champion"]  # the fixture that registers the champion, used here by name

TOKEN = "fuzz-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Fuzzed requests per run, over both routes.
EXAMPLES = int(os.environ.get("OFFERLAB_FUZZ_EXAMPLES", "300"))


def fuzz_settings(examples: int) -> settings:
    """Deterministic (the suite must not flake), no example database, no deadline: a request takes what it takes."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture
def url(champion: str, store: OfferlabConfig, small_run: SimulationResult) -> Iterator[str]:
    """Serve the registered champion, loaded back from the registry, with the token required; yield its URL."""
    model = load_policy_model(f"models:/{store.registered_model}@{store.champion_alias}")
    log = DecisionLog(tempfile.mkdtemp())
    app = create_app(model, f"offer-policy/{champion}", log, seed=0, users=small_run.users, api_token=TOKEN)
    with serving_in_background(app) as base:
        yield base


def fuzzed_cases(url: str, path: str) -> st.SearchStrategy[Any]:
    """Schemathesis cases for ``POST path``: bodies that follow the served schema and bodies that break it."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operation = schema[path]["POST"]
    return st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))


def grafted(case: Any, valid: dict[str, Any], keep: set[str]) -> Any:
    """Lay the fuzzed fields of ``case`` named in ``keep`` over the valid body ``valid``.

    A body that is not a JSON object is left as fuzzed: the fuzz reaches past the first field a random body gets
    wrong.
    """
    if isinstance(case.body, dict):
        case.body = {**valid, **{k: v for k, v in case.body.items() if k in keep}}
    return case


def fuzz(url: str, path: str, valid: list[dict[str, Any]], examples: int) -> Counter[int]:
    """Send ``examples`` fuzzed requests to ``POST path``, each with and without the token; count the answers.

    With the token no answer is a 5xx nor a 401; without it, or with the Authorization header Schemathesis fuzzed,
    a 401. (Schemathesis drops the header itself from some negative cases: those count as sent without it.)
    """
    answers: Counter[int] = Counter()
    session = requests.Session()
    fields = sorted({k for body in valid for k in body})

    @fuzz_settings(examples)
    @given(
        case=fuzzed_cases(url, path),
        graft=st.one_of(st.none(), st.tuples(st.sampled_from(valid), st.sets(st.sampled_from(fields)))),
    )
    def one_request(case: Any, graft: tuple[dict[str, Any], set[str]] | None) -> None:
        if graft is not None:
            case = grafted(case, *graft)
        fuzzed_token = (case.headers or {}).get("Authorization")
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        answer = case.call(base_url=url, session=session, headers=AUTH)
        carried = answer.request.headers.get("Authorization") == AUTH["Authorization"]
        assert answer.status_code < 500, f"{answer.status_code} for {case.body!r}: {answer.text}"
        assert (answer.status_code != 401) if carried else (answer.status_code == 401), answer.text
        refused = case.call(base_url=url, session=session)
        assert refused.status_code == 401, f"{refused.status_code} without the token for {case.body!r}"
        if fuzzed_token is not None:
            wrong = case.call(base_url=url, session=session, headers={"Authorization": fuzzed_token})
            assert wrong.status_code == 401, f"{wrong.status_code} with Authorization {fuzzed_token!r}"
        answers[answer.status_code] += 1

    one_request()
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # still answering
    return answers


def test_fuzzed_decisions_never_get_a_5xx(url: str, small_log: pl.DataFrame, small_run: SimulationResult) -> None:
    rows = reachable_rows(small_log, small_run.users)
    answers = fuzz(url, "/v1/decide", [request_from(rows, i) for i in range(50)], EXAMPLES // 2)
    print("/v1/decide answers:", dict(answers))
    assert answers.total() >= EXAMPLES // 2
    assert answers[200] > 0
    assert answers[422] > 0  # the fuzz reached the policy and the validation both


def test_fuzzed_outcomes_never_get_a_5xx(url: str, small_log: pl.DataFrame, small_run: SimulationResult) -> None:
    rows = reachable_rows(small_log, small_run.users)
    decided = [httpx.post(f"{url}/v1/decide", json=request_from(rows, i), headers=AUTH, timeout=10) for i in range(5)]
    ids = [a.json()["decision_id"] for a in decided if a.status_code == 200 and a.json()["decision_id"]]
    assert ids, [a.text for a in decided]
    outcomes = [{"decision_id": i, "converted": c, "revenue": r} for i in ids for c, r in ((False, 0.0), (True, 9.5))]
    answers = fuzz(url, "/v1/outcome", outcomes, EXAMPLES - EXAMPLES // 2)
    print("/v1/outcome answers:", dict(answers))
    assert answers.total() >= EXAMPLES - EXAMPLES // 2
    assert answers[404] > 0
    assert answers[422] > 0
    assert answers[200] + answers[201] > 0
