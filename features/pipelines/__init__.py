"""Feature pipelines: pure ``LazyFrame -> LazyFrame`` steps from events, items and users, point-in-time correct."""

from features.pipelines.build import FeatureSet, build_features, build_item_features, build_user_features
from features.pipelines.context import context_features
from features.pipelines.windows import WINDOWS, age_days

__all__ = [
    "WINDOWS",
    "FeatureSet",
    "age_days",
    "build_features",
    "build_item_features",
    "build_user_features",
    "context_features",
]
