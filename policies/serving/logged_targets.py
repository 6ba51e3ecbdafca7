"""A model version's serving-time probabilities out of the decision log, for off-policy evaluation.

Under a traffic split or in shadow mode (:mod:`policies.serving.live_models`) each logged round holds the acting
model's probabilities and, in shadow mode, the other model's; :func:`policy_target_table` gathers one version's
into the ``p_<action>`` table ``offerlab ope --target-probs`` reads.
"""

from __future__ import annotations

import polars as pl

from features.schemas import ACTIONS


def policy_target_table(log: pl.DataFrame, policy_version: str) -> pl.DataFrame:
    """Return the probabilities ``policy_version`` gave on every round of a decision log, as a ``p_<action>`` table.

    The table is row-aligned with the log, as ``offerlab ope --target-probs`` reads it.

    A round's probabilities come from ``probabilities`` where the version acted (``policy_version``), from
    ``shadow_probabilities`` where it was the shadow (``shadow_policy_version``). In shadow mode every round
    holds both models, so the champion and the challenger can each be evaluated on the whole log::

        log = load_bandit_log(folder)        # experiments.inputs: decisions joined with their outcomes
        policy_target_table(log, "offer-policy/v7").write_parquet("v7.parquet")
        # offerlab ope --log folder --target-probs v7.parquet

    These are the probabilities computed when serving, on the context as it was then (no re-scoring).

    Raises
    ------
    ValueError
        Naming the first row where the version neither acted nor shadowed.

    Examples
    --------
    >>> log = pl.DataFrame({
    ...     "policy_version": ["m/v1", "m/v2"],
    ...     "probabilities": [[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 1.0, 0.0]],
    ...     "shadow_policy_version": ["m/v2", "m/v1"],
    ...     "shadow_probabilities": [[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]],
    ... })
    >>> policy_target_table(log, "m/v2").rows()
    [(0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0)]
    >>> policy_target_table(log.head(1).drop("shadow_policy_version", "shadow_probabilities"), "m/v2")
    Traceback (most recent call last):
    ...
    ValueError: row 0 of the decision log has no probabilities of m/v2 (it neither acted nor shadowed there)
    """
    for column in ("policy_version", "probabilities"):
        if column not in log.columns:
            raise ValueError(f"the decision log has no {column!r} column")
    acted = pl.when(pl.col("policy_version") == policy_version).then(pl.col("probabilities"))
    if {"shadow_policy_version", "shadow_probabilities"} <= set(log.columns):
        shadowed = pl.col("shadow_policy_version") == policy_version
        chosen = acted.when(shadowed).then(pl.col("shadow_probabilities")).otherwise(None)
    else:
        chosen = acted.otherwise(None)
    probs = log.select(chosen.alias("p")).get_column("p")
    lengths = probs.list.len()
    bad = (lengths.is_null() | (lengths != len(ACTIONS))).arg_true()
    if len(bad):
        raise ValueError(
            f"row {bad[0]} of the decision log has no probabilities of {policy_version} "
            "(it neither acted nor shadowed there)"
        )
    return pl.DataFrame({f"p_{a}": probs.list.get(i).cast(pl.Float64) for i, a in enumerate(ACTIONS)})
