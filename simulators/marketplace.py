"""The consignment-marketplace simulator: run a policy day by day and keep the counterfactual truth.

The simulator plays the world; the platform decides. Each UTC date: new listings
arrive and users behave (sessions, funnel, follows, churn); the platform
(:class:`simulators.embedded_platform.SimulatedPlatform`: the production trigger engine,
guardrails, features and contexts) finds the moments it may act on, the holdout's
moments are only observed, and every other moment reaches the policy, which picks
an offer with a known probability; delivery checks consent again at the send time,
then the open, the unsubscribe and the purchase are sampled from the true response;
the policy learns from the date's feedback before the next (the step API,
:class:`SimulationSession`).

Every decision's truth (never shown to a policy, except the oracle) is recorded
beside it: each action's expected reward as the decision is taken (``q_<action>``,
what the oracle sees) and two facts the rest of the date settles, whether a
purchase would find the item in stock and whether a message would be delivered;
:func:`simulators.truth.expected_rewards` turns them into each action's expected
reward on the log, which the summary's values use.

Before the first decision, ``warmup_days`` of organic behaviour give the platform's
features a past. The world runs one day ahead of the platform: a user's local day
spans two UTC dates, so all of a date's organic events are known only once the next
day has been simulated.

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

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from features.pipelines.build import categories_of, time_zones_of
from features.pipelines.context import CONTEXT
from features.schemas import ACTIONS, SUPPRESSIONS
from policies.base import Feedback, Policy
from policies.sampling import sample_actions
from policies.triggers.config import TriggerConfig, load_trigger_config
from simulators.base import SimulationResult
from simulators.behaviour import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    EventBatch,
    finds_stock,
    simulate_day,
)
from simulators.channels import open_probability, unsubscribe_probability
from simulators.counterfactuals import blast_conversion
from simulators.embedded_platform import SimulatedPlatform
from simulators.event_log import EventLog
from simulators.frames import (
    DayBatch,
    WorldIds,
    batch_frame,
    decision_frame,
    decision_ids,
    holdout_frame,
    outcome_frame,
    truth_frame,
)
from simulators.history import History
from simulators.offers import offer_costs, respond
from simulators.past import past_campaigns
from simulators.scenario import Scenario
from simulators.world import World

#: Independent random streams of a run, each spawned from the one master seed.
STREAMS = ("world", "history", "catalogue", "behaviour", "triggers", "policy", "delivery", "outcomes", "holdout")


class MarketplaceSimulator:
    """Simulates the marketplace of a :class:`~simulators.scenario.Scenario`.

    The platform's trigger engine and guardrails run with ``config`` (the shipped defaults, with the scenario's
    holdout share).
    """

    def __init__(self, scenario: Scenario, config: TriggerConfig | None = None) -> None:
        self.scenario = scenario
        config = config or load_trigger_config()
        guardrails = config.guardrails.model_copy(update={"holdout_share": scenario.holdout_share})
        self.config = config.model_copy(update={"guardrails": guardrails})

    def start(self, seed: int = 0) -> SimulationSession:
        """Start a fresh world, seeded and warmed up; step it one date at a time."""
        return SimulationSession(self.scenario, self.config, seed)

    def run(
        self,
        policy: Policy,
        days: int | None = None,
        seed: int = 0,
        on_day: Callable[[int], None] | None = None,
    ) -> SimulationResult:
        """Run ``policy`` for ``days`` (default: the scenario's), learning online from each date's feedback."""
        session = self.start(seed)
        for day in range(self.scenario.days if days is None else days):
            batch = session.step(policy)
            if batch.feedback.n_rounds:
                policy.learn(batch.feedback)
            if on_day is not None:
                on_day(day)
        return session.result()


class SimulationSession:
    """A running simulation: call :meth:`step` once per date, then :meth:`result`."""

    def __init__(self, scenario: Scenario, config: TriggerConfig, seed: int) -> None:
        self.rng = dict(zip(STREAMS, np.random.default_rng(seed).spawn(len(STREAMS)), strict=True))
        self.world = World.create(scenario, self.rng["world"])
        self.ids = WorldIds(self.world)
        self.history = History.prehistory(self.world, self.rng["history"])
        self.history.last_session_day -= scenario.warmup_days  # the summarised past ends where the warm-up begins
        self.origin = datetime.combine(scenario.start.date(), scenario.start.time(), tzinfo=UTC)
        self.start_weekday = scenario.start.weekday()
        self.log = EventLog()
        self.n_events = 0
        users = self.world.users_frame()
        items = self.world.items_frame()
        self.platform = SimulatedPlatform(
            config, items, users, categories_of(items.lazy()), time_zones_of(users.lazy()), first_decision=self.origin
        )
        self.world.users.holdout = self.platform.guardrails.is_holdout(self.world.users.ids)
        self.day = 0
        self.batches: list[DayBatch] = []
        self._warm_up(scenario.warmup_days)

    # --- the world's clock -----------------------------------------------------------------------------------------
    def _at(self, day: int) -> datetime:
        return self.origin + timedelta(days=day)

    def _add(self, batch: EventBatch) -> None:
        frame = batch_frame(self, batch, self.n_events)
        self.n_events += frame.height
        self.log.add(frame, self.origin)

    def _simulate_world_day(self, day: int) -> None:
        """Simulate new listings (after the first day) and one day of organic behaviour."""
        world, s = self.world, self.world.scenario
        self.history.start_day(day)
        if day > 0 and s.catalogue.new_items_per_day:
            count = self.rng["catalogue"].poisson(s.catalogue.new_items_per_day * s.n_items)
            new = world.list_items(int(count), day, self.rng["catalogue"])
            self.platform.add_items(world.items_frame(since=int(new[0])) if len(new) else pl.DataFrame())
        self._add(simulate_day(world, self.history, day, self.rng["behaviour"]).events)

    def _warm_up(self, days: int) -> None:
        """Simulate organic behaviour before the first decision, and the offers of past campaigns.

        The platform observes them and decides nothing.
        """
        self._add(past_campaigns(self.world, self.history, days, self.rng["history"]))
        for day in range(-days, 1):
            self._simulate_world_day(day)
        for day in range(-days - 1, 0):  # the first day's sessions start on the UTC date before it
            self.platform.observe(self.log.take_until(self._at(day + 1)), self._at(day + 1))
            self.platform.close_day(self.log.date(day), self.world.items_frame(), self._at(day).date())

    # --- one date ----------------------------------------------------------------------------------------------------
    def step(self, policy: Policy) -> DayBatch:
        """Simulate one UTC date.

        The world's next day of behaviour, the platform's moments and decisions by ``policy``, delivery and
        outcomes.
        """
        day = self.day
        self._simulate_world_day(day + 1)  # a user's local day reaches into the previous UTC date
        start, end = self._at(day), self._at(day + 1)
        decided = self.platform.moments(self.log.take_until(end), start, end)
        held = decided.suppressed.filter(pl.col("suppressed_by") == "holdout")
        suppressions = decided.suppressed.filter(pl.col("suppressed_by") != "holdout")
        kept = decided.kept
        contexts = self.platform.contexts(kept, start.date(), self.world.items_frame(), self.log.sold_since(start))
        batch = self._decide(policy, day, kept, contexts, held, suppressions)
        self.platform.close_day(self.log.date(day), self.world.items_frame(), start.date())
        self.batches.append(batch)
        self.day += 1
        return batch

    def _index(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """World indices of the moments' users and items (ids are ``u0000001`` and ``i0000001``)."""
        users = frame.get_column("user_id").str.slice(1).cast(pl.Int64).to_numpy()
        items = frame.get_column("item_id").str.slice(1).cast(pl.Int64).to_numpy()
        return users, items

    def _us(self, column: pl.Series) -> np.ndarray:
        """µs since the scenario start."""
        return (column - self.origin).dt.total_microseconds().to_numpy().astype(np.int64)

    def _local_hour(self, users: np.ndarray, us: np.ndarray) -> np.ndarray:
        """Return the world's local hour of each moment (its users' offsets)."""
        local_us = us + (self.world.users.tz_offset[users] * US_PER_HOUR).astype(np.int64)
        hour: npt.NDArray[np.float64] = np.mod(local_us % US_PER_DAY / US_PER_HOUR, 24.0)
        return hour

    def _convert(
        self, users: np.ndarray, items: np.ndarray, sent: np.ndarray, wants: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Purchases that stock allows, in order of when they would happen; add their events.

        Returns the converted mask, when each purchase happened (µs since start), and whether each row's purchase,
        had it been wanted, would have found the item in stock (the others' wants as drawn).
        """
        window = self.world.scenario.attribution_days
        delay = (rng.exponential(1.5, len(users)).clip(0, window - 0.01) * US_PER_DAY).astype(np.int64)
        stock = self.world.items.stock
        in_stock = finds_stock(items, delay, wants, stock[items])
        converted = wants & in_stock
        np.subtract.at(stock, items[converted], 1)
        done = sent + delay
        events = EventBatch()
        events.add("purchase", done[converted], users[converted], items[converted])
        self._add(events)
        self.history.record_purchases(users[converted], np.log(self.world.items.price[items[converted]]))
        return converted, done, in_stock

    def _deliverable(
        self, users: np.ndarray, kept: pl.DataFrame, messaged: np.ndarray, sent: np.ndarray, unsubscribing: np.ndarray
    ) -> np.ndarray:
        """Return whether consent still holds at each message's send time.

        Consent is checked again by the guardrails (opt-outs, earlier unsubscribes), and against the unsubscribes
        this date's earlier messages cause (a user who unsubscribes at 10:20 gets nothing more on that channel,
        whatever was decided in the morning).
        """
        channel = kept.get_column("channel").to_numpy()
        allowed, _ = self.platform.guardrails.deliverable(
            kept.get_column("user_id").to_numpy(), channel, kept.get_column("send_at").to_numpy()
        )
        allowed = np.asarray(allowed, dtype=bool)
        read_at = sent + 20 * US_PER_MINUTE
        never = np.iinfo(np.int64).max
        first_quit = np.full(len(users), never)
        quits = np.flatnonzero(messaged & allowed & unsubscribing)
        if len(quits):
            key = pl.DataFrame({"u": users, "c": channel.astype(str)})
            quit_at = key[quits].with_columns(t=pl.Series(read_at[quits])).group_by("u", "c").agg(pl.col("t").min())
            joined = key.join(quit_at, on=["u", "c"], how="left", maintain_order="left")
            first_quit = joined.get_column("t").fill_null(never).to_numpy()
        return allowed & (sent < first_quit)

    def _decide(
        self,
        policy: Policy,
        day: int,
        kept: pl.DataFrame,
        contexts: pl.DataFrame,
        held: pl.DataFrame,
        suppressions: pl.DataFrame,
    ) -> DayBatch:
        """Ask the policy about the kept moments, deliver, and sample purchases for them and the holdout's moments.

        Holdout users get no message; their moments convert (or not) unprompted, competing for the same stock.
        """
        world, history, n = self.world, self.history, kept.height
        users, items = self._index(kept)
        trigger = kept.get_column("trigger").to_numpy().astype(object)
        channel = kept.get_column("channel").to_numpy().astype(object)
        sent = self._us(kept.get_column("send_at"))
        hour = self._local_hour(users, sent)
        policy_contexts = contexts.select(CONTEXT.names())
        response = respond(world, history, users, items, trigger, channel, hour)
        truth = response.expected_rewards()  # as the decision is taken: later stock-outs are unknown yet
        if hasattr(policy, "observe_truth"):
            policy.observe_truth(truth)
        probs = policy.probabilities(policy_contexts, ACTIONS, response.eligible) if n else np.empty((0, len(ACTIONS)))
        chosen, propensity = sample_actions(probs, self.rng["policy"])

        delivery = self.rng["delivery"]
        recent = history.messages_7d()[users]
        wants_message = chosen != 0
        unsubscribing = delivery.random(n) < unsubscribe_probability(world, channel, recent)
        deliverable = self._deliverable(users, kept, wants_message, sent, unsubscribing)
        delivered = wants_message & deliverable
        opened = delivered & (delivery.random(n) < response.p_open)
        unsubscribed = delivered & unsubscribing
        p_buy = np.where(opened, response.p_opened[np.arange(n), chosen], response.p_unprompted)
        held_users, held_items = self._index(held)
        held_sent = self._us(held.get_column("send_at"))
        held_trigger = held.get_column("trigger").to_numpy().astype(object)
        held_channel = np.full(len(held_users), "in_app", dtype=object)
        held_hour = self._local_hour(held_users, held_sent)
        held_p = respond(world, history, held_users, held_items, held_trigger, held_channel, held_hour).p_unprompted
        outcomes_rng = self.rng["outcomes"]
        wants = outcomes_rng.random(n + len(held_users)) < np.concatenate([p_buy, held_p])
        all_converted, all_done, all_in_stock = self._convert(
            np.concatenate([users, held_users]),
            np.concatenate([items, held_items]),
            np.concatenate([sent, held_sent]),
            wants,
            outcomes_rng,
        )
        converted, done = all_converted[:n], all_done[:n]
        holdout = holdout_frame(held, all_converted[n:], held_p)
        redeemed = converted & opened
        retention = kept.get_column("trigger_kind").to_numpy() == "lifecycle"
        returned = retention & opened & (converted | (delivery.random(n) < world.scenario.lifecycle.winback_return))

        cost = offer_costs(world, items)[np.arange(n), chosen] * redeemed
        revenue = world.items.price[items] * converted
        reward = world.scenario.take_rate * revenue - cost
        self._record(
            day, users, items, sent, channel, chosen, delivered, opened, redeemed, unsubscribed, returned, done
        )

        ids = decision_ids(day, n)
        # the same message's open probability had it gone out at a random hour (fatigue as at sending)
        p_random_hour = open_probability(world, users, channel, delivery.uniform(0, 24, n), recent)
        decisions = decision_frame(ids, kept, contexts, response.eligible, chosen, propensity, probs, policy)
        outcomes = outcome_frame(ids, converted, revenue, cost, reward, opened, returned, delivered)
        truths = truth_frame(ids, truth, response.p_open, p_random_hour, all_in_stock[:n], deliverable)
        feedback = Feedback(policy_contexts, ACTIONS, response.eligible, chosen, reward, propensity)
        return DayBatch(day, decisions, outcomes, truths, holdout, suppressions, feedback)

    def _record(
        self,
        day: int,
        users: np.ndarray,
        items: np.ndarray,
        sent: np.ndarray,
        channel: np.ndarray,
        chosen: np.ndarray,
        delivered: np.ndarray,
        opened: np.ndarray,
        redeemed: np.ndarray,
        unsubscribed: np.ndarray,
        returned: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """Events and history of the date's deliveries; the platform learns of the unsubscribes."""
        world, events = self.world, EventBatch()
        offer = np.array(ACTIONS, dtype=object)[chosen]
        d = delivered
        events.add("offer_sent", sent[d], users[d], items[d], channel[d], offer[d])
        read_at = sent + 20 * US_PER_MINUTE
        events.add("offer_opened", read_at[opened], users[opened], items[opened], channel[opened], offer[opened])
        clicked = opened & redeemed
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
        self.history.record_decisions(users, day, d)
        self.history.record_offers(users[opened], chosen[opened], redeemed[opened])
        frame = batch_frame(self, events, self.n_events)
        self.n_events += frame.height
        self.log.add(frame, self.origin)
        self.platform.guardrails.observe(frame.filter(pl.col("type") == "unsubscribe"))

    def timestamps(self, us: np.ndarray) -> pl.Series:
        """µs since the scenario start as UTC datetimes."""
        start = int(self.origin.timestamp() * 1_000_000)
        return pl.Series(start + np.asarray(us, dtype=np.int64), dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))

    def result(self) -> SimulationResult:
        """All dates so far, as contract frames."""
        batches = self.batches
        blast = blast_conversion(
            self.world, self.history, self.day, np.random.default_rng(self.rng["holdout"].integers(2**63))
        )
        return SimulationResult(
            events=self.log.all(),
            items=self.world.items_frame(),
            users=self.world.users_frame(),
            decisions=pl.concat([b.decisions for b in batches], how="vertical_relaxed"),
            outcomes=pl.concat([b.outcomes for b in batches]),
            truth=pl.concat([b.truth for b in batches]),
            holdout=pl.concat([b.holdout for b in batches]),
            suppressions=pl.concat([b.suppressions for b in batches]) if batches else pl.DataFrame(schema=SUPPRESSIONS),
            counterfactuals={"blast_coupon_conversion": blast},
        )
