from __future__ import annotations

import re

import numpy as np
import pytest

from features.churn.metrics import calibration_table, churn_metrics, lift_top_decile


def test_metrics_on_a_hand_computed_example() -> None:
    y = [1, 1, 0, 1, 0]
    p = [0.9, 0.6, 0.7, 0.4, 0.1]
    metrics = churn_metrics(y, p)
    # 6 (churner, stayer) pairs; the churner scores higher in 4 of them
    assert metrics["auc"] == pytest.approx(4 / 6)
    # precision at each churner, by score: 1/1, 2/3, 3/4, averaged over the 3 churners
    assert metrics["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.49 + 0.36 + 0.01) / 5)
    assert metrics["lift_top_decile"] == pytest.approx(1 / 0.6)  # the top row (ceil(0.5) = 1) churned
    assert (metrics["base_rate"], metrics["n"]) == (0.6, 5)


def test_lift_of_a_perfect_and_a_reversed_score() -> None:
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=1000) < 0.3).astype(int)
    assert lift_top_decile(y, y.astype(float)) == pytest.approx(1 / y.mean())
    assert lift_top_decile(y, 1.0 - y) == 0.0


def test_calibration_table() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=20_000) < p).astype(int)
    table = calibration_table(y, p)
    assert table.columns == ["bin", "mean_predicted", "observed_rate", "count"]
    assert table["bin"].to_list() == list(range(10))
    assert table["count"].sum() == 20_000
    assert np.abs(table["mean_predicted"] - table["observed_rate"]).max() < 0.03  # calibrated by construction
    edges = calibration_table([0, 1, 1], [0.0, 0.5, 1.0], bins=2)  # 1.0 falls in the last bin
    assert edges.rows() == [(0, 0.0, 0.0, 1), (1, 0.75, 1.0, 2)]


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.5], "y_true has 2 values but p has 1"),
        ([], [], "no rows to score"),
        ([0, 2], [0.1, 0.2], "y_true must hold only 0 and 1"),
        ([0, 1], [0.1, 1.2], "p must hold probabilities in [0, 1] (no NaN)"),
        ([0, 1], [0.1, float("nan")], "p must hold probabilities in [0, 1] (no NaN)"),
        ([1, 1], [0.1, 0.2], "y_true holds one class only: AUC is undefined"),
    ],
)
def test_bad_input_names_the_problem(y: list[int], p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        churn_metrics(y, p)


def test_bad_bins_and_lift_without_churners() -> None:
    with pytest.raises(ValueError, match="bins must be at least 1, got 0"):
        calibration_table([0, 1], [0.1, 0.9], bins=0)
    with pytest.raises(ValueError, match=re.escape("lift is undefined without any churner (base rate 0)")):
        lift_top_decile([0, 0], [0.1, 0.9])
