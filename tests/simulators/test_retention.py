"""The randomised retention experiment: seeded, balanced, read only, and its truth is the simulator's own."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from simulators.behaviour import simulate_day
from simulators.marketplace import MarketplaceSimulator, SimulationSession
from simulators.retention import RetentionDesign, RetentionExperiment, retention_experiment
from simulators.scenario import _validated, load_scenario

DESIGN = RetentionDesign(warmup_days=40)


@pytest.fixture(scope="module")
def session() -> SimulationSession:
    scenario = load_scenario("default").with_size(n_users=3000)
    return MarketplaceSimulator(_validated(scenario.name, {**scenario.model_dump(), "warmup_days": 40})).start(5)


@pytest.fixture(scope="module")
def experiment(session: SimulationSession) -> RetentionExperiment:
    return retention_experiment(session, seed=11, design=DESIGN)


def test_assignment_is_balanced_and_seeded(session: SimulationSession, experiment: RetentionExperiment) -> None:
    frame = experiment.frame
    n, treated = frame.height, frame["treated"].to_numpy()
    assert n > 300
    assert abs(treated.mean() - 0.5) < 3.5 * np.sqrt(0.25 / n)
    risk = frame["cb_p_churn"].to_numpy()
    pooled_sd = risk.std()
    assert abs(risk[treated == 1].mean() - risk[treated == 0].mean()) / pooled_sd < 0.2  # covariates balanced
    again = retention_experiment(session, seed=11, design=DESIGN).frame
    assert np.array_equal(again["treated"].to_numpy(), treated)
    assert np.array_equal(again["returned"].to_numpy(), frame["returned"].to_numpy())
    other = retention_experiment(session, seed=12, design=DESIGN).frame
    assert not np.array_equal(other["treated"].to_numpy(), treated)
    assert np.array_equal(other["p_return_control"].to_numpy(), frame["p_return_control"].to_numpy())


def test_truth_average_effect_matches_observed_difference(experiment: RetentionExperiment) -> None:
    frame = experiment.frame
    treated = frame["treated"].to_numpy() == 1
    returned = frame["returned"].to_numpy().astype(float)
    observed = returned[treated].mean() - returned[~treated].mean()
    se = np.sqrt(returned[treated].var() / treated.sum() + returned[~treated].var() / (~treated).sum())
    assert abs(experiment.true_uplift.mean() - observed) < 3.5 * se


def test_effect_is_heterogeneous(experiment: RetentionExperiment) -> None:
    """Some would return anyway, some never respond, some return only when treated."""
    tau = experiment.true_uplift
    p0 = experiment.frame["p_return_control"].to_numpy()
    assert (tau >= 0).all()
    assert (tau <= 1).all()
    assert ((p0 > 0.9) & (tau < 0.02)).any()  # return anyway
    assert (tau == 0).any()  # unreachable: no consent left, or opted out
    assert ((p0 == 0) & (tau > 0.1)).any()  # churned: return only when treated


def test_control_truth_matches_simulated_days(session: SimulationSession, experiment: RetentionExperiment) -> None:
    """The closed-form P(return) without a message agrees with simulating the horizon with the world's own code."""
    users = experiment.frame["user_id"].str.slice(1).cast(int).to_numpy()
    p0 = experiment.frame["p_return_control"].to_numpy()
    day0, returned = session.day, []
    for replicate in range(4):
        world, history = copy.deepcopy(session.world), copy.deepcopy(session.history)
        rng = np.random.default_rng(replicate)
        for day in range(day0 + 1, day0 + DESIGN.horizon_days + 1):
            history.start_day(day)
            simulate_day(world, history, day, rng)
        returned.append(history.last_session_day[users] > day0)
    simulated = np.mean(returned, axis=0)
    se = np.sqrt((p0 * (1 - p0)).sum() / 4) / len(p0)
    assert abs(simulated.mean() - p0.mean()) < 4 * se + 1e-9  # measured: 0.7579 truth, 0.7599 simulated
    assert simulated[p0 == 0].max() == 0  # churned users never come back unprompted


def test_experiment_leaves_the_session_untouched(session: SimulationSession) -> None:
    churned, last = session.world.users.churned.copy(), session.history.last_session_day.copy()
    events, day = session.n_events, session.day
    retention_experiment(session, seed=3, design=DESIGN)
    assert np.array_equal(churned, session.world.users.churned)
    assert np.array_equal(last, session.history.last_session_day)
    assert (session.n_events, session.day) == (events, day)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"horizon_days": 0}, "horizon_days must be at least 1, got 0"),
        ({"treat_share": 1.0}, "treat_share must lie strictly between 0 and 1, got 1.0"),
        ({"risk_threshold": 1.5}, "risk_threshold must lie in [0, 1], got 1.5"),
        ({"winback_return": -0.1}, "winback_return must lie in [0, 1], got -0.1"),
    ],
)
def test_bad_design(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RetentionDesign(**settings)  # type: ignore[arg-type]
