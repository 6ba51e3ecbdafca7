"""The business report: hand-computed figures on a tiny log, the bootstrap, intervals against known effects
(synthetic and the simulator's truth), bad input, and the ``offerlab report`` command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from experiments.business import (
    EFFECTS,
    KPIS,
    BusinessLog,
    BusinessReport,
    business_report,
    load_business_log,
    merchant_segments,
    percentile_interval,
    resampled_sums,
    write_report,
)
from experiments.business.toy import TOY_TAKE_RATE, toy_log
from experiments.cli import application
from features.validation import SchemaError
from policies.bandits.baselines import UniformRandom
from simulators.base import SimulationResult
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import load_scenario


def offerlab(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line, run as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


@pytest.fixture(scope="module")
def toy() -> BusinessReport:
    return business_report(toy_log(), n_bootstrap=300, seed=0)


# --- hand-computed figures on the toy log (see experiments/business/toy.py) ------------------------------------------
def test_overall_figures_match_the_hand_computation(toy: BusinessReport) -> None:
    k, e = toy.overall.kpis, toy.overall.effects
    assert (toy.overall.n_treated, toy.overall.n_holdout) == (3, 2)
    expected_treated = {
        "conversion_rate": 2 / 3,
        "repurchase_rate": 1 / 2,
        "average_order_value": 190 / 3,
        "orders_per_user": 1.0,
        "revenue_per_user": 190 / 3,
        "offer_cost_per_user": 11 / 3,
        "net_revenue_per_user": (190 - 11) / 3,
        "contribution_per_user": (0.15 * 190 - 11) / 3,
        "moments_per_user": 4 / 3,
        "message_rate": 3 / 4,
        "cost_per_decision": 11 / 4,
        "attributed_orders_per_user": 2 / 3,
        "attributed_revenue_per_user": 150 / 3,
    }
    expected_holdout = {
        "conversion_rate": 1 / 2,
        "repurchase_rate": 0.0,
        "average_order_value": 80.0,
        "orders_per_user": 1 / 2,
        "revenue_per_user": 40.0,
        "offer_cost_per_user": 0.0,
        "net_revenue_per_user": 40.0,
        "contribution_per_user": 0.15 * 40,
        "moments_per_user": 1.0,
    }
    for name, value in expected_treated.items():
        assert k[name].treated.value == pytest.approx(value), name
    for name, value in expected_holdout.items():
        assert k[name].holdout.value == pytest.approx(value), name
        assert k[name].incremental.value == pytest.approx(expected_treated[name] - value), name
    assert e["offer_cost"].value == pytest.approx(11.0)
    assert e["attributed_orders"].value == 2.0
    assert e["attributed_revenue"].value == pytest.approx(150.0)
    assert e["incremental_buyers"].value == pytest.approx(0.5)  # (2/3 - 1/2) x 3
    assert e["acquisition_cost"].value == pytest.approx(22.0)  # 11 / 0.5
    assert e["incremental_orders"].value == pytest.approx(1.5)  # (1 - 1/2) x 3
    assert e["cost_per_incremental_order"].value == pytest.approx(11 / 1.5)
    assert e["incremental_revenue"].value == pytest.approx(70.0)  # (190/3 - 40) x 3
    assert e["incremental_net_revenue"].value == pytest.approx(59.0)
    assert toy.settings["take_rate"] == TOY_TAKE_RATE  # implied by the logged rewards


def test_trigger_kind_slices_count_purchases_inside_the_window(toy: BusinessReport) -> None:
    behaviour = toy.by_trigger_kind["behaviour"]  # t1 (03-01), t3 (03-03) against h1 (03-01)
    assert (behaviour.n_treated, behaviour.n_holdout) == (2, 1)
    # t1's purchase of 03-20 is outside 7 days of its behaviour moment; t3's of 03-04 and h1's of 03-03 are in
    assert behaviour.kpis["revenue_per_user"].treated.value == pytest.approx((100 + 50) / 2)
    assert behaviour.kpis["revenue_per_user"].holdout.value == pytest.approx(80.0)
    assert behaviour.kpis["offer_cost_per_user"].treated.value == pytest.approx(11 / 2)
    time = toy.by_trigger_kind["time"]  # t1 (03-05): no purchase in 03-05..03-12; h2: none
    assert time.kpis["conversion_rate"].treated.value == 0.0
    assert time.kpis["conversion_rate"].incremental.value == 0.0
    narrow = business_report(toy_log(), n_bootstrap=50, window_days=1.0)
    assert narrow.by_trigger_kind["behaviour"].kpis["orders_per_user"].treated.value == pytest.approx(1 / 2)


def test_a_kind_without_holdout_users_has_no_comparison_and_says_so(toy: BusinessReport) -> None:
    inventory = toy.by_trigger_kind["inventory"]
    assert (inventory.n_treated, inventory.n_holdout) == (1, 0)
    assert math.isnan(inventory.kpis["conversion_rate"].holdout.value)
    assert math.isnan(inventory.kpis["conversion_rate"].incremental.value)
    assert math.isnan(inventory.effects["acquisition_cost"].value)
    assert any("no holdout user had a inventory moment" in w for w in toy.warnings)


def test_segments_split_purchases_and_costs_by_the_merchants_size_tier(toy: BusinessReport) -> None:
    assert merchant_segments(toy_log().items).sort("merchant_id").get_column("segment").to_list() == [
        "small",
        "medium",
    ]
    small, medium = toy.by_segment["small"], toy.by_segment["medium"]
    assert (small.n_treated, small.n_holdout) == (3, 2)  # every user is in every segment slice
    assert small.kpis["revenue_per_user"].treated.value == pytest.approx(100 / 3)  # t2's 02-28 purchase: before
    assert small.kpis["revenue_per_user"].holdout.value == pytest.approx(80 / 2)
    assert medium.kpis["revenue_per_user"].treated.value == pytest.approx((40 + 50) / 3)
    assert small.effects["offer_cost"].value == pytest.approx(10.0)  # d1 on i1 (m1)
    assert medium.effects["offer_cost"].value == pytest.approx(1.0)  # d4 on i2 (m2)
    assert math.isnan(small.kpis["moments_per_user"].holdout.value)  # the holdout's moments name no item
    segments = toy.by_segment.values()  # additive figures add up to the overall ones
    assert sum(c.effects["offer_cost"].value for c in segments) == pytest.approx(
        toy.overall.effects["offer_cost"].value
    )
    revenue = sum(c.kpis["revenue_per_user"].treated.value for c in segments)
    assert revenue == pytest.approx(toy.overall.kpis["revenue_per_user"].treated.value)


def test_a_log_without_delivery_receipts_counts_every_chosen_offer_as_sent() -> None:
    log = toy_log()
    plain = replace(log, decisions=log.decisions.drop("delivered", "reward"))
    report = business_report(plain, n_bootstrap=50, take_rate=0.15)
    assert report.overall.kpis["message_rate"].treated.value == pytest.approx(3 / 4)
    assert report.settings["take_rate_source"] == "given"
    with pytest.raises(ValueError, match="give take_rate"):
        business_report(plain, n_bootstrap=50)


# --- the JSON and HTML files ---------------------------------------------------------------------------------------
def test_the_json_holds_every_kpi_with_value_and_interval_per_group(toy: BusinessReport, tmp_path: Path) -> None:
    paths = write_report(toy, tmp_path / "out", source="toy")
    document = json.loads(paths["json"].read_text())
    assert {"overall", "by_trigger_kind", "by_segment", "headline", "definitions", "settings"} <= set(document)
    for cell in [document["overall"], *document["by_trigger_kind"].values(), *document["by_segment"].values()]:
        assert set(cell["kpis"]) == {k.name for k in KPIS}
        assert set(cell["effects"]) == {e.name for e in EFFECTS}
        for figures in cell["kpis"].values():
            assert set(figures) == {"treated", "holdout", "incremental"}
            assert all(set(f) == {"value", "lower", "upper"} for f in figures.values())
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('src="data:image/png;base64,') == 4
    assert "Attributed against incremental" in html and "By merchant segment" in html
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporary file


def test_the_headline_names_the_comparison_the_gain_and_the_cost(toy: BusinessReport) -> None:
    text = toy.headline
    assert "3 users had trigger moments" in text and "2 users of the global holdout" in text
    assert "66.7% against 50.0%" in text and "+16.7 points" in text
    assert "22.00 per extra buyer" in text
    assert "attribute 2 orders" in text


# --- the bootstrap ---------------------------------------------------------------------------------------------------
def test_resampled_sums_are_draws_of_whole_users() -> None:
    values = np.column_stack([np.ones(50), np.arange(50.0), np.arange(50.0) ** 2])
    sums = resampled_sums(values, 40, 7)
    assert sums.shape == (40, 3)
    np.testing.assert_array_equal(sums[:, 0], 50.0)  # each resample draws 50 users
    assert len(np.unique(sums[:, 1])) > 30  # and which ones varies
    assert abs(sums[:, 1].mean() / 50 - 24.5) < 2


def test_resampled_sums_are_seeded_and_chunked_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.arange(20.0).reshape(10, 2)
    whole = resampled_sums(values, 30, 3)
    np.testing.assert_array_equal(whole, resampled_sums(values, 30, 3))
    monkeypatch.setattr("experiments.ope.resampling.CHUNK_ELEMENTS", 25)  # two resamples per chunk
    chunked = resampled_sums(values, 30, 3)
    assert chunked.shape == (30, 2) and np.all(chunked[:, 0] % 2 == 0)  # sums of even numbers


@pytest.mark.parametrize(
    ("values", "n_bootstrap", "message"),
    [
        (np.empty((0, 2)), 10, r"non-empty \(n_users, k\) array; got shape \(0, 2\)"),
        (np.ones(3), 10, r"got shape \(3,\)"),
        (np.ones((3, 1)), 0, "n_bootstrap must be a positive integer; got 0"),
        (np.ones((3, 1)), True, "n_bootstrap must be a positive integer; got True"),
    ],
)
def test_resampled_sums_reject_bad_input(values: np.ndarray, n_bootstrap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resampled_sums(values, n_bootstrap, 0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
)
def test_resampled_means_stay_within_the_data_and_intervals_are_ordered(
    data: list[float], n_bootstrap: int, seed: int
) -> None:
    values = np.array(data)[:, None]
    means = resampled_sums(values, n_bootstrap, seed)[:, 0] / len(data)
    assert np.all(means >= values.min() - 1e-9) and np.all(means <= values.max() + 1e-9)
    low, high = percentile_interval(means[:, None])
    assert low[0] <= high[0]


def test_the_report_is_reproducible_from_its_seed() -> None:
    first = business_report(toy_log(), n_bootstrap=100, seed=5).to_dict()
    assert first == business_report(toy_log(), n_bootstrap=100, seed=5).to_dict()
    assert first != business_report(toy_log(), n_bootstrap=100, seed=6).to_dict()


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
    assert e["attributed_orders"].value > 0 and e["attributed_orders"].lower > 0
    assert e["attributed_orders"].value != pytest.approx(e["incremental_orders"].value)
    assert set(simulated.by_trigger_kind) == {"behaviour", "inventory", "time", "social", "lifecycle"}
    assert set(simulated.by_segment) == {"small", "medium", "large"}


# --- bad input -------------------------------------------------------------------------------------------------------
@pytest.fixture
def toy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "log"
    toy_log().write(folder)
    return folder


def test_a_missing_file_is_named(toy_folder: Path) -> None:
    (toy_folder / "holdout.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"no holdout.parquet or holdout.csv; a business report needs"):
        load_business_log(toy_folder)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_business_log(toy_folder / "nowhere")


@pytest.mark.parametrize(
    ("name", "column", "message"),
    [
        ("events", "price", r"events.parquet: missing column\(s\) \['price'\]"),
        ("decisions", "send_at", r"decisions.parquet: missing column\(s\) \['send_at'\]"),
        ("outcomes", "offer_cost", r"outcomes.parquet: missing column\(s\) \['offer_cost'\]"),
        ("holdout", "trigger_kind", r"holdout.parquet: missing column\(s\) \['trigger_kind'\]"),
        ("items", "merchant_id", r"items.parquet: missing column\(s\) \['merchant_id'\]"),
    ],
)
def test_a_missing_column_is_named(toy_folder: Path, name: str, column: str, message: str) -> None:
    path = toy_folder / f"{name}.parquet"
    pl.read_parquet(path).drop(column).write_parquet(path)
    with pytest.raises(SchemaError, match=message):
        load_business_log(toy_folder)


def test_a_log_without_holdout_moments_is_refused(toy_folder: Path) -> None:
    path = toy_folder / "holdout.parquet"
    pl.read_parquet(path).clear().write_parquet(path)
    with pytest.raises(SchemaError, match="no holdout moments, so no holdout users to compare with"):
        load_business_log(toy_folder)


def test_a_decision_without_outcome_and_a_user_in_both_groups_are_refused(toy_folder: Path) -> None:
    outcomes = toy_folder / "outcomes.parquet"
    pl.read_parquet(outcomes).filter(pl.col("decision_id") != "d3").write_parquet(outcomes)
    with pytest.raises(SchemaError, match=r"no outcome for 1 of 4 decision\(s\), e.g. \['d3'\]"):
        load_business_log(toy_folder)
    log = toy_log()
    both = replace(log, holdout=log.holdout.with_columns(user_id=pl.Series(["t1", "h2"])))
    with pytest.raises(
        SchemaError, match=r"1 user\(s\) are both in the decision log and in the holdout, e.g. \['t1'\]"
    ):
        business_report(both, n_bootstrap=10)


def test_null_values_in_a_read_column_are_named(toy_folder: Path) -> None:
    path = toy_folder / "events.parquet"
    pl.read_parquet(path).with_columns(price=pl.lit(None, dtype=pl.Float64)).write_parquet(path)
    with pytest.raises(SchemaError, match=r"column 'price' has 5 null value\(s\)"):
        load_business_log(toy_folder)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"window_days": 0}, "window_days must be positive; got 0"),
        ({"alpha": 1.5}, r"alpha must lie in \(0, 1\); got 1.5"),
        ({"take_rate": 2.0}, r"take_rate must lie in \[0, 1\]; got 2.0"),
        ({"n_bootstrap": 0}, "n_bootstrap must be a positive integer; got 0"),
    ],
)
def test_bad_settings_are_named(settings_: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        business_report(toy_log(), **settings_)  # type: ignore[arg-type]


# --- the command line ------------------------------------------------------------------------------------------------
def test_the_command_writes_both_files_and_exits_0(toy_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = offerlab("report", "--log", str(toy_folder), "--out", str(out), "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    assert (out / "report.json").is_file() and (out / "report.html").is_file()
    assert "3 users had trigger moments" in result.stdout and "Conversion rate" in result.stdout
    document = json.loads((out / "report.json").read_text())
    assert document["source"] == str(toy_folder) and document["settings"]["n_bootstrap"] == 100
    printed = offerlab("report", "--log", str(toy_folder), "--out", str(out), "--bootstrap", "100", "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {k: v for k, v in document.items() if k != "source"}


def in_process(*args: str) -> Result:
    """The command line in this process (bad input never reaches a model or a server)."""
    return CliRunner().invoke(application(), list(args))


def test_the_command_exits_2_on_a_folder_without_holdout(toy_folder: Path, tmp_path: Path) -> None:
    path = toy_folder / "holdout.parquet"
    pl.read_parquet(path).clear().write_parquet(path)
    out = tmp_path / "report"
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "no holdout moments" in result.stderr
    assert not out.exists()  # nothing written on bad input
    path.unlink()
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2 and "no holdout.parquet or holdout.csv" in result.stderr


def test_the_command_exits_2_on_a_file_as_out(toy_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "file.txt"
    out.write_text("x")
    result = in_process("report", "--log", str(toy_folder), "--out", str(out))
    assert result.exit_code == 2 and "is a file; give a folder" in " ".join(result.stderr.split())
