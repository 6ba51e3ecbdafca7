"""Deciding *what*: contextual bandits and baselines."""

from policies.bandits.baselines import FixedAction, UniformRandom

__all__ = ["FixedAction", "UniformRandom"]
