"""Customer-base features from a BG/NBD model fitted on each snapshot's own purchase histories.

They are what the model says of each customer, and the purchase rates it reads. The churn model boosts from the BG/NBD
churn probability (its prior, :data:`PRIOR`) and learns corrections from everything else.

The BG/NBD fit uses no label: only each customer's purchase days before the snapshot (the ``bgnbd_*`` columns
of :func:`features.churn.dataset.churn_dataset`), so the features stay point in time. Fitting per snapshot lets
the prior follow the ageing of a cohort, which trees trained on earlier snapshots cannot extrapolate.

Examples
--------
>>> import numpy as np, polars as pl
>>> from features.churn.baselines import BGNBDParams, simulate_bgnbd
>>> rfm = simulate_bgnbd(BGNBDParams(0.25, 4.0, 0.8, 2.5), T=np.full(3000, 180.0), horizon_days=60, seed=0)
>>> frame = rfm.drop("future_purchases").with_columns(pl.lit(0).alias("snapshot"))
>>> out = with_customer_base(frame, horizon_days=60)
>>> [c for c in CUSTOMER_BASE_FEATURES if c not in out.columns], bool(out[PRIOR].is_between(0, 1).all())
([], True)
"""

from __future__ import annotations

import polars as pl

from features.churn.baselines import BGNBD
from features.churn.columns import BGNBD_COLUMNS, SNAPSHOT

#: The BG/NBD churn probability over the horizon: the churn model's prior.
PRIOR = "cb_p_churn"
CUSTOMER_BASE_FEATURES: tuple[str, ...] = (
    PRIOR,
    "cb_p_alive",
    "cb_expected_purchases",
    "cb_purchase_days_per_day",
    "cb_recency_share",
    "cb_days_since_last_in_gaps",
)


def with_customer_base(frame: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    r"""``frame`` with :data:`CUSTOMER_BASE_FEATURES`, BG/NBD fitted once per snapshot on that snapshot's rows.

    Notes
    -----
    With :math:`x` repeat purchase days, :math:`t_x` the age of the last one and :math:`T` the customer's age
    (days since the first purchase day): the BG/NBD quantities :math:`P(\text{no purchase in } (T, T+h])`,
    :math:`P(\text{alive})` and :math:`E[X(T, T+h]]`, and the rates :math:`x/T`, :math:`t_x/T` and
    :math:`(T - t_x) / (t_x / x)` (days since the last purchase in units of the customer's mean gap; with no
    repeat purchase, the gap is taken as :math:`T`).
    """
    x, t_x, age = (pl.col(c).cast(pl.Float64) for c in BGNBD_COLUMNS)
    parts = []
    for (snapshot,), part in frame.group_by(SNAPSHOT, maintain_order=True):
        try:
            model = BGNBD().fit(part)
        except RuntimeError as error:
            raise ValueError(
                f"snapshot {snapshot}: BG/NBD could not be fitted on its {part.height} customers ({error}); "
                "too few purchase histories for customer-base features"
            ) from error
        parts.append(
            part.with_columns(
                pl.Series(PRIOR, model.predict_proba(part, horizon_days)),
                pl.Series("cb_p_alive", model.probability_alive(part)),
                pl.Series("cb_expected_purchases", model.expected_purchases(part, horizon_days)),
                (x / age.clip(1.0)).alias("cb_purchase_days_per_day"),
                (t_x / age.clip(1.0)).alias("cb_recency_share"),
                ((age - t_x) / pl.when(x > 0).then(t_x / x).otherwise(age).clip(1.0)).alias(
                    "cb_days_since_last_in_gaps"
                ),
            )
        )
    return pl.concat(parts) if parts else frame
