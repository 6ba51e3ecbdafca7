"""The calibration report: the brief's figures beside what the simulated marketplace produces.

Each row names a figure from the business brief (a vendor's claim), the
independent benchmark where one is quoted, the simulated value measured on a
run, the scenario knobs that move it, and a note on why a vendor figure is or is
not reproduced. The default scenario aims at the independent benchmarks.

Examples
--------
>>> from policies.bandits.baselines import UniformRandom
>>> from simulators.marketplace import MarketplaceSimulator
>>> from simulators.scenario import load_scenario
>>> scenario = load_scenario("default").with_size(n_users=2000, days=10)
>>> report = calibration_report(MarketplaceSimulator(scenario).run(UniformRandom(), seed=0), scenario, seed=0)
>>> report.columns
['figure', 'vendor_claim', 'benchmark', 'simulated', 'knobs', 'note']
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulators.base import SimulationResult
from simulators.scenario import Scenario


def _rate(frame: pl.DataFrame, column: str) -> float:
    """Return the mean of a numeric or boolean ``column``: NaN without rows, 0.0 if every value is null."""
    if not frame.height:
        return float("nan")
    mean = frame.get_column(column).mean()  # a float, or None if every value is null
    return float(mean) if isinstance(mean, int | float) else 0.0


def _messaged(result: SimulationResult) -> pl.DataFrame:
    log = result.bandit_log().join(result.truth.select("decision_id", "p_open", "p_open_random_hour"), on="decision_id")
    return log.filter(pl.col("action") != "no_offer")


def retargeting(result: SimulationResult) -> tuple[float, float, float]:
    """Return the conversion of behaviour-triggered offers, of their holdout, and of an untriggered promotion.

    The three rates: behaviour-triggered offers; the same moments with no message (the holdout); an ordinary,
    untriggered coupon promotion (the simulator's counterfactual).
    """
    behaviour = _messaged(result).filter(pl.col("trigger_kind") == "behaviour")
    holdout = result.holdout.filter(pl.col("trigger_kind") == "behaviour")
    blast = result.counterfactuals.get("blast_coupon_conversion", float("nan"))
    return _rate(behaviour, "converted"), _rate(holdout, "converted"), blast


def email_conversion(result: SimulationResult) -> float:
    """Return the conversion rate of the messages sent by email."""
    return _rate(_messaged(result).filter(pl.col("channel") == "email"), "converted")


def low_stock_cleared(result: SimulationResult, hours: float = 24.0) -> float:
    """Share of items that got a low-stock alert and sold their last unit within ``hours`` of the first alert."""
    alerts = (
        result.decisions.filter(pl.col("trigger") == "low_stock")
        .group_by("item_id")
        .agg(pl.col("send_at").min().alias("alerted"))
    )
    if not alerts.height:
        return float("nan")
    sales = result.events.filter(pl.col("type") == "purchase").select("item_id", pl.col("ts").alias("sold"))
    joined = alerts.join(sales, on="item_id", how="left").with_columns(
        within=(pl.col("sold") >= pl.col("alerted")) & (pl.col("sold") <= pl.col("alerted") + pl.duration(hours=hours))
    )
    cleared = joined.group_by("item_id").agg(pl.col("within").fill_null(False).any())
    left = result.items.filter(pl.col("stock") == 0).select("item_id")
    sold_out = cleared.join(left, on="item_id", how="inner").filter(pl.col("within")).height
    return sold_out / alerts.height


def timing_ratio(result: SimulationResult) -> float:
    """Return the opens of best-hour sends over the opens had they gone out at a random hour (the truth knows)."""
    timed = _messaged(result).filter(pl.col("trigger") == "best_hour")
    if not timed.height:
        return float("nan")
    return _rate(timed, "p_open") / _rate(timed, "p_open_random_hour")


def follower_ratio(result: SimulationResult) -> float:
    """Purchases per user among users who follow a merchant, over those among users who follow none."""
    purchases = result.events.filter(pl.col("type") == "purchase").group_by("user_id").len("purchases")
    followers = result.events.filter(pl.col("type") == "follow_merchant").select("user_id").unique()
    users = (
        result.users.select("user_id")
        .join(purchases, on="user_id", how="left")
        .with_columns(pl.col("purchases").fill_null(0), follows=pl.col("user_id").is_in(followers["user_id"].implode()))
    )
    rates = users.group_by("follows").agg(pl.col("purchases").mean())
    by = dict(zip(rates["follows"].to_list(), rates["purchases"].to_list(), strict=True))
    return float(by.get(True, np.nan) / by[False]) if by.get(False) else float("nan")


def win_back(result: SimulationResult) -> float:
    """Share of retention messages to lapsing users after which the user came back within the window."""
    return _rate(_messaged(result).filter(pl.col("trigger").is_in(["declining", "lapsed", "churn_risk"])), "returned")


def calibration_report(result: SimulationResult, scenario: Scenario, seed: int = 0) -> pl.DataFrame:
    """One row per figure of the brief: claim, benchmark, simulated value, knobs, note."""
    triggered, unmessaged, blast = retargeting(result)
    summary = result.summary()
    rows = [
        (
            "behaviour-triggered offer conversion (7-day window)",
            "14%",
            "3–5% for an ordinary promotion",
            f"{triggered:.1%} (ordinary promotion {blast:.1%}; same moments unmessaged {unmessaged:.1%})",
            "triggers.behaviour_logit, triggers.blast_logit, offers.*_lift, messaging.message_lift",
            "a triggered offer converts more than twice as often as an ordinary promotion, as the brief says, "
            "at a level between the benchmark and the vendor's 14%: most messages are never opened",
        ),
        (
            "conversion per triggered email",
            "",
            "1–3% per message",
            f"{email_conversion(result):.1%}",
            "messaging.channels.email.open_logit, triggers.*_logit",
            "per message sent by email, all trigger kinds",
        ),
        (
            "critical stock cleared within 24 h of a scarcity alert",
            "87%",
            "",
            f"{low_stock_cleared(result):.1%}",
            "trigger config rules.inventory.*, triggers.inventory_logit",
            "not reproduced: a last unit of a consignment item sells within a day only if someone wants it; "
            "87% would need demand the default does not have",
        ),
        (
            "opens of well-timed sends vs random hours",
            "3×",
            "",
            f"{timing_ratio(result):.2f}×",
            "messaging.hour_fit_lift, messaging.hour_fit_width",
            "measured on the truth: the same messages' open probability at the user's observed best hour over a "
            "random hour; realistic gains are well under 3×",
        ),
        (
            "purchases of merchant followers vs other users",
            "5.2×",
            "",
            f"{follower_ratio(result):.2f}×",
            "funnel.follower_lift, funnel.follow_logit, triggers.social_logit",
            "followers are the engaged users (selection) and buy more of followed merchants' listings (lift)",
        ),
        (
            "lapsing users won back by a retention offer",
            "23%",
            "≈ 12% win-back engagement",
            f"{win_back(result):.1%}",
            "lifecycle.winback_return, messaging.channels.*.open_logit",
            "share of retention messages after which the user returned within the attribution window",
        ),
        (
            "incremental conversion over the holdout",
            "",
            "",
            f"{summary['incremental_uplift']:+.2%} ({summary['conversion_rate']:.1%} vs "
            f"{summary['holdout_conversion_rate']:.1%})",
            "holdout_share",
            "treated moments vs holdout users' moments, which get no message",
        ),
        (
            "acquisition cost −37%, repurchase +42%, order value +28%",
            "as stated",
            "",
            "not simulated",
            "",
            "the simulator has no acquisition channel, no baskets and a 30-day horizon; these platform-level "
            "figures are out of its scope",
        ),
    ]
    columns = ["figure", "vendor_claim", "benchmark", "simulated", "knobs", "note"]
    return pl.DataFrame(rows, schema=columns, orient="row")
