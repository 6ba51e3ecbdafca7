"""The platform inside a simulation: the same trigger engine, guardrails, features and contexts as production.

The simulator only plays the world. Each UTC date it hands the platform the events
the world produced; the platform's :class:`~policies.triggers.engine.TriggerEngine`
finds the moments, its :class:`~policies.triggers.guardrails.Guardrails` keep the ones
that may be acted on (the holdout's are kept aside), and the contexts a policy sees
are built by :func:`features.pipelines.context.context_features` from point-in-time
features of the events (as of the date's midnight, from a
:class:`~features.stores.memory.DailyFeatureStore`). Nothing here reads the world's
latent traits.

Events of a date can reach the platform late (a purchase that a message caused,
simulated after the date's moments were found): the engine sees such an event at
the start of the next window, as a production system sees a late arrival.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from features.lifecycle import ChurnScorer, scored
from features.pipelines.context import CONTEXT_USER_SPEC, context_features
from features.pipelines.user import UserFeatureSpec
from features.stores.memory import DailyFeatureStore
from policies.triggers.config import TriggerConfig
from policies.triggers.engine import TriggerEngine
from policies.triggers.guardrails import GuardrailResult, Guardrails
from simulators.tick_features import RollingUserFeatures

#: What the engine's daily rules read: recency and frequency for stages, the session hours for the best hour.
TICK_SPEC = UserFeatureSpec(
    windows={30: ["sessions", "purchases"], 90: ["purchases"]},
    all_time=[],
    recency={"sessions": "days_since_last_session"},
    hours=True,
)


class StoreFeatureSource:
    """The engine's user features at a tick, from the simulation's daily store (midnight ticks only).

    They are kept up to date one stored day at a time (:class:`~simulators.tick_features.RollingUserFeatures`:
    the store's features, without summing every stored day again at each tick).

    Ticks before ``needed_from`` get no user (an empty frame of the features' columns; nothing is summed): the
    warm-up's moments are thrown away, and the lifecycle rule needs only the stages of the last tick before the
    first decision, so only that one and the later ticks are worth building.
    """

    def __init__(self, store: DailyFeatureStore, users: pl.DataFrame, needed_from: datetime | None = None) -> None:
        self.store = store
        self.users = users
        self.needed_from = needed_from
        self.rolling = RollingUserFeatures(store, users, TICK_SPEC)

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        """Return the user features as of the tick ``as_of`` (no user before ``needed_from``)."""
        if self.needed_from is not None and as_of < self.needed_from:
            return self.rolling.empty(as_of.date())
        return self.rolling.user_features(as_of.date())


class SimulatedPlatform:
    """Engine, guardrails, features and contexts for one simulation run."""

    def __init__(
        self,
        config: TriggerConfig,
        items: pl.DataFrame,
        users: pl.DataFrame,
        categories: list[str],
        time_zones: list[str],
        scorer: ChurnScorer | None = None,
        first_decision: datetime | None = None,
    ) -> None:
        self.config = config
        self.users = users
        self.time_zones = time_zones
        self.store = DailyFeatureStore(categories, time_zones, specs=(CONTEXT_USER_SPEC, TICK_SPEC))
        needed_from = first_decision - timedelta(days=1) if first_decision is not None else None
        source = StoreFeatureSource(self.store, users, needed_from)
        self.scorer = scorer
        self.engine = TriggerEngine(config, items, users, features=source, scorer=scorer)
        self.guardrails = Guardrails(config.guardrails, users)
        self._last_view = pl.DataFrame(schema={"user_id": pl.String, "last_item": pl.String})

    def add_items(self, items: pl.DataFrame) -> None:
        """Add listings that arrive during the run."""
        if items.height:
            self.engine.add_items(items)

    def moments(self, events: pl.DataFrame, start: datetime, end: datetime) -> GuardrailResult:
        """Return the moments of the window ``[start, end)``, split by the guardrails into kept and suppressed.

        Events from before ``start`` (late arrivals) are taken as arriving at ``start``.
        """
        arrived = events.with_columns(pl.max_horizontal("ts", pl.lit(start).cast(pl.Datetime("us", "UTC"))).alias("ts"))
        arrived = arrived.sort("ts", "event_id")
        self.guardrails.observe(arrived)
        self._remember_views(arrived)
        moments = self.engine.run(arrived, until=end - timedelta(microseconds=1))
        return self.guardrails.apply(self._with_items(moments))

    def observe(self, events: pl.DataFrame, end: datetime) -> None:
        """Warm-up: the engine and guardrails learn from the events; no moment is acted on."""
        arrived = events.sort("ts", "event_id")
        self.guardrails.observe(arrived)
        self._remember_views(arrived)
        self.engine.run(arrived, until=end - timedelta(microseconds=1))

    def _remember_views(self, events: pl.DataFrame) -> None:
        views = events.filter(pl.col("type") == "view").group_by("user_id").agg(pl.col("item_id").last())
        views = views.rename({"item_id": "last_item"})
        self._last_view = pl.concat([self._last_view, views]).unique("user_id", keep="last")

    def _with_items(self, moments: pl.DataFrame) -> pl.DataFrame:
        """Give a moment without an item (a lifecycle moment) the last item the user viewed."""
        if moments.get_column("item_id").null_count() == 0:
            return moments
        filled = moments.join(self._last_view, on="user_id", how="left").with_columns(
            pl.coalesce("item_id", "last_item").alias("item_id")
        )
        return filled.drop("last_item").filter(pl.col("item_id").is_not_null())

    def close_day(self, events: pl.DataFrame, items: pl.DataFrame, day: date) -> None:
        """Every event of UTC ``day`` is known: add its daily aggregates."""
        self.store.add_day(events.lazy(), items.lazy(), self.users.lazy(), day)

    def contexts(self, kept: pl.DataFrame, day: date, items: pl.DataFrame, sold_after: pl.DataFrame) -> pl.DataFrame:
        """Return the kept moments with the context a policy sees, from features as of midnight of ``day``.

        ``items`` is the catalogue now and ``sold_after`` the units sold since that midnight.
        """
        user_features = self.store.user_features(day, self.users.lazy(), kept.get_column("user_id"))
        user_features = scored(user_features, self.scorer)  # the lifecycle rule's risks: stages as it does
        # the moments' items, ranked (price percentile) among every listing of their category
        item_features = self.store.item_features(day, items.lazy(), sold_after.lazy(), kept.get_column("item_id"))
        thresholds = self.config.rules.lifecycle.stages
        plan = context_features(
            kept.lazy(),
            self.users.lazy(),
            user_features.lazy(),
            item_features.lazy(),
            self.time_zones,
            thresholds,
            catalogue=items.lazy(),
        )
        return plan.collect()
