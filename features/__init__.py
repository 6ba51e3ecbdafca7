"""Features: the data contracts, their validation, and (as they grow) pipelines, stores and the churn model."""

from features.schemas import ACTIONS, CHANNELS, CONTRACTS, EVENT_TYPES, feature_columns
from features.validation import SchemaError, validate

__all__ = ["ACTIONS", "CHANNELS", "CONTRACTS", "EVENT_TYPES", "SchemaError", "feature_columns", "validate"]
