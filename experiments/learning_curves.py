r"""Learning curves: how a policy's value grows, date by date, against the oracle and the best fixed action.

The one definition of a simulated learning curve in offerlab. :func:`learning_curve` runs the marketplace simulator one
date at a time, as :meth:`simulators.marketplace.MarketplaceSimulator.run` does (the policy decides the date,
then learns from its feedback), and measures each date's decisions against the truth
(:func:`simulators.truth.expected_rewards`). :func:`final_summary` is a curve's headline and
:func:`plot_learning_curves` draws curves side by side. The curve of a logged policy, where no truth exists, is
:func:`experiments.progressive_validation.progressive_validation`;
:func:`experiments.curve_logging.log_learning_curve` puts either kind in the active MLflow run.

Notes
-----
On date :math:`t` with :math:`n_t` decisions, :math:`\mu_i(a)` the expected net reward of action :math:`a` in
decision :math:`i` (NaN where ineligible) and :math:`a_i` the action the policy took:

.. math::

    \text{value}_t = \frac{1}{n_t} \sum_{i \in t} \mu_i(a_i), \qquad
    \text{oracle}_t = \frac{1}{n_t} \sum_{i \in t} \max_a \mu_i(a), \qquad
    \text{fixed}_t(a) = \frac{1}{n_t} \sum_{i \in t} \tilde\mu_i(a),

where :math:`\tilde\mu_i(a)` is :math:`\mu_i(a)` if :math:`a` is eligible, else :math:`\mu_i(\text{no\_offer})`
(a fixed action sends nothing where it may not be sent). The best fixed action :math:`a^*` is chosen **once, in
hindsight, over the whole run**: :math:`a^* = \arg\max_a \sum_t n_t\, \text{fixed}_t(a)`, the action of
:meth:`simulators.base.SimulationResult.summary`'s ``best_fixed_value``; ``best_fixed`` is
:math:`\text{fixed}_t(a^*)`, and every ``fixed_<action>`` column is there for another choice. The cumulative
columns are running sums of the dates' totals (:math:`n_t` times the per-decision figure), in the reward's
currency; ``regret`` is :math:`\text{oracle}_t - \text{value}_t`. The captured share of the oracle's margin
over the best fixed action is

.. math::

    \text{captured} = \frac{V - B}{O - B},

with :math:`V, B, O` the policy's, the best fixed action's and the oracle's totals: per date (``captured_share``)
or over the dates so far (``cumulative_captured_share``); 1 is the oracle, 0 the best fixed action, below 0
worse than it. At the last date, ``cumulative_value / cumulative_decisions`` is the summary's
``policy_expected_value`` (likewise ``best_fixed`` and ``oracle``). The value is that of the action taken, not
of the policy's probabilities, so it carries the noise of the draw, as the summary's does.

Examples
--------
>>> from simulators.scenario import load_scenario
>>> curve = learning_curve(load_scenario("default").with_size(n_users=300, days=3), "uniform", seed=1)
>>> curve.select("day", "decisions").rows()
[(0, 78), (1, 54), (2, 54)]
>>> bool((curve["oracle"] >= curve["value"]).all())
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.schemas import ACTIONS
from policies.base import BasePolicy
from simulators.frames import DayBatch
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import Scenario
from simulators.truth import expected_rewards

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The columns of a simulated learning curve, in order (``fixed_<action>`` and ``share_<action>`` per action).
CURVE_COLUMNS: tuple[str, ...] = (
    "day",
    "date",
    "decisions",
    "value",
    "best_fixed_action",
    "best_fixed",
    "oracle",
    "regret",
    "captured_share",
    "cumulative_decisions",
    "cumulative_value",
    "cumulative_best_fixed",
    "cumulative_oracle",
    "cumulative_regret",
    "cumulative_captured_share",
    *(f"fixed_{a}" for a in ACTIONS),
    *(f"share_{a}" for a in ACTIONS),
)


def learning_curve(
    scenario: Scenario,
    policy: BasePolicy | str,
    seed: int = 0,
    on_day: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Run ``policy`` in ``scenario``'s simulator, learning online, and measure every date against the truth.

    Parameters
    ----------
    scenario
        The world and its number of days (:meth:`~simulators.scenario.Scenario.with_size` to change them).
    policy
        A policy object (it learns in place, so it is the trained policy afterwards) or a name that
        :func:`experiments.jobs.simulation_policy` knows (``"vw"``, ``"oracle"``, ``"coupon"``...), built with
        ``seed``.
    seed
        The simulation's one seed.
    on_day
        Called with each date's index once the policy has learned from it (a progress bar's hook).

    Returns
    -------
    polars.DataFrame
        One row per date, the columns of :data:`CURVE_COLUMNS` (see the module's Notes).

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> from policies.bandits.baselines import UniformRandom
    >>> curve = learning_curve(load_scenario("default").with_size(n_users=300, days=2), UniformRandom(), seed=3)
    >>> curve.columns[:5]
    ['day', 'date', 'decisions', 'value', 'best_fixed_action']
    >>> bool((curve["cumulative_oracle"] >= curve["cumulative_value"]).all())
    True
    """
    if isinstance(policy, str):
        from experiments.jobs import simulation_policy

        policy = simulation_policy(policy, seed)
    session = MarketplaceSimulator(scenario).start(seed)
    first = session.origin.date()
    batches = []
    for day in range(scenario.days):
        batch = session.step(policy)
        if batch.feedback.n_rounds:
            policy.learn(batch.feedback)
        batches.append(batch)
        if on_day is not None:
            on_day(day)
    return curve_from_batches(batches, first)


def curve_from_batches(batches: Sequence[DayBatch], first_date: date) -> pl.DataFrame:
    """Build the learning curve of simulated dates already run (``first_date`` is day 0's date).

    Examples
    --------
    >>> curve_from_batches([], date(2026, 3, 2)).height
    0
    """
    rows = [_day_figures(batch) for batch in batches]
    days = pl.DataFrame(
        {
            "day": pl.Series([b.day for b in batches], dtype=pl.Int64),
            "date": pl.Series([first_date + timedelta(days=b.day) for b in batches], dtype=pl.Date),
            "decisions": pl.Series([r[0] for r in rows], dtype=pl.Int64),
        }
    )
    k = len(ACTIONS)
    totals = np.array([r[1] for r in rows]).reshape(len(rows), 2 + 2 * k)  # value, oracle, fixed..., counts...
    return _with_cumulative(days, totals)


def _day_figures(batch: DayBatch) -> tuple[int, list[float]]:
    """Return a date's count and totals: the policy's, the oracle's, each fixed action's, each action's count."""
    n = batch.feedback.n_rounds
    k = len(ACTIONS)
    if not n:
        return 0, [0.0] * (2 + 2 * k)
    mu = expected_rewards(batch.truth)
    chosen = batch.feedback.chosen
    fixed = np.where(np.isnan(mu), mu[:, :1], mu).sum(axis=0)
    counts = np.bincount(chosen, minlength=k)
    return n, [float(mu[np.arange(n), chosen].sum()), float(np.nanmax(mu, axis=1).sum()), *fixed, *counts]


def _with_cumulative(days: pl.DataFrame, totals: np.ndarray) -> pl.DataFrame:
    """Per-decision and cumulative figures from each date's totals (the module's Notes)."""
    k = len(ACTIONS)
    n = days.get_column("decisions").to_numpy().astype(float)
    value, oracle, fixed, counts = totals[:, 0], totals[:, 1], totals[:, 2 : 2 + k], totals[:, 2 + k :]
    best = int(np.argmax(fixed.sum(axis=0))) if len(totals) else 0
    best_fixed = fixed[:, best]
    per = np.where(n > 0, n, np.nan)
    cumulative = {
        "value": np.cumsum(value),
        "best_fixed": np.cumsum(best_fixed),
        "oracle": np.cumsum(oracle),
    }
    return days.with_columns(
        value=pl.Series(value / per),
        best_fixed_action=pl.lit(ACTIONS[best]),
        best_fixed=pl.Series(best_fixed / per),
        oracle=pl.Series(oracle / per),
        regret=pl.Series((oracle - value) / per),
        captured_share=pl.Series(captured_share(value, best_fixed, oracle)),
        cumulative_decisions=pl.Series(np.cumsum(n).astype(np.int64)),
        cumulative_value=pl.Series(cumulative["value"]),
        cumulative_best_fixed=pl.Series(cumulative["best_fixed"]),
        cumulative_oracle=pl.Series(cumulative["oracle"]),
        cumulative_regret=pl.Series(cumulative["oracle"] - cumulative["value"]),
        cumulative_captured_share=pl.Series(
            captured_share(cumulative["value"], cumulative["best_fixed"], cumulative["oracle"])
        ),
        **{f"fixed_{a}": pl.Series(fixed[:, i] / per) for i, a in enumerate(ACTIONS)},
        **{f"share_{a}": pl.Series(counts[:, i] / per) for i, a in enumerate(ACTIONS)},
    ).fill_nan(None)


def captured_share(value: np.ndarray, best_fixed: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """``(value - best_fixed) / (oracle - best_fixed)``, NaN where the oracle has no margin over the best fixed.

    Examples
    --------
    >>> captured_share(np.array([8.0, 5.0]), np.array([5.0, 5.0]), np.array([9.0, 5.0]))
    array([0.75,  nan])
    """
    margin = np.asarray(oracle, dtype=float) - np.asarray(best_fixed, dtype=float)
    gained = np.asarray(value, dtype=float) - np.asarray(best_fixed, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(margin > 1e-12, gained / np.where(margin > 1e-12, margin, 1.0), np.nan)


def final_summary(curve: pl.DataFrame) -> dict[str, float | str]:
    """Return the run's headline figures from a curve's last row.

    Per-decision values over the whole run, as :meth:`simulators.base.SimulationResult.summary` names them, and
    the captured share.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> curve = learning_curve(load_scenario("default").with_size(n_users=300, days=2), "coupon", seed=3)
    >>> summary = final_summary(curve)
    >>> summary["policy_expected_value"] <= summary["oracle_value"], sorted(summary)[:2]
    (True, ['best_fixed_action', 'best_fixed_value'])
    """
    if not curve.height:
        raise ValueError("the learning curve has no dates")
    last = curve.row(-1, named=True)
    n = max(int(last["cumulative_decisions"]), 1)
    share = last["cumulative_captured_share"]
    return {
        "n_decisions": int(last["cumulative_decisions"]),
        "policy_expected_value": float(last["cumulative_value"]) / n,
        "best_fixed_action": str(last["best_fixed_action"]),
        "best_fixed_value": float(last["cumulative_best_fixed"]) / n,
        "oracle_value": float(last["cumulative_oracle"]) / n,
        "cumulative_regret": float(last["cumulative_regret"]),
        "captured_share": float("nan") if share is None else float(share),
    }


def plot_learning_curves(curves: Mapping[str, pl.DataFrame] | pl.DataFrame) -> Figure:
    """Cumulative regret (left) and each date's value against the oracle's (right), of one or many policies.

    Each run meets its own decisions (a policy changes who buys and who is messaged next), so each curve has its
    own oracle, drawn dashed in the curve's colour.

    Examples
    --------
    >>> curve = pl.DataFrame({"day": [0, 1], "value": [1.0, 2.0], "oracle": [3.0, 3.0],
    ...     "cumulative_regret": [200.0, 300.0]})
    >>> figure = plot_learning_curves({"vw": curve, "uniform": curve})
    >>> [axis.get_title() for axis in figure.axes]
    ['cumulative regret against the oracle', 'value per decision']
    """
    from matplotlib.figure import Figure

    named = {"policy": curves} if isinstance(curves, pl.DataFrame) else dict(curves)
    figure = Figure(figsize=(11, 4), layout="constrained")
    regret, value = figure.subplots(1, 2)
    for label, curve in named.items():
        days = curve.get_column("day").to_numpy()
        regret.plot(days, curve.get_column("cumulative_regret").to_numpy(), label=label)
        (line,) = value.plot(days, curve.get_column("value").to_numpy(), label=label)
        oracle_label = "oracle" if len(named) == 1 else f"oracle ({label}'s decisions)"
        value.plot(days, curve.get_column("oracle").to_numpy(), "--", color=line.get_color(), label=oracle_label)
    regret.set(title="cumulative regret against the oracle", xlabel="day", ylabel="net reward lost")
    value.set(title="value per decision", xlabel="day", ylabel="expected net reward")
    value.legend()
    return figure
