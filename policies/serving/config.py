r"""offerlab's settings from ``mlflow.yaml``: tracking store, registry names, serving port.

Lookup order: the path in ``OFFERLAB_CONFIG``, else ``mlflow.yaml`` in the current
folder, else the built-in defaults (the same embedded SQLite store). Relative paths
resolve against the config file's folder; ``MLFLOW_TRACKING_URI`` overrides the
tracking URI.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "mlflow.yaml").write_text("registered_model: my-policy\n")
>>> config = load_config(folder / "mlflow.yaml", environ={})
>>> config.registered_model, config.tracking_uri == f"sqlite:///{folder / 'mlruns.db'}"
('my-policy', True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

CONFIG_FILE = "mlflow.yaml"


class ServingSettings(BaseModel):
    """The ``serving`` section: where the endpoint listens and logs, and whom it lets in.

    ``api_token`` is the bearer token ``/v1/*`` requires (the environment variable ``OFFERLAB_API_TOKEN`` wins
    over it; a :class:`~pydantic.SecretStr`, so it never shows in a repr or a log); ``max_body_bytes`` the
    largest request body accepted (larger: 413). ``reload_interval_s`` is how often the served aliases are
    resolved again (0: never; a promotion then needs a restart); ``challenger_share`` the share of users the
    challenger alias acts for, and ``shadow`` scores the model that does not act on every request.
    ``log_rotation_bytes`` and ``log_rotation_every`` start a new decision-log file at that size and at each new
    UTC ``day`` or ``hour`` (``null``: by size only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(5005, ge=1, le=65535)
    decision_log: Path = Path("runs/decision-log")
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    reload_interval_s: float = Field(5.0, ge=0.0)
    challenger_share: float = Field(0.0, ge=0.0, le=1.0)
    shadow: bool = False
    log_rotation_bytes: int = Field(64 * 1024 * 1024, ge=1)
    log_rotation_every: Literal["hour", "day"] | None = "day"


class OfferlabConfig(BaseModel):
    """The parsed ``mlflow.yaml`` with every path made absolute."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tracking_uri: str = "sqlite:///mlruns.db"
    artifact_location: str = "./mlartifacts"
    experiments: dict[str, str] = Field(
        default_factory=lambda: {
            k: f"offerlab-{k}" for k in ("simulate", "train", "ope", "promote", "features", "demo")
        }
    )
    registered_model: str = "offer-policy"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    serving: ServingSettings = ServingSettings()

    def experiment(self, kind: str) -> str:
        """Return the MLflow experiment name for a kind of work (``simulate``, ``ope``, ...)."""
        return self.experiments.get(kind, f"offerlab-{kind}")

    @property
    def champion_uri(self) -> str:
        """Return the ``models:/`` URI of the registered model's champion alias."""
        return f"models:/{self.registered_model}@{self.champion_alias}"


def _absolute(uri: str, base: Path) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri.removeprefix('sqlite:///')).resolve()}"
    if "://" not in uri:
        return str((base / uri).resolve())
    return uri


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> OfferlabConfig:
    """Read the config (see the module docstring for where from); raise ``ValueError`` naming a bad field."""
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get("OFFERLAB_CONFIG") or (Path.cwd() / CONFIG_FILE)
    path = Path(path)
    data: dict[str, Any] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
    elif "OFFERLAB_CONFIG" in env and Path(env["OFFERLAB_CONFIG"]) == path:
        raise FileNotFoundError(f"OFFERLAB_CONFIG points at {path}, which does not exist")
    try:
        config = OfferlabConfig(**data)
    except ValidationError as error:
        raise ValueError(f"{path}: {error}") from error
    base = path.parent.resolve()
    tracking = env.get("MLFLOW_TRACKING_URI") or _absolute(config.tracking_uri, base)
    serving = config.serving.model_copy(update={"decision_log": (base / config.serving.decision_log).resolve()})
    return config.model_copy(
        update={
            "tracking_uri": tracking,
            "artifact_location": _absolute(config.artifact_location, base),
            "serving": serving,
        }
    )


def configure_mlflow(config: OfferlabConfig) -> None:
    """Point MLflow's tracking and registry clients at the configured store."""
    import mlflow

    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
