"""Turning a simulation's arrays into contract frames (events, decisions, outcomes, truth, holdout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS, DECISIONS, DELIVERY_OUTCOMES, EVENTS, OUTCOMES, TRUTH, schema_of
from policies.base import Policy
from simulators.behaviour import EventBatch

if TYPE_CHECKING:
    from simulators.marketplace import SimulationSession
    from simulators.world import World

#: Outcome columns beyond the contract: what delivery did (observable by the platform).
OUTCOME_EXTRAS = dict.fromkeys(DELIVERY_OUTCOMES, pl.Boolean)
#: Truth columns beyond the expected rewards: the open probability as sent, and had it been sent at a random hour.
TRUTH_EXTRAS = {"p_open": pl.Float64, "p_open_random_hour": pl.Float64}

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


def decision_frame(
    ids: np.ndarray,
    kept: pl.DataFrame,
    contexts: pl.DataFrame,
    eligible: np.ndarray,
    chosen: np.ndarray,
    propensity: np.ndarray,
    probs: np.ndarray,
    policy: Policy,
) -> pl.DataFrame:
    """The decision log of a date: the contract's columns, the item, why the moment fired, and the context."""
    n = len(ids)
    actions = np.array(ACTIONS, dtype=object)
    mask = (
        pl.DataFrame(eligible, schema=list(ACTIONS), orient="row")
        if n
        else pl.DataFrame(schema=dict.fromkeys(ACTIONS, pl.Boolean))
    )
    eligible_names = mask.select(
        pl.concat_list([pl.when(pl.col(a)).then(pl.lit(a)) for a in ACTIONS]).list.drop_nulls().alias("actions")
    ).to_series()
    meta = pl.DataFrame(
        {
            "decision_id": pl.Series(ids.astype(str), dtype=pl.String),
            "ts": kept.get_column("ts"),
            "user_id": kept.get_column("user_id"),
            "item_id": kept.get_column("item_id"),
            "moment_id": kept.get_column("moment_id"),
            "reason": kept.get_column("reason"),
            "actions": eligible_names,
            "action": pl.Series(actions[chosen].astype(str), dtype=pl.String),
            "propensity": pl.Series(propensity, dtype=pl.Float64),
            "probabilities": pl.Series(probs.reshape(n, len(ACTIONS)), dtype=pl.Array(pl.Float64, len(ACTIONS))).cast(
                pl.List(pl.Float64)
            ),
            "policy_version": pl.Series([getattr(policy, "name", "unknown")] * n, dtype=pl.String),
            "send_at": kept.get_column("send_at"),
        }
    )
    frame = pl.concat([meta, contexts.select(CONTEXT.names())], how="horizontal")
    leading = [c for c in DECISIONS.names() if c in frame.columns]
    extras = ["item_id", "moment_id", "reason"]
    return frame.select([*leading, *extras, *[c for c in CONTEXT.names() if c not in DECISIONS]]).cast(
        {k: v for k, v in DECISIONS.items() if k in frame.columns}  # type: ignore[arg-type]
    )


def outcome_frame(
    ids: np.ndarray,
    converted: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
    reward: np.ndarray,
    opened: np.ndarray,
    returned: np.ndarray,
    delivered: np.ndarray,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "decision_id": ids.astype(str),
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


def truth_frame(ids: np.ndarray, truth: np.ndarray, p_open: np.ndarray, p_random_hour: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "decision_id": ids.astype(str),
            **{f"q_{a}": truth[:, i] for i, a in enumerate(ACTIONS)},
            "p_open": p_open,
            "p_open_random_hour": p_random_hour,
        },
        schema={**TRUTH, **TRUTH_EXTRAS},
    ).fill_nan(None)


def holdout_frame(held: pl.DataFrame, converted: np.ndarray, p: np.ndarray) -> pl.DataFrame:
    """The holdout's moments (kept by every guardrail but the holdout), and whether they converted anyway."""
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
    """The world's user, item and merchant ids as polars Series, built once (items extended as listings arrive),
    so that a batch of events gathers its ids instead of making a Python string per event.

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
        """Every item id listed so far."""
        known, ids = self._items.len(), self.world.items.ids
        if known < len(ids):
            self._items = pl.concat([self._items, pl.Series(ids[known:], dtype=pl.String)], rechunk=True)
        return self._items


def batch_frame(session: SimulationSession, e: EventBatch, first_id: int) -> pl.DataFrame:
    """A batch of the world's events as a contract frame, ids numbered from ``first_id`` in the batch's order."""
    world, ids = session.world, session.ids
    ts = np.concatenate(e.ts) if e.ts else np.empty(0, dtype=np.int64)
    item = np.concatenate(e.item) if e.item else np.empty(0, dtype=np.int64)
    users = np.concatenate(e.user) if e.user else np.empty(0, dtype=np.int64)
    # each part of a batch holds one kind of event (EventBatch.add): the kinds' names, repeated
    kind_of_part = np.repeat(np.arange(len(e.kind)), [len(k) for k in e.kind])
    kinds = pl.Series([str(k[0]) for k in e.kind], dtype=pl.String).gather(kind_of_part)
    has_item = item >= 0
    safe = np.maximum(item, 0)
    mask = pl.Series(has_item)
    frame = pl.DataFrame(
        {
            "event_id": pl.Series(first_id + np.arange(len(ts)), dtype=pl.Int64)
            .cast(pl.String)
            .str.zfill(10)
            .str.pad_start(11, "e"),
            "ts": session.timestamps(ts),
            "user_id": ids.users.gather(users),
            "type": kinds,
            "item_id": ids.items().gather(safe).zip_with(mask, pl.Series([None] * len(ts), dtype=pl.String)),
            "merchant_id": ids.merchants.gather(world.items.merchant[safe]).zip_with(
                mask, pl.Series([None] * len(ts), dtype=pl.String)
            ),
            "price": pl.Series(world.items.price[safe]).zip_with(mask, pl.Series([None] * len(ts), dtype=pl.Float64)),
            "quantity": kinds.is_in(["purchase", "cart_add"]).cast(pl.Int32),
            "channel": pl.Series(np.concatenate(e.channel).tolist() if e.channel else [], dtype=pl.String),
            "offer": pl.Series(np.concatenate(e.offer).tolist() if e.offer else [], dtype=pl.String),
        }
    )
    return frame.cast(dict(EVENTS))  # type: ignore[arg-type]
