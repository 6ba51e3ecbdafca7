"""``offerlab log join``: the endpoint's decision log joined into logged feedback.

The decision log, the outcomes posted to it and the purchase events are joined into logged feedback that
``offerlab ope``, ``offerlab train`` and ``offerlab promote`` read (:mod:`experiments.log_join`). Bad input (a
missing folder or file, a column that is not there, a negative rate) ends with exit status 2 and nothing
written; the output is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from experiments.cli.app import console
from experiments.cli.errors import user_errors_exit_2
from experiments.log_join import WINDOW_HOURS, OfferCosts

app = typer.Typer(help="The endpoint's decision log: join its outcomes into logged feedback.", no_args_is_help=True)
DEFAULTS = OfferCosts()


@app.command()
@user_errors_exit_2
def join(
    decisions: Annotated[Path, typer.Option(help="The endpoint's decision-log folder (decisions-*.jsonl).")],
    events: Annotated[Path, typer.Option(help="Events (EVENTS contract, Parquet or CSV) with the purchases.")],
    outcomes: Annotated[
        Path | None,
        typer.Option(help="Outcomes posted to /v1/outcome (default: the folder's outcomes-posted.jsonl, if any)."),
    ] = None,
    window_hours: Annotated[
        float, typer.Option(help="Attribution window after each decision's send_at, in hours.")
    ] = WINDOW_HOURS,
    out: Annotated[
        Path | None, typer.Option(help="Parquet file to write (default: DECISIONS/feedback.parquet).")
    ] = None,
    take_rate: Annotated[float, typer.Option(help="Platform's share of revenue.")] = DEFAULTS.take_rate,
    coupon_discount: Annotated[float, typer.Option(help="Coupon cost, share of revenue.")] = DEFAULTS.coupon_discount,
    installment_fee_rate: Annotated[
        float, typer.Option(help="Installment cost, share of revenue.")
    ] = DEFAULTS.installment_fee_rate,
    badge_cost: Annotated[float, typer.Option(help="Trust badge cost per redeemed sale.")] = DEFAULTS.badge_cost,
    mature_only: Annotated[
        bool, typer.Option(help="Drop decisions without a posted outcome whose window is still open.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Join a decision log with its outcomes and purchase events into a bandit log.

    The bandit log holds action, propensity, reward, context, user_id and eligible actions. Cost rates default to
    the simulator's default scenario.
    """
    from experiments.inputs import check_bandit_log
    from experiments.log_join import join_log, write_joined

    target = out if out is not None else decisions / "feedback.parquet"
    costs = OfferCosts(
        take_rate=take_rate,
        coupon_discount=coupon_discount,
        installment_fee_rate=installment_fee_rate,
        badge_cost=badge_cost,
    )
    joined = join_log(decisions, events, outcomes, window_hours, costs, mature_only)
    check_bandit_log(joined.log)
    write_joined(joined.log, target)
    summary = {
        "out": str(target),
        "decisions": joined.log.height,
        "from_posted_outcomes": joined.from_posted,
        "from_events": joined.from_events,
        "without_outcome": joined.without_outcome,
        "window_open": joined.window_open,
        "posted_without_decision": joined.posted_unmatched,
        "mean_reward": float(joined.log.get_column("reward").to_numpy().mean()),
    }
    if as_json:
        print(json.dumps(summary))
        return
    console.print(
        f"joined {summary['decisions']:,} decisions into {target}: {joined.from_posted:,} outcome(s) posted, "
        f"{joined.from_events:,} converted by events, {joined.without_outcome:,} without a purchase; "
        f"{joined.window_open:,} window(s) still open{' (dropped)' if mature_only else ''}; "
        f"mean reward {summary['mean_reward']:.4f}",
        highlight=False,
        soft_wrap=True,
    )
    if joined.posted_unmatched:
        console.print(f"{joined.posted_unmatched:,} posted outcome(s) name no logged decision (erased?): ignored")
