"""Turning a simulation's arrays into contract frames (events, decisions, outcomes, truth, holdout), a day at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS, DECISIONS, DELIVERY_OUTCOMES, EVENTS, OUTCOMES, TRUTH, TRUTH_FACTS, schema_of
from policies.base import Feedback, Policy, eligible_patterns
from simulators.behaviour import EventBatch

if TYPE_CHECKING:
    from simulators.marketplace import SimulationSession
    from simulators.world import World

#: Outcome columns beyond the contract: what delivery did (observable by the platform).
OUTCOME_EXTRAS = dict.fromkeys(DELIVERY_OUTCOMES, pl.Boolean)
#: Truth columns beyond the expected rewards: the open probability as sent, and had it been sent at a random hour;
#: whether a purchase would find the item in stock, and whether a message would be delivered
#: (:mod:`simulators.truth`).
TRUTH_EXTRAS = {"p_open": pl.Float64, "p_open_random_hour": pl.Float64, **dict.fromkeys(TRUTH_FACTS, pl.Boolean)}

HOLDOUT = schema_of(
    {
        "user_id": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "trigger": pl.String,
        "trigger_kind": pl.String,
        "converted": pl.Boolean,
        "p_unprompted": pl.Float64,
    }
)


def decision_ids(day: int, n: int) -> pl.Series:
    """Return the ids of a date's ``n`` decisions, numbered in order.

    Examples
    --------
    >>> decision_ids(3, 2).to_list()
    ['d0003-000000', 'd0003-000001']
    """
    numbers = pl.Series(np.arange(n), dtype=pl.Int64).cast(pl.String).str.zfill(6)
    return (f"d{day:04d}-" + numbers).alias("decision_id")


def decision_frame(
    ids: pl.Series,
    kept: pl.DataFrame,
    contexts: pl.DataFrame,
    eligible: np.ndarray,
    chosen: np.ndarray,
    propensity: np.ndarray,
    probs: np.ndarray,
    policy: Policy,
) -> pl.DataFrame:
    """Build the decision log of a date: the contract's columns, the item, why the moment fired, and the context."""
    n = len(ids)
    codes, patterns = eligible_patterns(eligible)  # the rows share a few patterns
    names = pl.Series([[ACTIONS[a] for a in pattern] for pattern in patterns], dtype=pl.List(pl.String))
    meta = pl.DataFrame(
        {
            "decision_id": ids,
            "ts": kept.get_column("ts"),
            "user_id": kept.get_column("user_id"),
            "item_id": kept.get_column("item_id"),
            "moment_id": kept.get_column("moment_id"),
            "reason": kept.get_column("reason"),
            "actions": names.gather(codes),
            "action": pl.Series(ACTIONS, dtype=pl.String).gather(chosen),
            "propensity": pl.Series(propensity, dtype=pl.Float64),
            "probabilities": pl.Series(probs.reshape(n, len(ACTIONS)), dtype=pl.Array(pl.Float64, len(ACTIONS))).cast(
                pl.List(pl.Float64)
            ),
            "policy_version": pl.repeat(getattr(policy, "name", "unknown"), n, dtype=pl.String, eager=True),
            "send_at": kept.get_column("send_at"),
        }
    )
    frame = pl.concat([meta, contexts.select(CONTEXT.names())], how="horizontal")
    leading = [c for c in DECISIONS.names() if c in frame.columns]
    extras = ["item_id", "moment_id", "reason"]
    return frame.select([*leading, *extras, *[c for c in CONTEXT.names() if c not in DECISIONS]]).cast(
        {k: v for k, v in DECISIONS.items() if k in frame.columns}
    )


def outcome_frame(
    ids: pl.Series,
    converted: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
    reward: np.ndarray,
    opened: np.ndarray,
    returned: np.ndarray,
    delivered: np.ndarray,
) -> pl.DataFrame:
    """Build the outcomes of a date's decisions: the contract's columns and what delivery did."""
    return pl.DataFrame(
        {
            "decision_id": ids,
            "converted": converted,
            "revenue": revenue,
            "offer_cost": cost,
            "reward": reward,
            "opened": opened,
            "returned": returned,
            "delivered": delivered,
        },
        schema={**OUTCOMES, **OUTCOME_EXTRAS},
    )


def truth_frame(
    ids: pl.Series,
    truth: np.ndarray,
    p_open: np.ndarray,
    p_random_hour: np.ndarray,
    in_stock: np.ndarray,
    deliverable: np.ndarray,
) -> pl.DataFrame:
    """Build the truth of a date's decisions.

    Each action's decision-time expected reward (null where ineligible), the open probabilities, and the facts
    :func:`simulators.truth.expected_rewards` needs.
    """
    return pl.DataFrame(
        {
            "decision_id": ids,
            **{f"q_{a}": truth[:, i] for i, a in enumerate(ACTIONS)},
            "p_open": p_open,
            "p_open_random_hour": p_random_hour,
            "in_stock": in_stock,
            "deliverable": deliverable,
        },
        schema={**TRUTH, **TRUTH_EXTRAS},
    ).fill_nan(None)


def holdout_frame(held: pl.DataFrame, converted: np.ndarray, p: np.ndarray) -> pl.DataFrame:
    """Build the holdout's moments (kept by every guardrail but the holdout), and whether they converted anyway."""
    return pl.DataFrame(
        {
            "user_id": held.get_column("user_id"),
            "ts": held.get_column("send_at"),
            "trigger": held.get_column("trigger"),
            "trigger_kind": held.get_column("trigger_kind"),
            "converted": converted,
            "p_unprompted": p,
        },
        schema=HOLDOUT,
    )


class WorldIds:
    """The world's user, item and merchant ids as polars Series, built once (items extended as listings arrive).

    A batch of events gathers its ids from them instead of making a Python string per event.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> from simulators.world import World
    >>> world = World.create(load_scenario("default").with_size(n_users=50), np.random.default_rng(0))
    >>> ids = WorldIds(world)
    >>> ids.users.gather([0, 2]).to_list(), ids.items().len() == world.items.n
    (['u0000000', 'u0000002'], True)
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.users = pl.Series(world.users.ids.tolist(), dtype=pl.String)
        self.merchants = pl.Series([f"m{m:05d}" for m in range(world.scenario.n_merchants)], dtype=pl.String)
        self._items = pl.Series([], dtype=pl.String)

    def items(self) -> pl.Series:
        """Return every item id listed so far."""
        known, ids = self._items.len(), self.world.items.ids
        if known < len(ids):
            self._items = pl.concat([self._items, pl.Series(ids[known:], dtype=pl.String)], rechunk=True)
        return self._items


def _nulls(n: int) -> pl.Series:
    return pl.Series(dtype=pl.String).extend_constant(None, n)


def _names(parts: list[np.ndarray | None], lengths: list[int]) -> pl.Series:
    """Join the parts' names (object arrays, or ``None`` for a part without any) into one String column.

    A run of parts without names becomes one run of nulls.

    Examples
    --------
    >>> _names([None, np.array(["email", None], dtype=object), None, None], [1, 2, 1, 2]).to_list()
    [None, 'email', None, None, None, None]
    """
    pieces, missing = [], 0
    for part, n in zip(parts, lengths, strict=True):
        if part is None:
            missing += n
            continue
        if missing:
            pieces.append(_nulls(missing))
            missing = 0
        pieces.append(pl.Series(part.tolist(), dtype=pl.String))
    if missing or not pieces:
        pieces.append(_nulls(missing))
    return pieces[0] if len(pieces) == 1 else pl.concat(pieces, rechunk=True)


def event_ids(first: int, n: int) -> pl.Series:
    """Return ``n`` event ids numbered from ``first``.

    An id is ``e`` and the number in ten digits, padded to eleven characters (a longer number is left as it is).

    Examples
    --------
    >>> event_ids(7, 2).to_list(), event_ids(9_999_999_999, 2).to_list()
    (['e0000000007', 'e0000000008'], ['e9999999999', '10000000000'])
    """
    numbers = pl.Series(first + np.arange(n), dtype=pl.Int64)
    if first >= 0 and first + n <= 10**10:  # a leading 1 on top of ten digits, swapped for the e: no padding
        return (numbers + 10**10).cast(pl.String).str.replace("1", "e", literal=True, n=1)
    return numbers.cast(pl.String).str.zfill(10).str.pad_start(11, "e")


def batch_frame(session: SimulationSession, e: EventBatch, first_id: int) -> pl.DataFrame:
    """Build the contract frame of a batch of the world's events, ids numbered from ``first_id`` in its order."""
    world, ids = session.world, session.ids
    lengths = [len(ts) for ts in e.ts]
    ts = np.concatenate(e.ts) if e.ts else np.empty(0, dtype=np.int64)
    users = np.concatenate(e.user) if e.user else np.empty(0, dtype=np.int64)
    no_item = [np.full(n, -1, dtype=np.int64) if i is None else i for i, n in zip(e.item, lengths, strict=True)]
    item = np.concatenate(no_item) if no_item else np.empty(0, dtype=np.int64)
    safe = np.maximum(item, 0)
    # each part of a batch holds one kind of event (EventBatch.add): the kinds' names, repeated
    kinds = pl.Series(e.kind, dtype=pl.String).gather(np.repeat(np.arange(len(lengths)), lengths))
    with_item = pl.col("__has_item")
    frame = pl.DataFrame(
        {
            "event_id": event_ids(first_id, len(ts)),
            "ts": session.timestamps(ts),
            "user_id": ids.users.gather(users),
            "type": kinds,
            "item_id": ids.items().gather(safe),
            "merchant_id": ids.merchants.gather(world.items.merchant[safe]),
            "price": pl.Series(world.items.price[safe], dtype=pl.Float64),
            "quantity": kinds.is_in(["purchase", "cart_add"]).cast(pl.Int32),
            "channel": _names(e.channel, lengths),
            "offer": _names(e.offer, lengths),
            "__has_item": item >= 0,
        }
    ).with_columns(pl.when(with_item).then(pl.col(c)).alias(c) for c in ("item_id", "merchant_id", "price"))
    return frame.drop("__has_item").cast(EVENTS)


@dataclass(frozen=True)
class DayBatch:
    """What one simulated date handed to the policy and what came of it."""

    day: int
    decisions: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame
    holdout: pl.DataFrame
    suppressions: pl.DataFrame
    feedback: Feedback
