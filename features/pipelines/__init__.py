"""Feature pipelines: pure ``LazyFrame -> LazyFrame`` steps from events, items and users, point-in-time correct."""

from features.pipelines.build import build_features, build_item_features, build_user_features
from features.pipelines.windows import WINDOWS, age_days

__all__ = ["WINDOWS", "age_days", "build_features", "build_item_features", "build_user_features"]
