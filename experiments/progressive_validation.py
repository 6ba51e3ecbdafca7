r"""Progressive validation: the learning curve of a logged policy, where no truth exists.

:func:`progressive_validation` cuts a log, in time order, into chunks; each chunk is first judged off-policy
(:func:`experiments.offline_evaluation.evaluate_target`) with the policy as it stands, and only then learned,
so every estimate is made on rounds the policy has not seen. :func:`progressive_summary` is the curve's
headline; :func:`rounds_between` takes one chunk out of a log. The simulated curve, measured against the
truth, is :func:`experiments.learning_curves.learning_curve`; :func:`experiments.curve_logging.log_learning_curve`
puts either in an MLflow run.

Notes
-----
A log of :math:`n` rounds is cut into :math:`J = \min(\text{chunks}, n)` chunks at the boundaries
:math:`b_j = \operatorname{round}(j n / J)`, :math:`j = 0, \dots, J`; chunk :math:`j` holds the rounds
:math:`b_j \le i < b_{j+1}`, :math:`n_j = b_{j+1} - b_j` of them (sizes differ by one at most). With
:math:`\pi_j` the policy after learning the rounds before :math:`b_j` (:math:`\pi_0` has learned nothing),
the chunk's row is

.. math::

    \hat V_j = \hat V(\pi_j;\ b_j \le i < b_{j+1}), \qquad
    \bar r_j = \frac{1}{n_j} \sum_{b_j \le i < b_{j+1}} r_i, \qquad
    \text{lift}_j = \hat V_j - \bar r_j,

:math:`\hat V` the chosen estimator's value per round with its normal interval (seeded by :math:`j`), the
lift paired round by round, and :math:`\text{step} = b_j`. The headline weighs the chunks by their rounds and
leaves out the first, where the policy had learned nothing:

.. math::

    \bar V = \frac{\sum_{j \ge 1} n_j \hat V_j}{\sum_{j \ge 1} n_j}, \qquad
    \bar r = \frac{\sum_{j \ge 1} n_j \bar r_j}{\sum_{j \ge 1} n_j}.

Examples
--------
>>> from experiments.ope.toy import toy_log
>>> from policies.bandits.baselines import UniformRandom
>>> curve = progressive_validation(toy_log().feedback, UniformRandom(), chunks=2)
>>> curve.get_column("cumulative_rounds").to_list()
[2, 4]
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import polars as pl

from policies.base import BasePolicy, Feedback


def progressive_validation(
    feedback: Feedback,
    policy: BasePolicy,
    chunks: int = 10,
    estimator: str = "snips",
    on_chunk: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Build the learning curve of a log: each chunk, in order, judged off-policy *before* the policy learns it.

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
    """Return the headline of a progressive-validation curve.

    The estimated value per round of the policy as it learned, and the logging policy's, over every chunk but
    the first (there the policy had learned nothing yet), each chunk weighted by its rounds. Empty with a single
    chunk.

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
    """Return the rounds ``start`` to ``stop`` (excluded) of ``feedback``.

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
