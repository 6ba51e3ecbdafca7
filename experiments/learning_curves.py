r"""Learning curves: how a policy's value grows, date by date, against the oracle and the best fixed action.

The one definition of a learning curve in offerlab. :func:`learning_curve` runs the marketplace simulator one
date at a time, as :meth:`simulators.marketplace.MarketplaceSimulator.run` does (the policy decides the date,
then learns from its feedback), and measures each date's decisions against the truth
(:func:`simulators.truth.expected_rewards`). :func:`progressive_validation` is the curve of a logged policy,
where no truth exists: each chunk of the log, in time order, is first judged off-policy, then learned.
:func:`log_learning_curve` puts a curve in the active MLflow run; :func:`plot_learning_curves` draws curves side
by side.

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

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.schemas import ACTIONS
from policies.base import BasePolicy, Feedback
from simulators.marketplace import DayBatch, MarketplaceSimulator
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
    """The learning curve of simulated dates already run (``first_date`` is day 0's date).

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
    """A date's count and totals: the policy's, the oracle's, each fixed action's, each action's count."""
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
    """The run's headline figures from a curve's last row: per-decision values over the whole run, as
    :meth:`simulators.base.SimulationResult.summary` names them, and the captured share.

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


def progressive_validation(
    feedback: Feedback,
    policy: BasePolicy,
    chunks: int = 10,
    estimator: str = "snips",
    on_chunk: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """The learning curve of a log: each chunk, in order, judged off-policy *before* the policy learns it.

    Parameters
    ----------
    feedback
        The logged rounds, in time order (sort the log by its ``ts`` first).
    policy
        The policy to train; it learns every chunk in turn, so it has learned the whole log afterwards.
    chunks
        How many chunks of (nearly) equal size the log is cut into (at most one per round).
    estimator
        An off-policy estimator of :data:`experiments.ope.ESTIMATORS` (``snips``, ``dr``...); those that need a
        reward model cross-fit one on each chunk (:func:`experiments.offline_evaluation.evaluate_target`).
    on_chunk
        Called with each chunk's index once the policy has learned it.

    Returns
    -------
    polars.DataFrame
        One row per chunk: ``chunk``, ``step`` (rounds learned before it), ``rounds``, ``value`` (the
        estimate of the policy's value per round on the chunk) with ``ci_low`` and ``ci_high`` (normal
        interval), ``logged_value`` (the chunk's mean reward under the logging policy), ``lift`` (value minus
        logged value, paired) with ``lift_ci_low`` and ``lift_ci_high``, and ``cumulative_rounds`` (rounds
        learned after it).

    Examples
    --------
    >>> from experiments.ope.toy import toy_log
    >>> from policies.bandits.baselines import UniformRandom
    >>> log = toy_log()
    >>> progressive_validation(log.feedback, UniformRandom(), chunks=2).select("chunk", "step", "rounds").rows()
    [(0, 0, 2), (1, 2, 2)]
    """
    from experiments.offline_evaluation import check_estimator_names, evaluate_target

    (name,) = check_estimator_names([estimator])
    n = feedback.n_rounds
    if n == 0:
        raise ValueError("progressive validation needs a log with at least one round")
    if chunks < 1:
        raise ValueError(f"chunks must be at least 1; got {chunks}")
    bounds = np.linspace(0, n, min(chunks, n) + 1).round().astype(int)
    rows = []
    for index, (start, stop) in enumerate(pairwise(bounds)):
        part = rounds_between(feedback, int(start), int(stop))
        probs = policy.probabilities(part.contexts, part.actions, part.eligible)
        judged = evaluate_target(part, probs, (name,), interval="normal", seed=index)
        result, lift = judged.estimates[0], judged.lift[name]
        rows.append(
            {
                "chunk": index,
                "step": int(start),
                "rounds": int(stop - start),
                "value": result.value,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "logged_value": judged.logged.value,
                "lift": lift.value,
                "lift_ci_low": lift.ci_low,
                "lift_ci_high": lift.ci_high,
                "cumulative_rounds": int(stop),
            }
        )
        policy.learn(part)
        if on_chunk is not None:
            on_chunk(index)
    return pl.DataFrame(rows)


def progressive_summary(curve: pl.DataFrame) -> dict[str, float]:
    """The headline of a progressive-validation curve: the estimated value per round of the policy as it learned,
    and the logging policy's, over every chunk but the first (there the policy had learned nothing yet), each
    chunk weighted by its rounds. Empty with a single chunk.

    Examples
    --------
    >>> curve = pl.DataFrame({"step": [0, 10, 20], "rounds": [10, 10, 30], "value": [0.1, 0.2, 0.4],
    ...     "logged_value": [0.1, 0.1, 0.1]})
    >>> {k: round(v, 3) for k, v in progressive_summary(curve).items()}
    {'progressive_value_mean': 0.35, 'progressive_logged_value_mean': 0.1}
    """
    later = curve.filter(pl.col("step") > 0)
    weights = later.get_column("rounds").to_numpy()
    if not weights.sum():
        return {}
    return {
        "progressive_value_mean": float(np.average(later.get_column("value").to_numpy(), weights=weights)),
        "progressive_logged_value_mean": float(
            np.average(later.get_column("logged_value").to_numpy(), weights=weights)
        ),
    }


def rounds_between(feedback: Feedback, start: int, stop: int) -> Feedback:
    """The rounds ``start`` to ``stop`` (excluded) of ``feedback``.

    Examples
    --------
    >>> from experiments.ope.toy import toy_log
    >>> rounds_between(toy_log().feedback, 1, 3).chosen.tolist()
    [1, 1]
    """
    return Feedback(
        contexts=feedback.contexts.slice(start, stop - start),
        actions=feedback.actions,
        eligible=feedback.eligible[start:stop],
        chosen=feedback.chosen[start:stop],
        rewards=feedback.rewards[start:stop],
        propensities=feedback.propensities[start:stop],
    )


def curve_metrics(curve: pl.DataFrame, step: str = "day", prefix: str = "curve_") -> list[tuple[str, float, int]]:
    """Every finite number of ``curve``'s numeric columns as ``(prefix + column, value, step)``, column by column.

    Examples
    --------
    >>> curve = pl.DataFrame({"chunk": [0, 1], "step": [0, 50], "value": [0.1, None]})
    >>> curve_metrics(curve, step="step")
    [('curve_chunk', 0.0, 0), ('curve_chunk', 1.0, 50), ('curve_value', 0.1, 0)]
    >>> curve_metrics(curve, step="days")
    Traceback (most recent call last):
    ...
    ValueError: the curve has no step column 'days'; columns: ['chunk', 'step', 'value']
    """
    if step not in curve.columns:
        raise ValueError(f"the curve has no step column {step!r}; columns: {curve.columns}")
    steps = [int(at) for at in curve.get_column(step).to_list()]
    numeric = [c for c, t in curve.schema.items() if t.is_numeric() and c != step]
    return [
        (f"{prefix}{column}", float(value), at)
        for column in numeric
        for value, at in zip(curve.get_column(column).to_list(), steps, strict=True)
        if value is not None and np.isfinite(value)
    ]


def log_learning_curve(curve: pl.DataFrame, step: str = "day", prefix: str = "curve_", name: str = "curve") -> None:
    """Log ``curve`` in the active MLflow run: its numbers as step metrics (:func:`curve_metrics`: ``prefix`` +
    column at step ``curve[step]``), the frame as ``<name>.csv`` and, for a simulated curve, the plot of
    :func:`plot_learning_curves` as ``<name>.png``.

    Raises
    ------
    ValueError
        If no MLflow run is active, or ``step`` is not a column.
    """
    import mlflow
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        raise ValueError("log_learning_curve needs an active MLflow run")
    stamp = int(time.time() * 1000)
    metrics = [Metric(key, value, stamp, at) for key, value, at in curve_metrics(curve, step, prefix)]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), 1000):  # the tracking API's limit per batch
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    mlflow.log_text(curve.write_csv(), f"{name}.csv")
    if {"day", "cumulative_regret", "value", "oracle"} <= set(curve.columns):
        mlflow.log_figure(plot_learning_curves(curve), f"{name}.png")


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
