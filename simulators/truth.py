r"""The counterfactual truth of a simulated log: what each action would have earned in each round.

The simulator's truth frame holds, per decision, two kinds of truth:

- ``q_<action>``: the expected net reward of each action *as the decision is taken* (the response model of
  :mod:`simulators.offers`: open, purchase, margin after the offer's cost), for a message that is delivered
  about an item that is still in stock. It is what an all-knowing policy could know when it decides: the
  oracle (:class:`simulators.oracle.OraclePolicy`) takes its argmax;
- the facts :data:`~features.schemas.TRUTH_FACTS` that only the rest of the date settles: ``in_stock`` (would this
  round's purchase, if it wanted one, find the item in stock?) and ``deliverable`` (does consent still hold at the
  send time?).

:func:`expected_rewards` combines them into ``mu``, the expected reward of each action on the log: the value
every policy's accounting uses (the simulation summary, the off-policy study, the demo's true values).

Notes
-----
A purchase goes through only if stock allows: the date's purchase attempts (decided rounds and the holdout's
moments alike) are served first come, first served by when they would happen
(:func:`simulators.behaviour.finds_stock`). A round's delay to purchase is drawn whatever its action, so the other
rounds' attempts, as they happened, and its own delay fix ``in_stock``. A message goes out only if the guardrails
still allow it at the send time and no earlier message of the date made the user unsubscribe from its channel;
that is ``deliverable``, the same for every offer. Neither fact depends on the round's own action, so for round
``i`` with every other round as logged,

.. math::

    \mu_i(a) = \mathrm{in\_stock}_i \cdot
        \begin{cases}
            q_i(a) & \text{if } a = \text{no\_offer} \text{ or round } i \text{ is deliverable}, \\
            q_i(\text{no\_offer}) & \text{otherwise (an undelivered offer is no message)},
        \end{cases}

and NaN where ``a`` is ineligible. The realised reward of the logged action has expectation ``mu_i(a_i)``: a round
whose item is gone earns exactly zero. ``q`` alone overstates every policy's value by the stock-outs: under uniform
logging at full size (20,000 users x 30 days), 10% (``default``) to 23% (``cold-start``) of rounds are about an
item a purchase would not get, and ``q`` of the logged actions exceeds their ``mu`` by 10% to 24%. Because both
facts scale or flatten all actions of a round alike, the argmax of ``q`` is an argmax of ``mu``: the oracle's
value is ``mean_i max_a mu_i(a)``.

Examples
--------
>>> truth = pl.DataFrame({"q_no_offer": [1.0, 1.0, 1.0], "q_coupon": [2.0, 2.0, 2.0],
...     "q_installment": [3.0, None, 3.0], "q_trust_badge": [None, None, None],
...     "in_stock": [True, False, True], "deliverable": [True, True, False]})
>>> expected_rewards(truth)
array([[ 1.,  2.,  3., nan],
       [ 0.,  0., nan, nan],
       [ 1.,  1.,  1., nan]])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from features.schemas import ACTIONS, TRUTH_FACTS

#: The columns :func:`expected_rewards` reads: the decision-time expected rewards and the facts.
TRUTH_COLUMNS: tuple[str, ...] = (*(f"q_{a}" for a in ACTIONS), *TRUTH_FACTS)


def expected_rewards(truth: pl.DataFrame) -> np.ndarray:
    """Return the ``(n, k)`` expected reward ``mu`` of every action in every row of a truth frame.

    The frame may be a log joined with one. ``mu`` is given the row's stock and delivery; NaN where the action is
    ineligible. See the module's Notes.

    Raises
    ------
    ValueError
        If a column of :data:`TRUTH_COLUMNS` is missing or a fact is null.

    Examples
    --------
    >>> expected_rewards(pl.DataFrame({"q_no_offer": [0.5]}))
    Traceback (most recent call last):
    ...
    ValueError: truth has no column(s) ['q_coupon', 'q_installment', 'q_trust_badge', 'in_stock', 'deliverable']; \
the simulator records them in SimulationResult.truth
    """
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ValueError(f"truth has no column(s) {missing}; the simulator records them in SimulationResult.truth")
    for fact in TRUTH_FACTS:
        nulls = truth.get_column(fact).is_null()
        if nulls.any():
            raise ValueError(f"truth: column {fact!r} is null in row {int(nulls.arg_true()[0])}")
    q = truth.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(np.float64)
    deliverable = truth.get_column("deliverable").to_numpy().astype(np.bool_)
    in_stock = truth.get_column("in_stock").to_numpy().astype(np.bool_)
    # an undelivered offer earns what no message earns
    mu: npt.NDArray[np.float64] = np.where(deliverable[:, None], q, q[:, :1])
    mu[np.isnan(q)] = np.nan  # ... where it is eligible
    return mu * in_stock[:, None]
