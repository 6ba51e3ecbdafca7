"""The best configuration on disk: JSON or YAML that :func:`load_config` (or ``VWConfig(**data)``) reads back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from features.io import atomic_path
from policies.bandits.vw_config import VWConfig

if TYPE_CHECKING:
    pass


def config_data(config: VWConfig) -> dict[str, Any]:
    """Return the settings as plain data (JSON types), every field named, that ``VWConfig(**data)`` reads back."""
    return config.model_dump(mode="json")


def save_config(config: VWConfig, path: str | Path) -> Path:
    """Write ``config`` atomically as YAML (``.yaml`` / ``.yml``) or JSON (any other suffix).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> chosen = VWConfig(explorer="bag", n_policies=3, interactions="ua,uu")
    >>> [load_config(save_config(chosen, folder / name)) == chosen for name in ("vw.json", "vw.yaml")]
    [True, True]
    """
    path = Path(path)
    data = config_data(config)
    text = yaml.safe_dump(data, sort_keys=False) if _is_yaml(path) else json.dumps(data, indent=2) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def load_config(path: str | Path) -> VWConfig:
    """Read the :class:`VWConfig` of a JSON or YAML file (a bad field fails naming it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no VW config file {str(path)!r}")
    text = path.read_text()
    data = yaml.safe_load(text) if _is_yaml(path) else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"VW config {path}: expected a mapping of settings, got {type(data).__name__}")
    return VWConfig(**data)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")
