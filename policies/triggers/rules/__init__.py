"""The trigger rules, one module per kind; :class:`policies.triggers.engine.TriggerEngine` runs them."""

from policies.triggers.rules.base import Moment, next_local_hour, slot
from policies.triggers.rules.behaviour import CartAbandon, RepeatViews
from policies.triggers.rules.daily import BestHour, Lifecycle
from policies.triggers.rules.inventory import LowStock, stock_at_start
from policies.triggers.rules.social import Social

__all__ = [
    "BestHour",
    "CartAbandon",
    "Lifecycle",
    "LowStock",
    "Moment",
    "RepeatViews",
    "Social",
    "next_local_hour",
    "slot",
    "stock_at_start",
]
