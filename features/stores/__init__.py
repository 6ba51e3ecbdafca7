"""Feature stores: the offline store (Parquet partitioned by date) and the online snapshot used when serving."""

from features.stores.offline import OfflineStore
from features.stores.online import OnlineSnapshot, WatchedSnapshot

__all__ = ["OfflineStore", "OnlineSnapshot", "WatchedSnapshot"]
