"""The demo end to end at small size, twice on the same store, seen through MLflow's own client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from policies.serving.config import OfferlabConfig, configure_mlflow
from tests.experiments.test_cli import offerlab

#: the whole demo chain, twice: skipped by `make quick`
pytestmark = pytest.mark.slow


def test_demo_runs_twice_and_is_visible_in_mlflow(store: OfferlabConfig, tmp_path: Path) -> None:
    args = ("demo", "--seed", "3", "--out", str(tmp_path / "demo"))
    first = offerlab(*args)
    assert first.returncode == 0, first.stderr + first.stdout
    text = " ".join(first.stdout.split())
    for expected in ("off-policy value per decision", "gate: lift", "steps", "serve one decision", "tracking:"):
        assert expected in text, text
    second = offerlab(*args)
    assert second.returncode == 0, second.stderr

    configure_mlflow(store)
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{store.registered_model}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert str(client.get_model_version_by_alias(store.registered_model, store.challenger_alias).version) == "2"
    demo_runs = client.search_runs([client.get_experiment_by_name("offerlab-demo").experiment_id])
    assert len(demo_runs) == 2
    for kind in ("simulate", "train", "ope", "promote"):
        experiment = client.get_experiment_by_name(f"offerlab-{kind}")
        assert len(client.search_runs([experiment.experiment_id])) == 2, kind
    summary = client.download_artifacts(demo_runs[0].info.run_id, "summary.json", str(tmp_path))
    assert Path(summary).read_text().count("true_values") == 1
    # the served moment was bare (who, what, why, where): the snapshot completed it and the guardrails let it through
    served = json.loads(Path(summary).read_text())["decision"]
    assert set(served["request"]) == {"user_id", "item_id", "trigger", "channel"}
    assert served["response"]["decision_id"], served
    assert served["response"].get("suppressed_by") is None, served
    # the first VW beats uniform and becomes champion; the second, the same model again, cannot beat the champion
    assert client.get_model_version_by_alias(store.registered_model, store.champion_alias).version in (1, "1")
    assert "version 1 promoted to champion" in text
    second_text = " ".join(second.stdout.split())
    assert "+0.0000 [+0.0000, +0.0000] over the champion → version 2 not promoted" in second_text, second_text
    assert "served by offer-policy/v1" in second_text
