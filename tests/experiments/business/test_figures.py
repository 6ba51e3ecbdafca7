"""The business report's figures on the hand-built toy log, and its JSON and HTML files."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from experiments.business import (
    EFFECTS,
    KPIS,
    BusinessReport,
    business_report,
    merchant_segments,
    write_report,
)
from experiments.business.toy import TOY_TAKE_RATE, toy_log


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
    assert html.startswith("<!DOCTYPE html>")
    assert html.count('src="data:image/png;base64,') == 4
    assert "Attributed against incremental" in html
    assert "By merchant segment" in html
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporary file


def test_the_headline_names_the_comparison_the_gain_and_the_cost(toy: BusinessReport) -> None:
    text = toy.headline
    assert "3 users had trigger moments" in text
    assert "2 users of the global holdout" in text
    assert "66.7% against 50.0%" in text
    assert "+16.7 points" in text
    assert "22.00 per extra buyer" in text
    assert "attribute 2 orders" in text
