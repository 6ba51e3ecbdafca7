"""The registered offer policy under MLflow's own model server (`mlflow models serve`), asked over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from features.schemas import ACTIONS, feature_columns
from policies.serving.config import OfferlabConfig
from tests.conftest import free_port, register_champion

#: mlflow models serve started in a subprocess: skipped by `make quick`
pytestmark = pytest.mark.slow


def test_the_champion_answers_under_mlflow_models_serve(
    store: OfferlabConfig, small_log: pl.DataFrame, tmp_path: Path
) -> None:
    register_champion(store, small_log, "mlflow-serve-test")
    port = free_port()
    model_uri = f"models:/{store.registered_model}@{store.champion_alias}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.tracking_uri, "MLFLOW_REGISTRY_URI": store.tracking_uri}
    # MLflow starts the server as `uvicorn ...` through a shell: the environment's scripts must be on PATH
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        rows = small_log.head(4).select([*feature_columns(small_log), "actions"])
        # eligible actions travel as "a|b|c" text, which the pyfunc model reads (JSON has no place for a list cell)
        sent = rows.with_columns(pl.col("actions").list.join("|")).with_columns(pl.selectors.float().fill_nan(None))
        body = {"dataframe_split": {"columns": sent.columns, "data": [list(row) for row in sent.rows()]}}
        deadline, answer = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert answer is not None, server.stderr.read().decode()[-2000:] if server.stderr else "no answer"
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert len(predictions) == 4
        for row, eligible in zip(predictions, rows.get_column("actions").to_list(), strict=True):
            assert row["action"] in eligible
            assert abs(sum(row[f"p_{a}"] for a in ACTIONS) - 1.0) < 1e-6
            assert row["probability"] == row[f"p_{row['action']}"]
    finally:
        server.terminate()
        server.wait(timeout=20)
