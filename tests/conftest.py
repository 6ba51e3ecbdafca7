"""Shared fixtures: an isolated MLflow store per test and a small simulated log (also as a file)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import polars as pl
import pytest

from policies.bandits.baselines import UniformRandom
from policies.serving.config import OfferlabConfig, load_config
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


@pytest.fixture(scope="session")
def empty_tracking_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create an empty MLflow SQLite database, migrated once per test process.

    MLflow's schema migrations take seconds; a copy of the migrated file opens at once.
    """
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("tracking") / "mlruns.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def activate_store(folder: Path, empty_tracking_db: Path, patch: pytest.MonkeyPatch) -> OfferlabConfig:
    """Make a fresh ``mlflow.yaml`` + SQLite store in ``folder`` the active one.

    The database is a copy of an empty migrated one; ``patch`` sets ``OFFERLAB_CONFIG`` until it is undone.
    """
    config_file = folder / "mlflow.yaml"
    config_file.write_text((Path(__file__).parents[1] / "mlflow.yaml").read_text())
    shutil.copyfile(empty_tracking_db, folder / "mlruns.db")
    patch.setenv("OFFERLAB_CONFIG", str(config_file))
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    patch.setenv("OFFERLAB_PSEUDONYM_SALT", "test-salt")
    return load_config(config_file)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_tracking_db: Path) -> OfferlabConfig:
    """Make a fresh store in ``tmp_path`` for one test (:func:`activate_store`)."""
    return activate_store(tmp_path, empty_tracking_db, monkeypatch)


@pytest.fixture(scope="session")
def small_run() -> SimulationResult:
    """1,000 users, 7 days, uniform logging, seed 11."""
    scenario = load_scenario("default").with_size(n_users=1000, days=7)
    return MarketplaceSimulator(scenario).run(UniformRandom(), seed=11)


@pytest.fixture(scope="session")
def small_log(small_run: SimulationResult) -> pl.DataFrame:
    return small_run.bandit_log()


@pytest.fixture(scope="session")
def small_log_file(small_log: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``small_log`` as a Parquet file, written once: read it, do not change it."""
    path = tmp_path_factory.mktemp("small_log") / "log.parquet"
    small_log.write_parquet(path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_champion(store: OfferlabConfig, log: pl.DataFrame, experiment: str) -> str:
    """Register a VW policy (seed 1) learned from ``log`` as ``store``'s champion; return its registry version.

    The policy is logged under ``experiment`` and registered in ``store``.
    """
    import mlflow
    from mlflow import MlflowClient

    from policies.bandits.vw import VowpalWabbitPolicy
    from policies.base import Feedback
    from policies.serving.config import configure_mlflow
    from policies.serving.pyfunc import log_policy_model

    policy = VowpalWabbitPolicy(seed=1)
    policy.learn(Feedback.from_log(log))
    configure_mlflow(store)
    mlflow.set_experiment(experiment)
    with mlflow.start_run():
        info = log_policy_model(policy, store.registered_model)
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(store.registered_model, store.champion_alias, version)
    return version
