from __future__ import annotations

from pathlib import Path

import pytest

from policies.serving.config import load_config
from policies.serving.registry import ResolvedModel


def test_defaults_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "mlflow.yaml").write_text((Path(__file__).parents[2] / "mlflow.yaml").read_text())
    config = load_config(tmp_path / "mlflow.yaml", environ={})
    assert config.tracking_uri == f"sqlite:///{tmp_path}/mlruns.db"
    assert config.artifact_location == str(tmp_path / "mlartifacts")
    assert config.registered_model == "offer-policy"
    assert config.champion_uri == "models:/offer-policy@champion"
    assert config.serving.port == 5005
    assert config.experiment("ope") == "offerlab-ope"


def test_mlflow_tracking_uri_overrides(tmp_path: Path) -> None:
    (tmp_path / "mlflow.yaml").write_text("tracking_uri: sqlite:///here.db\n")
    config = load_config(tmp_path / "mlflow.yaml", environ={"MLFLOW_TRACKING_URI": "http://tracking:5000"})
    assert config.tracking_uri == "http://tracking:5000"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("serving:\n  port: 99999\n", "serving.port"), ("registred_model: typo\n", "registred_model")],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "mlflow.yaml").write_text(text)
    with pytest.raises(ValueError, match=fragment):
        load_config(tmp_path / "mlflow.yaml", environ={})


def test_missing_config_named_by_env_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(FileNotFoundError, match="OFFERLAB_CONFIG points at"):
        load_config(environ={"OFFERLAB_CONFIG": str(missing)})


def test_policy_version_label() -> None:
    assert ResolvedModel("models:/offer-policy/3", "3").label == "offer-policy/v3"
    assert ResolvedModel("runs:/abc/policy", None).label == "runs:/abc/policy"
