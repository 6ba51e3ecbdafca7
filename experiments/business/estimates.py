"""Every KPI and effect of every slice, with its bootstrap interval, in one pass over the users.

Examples
--------
>>> from experiments.business.toy import TOY_TAKE_RATE, toy_log
>>> from experiments.business.users import cells_of, user_measures
>>> table = user_measures(toy_log())
>>> cells = estimate_cells(table, cells_of(table), TOY_TAKE_RATE, n_bootstrap=200, seed=0)
>>> overall = cells[0]
>>> overall.n_treated, overall.n_holdout, round(overall.kpis["conversion_rate"].incremental.value, 4)
(3, 2, 0.1667)
>>> round(overall.effects["acquisition_cost"].value, 6), overall.effects["attributed_orders"].value
(22.0, 2.0)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from experiments.business.base import CellReport, Estimate, KpiFigures
from experiments.business.bootstrap import percentile_interval, resampled_sums
from experiments.business.kpis import EFFECTS, KPIS, Sums
from experiments.business.users import GROUPS, MEASURES, Cell, group_matrix


def estimate_cells(
    table: pl.DataFrame,
    cells: list[Cell],
    take_rate: float,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[CellReport]:
    """Return the figures of each of ``cells`` from a :func:`~experiments.business.users.user_measures` table.

    Parameters
    ----------
    table
        Per-user sums of both groups.
    cells
        The slices to report, in order.
    take_rate
        The platform's share of revenue (for the contribution).
    n_bootstrap, alpha, seed
        Resamples, one minus the interval's coverage, and the seed of the resampling.

    Returns
    -------
    list[CellReport]
        One per cell, in the order of ``cells``.

    Notes
    -----
    Users are resampled with replacement within each group (a stratified, clustered bootstrap: the group sizes
    stay fixed, and each user's sums move together); the two groups draw from independent seed sequences spawned
    from ``seed``. Every slice and KPI shares the group's resamples. For resample ``b`` a KPI is
    ``f(S_b)`` of the group's resampled sums ``S_b``; the incremental figure is
    ``f(S_b^treated) - f(S_b^holdout)``; an effect ``g(S_b^treated, S_b^holdout)``. The interval holds the
    ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the resampled figures
    (:func:`~experiments.business.bootstrap.percentile_interval`), the value is the figure of the observed sums.
    A slice without holdout users has no holdout or incremental figures (``nan``).
    """
    if not 0 <= take_rate <= 1:
        raise ValueError(f"take_rate must lie in [0, 1]; got {take_rate!r}")
    generators = dict(zip(GROUPS, np.random.SeedSequence(seed).spawn(len(GROUPS)), strict=True))
    observed: dict[str, Sums] = {}
    resampled: dict[str, Sums] = {}
    for group in GROUPS:
        values = group_matrix(table, group, cells)
        n_users = values.shape[0]
        if n_users == 0:
            raise ValueError(f"no {group} users in the log: the report compares treated users with the holdout")
        flat = values.reshape(n_users, len(cells) * len(MEASURES))
        boot = resampled_sums(flat, n_bootstrap, generators[group]).reshape(n_bootstrap, len(cells), len(MEASURES))
        total = values.sum(axis=0)
        observed[group] = {m: total[:, i] for i, m in enumerate(MEASURES)}
        resampled[group] = {m: boot[:, :, i] for i, m in enumerate(MEASURES)}
    treated, holdout = observed["treated"], observed["holdout"]
    t_boot, h_boot = resampled["treated"], resampled["holdout"]

    def estimates(value: np.ndarray, boot: np.ndarray) -> list[Estimate]:
        low, high = percentile_interval(boot, alpha)
        return [Estimate(float(v), float(lo), float(hi)) for v, lo, hi in zip(value, low, high, strict=True)]

    undefined = [Estimate(np.nan, np.nan, np.nan)] * len(cells)
    kpis: dict[str, list[KpiFigures]] = {}
    for kpi in KPIS:
        t_value, t_boot_value = kpi.of(treated, take_rate), kpi.of(t_boot, take_rate)
        h_value, h_boot_value = kpi.of(holdout, take_rate), kpi.of(h_boot, take_rate)
        on_treated = estimates(t_value, t_boot_value)
        if kpi.treated_only:
            on_holdout, incremental = undefined, undefined
        else:
            on_holdout = estimates(h_value, h_boot_value)
            incremental = estimates(t_value - h_value, t_boot_value - h_boot_value)
        kpis[kpi.name] = [KpiFigures(*f) for f in zip(on_treated, on_holdout, incremental, strict=True)]
    effects = {e.name: estimates(e.of(treated, holdout, take_rate), e.of(t_boot, h_boot, take_rate)) for e in EFFECTS}
    return [
        CellReport(
            name=cell.name,
            n_treated=int(treated["users"][i]),
            n_holdout=int(holdout["users"][i]),
            kpis={name: figures[i] for name, figures in kpis.items()},
            effects={name: figures[i] for name, figures in effects.items()},
        )
        for i, cell in enumerate(cells)
    ]
