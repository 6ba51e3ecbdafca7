"""The consignment-marketplace simulator: run a policy day by day and keep the counterfactual truth.

Each day: new listings arrive; users behave (sessions, funnel, follows, churn);
the trigger rules find moments; guardrails keep the ones that may be acted on;
holdout users' moments are only observed; every other moment reaches the
policy, which picks an offer with a known probability; delivery (open,
unsubscribe) and the purchase are sampled from the true response; the policy
learns from the day's feedback before the next day (the step API,
:class:`SimulationSession`).

Examples
--------
>>> from policies.bandits.baselines import UniformRandom
>>> from simulators.scenario import load_scenario
>>> simulator = MarketplaceSimulator(load_scenario("default").with_size(n_users=300, days=3))
>>> result = simulator.run(UniformRandom(), seed=1)
>>> result.summary()["n_decisions"] == result.decisions.height == result.truth.height
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from features.schemas import ACTIONS
from policies.base import Feedback, Policy, sample_actions
from simulators.base import SimulationResult
from simulators.behaviour import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, EventBatch, choose_items, simulate_day
from simulators.channels import open_probability, unsubscribe_probability
from simulators.frames import decision_frame, events_frame, holdout_frame, outcome_frame, truth_frame
from simulators.guardrails import Guardrails
from simulators.history import History
from simulators.offers import COUPON, context_features, offer_costs, respond
from simulators.scenario import Scenario
from simulators.triggers import Moments, TriggerContext, TriggerRule, default_rules
from simulators.world import World

#: Independent random streams of a run, each spawned from the one master seed.
STREAMS = ("world", "history", "catalogue", "behaviour", "triggers", "policy", "delivery", "outcomes", "holdout")


@dataclass(frozen=True)
class DayBatch:
    """What one simulated day handed to the policy and what came of it."""

    day: int
    decisions: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame
    holdout: pl.DataFrame
    feedback: Feedback


class MarketplaceSimulator:
    """Simulates the marketplace of a :class:`~simulators.scenario.Scenario` with a list of trigger rules."""

    def __init__(self, scenario: Scenario, rules: Sequence[TriggerRule] | None = None) -> None:
        self.scenario = scenario
        self.rules = list(rules) if rules is not None else default_rules()

    def start(self, seed: int = 0) -> SimulationSession:
        """A fresh world, seeded; step it one day at a time."""
        return SimulationSession(self.scenario, self.rules, seed)

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

    def __init__(self, scenario: Scenario, rules: Sequence[TriggerRule], seed: int) -> None:
        self.rng = dict(zip(STREAMS, np.random.default_rng(seed).spawn(len(STREAMS)), strict=True))
        self.world = World.create(scenario, self.rng["world"])
        self.history = History.prehistory(self.world, self.rng["history"])
        self.rules = list(rules)
        self.guardrails = Guardrails()
        self.day = 0
        self.events = EventBatch()
        self.batches: list[DayBatch] = []
        self.recent_views: list[tuple[np.ndarray, np.ndarray]] = []
        self.stock_checked = self.world.items.stock.copy()
        self.origin = datetime.combine(scenario.start.date(), scenario.start.time(), tzinfo=UTC)
        self.start_weekday = scenario.start.weekday()

    def step(self, policy: Policy) -> DayBatch:
        """Simulate one day: listings, behaviour, triggers, decisions by ``policy``, outcomes."""
        world, day, s = self.world, self.day, self.world.scenario
        self.history.start_day(day)
        new_items = np.empty(0, dtype=np.int64)
        if day > 0 and s.catalogue.new_items_per_day:
            count = self.rng["catalogue"].poisson(s.catalogue.new_items_per_day * s.n_items)
            new_items = world.list_items(int(count), day, self.rng["catalogue"])
        activity = simulate_day(world, self.history, day, self.rng["behaviour"])
        self.events.extend(activity.events)
        self.recent_views = [*self.recent_views, (activity.views.user, activity.views.item)][
            -s.triggers.inventory_lookback_days :
        ]
        stock_before = np.concatenate([self.stock_checked, world.items.stock[len(self.stock_checked) :]])
        context = TriggerContext(
            world, self.history, day, activity, self.recent_views, new_items, stock_before, self.rng["triggers"]
        )
        candidates = Moments.concat([rule.moments(context) for rule in self.rules])
        self.stock_checked = world.items.stock.copy()
        candidates = candidates.take(np.flatnonzero(world.items.stock[candidates.item] > 0))
        moments, channel = self.guardrails.apply(world, self.history, candidates, day)
        held = np.flatnonzero(channel == None)  # noqa: E711 - elementwise on an object array
        sent = np.flatnonzero(channel != None)  # noqa: E711
        batch = self._decide(policy, day, moments.take(sent), channel[sent], moments.take(held))
        self.batches.append(batch)
        self.day += 1
        return batch

    def _send_time(self, moments: Moments) -> tuple[np.ndarray, np.ndarray]:
        """Local send hour and local weekday of each moment."""
        local_us = moments.send_at + (self.world.users.tz_offset[moments.user] * US_PER_HOUR).astype(np.int64)
        hour = np.mod(local_us % US_PER_DAY / US_PER_HOUR, 24.0)
        weekday = (self.start_weekday + np.floor_divide(local_us, US_PER_DAY)) % 7
        return hour, weekday

    def _convert(self, moments: Moments, wants: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Purchases that stock allows, in order of when they would happen; add their events.

        Returns the converted mask and when each purchase happened (µs since start).
        """
        window = self.world.scenario.attribution_days
        delay = (rng.exponential(1.5, len(moments)).clip(0, window - 0.01) * US_PER_DAY).astype(np.int64)
        converted = np.zeros(len(moments), dtype=bool)
        stock = self.world.items.stock
        for index in np.flatnonzero(wants)[np.argsort(delay[wants], kind="stable")]:
            if stock[moments.item[index]] > 0:
                stock[moments.item[index]] -= 1
                converted[index] = True
        done = moments.send_at + delay
        self.events.add("purchase", done[converted], moments.user[converted], moments.item[converted])
        price = np.log(self.world.items.price[moments.item[converted]])
        self.history.record_purchases(moments.user[converted], price)
        return converted, done

    def _decide(self, policy: Policy, day: int, moments: Moments, channel: np.ndarray, held: Moments) -> DayBatch:
        """Ask the policy about the moments, deliver, and sample purchases for them and the holdout's moments.

        Holdout users get no message; their moments convert (or not) unprompted, competing for the same stock.
        """
        world, history, n = self.world, self.history, len(moments)
        users, items, trigger = moments.user, moments.item, moments.trigger
        hour, weekday = self._send_time(moments)
        contexts = context_features(world, history, users, items, trigger, channel, hour, weekday, day)
        response = respond(world, history, users, items, trigger, channel, hour)
        truth = response.expected_rewards()
        if hasattr(policy, "observe_truth"):
            policy.observe_truth(truth)
        probs = policy.probabilities(contexts, ACTIONS, response.eligible) if n else np.empty((0, len(ACTIONS)))
        chosen, propensity = sample_actions(probs, self.rng["policy"])

        delivery = self.rng["delivery"]
        messaged = chosen != 0
        opened = messaged & (delivery.random(n) < response.p_open)
        recent = history.messages_7d()[users]
        unsubscribed = messaged & (delivery.random(n) < unsubscribe_probability(world, channel, recent))
        p_buy = np.where(opened, response.p_opened[np.arange(n), chosen], response.p_unprompted)
        held_hour, _ = self._send_time(held)
        held_channel = np.full(len(held), "in_app", dtype=object)
        held_p = respond(world, history, held.user, held.item, held.trigger, held_channel, held_hour).p_unprompted
        outcomes_rng = self.rng["outcomes"]
        wants = outcomes_rng.random(n + len(held)) < np.concatenate([p_buy, held_p])
        all_converted, all_done = self._convert(Moments.concat([moments, held]), wants, outcomes_rng)
        converted, done = all_converted[:n], all_done[:n]
        holdout = holdout_frame(self, held, all_converted[n:], held_p)
        redeemed = converted & opened
        lapsing = trigger == "lapsing"
        returned = lapsing & opened & (converted | (delivery.random(n) < world.scenario.lifecycle.winback_return))

        cost = offer_costs(world, items)[np.arange(n), chosen] * redeemed
        revenue = world.items.price[items] * converted
        reward = world.scenario.take_rate * revenue - cost
        self._record(day, moments, channel, chosen, messaged, opened, redeemed, unsubscribed, returned, converted, done)

        ids = np.array([f"d{day:04d}-{j:06d}" for j in range(n)], dtype=object)
        # the same message's open probability had it gone out at a random hour (fatigue as at sending)
        p_random_hour = open_probability(world, users, channel, delivery.uniform(0, 24, n), recent)
        decisions = decision_frame(self, ids, moments, response.eligible, chosen, propensity, probs, policy, contexts)
        outcomes = outcome_frame(ids, converted, revenue, cost, reward, opened, returned)
        truths = truth_frame(ids, truth, response.p_open, p_random_hour)
        feedback = Feedback(contexts, ACTIONS, response.eligible, chosen, reward, propensity)
        return DayBatch(day, decisions, outcomes, truths, holdout, feedback)

    def _record(
        self,
        day: int,
        moments: Moments,
        channel: np.ndarray,
        chosen: np.ndarray,
        messaged: np.ndarray,
        opened: np.ndarray,
        redeemed: np.ndarray,
        unsubscribed: np.ndarray,
        returned: np.ndarray,
        converted: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """Events and history of the day's deliveries."""
        world, events = self.world, self.events
        users, items, sent = moments.user, moments.item, moments.send_at
        offer = np.array(ACTIONS, dtype=object)[chosen]
        events.add("offer_sent", sent[messaged], users[messaged], items[messaged], channel[messaged], offer[messaged])
        read_at = sent + 20 * US_PER_MINUTE
        events.add("offer_opened", read_at[opened], users[opened], items[opened], channel[opened], offer[opened])
        clicked = opened & converted
        click_at = read_at[clicked] + US_PER_MINUTE
        events.add("offer_clicked", click_at, users[clicked], items[clicked], channel[clicked], offer[clicked])
        events.add(
            "offer_redeemed", done[redeemed], users[redeemed], items[redeemed], channel[redeemed], offer[redeemed]
        )
        events.add("unsubscribe", read_at[unsubscribed], users[unsubscribed], None, channel[unsubscribed])
        for name in world.users.consent:
            world.users.consent[name][users[unsubscribed & (channel == name)]] = False
        events.add("session_start", read_at[returned] + 2 * US_PER_MINUTE, users[returned])
        world.users.churned[users[returned]] = False
        self.history.last_session_day[users[returned]] = day
        self.history.record_decisions(users, day, messaged)
        self.history.record_offers(users[opened], chosen[opened], redeemed[opened])

    def blast_conversion(self, size: int = 5000) -> float:
        """Truth of an ordinary promotion: a coupon sent in-app at a random hour to random non-churned users about
        a random relevant item, with no trigger behind it; the mean P(buy) over a seeded sample."""
        world = self.world
        rng = np.random.default_rng(self.rng["holdout"].integers(2**63))
        active = np.flatnonzero(~world.users.churned)
        if not len(active):
            return float("nan")
        users = active[rng.integers(0, len(active), size)]
        items = choose_items(world, users, self.day, rng)
        trigger = np.full(size, "blast", dtype=object)
        channel = np.full(size, "in_app", dtype=object)
        response = respond(world, self.history, users, items, trigger, channel, rng.uniform(0, 24, size))
        return float(response.conversion()[:, COUPON].mean())

    def timestamps(self, us: np.ndarray) -> pl.Series:
        """µs since the scenario start as UTC datetimes."""
        start = int(self.origin.timestamp() * 1_000_000)
        return pl.Series(start + np.asarray(us, dtype=np.int64), dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))

    def result(self) -> SimulationResult:
        """All days so far, as contract frames."""
        batches = self.batches
        return SimulationResult(
            events=events_frame(self),
            items=self.world.items_frame(),
            users=self.world.users_frame(),
            decisions=pl.concat([b.decisions for b in batches], how="vertical_relaxed"),
            outcomes=pl.concat([b.outcomes for b in batches]),
            truth=pl.concat([b.truth for b in batches]),
            holdout=pl.concat([b.holdout for b in batches]),
            counterfactuals={"blast_coupon_conversion": self.blast_conversion()},
        )
