"""A tiny hand-built log whose report figures can be worked out by hand (used by the examples and tests).

Three treated users and two holdout users; two merchants (``m1`` with one listing is ``small``, ``m2`` with two
is ``medium``); a take rate of 15%.

========  ==========================================================  ==============================
user      moments (send time, kind, action)                           purchases (time, merchant, price)
========  ==========================================================  ==============================
t1        03-01 10:00 behaviour, coupon on i1 (m1): converted, 100,   03-01 12:00 m1 100;
          cost 10; 03-05 10:00 time, no_offer on i2 (m2)              03-20 m2 40
t2        03-02 10:00 inventory, trust_badge on i3 (m2): not          02-28 m1 30 (before its first
          converted                                                   moment: not counted)
t3        03-03 10:00 behaviour, installment on i2 (m2): converted,   03-04 m2 50
          50, cost 1
h1        03-01 10:00 behaviour (holdout)                             03-03 m1 80
h2        03-02 10:00 time (holdout)                                  none
========  ==========================================================  ==============================

Overall: treated 3 users, 2 buyers, 3 orders, 190 revenue, 11 offer cost, 1 repeat buyer (t1); holdout 2 users,
1 buyer, 1 order, 80 revenue. So conversion 2/3 against 1/2, incremental buyers ``(2/3 - 1/2) * 3 = 0.5``,
acquisition cost ``11 / 0.5 = 22``; attributed orders 2 (revenue 150) against incremental orders
``(3/3 - 1/2) * 3 = 1.5`` (revenue ``190 - 80 * 3 / 2 = 70``).

Examples
--------
>>> log = toy_log()
>>> log.decisions.height, log.holdout.height, log.purchases.height
(4, 2, 5)
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from experiments.business.base import BusinessLog

#: The take rate the toy's rewards were computed with.
TOY_TAKE_RATE = 0.15


def _at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def toy_log() -> BusinessLog:
    """Return the log described in this module's docstring."""
    stamp = pl.Datetime("us", "UTC")
    revenue, cost = [100.0, 0.0, 0.0, 50.0], [10.0, 0.0, 0.0, 1.0]
    decisions = pl.DataFrame(
        {
            "decision_id": ["d1", "d2", "d3", "d4"],
            "user_id": ["t1", "t1", "t2", "t3"],
            "send_at": [_at(3, 1), _at(3, 5), _at(3, 2), _at(3, 3)],
            "trigger": ["cart_abandon", "best_hour", "low_stock", "cart_abandon"],
            "trigger_kind": ["behaviour", "time", "inventory", "behaviour"],
            "action": ["coupon", "no_offer", "trust_badge", "installment"],
            "item_id": ["i1", "i2", "i3", "i2"],
            "converted": [True, False, False, True],
            "revenue": revenue,
            "offer_cost": cost,
            "reward": [TOY_TAKE_RATE * r - c for r, c in zip(revenue, cost, strict=True)],
            "delivered": [True, False, True, True],
        },
        schema_overrides={"send_at": stamp},
    )
    purchases = pl.DataFrame(
        {
            "user_id": ["t1", "t1", "t2", "t3", "h1"],
            "ts": [_at(3, 1, 12), _at(3, 20), _at(2, 28), _at(3, 4), _at(3, 3)],
            "merchant_id": ["m1", "m2", "m1", "m2", "m1"],
            "price": [100.0, 40.0, 30.0, 50.0, 80.0],
            "quantity": pl.Series([1, 1, 1, 1, 1], dtype=pl.Int32),
        },
        schema_overrides={"ts": stamp},
    )
    holdout = pl.DataFrame(
        {"user_id": ["h1", "h2"], "ts": [_at(3, 1), _at(3, 2)], "trigger_kind": ["behaviour", "time"]},
        schema_overrides={"ts": stamp},
    )
    items = pl.DataFrame({"item_id": ["i1", "i2", "i3"], "merchant_id": ["m1", "m2", "m2"]})
    return BusinessLog(purchases=purchases, items=items, decisions=decisions, holdout=holdout)
