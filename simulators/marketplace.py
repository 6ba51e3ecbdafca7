"""The consignment-marketplace simulator: run a policy day by day and keep the counterfactual truth.

Each day: organic behaviour leaves trigger moments; moments of users who can be
messaged reach the policy, which picks an offer with a known probability; the
outcome is sampled from the true response, and the policy learns from the day's
feedback before the next day (the step API, :class:`SimulationSession`).

Examples
--------
>>> from policies.bandits.baselines import UniformRandom
>>> from simulators.scenario import load_scenario
>>> simulator = MarketplaceSimulator(load_scenario("small").model_copy(update={"n_users": 200}))
>>> result = simulator.run(UniformRandom(), days=3, seed=1)
>>> result.summary()["n_decisions"] == result.decisions.height == result.truth.height
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from features.schemas import ACTIONS, DECISIONS, EVENTS, OUTCOMES, TRUTH
from policies.base import Feedback, Policy, sample_actions
from simulators.base import SimulationResult
from simulators.behaviour import US_PER_DAY, US_PER_HOUR, EventBatch, simulate_day
from simulators.offers import (
    context_features,
    conversion_probabilities,
    eligible_actions,
    expected_rewards,
    observed_signals,
    offer_costs,
    reachable_channel,
)
from simulators.scenario import Scenario
from simulators.world import World

#: Independent random streams of a run, each spawned from the one master seed.
STREAMS = ("world", "signals", "behaviour", "policy", "outcomes")


@dataclass(frozen=True)
class DayBatch:
    """What one simulated day handed to the policy and what came of it."""

    day: int
    decisions: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame
    feedback: Feedback


class MarketplaceSimulator:
    """Simulates the marketplace of a :class:`~simulators.scenario.Scenario`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def start(self, seed: int = 0) -> SimulationSession:
        """A fresh world, seeded; step it one day at a time."""
        return SimulationSession(self.scenario, seed)

    def run(
        self,
        policy: Policy,
        days: int | None = None,
        seed: int = 0,
        on_day: Callable[[int], None] | None = None,
    ) -> SimulationResult:
        """Run ``policy`` for ``days`` (default: the scenario's), learning online from each day's feedback."""
        session = self.start(seed)
        for day in range(self.scenario.days if days is None else days):
            batch = session.step(policy)
            if batch.feedback.n_rounds:
                policy.learn(batch.feedback)
            if on_day is not None:
                on_day(day)
        return session.result()


class SimulationSession:
    """A running simulation: call :meth:`step` once per day, then :meth:`result`."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        streams = dict(zip(STREAMS, np.random.default_rng(seed).spawn(len(STREAMS)), strict=True))
        self.rng = streams
        self.world = World.create(scenario, streams["world"])
        self.signals = observed_signals(self.world, streams["signals"])
        self.day = 0
        self.events = EventBatch()
        self.batches: list[DayBatch] = []
        self.origin = datetime.combine(scenario.start.date(), scenario.start.time(), tzinfo=UTC)

    def step(self, policy: Policy) -> DayBatch:
        """Simulate one day: behaviour, decisions by ``policy``, outcomes. The caller lets the policy learn."""
        world, day = self.world, self.day
        if day > 0 and world.scenario.new_items_per_day:
            world.list_items(world.scenario.new_items_per_day, day, self.rng["world"])
        organic = simulate_day(world, day, self.rng["behaviour"])
        self.events.extend(organic.events)
        m = organic.moments
        channel = reachable_channel(world, m.user, day)
        keep = (channel != None) & (world.items.stock[m.item] > 0)  # noqa: E711 - elementwise on an object array
        users, items, trigger, channel = m.user[keep], m.item[keep], m.trigger[keep], channel[keep]
        ts, hour = m.ts[keep], m.local_hour[keep]
        batch = self._decide(policy, day, users, items, trigger, channel, ts, hour)
        self.batches.append(batch)
        self.day += 1
        return batch

    def _decide(
        self,
        policy: Policy,
        day: int,
        users: np.ndarray,
        items: np.ndarray,
        trigger: np.ndarray,
        channel: np.ndarray,
        ts: np.ndarray,
        hour: np.ndarray,
    ) -> DayBatch:
        world, n = self.world, len(users)
        contexts = context_features(world, self.signals, users, items, trigger, channel, (hour + 1) % 24, day)
        eligible = eligible_actions(world, items)
        # one call for the full probability vector of each decision, then the same sampling as Policy.act
        probs_full = policy.probabilities(contexts, ACTIONS, eligible) if n else np.empty((0, len(ACTIONS)))
        chosen, propensity = sample_actions(probs_full, self.rng["policy"])
        truth = expected_rewards(world, users, items, trigger)
        p_convert = conversion_probabilities(world, users, items, trigger)[np.arange(n), chosen]
        send_at = ts + US_PER_HOUR
        wants = self.rng["outcomes"].random(n) < p_convert
        delay = (
            self.rng["outcomes"].exponential(1.5, n).clip(0, world.scenario.attribution_days - 0.01) * US_PER_DAY
        ).astype(np.int64)
        converted = np.zeros(n, dtype=bool)
        stock = world.items.stock
        for index in np.flatnonzero(wants)[np.argsort(delay[wants], kind="stable")]:
            if stock[items[index]] > 0:
                stock[items[index]] -= 1
                converted[index] = True
        price = world.items.price[items]
        cost = offer_costs(world, items)[np.arange(n), chosen] * converted
        revenue = price * converted
        reward = world.scenario.take_rate * revenue - cost
        ids = np.array([f"d{day:04d}-{j:06d}" for j in range(n)], dtype=object)
        offered = chosen != 0
        self.events.add("offer_sent", send_at[offered], users[offered], items[offered], channel[offered])
        done = send_at + delay
        self.events.add(
            "offer_redeemed",
            done[converted & offered],
            users[converted & offered],
            items[converted & offered],
            channel[converted & offered],
        )
        self.events.add("purchase", done[converted], users[converted], items[converted], channel[converted])
        decisions = self._decision_frame(
            ids, ts, users, trigger, eligible, chosen, propensity, probs_full, policy, channel, send_at, contexts
        )
        outcomes = pl.DataFrame(
            {
                "decision_id": ids.astype(str),
                "converted": converted,
                "revenue": revenue,
                "offer_cost": cost,
                "reward": reward,
            },
            schema=OUTCOMES,
        )
        truth_frame = pl.DataFrame(
            {"decision_id": ids.astype(str), **{f"q_{a}": truth[:, i] for i, a in enumerate(ACTIONS)}}, schema=TRUTH
        ).fill_nan(None)
        feedback = Feedback(contexts, ACTIONS, eligible, chosen, reward, propensity)
        return DayBatch(day, decisions, outcomes, truth_frame, feedback)

    def _timestamps(self, us: np.ndarray) -> pl.Series:
        start = int(self.origin.timestamp() * 1_000_000)
        return pl.Series(start + us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))

    def _decision_frame(
        self,
        ids: np.ndarray,
        ts: np.ndarray,
        users: np.ndarray,
        trigger: np.ndarray,
        eligible: np.ndarray,
        chosen: np.ndarray,
        propensity: np.ndarray,
        probs: np.ndarray,
        policy: Policy,
        channel: np.ndarray,
        send_at: np.ndarray,
        contexts: pl.DataFrame,
    ) -> pl.DataFrame:
        actions = np.array(ACTIONS, dtype=object)
        meta = pl.DataFrame(
            {
                "decision_id": ids.astype(str),
                "ts": self._timestamps(ts),
                "user_id": self.world.users.ids[users],
                "actions": [list(actions[row]) for row in eligible],
                "action": actions[chosen].astype(str),
                "propensity": propensity,
                "probabilities": [list(row) for row in probs],
                "policy_version": np.full(len(ids), getattr(policy, "name", "unknown")),
                "send_at": self._timestamps(send_at),
            },
            schema={k: v for k, v in DECISIONS.items() if k not in ("trigger", "channel")},
        )
        return pl.concat([meta, contexts], how="horizontal").select(
            [*DECISIONS.names(), *[c for c in contexts.columns if c not in DECISIONS]]
        )

    def result(self) -> SimulationResult:
        """All days so far, as contract frames."""
        batches = self.batches
        return SimulationResult(
            events=self._events_frame(),
            items=self.world.items_frame(),
            users=self.world.users_frame(),
            decisions=pl.concat([b.decisions for b in batches], how="vertical_relaxed"),
            outcomes=pl.concat([b.outcomes for b in batches]),
            truth=pl.concat([b.truth for b in batches]),
        )

    def _events_frame(self) -> pl.DataFrame:
        e, world = self.events, self.world
        ts = np.concatenate(e.ts) if e.ts else np.empty(0, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        item = np.concatenate(e.item)[order] if e.item else np.empty(0, dtype=np.int64)
        has_item = item >= 0
        item_ids = np.array(world.items.ids, dtype=object)
        merchants = np.array([f"m{m:05d}" for m in range(world.scenario.n_merchants)], dtype=object)
        kinds = np.concatenate(e.kind)[order]
        frame = pl.DataFrame(
            {
                "event_id": [f"e{j:09d}" for j in range(len(ts))],
                "ts": self._timestamps(ts[order]),
                "user_id": world.users.ids[np.concatenate(e.user)[order]],
                "type": kinds.astype(str),
                "item_id": _or_none(has_item, item_ids[np.maximum(item, 0)]),
                "merchant_id": _or_none(has_item, merchants[world.items.merchant[np.maximum(item, 0)]]),
                "price": np.where(has_item, world.items.price[np.maximum(item, 0)], np.nan),
                "quantity": np.where(np.isin(kinds, ["purchase", "cart_add"]), 1, 0).astype(np.int32),
                "channel": np.concatenate(e.channel)[order].tolist(),
            },
            schema_overrides={"item_id": pl.String, "merchant_id": pl.String, "channel": pl.String},
        )
        return frame.with_columns(pl.col("price").fill_nan(None)).cast(dict(EVENTS))  # type: ignore[arg-type]


def _or_none(mask: np.ndarray, values: np.ndarray) -> list[object]:
    """``values`` where ``mask`` holds, else ``None``, as a list polars reads as strings with nulls."""
    return [v if keep else None for v, keep in zip(values.tolist(), mask.tolist(), strict=True)]
