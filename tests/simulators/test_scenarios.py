"""Every shipped scenario loads, runs, and moves the offers' value the way its story says."""

from __future__ import annotations

import pytest

from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.calibration import calibration_report
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import Scenario, load_scenario, scenario_names

SHIPPED = ["cold-start", "default", "holiday-peak", "price-war", "trust-crisis"]


def run(name: str) -> SimulationResult:
    return MarketplaceSimulator(load_scenario(name).with_size(n_users=3000, days=10)).run(UniformRandom(), seed=1)


def uplift(result: SimulationResult, action: str) -> float:
    values = result.fixed_action_values()
    return values[action] - values["no_offer"]


def test_the_five_scenarios_ship() -> None:
    assert scenario_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_scenario_runs(name: str) -> None:
    summary = run(name).summary()
    assert summary["n_decisions"] > 0
    assert summary["n_events"] > 0
    assert summary["oracle_value"] >= summary["best_fixed_value"]


def test_price_war_favours_coupons_and_trust_crisis_badges() -> None:
    default, price_war, trust_crisis = run("default"), run("price-war"), run("trust-crisis")
    assert uplift(price_war, "coupon") > uplift(default, "coupon")
    assert uplift(trust_crisis, "trust_badge") > uplift(default, "trust_badge")


def test_every_knob_is_documented() -> None:
    def undocumented(model: type) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                missing += undocumented(annotation)
            elif not field.description and model.__doc__ is None:
                missing.append(name)
        return missing

    assert undocumented(Scenario) == []


def test_calibration_report_lands_in_the_realistic_range() -> None:
    scenario = load_scenario("default").with_size(n_users=8000, days=21)
    result = MarketplaceSimulator(scenario).run(UniformRandom(), seed=0)
    report = {row["figure"]: row["simulated"] for row in calibration_report(result, scenario).iter_rows(named=True)}
    assert len(report) == 8
    number = {
        figure: float(value.split("%")[0].split("×")[0].lstrip("+"))
        for figure, value in report.items()
        if value[0].isdigit() or value[0] == "+"
    }
    assert 1.0 <= number["conversion per triggered email"] <= 6.0
    assert 1.2 <= number["opens of well-timed sends vs random hours"] <= 3.0
    assert 3.0 <= number["purchases of merchant followers vs other users"] <= 8.0
    assert 8.0 <= number["lapsing users won back by a retention offer"] <= 23.0
    assert number["incremental conversion over the holdout"] > 0
    assert set(ACTIONS) == {"no_offer", "coupon", "installment", "trust_badge"}
