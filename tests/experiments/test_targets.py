"""Target probabilities from a table, a saved policy or a registered model, and the exact messages for bad ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from experiments.inputs import feedback_from_log, load_target_probs
from experiments.targets import table_probabilities, target_probabilities
from features.schemas import ACTIONS
from features.validation import SchemaError
from policies.bandits.baselines import UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.base import POLICY_FILE, Feedback
from policies.serving.config import OfferlabConfig, configure_mlflow
from policies.serving.pyfunc import log_policy_model

LABELS = ("7", "9", "12")


def offers_log(n: int, seed: int) -> pl.DataFrame:
    """Generate a log over the four offers where the best offer depends on ``x``."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    chosen = rng.integers(0, 4, n)
    reward = np.where(chosen == (x * 4).astype(int), 1.0, 0.0)
    return pl.DataFrame({"action": np.array(ACTIONS)[chosen], "reward": reward, "propensity": 0.25, "x": x})


def numbered_log(n: int = 10) -> pl.DataFrame:
    """Build a log whose actions are the integers 0 to 9, each logged once in every ten rounds."""
    rng = np.random.default_rng(3)
    return pl.DataFrame({"action": np.arange(n) % 10, "reward": rng.random(n), "propensity": 0.1, "x": rng.random(n)})


@pytest.fixture(scope="module")
def trained() -> VowpalWabbitPolicy:
    policy = VowpalWabbitPolicy(seed=0, passes=2)
    policy.learn(feedback_from_log(offers_log(600, seed=1)))
    return policy


@pytest.fixture
def feedback() -> Feedback:
    return feedback_from_log(
        pl.DataFrame({"action": [7, 9, 12, 7], "reward": [1.0, 0.0, 0.0, 1.0], "propensity": [0.5, 0.5, 0.5, 0.5]})
    )


def table(**columns: list[float]) -> pl.DataFrame:
    return pl.DataFrame({f"p_{name.removeprefix('a')}": [float(v) for v in values] for name, values in columns.items()})


def test_a_table_row_aligned_with_the_log(feedback: Feedback) -> None:
    probs = table_probabilities(table(a7=[1, 0, 0.5, 0], a9=[0, 1, 0.5, 0], a12=[0, 0, 0, 1]), LABELS, 4)
    assert probs.tolist() == [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [0, 0, 1]]


def test_columns_for_actions_the_log_lacks_are_allowed_when_zero(feedback: Feedback) -> None:
    frame = table(a7=[1, 0, 0, 0], a9=[0, 1, 1, 0], a12=[0, 0, 0, 1], a99=[0, 0, 0, 0])
    assert table_probabilities(frame, LABELS, 4).shape == (4, 3)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            table(a7=[1.0] * 9, a9=[0.0] * 9, a12=[0.0] * 9),
            "target-probs: has 9 rows but the log has 4; they must be row-aligned",
        ),
        (
            table(a7=[1, 1, 0.5, 0.5], a9=[0, 0, 0.4, 0.6], a12=[0, 0, 0, 0.2]),
            "target-probs: row 2 sums to 0.9, not 1 (within 1e-06); 2 row(s) do not sum to 1",
        ),
        (
            table(a7=[1.0] * 4),
            "target-probs: missing column(s) ['p_9', 'p_12']; expected one p_<action> column per action of the log, "
            "['7', '9', '12']",
        ),
        (
            table(a7=[1, 1, 1, 1.2], a9=[0, 0, 0, -0.2], a12=[0, 0, 0, 0]),
            "target-probs: column 'p_7' must lie in [0, 1]; row 3 has 1.2 (1 bad row(s))",
        ),
        (
            table(a7=[1, 1, 1, 1], a9=[0, -0.5, 0, -0.2], a12=[0, 0.5, 0, 0.2]),
            "target-probs: column 'p_9' must lie in [0, 1]; row 1 has -0.5 (2 bad row(s))",
        ),
        (
            table(a7=[1, float("nan"), 1, 1], a9=[0, 0, 0, 0], a12=[0, 0, 0, 0]),
            "target-probs: column 'p_7' must lie in [0, 1]; row 1 has nan (1 bad row(s))",
        ),
        (
            table(a7=[1, 1, 1, 1], a9=[0, 0, 0, 0], a12=[0, 0, 0, 0]).with_columns(p_9=pl.lit("0")),
            "target-probs: column 'p_9' has dtype String, expected a number",
        ),
        (
            table(a7=[1, 1, 1, 1], a9=[0, 0, 0, 0], a12=[0, 0, 0, 0]).with_columns(
                p_12=pl.Series([0.0, None, None, 0.0])
            ),
            "target-probs: column 'p_12' has 2 null value(s), the first in row 1",
        ),
        (
            table(a7=[1, 1, 0.5, 1], a9=[0, 0, 0, 0], a12=[0, 0, 0, 0], a99=[0, 0, 0.5, 0]),
            "target-probs: column(s) ['p_99'] give probability to action(s) the log does not have (row 2 has "
            "p_99 = 0.5); the log's actions are ['7', '9', '12']",
        ),
    ],
)
def test_bad_tables_are_named(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        table_probabilities(frame, LABELS, 4)


def test_many_missing_columns_are_counted() -> None:
    labels = tuple(str(a) for a in range(500))
    with pytest.raises(
        SchemaError,
        match=re.escape("['p_0', 'p_1', 'p_2', 'p_3', 'p_4', 'p_5', 'p_6', 'p_7', 'p_8', 'p_9', ...] (500 in all)"),
    ):
        table_probabilities(pl.DataFrame({"x": [1.0]}), labels, 1)


def test_a_table_file_by_its_path(tmp_path: Path, feedback: Feedback) -> None:
    table(a7=[1, 0, 0, 0], a9=[0, 1, 1, 0], a12=[0, 0, 0, 1]).write_csv(tmp_path / "target.csv")
    probs, described = target_probabilities(tmp_path / "target.csv", feedback)
    assert probs[:, 1].tolist() == [0, 1, 1, 0]
    assert described == f"table {tmp_path / 'target.csv'}"


def test_the_four_offer_reader_stays_for_its_callers(tmp_path: Path) -> None:
    pl.DataFrame({f"p_{a}": [0.25, 0.25] for a in ACTIONS}).write_parquet(tmp_path / "t.parquet")
    assert load_target_probs(tmp_path / "t.parquet", 2).shape == (2, 4)
    with pytest.raises(SchemaError, match=re.escape("target-probs: has 2 rows but the log has 3")):
        load_target_probs(tmp_path / "t.parquet", 3)


def test_a_saved_vw_policy_folder_or_its_policy_file(tmp_path: Path, trained: VowpalWabbitPolicy) -> None:
    trained.save(tmp_path / "vw")
    assert json.loads((tmp_path / "vw" / POLICY_FILE).read_text())["params"]["actions"] == list(ACTIONS)
    held_out = feedback_from_log(offers_log(50, seed=2))
    probs, described = target_probabilities(tmp_path / "vw", held_out)
    assert described == f"saved vw policy {tmp_path / 'vw'}"
    assert probs.shape == (50, 4)
    assert np.allclose(probs.sum(axis=1), 1)
    assert np.allclose(probs, trained.probabilities(held_out.contexts, held_out.actions, held_out.eligible))
    again, _ = target_probabilities(str(tmp_path / "vw" / POLICY_FILE), held_out)
    assert np.allclose(again, probs)


def test_a_policy_that_cannot_score_the_logs_actions(tmp_path: Path, trained: VowpalWabbitPolicy) -> None:
    trained.save(tmp_path / "vw")
    numbered = feedback_from_log(numbered_log())
    message = (
        f"target {tmp_path / 'vw'}: the vw policy can't score the log's action(s) "
        "['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']; it knows ['no_offer', 'coupon', 'installment', "
        "'trust_badge']"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        target_probabilities(tmp_path / "vw", numbered)
    # a VW policy saved before policies recorded their actions was trained on the four offers
    saved = json.loads((tmp_path / "vw" / POLICY_FILE).read_text())
    del saved["params"]["actions"]
    (tmp_path / "vw" / POLICY_FILE).write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=re.escape(message)):
        target_probabilities(tmp_path / "vw", numbered)


def test_a_policy_that_learns_nothing_scores_any_actions(tmp_path: Path) -> None:
    UniformRandom().save(tmp_path / "uniform")
    probs, _ = target_probabilities(tmp_path / "uniform", feedback_from_log(numbered_log()))
    assert np.allclose(probs, 0.1)


def test_a_registered_model_uri(store: OfferlabConfig, trained: VowpalWabbitPolicy) -> None:
    configure_mlflow(store)
    mlflow.set_experiment("targets-test")
    with mlflow.start_run():
        info = log_policy_model(trained, store.registered_model)
    MlflowClient().set_registered_model_alias(store.registered_model, "champion", info.registered_model_version)
    held_out = feedback_from_log(offers_log(40, seed=4))
    expected = trained.probabilities(held_out.contexts, held_out.actions, held_out.eligible)
    for uri in (
        "models:/offer-policy@champion",
        f"models:/offer-policy/{info.registered_model_version}",
        info.model_uri,
    ):
        probs, described = target_probabilities(uri, held_out, store)
        assert np.allclose(probs, expected), uri
        assert described == f"vw policy {uri}"
    with pytest.raises(ValueError, match=re.escape("target models:/offer-policy@nobody: MLflow can't load it")):
        target_probabilities("models:/offer-policy@nobody", held_out, store)
    with pytest.raises(ValueError, match=re.escape("the vw policy can't score the log's action(s) ['0', '1'")):
        target_probabilities("models:/offer-policy@champion", feedback_from_log(numbered_log()), store)


class Echo(PythonModel):
    """A pyfunc model that holds no policy."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return model_input


def test_a_model_that_holds_no_policy(store: OfferlabConfig, feedback: Feedback) -> None:
    configure_mlflow(store)
    mlflow.set_experiment("targets-test")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="echo", python_model=Echo())
    message = f"target {info.model_uri} is not an offerlab policy model (it holds Echo)"
    with pytest.raises(ValueError, match=re.escape(message)):
        target_probabilities(info.model_uri, feedback, store)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("nowhere/policy", FileNotFoundError, "target nowhere/policy: no such file or folder, and not a model URI"),
        ("C:/nowhere", FileNotFoundError, "target C:/nowhere: no such file or folder"),
    ],
)
def test_a_target_that_is_nothing(feedback: Feedback, spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        target_probabilities(spec, feedback)


def test_a_folder_that_holds_no_target(tmp_path: Path, feedback: Feedback) -> None:
    with pytest.raises(ValueError, match=re.escape(f"target {tmp_path}: neither a saved policy (no policy.json)")):
        target_probabilities(tmp_path, feedback)
