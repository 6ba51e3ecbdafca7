"""The business report's intervals against known effects: synthetic logs and the simulator's truth."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from experiments.business import (
    BusinessLog,
    BusinessReport,
    business_report,
    load_business_log,
)
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


# --- intervals against known effects ---------------------------------------------------------------------------------
def synthetic_log(n_treated: int, n_holdout: int, p_treated: float, p_holdout: float, seed: int) -> BusinessLog:
    """One moment per user on 03-01; a user buys once (and again half the time) with a known probability."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    users = [f"t{i}" for i in range(n_treated)] + [f"h{i}" for i in range(n_holdout)]
    p = np.r_[np.full(n_treated, p_treated), np.full(n_holdout, p_holdout)]
    buys = rng.random(len(users)) < p
    again = buys & (rng.random(len(users)) < 0.5)
    buyers = [u for u, b in zip(users, buys, strict=True) if b] + [u for u, a in zip(users, again, strict=True) if a]
    stamp = pl.Datetime("us", "UTC")
    purchases = pl.DataFrame(
        {
            "user_id": buyers,
            "ts": [start + timedelta(days=1 + i % 2 + 5 * int(i >= buys.sum())) for i in range(len(buyers))],
            "merchant_id": ["m1"] * len(buyers),
            "price": rng.lognormal(4, 0.5, len(buyers)),
            "quantity": pl.Series([1] * len(buyers), dtype=pl.Int32),
        },
        schema_overrides={"ts": stamp},
    )
    decisions = pl.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(n_treated)],
            "user_id": users[:n_treated],
            "send_at": [start] * n_treated,
            "trigger": ["cart_abandon"] * n_treated,
            "trigger_kind": ["behaviour"] * n_treated,
            "action": ["coupon"] * n_treated,
            "item_id": ["i1"] * n_treated,
            "converted": buys[:n_treated],
            "revenue": [0.0] * n_treated,
            "offer_cost": [1.0] * n_treated,
            "delivered": [True] * n_treated,
        },
        schema_overrides={"send_at": stamp},
    )
    holdout = pl.DataFrame(
        {"user_id": users[n_treated:], "ts": [start] * n_holdout, "trigger_kind": ["behaviour"] * n_holdout},
        schema_overrides={"ts": stamp},
    )
    items = pl.DataFrame({"item_id": ["i1"], "merchant_id": ["m1"]})
    return BusinessLog(purchases=purchases, items=items, decisions=decisions, holdout=holdout)


def test_the_conversion_interval_covers_a_known_effect_about_95_percent_of_the_time() -> None:
    effect, covered, runs = 0.10, 0, 60
    for seed in range(runs):
        log = synthetic_log(300, 200, 0.30 + effect, 0.30, seed)
        report = business_report(log, n_bootstrap=300, seed=seed, take_rate=0.15)
        incremental = report.overall.kpis["conversion_rate"].incremental
        covered += incremental.lower <= effect <= incremental.upper
    assert 0.85 <= covered / runs <= 1.0


def test_with_no_effect_the_acquisition_cost_is_unbounded_at_one_end() -> None:
    report = business_report(synthetic_log(300, 300, 0.3, 0.3, 0), n_bootstrap=300, take_rate=0.15)
    acquisition = report.overall.effects["acquisition_cost"]
    assert math.isinf(acquisition.upper)
    assert report.to_dict()["overall"]["effects"]["acquisition_cost"]["upper"] is None


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 users for 14 days under uniform logging, with 30% of users held out (for a usable comparison)."""
    scenario = load_scenario("default").with_size(n_users=3000, days=14).model_copy(update={"holdout_share": 0.3})
    result: SimulationResult = MarketplaceSimulator(scenario).run(UniformRandom(), seed=1)
    folder = tmp_path_factory.mktemp("simulation")
    result.write(folder)
    return folder


@pytest.fixture(scope="module")
def simulated(simulation: Path) -> BusinessReport:
    return business_report(load_business_log(simulation), n_bootstrap=500, seed=0)


def test_the_incremental_contribution_matches_the_simulators_truth(simulated: BusinessReport) -> None:
    assert simulated.truth is not None
    truth = simulated.truth["expected_incremental_contribution_per_user"]
    measured = simulated.overall.kpis["contribution_per_user"].incremental
    assert measured.lower <= truth <= measured.upper
    assert abs(measured.value - truth) < 1.5  # the interval's half width is about 1.2


def test_simulated_groups_are_balanced_and_every_interval_holds_its_estimate(simulated: BusinessReport) -> None:
    moments = simulated.overall.kpis["moments_per_user"].incremental
    assert moments.lower <= 0 <= moments.upper  # the holdout's moments are counted as sends: same exposure
    assert simulated.settings["take_rate"] == pytest.approx(0.15)
    cells = [simulated.overall, *simulated.by_trigger_kind.values(), *simulated.by_segment.values()]
    estimates = [e for c in cells for f in c.kpis.values() for e in (f.treated, f.holdout, f.incremental)]
    estimates += [e for c in cells for e in c.effects.values()]
    checked = [e for e in estimates if math.isfinite(e.value)]
    assert len(checked) > 200
    for estimate in checked:
        assert estimate.lower <= estimate.value <= estimate.upper, estimate


def test_attribution_and_incrementality_differ_in_the_simulation(simulated: BusinessReport) -> None:
    e = simulated.overall.effects
    assert e["attributed_orders"].value > 0
    assert e["attributed_orders"].lower > 0
    assert e["attributed_orders"].value != pytest.approx(e["incremental_orders"].value)
    assert set(simulated.by_trigger_kind) == {"behaviour", "inventory", "time", "social", "lifecycle"}
    assert set(simulated.by_segment) == {"small", "medium", "large"}
