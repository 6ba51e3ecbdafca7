"""Uplift meta-learners: ground truth on synthetic data, seeding, and bad inputs.

Also targeting on the simulated retention experiment against its truth.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from features.churn.uplift import (
    TwoModelUplift,
    UpliftParams,
    XLearner,
    incremental_retention,
    targeting_table,
    uplift_curve_plot,
)
from simulators.retention import RetentionDesign, run_retention_experiment
from simulators.scenario import load_scenario


def synthetic(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Simulate a randomised experiment with a known heterogeneous effect: large for some, zero for others."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 4))
    tau = 0.25 * (x[:, 0] > 0) + 0.15 * np.clip(x[:, 1], 0, None)
    p0 = 1 / (1 + np.exp(-(1.5 * x[:, 2] - 0.5)))
    treated = rng.random(n) < 0.5
    returned = rng.random(n) < np.clip(p0 + treated * tau, 0, 1)
    frame = pl.DataFrame({f"x{j}": x[:, j] for j in range(4)}).with_columns(
        treated=pl.Series(treated.astype(np.int8)), returned=pl.Series(returned.astype(np.int8))
    )
    return frame, np.clip(p0 + tau, 0, 1) - p0


FEATURES = ["x0", "x1", "x2", "x3"]


@pytest.mark.parametrize("learner", [TwoModelUplift, XLearner])
def test_recovers_known_heterogeneous_effect(learner: type[TwoModelUplift]) -> None:
    train, _ = synthetic(8000, 0)
    test, tau = synthetic(4000, 1)
    uplift = learner(UpliftParams(seed=0)).fit(train, FEATURES).predict_uplift(test)
    assert np.corrcoef(uplift, tau)[0, 1] > 0.6
    assert abs(uplift.mean() - tau.mean()) < 0.03
    for share in (0.2, 0.5):  # targeting by predicted uplift gets most of the optimum
        assert incremental_retention(tau, uplift, share) > 0.85 * incremental_retention(tau, tau, share)


def test_seeded_and_reproducible() -> None:
    frame, _ = synthetic(2000, 2)
    first = XLearner(UpliftParams(seed=4)).fit(frame, FEATURES).predict_uplift(frame)
    again = XLearner(UpliftParams(seed=4)).fit(frame, FEATURES).predict_uplift(frame)
    other = XLearner(UpliftParams(seed=5)).fit(frame, FEATURES).predict_uplift(frame)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_targeting_table_baselines() -> None:
    tau = np.array([0.0, 0.4, 0.1, 0.0, 0.2])
    table = targeting_table(tau, {"worst": -tau}, shares=(0.2, 1.0))
    assert table["random"].to_list() == pytest.approx([28.0, 140.0])
    assert table["optimum"].to_list() == pytest.approx([80.0, 140.0])
    assert table["worst"].to_list() == pytest.approx([0.0, 140.0])
    legend = uplift_curve_plot(tau, {"worst": -tau}).axes[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["random", "worst", "optimum (true uplift)"]


def test_bad_inputs() -> None:
    frame, _ = synthetic(200, 3)
    cases: list[tuple[object, str]] = [
        (lambda: TwoModelUplift().fit(frame, ["nope"]), "uplift: missing column 'nope'"),
        (
            lambda: TwoModelUplift().fit(frame.with_columns(treated=pl.lit(2)), FEATURES),
            "uplift: 'treated' must hold only 0 and 1",
        ),
        (lambda: TwoModelUplift().predict_uplift(frame), "uplift: the model is not fitted; call fit first"),
        (
            lambda: TwoModelUplift().fit(frame.head(15).with_columns(treated=pl.Series([1] * 9 + [0] * 6)), FEATURES),
            "uplift: an arm has 6 rows; at least 10 are needed to fit a model",
        ),
        (lambda: XLearner(propensity=1.0), "uplift: propensity must lie strictly between 0 and 1, got 1.0"),
        (lambda: incremental_retention(np.zeros(3), np.zeros(2), 0.5), "true_uplift has 3 values but score has 2"),
        (lambda: incremental_retention(np.zeros(3), np.zeros(3), 0.0), "share must lie in (0, 1], got 0.0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()  # type: ignore[operator]


@pytest.mark.slow
def test_uplift_beats_risk_on_the_simulated_experiment() -> None:
    """Targeting by predicted uplift retains more than targeting by the BG/NBD churn risk for some k.

    Trained on one experiment, judged on a fresh one against the simulator's truth (at 20,000 users, for every k:
    tests/benchmarks/uplift_report.py).
    """
    scenario = load_scenario("default").with_size(n_users=5000)
    design = RetentionDesign(warmup_days=40)
    train = run_retention_experiment(scenario, seed=0, design=design)
    test = run_retention_experiment(scenario, seed=1, design=design)
    model = XLearner(UpliftParams(seed=0, min_child_samples=50)).fit(train.frame, train.feature_columns)
    scores = {"uplift": model.predict_uplift(test.frame), "risk": test.frame["cb_p_churn"].to_numpy()}
    table = targeting_table(test.true_uplift, scores)
    assert (table["uplift"] > table["risk"]).any()
    assert (table["uplift"] > table["random"]).all()
    assert (table["optimum"] >= table["uplift"]).all()
