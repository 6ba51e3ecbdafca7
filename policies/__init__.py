"""Policies: deciding what (bandits, baselines), when (triggers, guardrails), and serving."""

from policies.bandits.baselines import FixedAction, UniformRandom
from policies.base import BasePolicy, Feedback, Policy, load_policy, sample_actions

__all__ = ["BasePolicy", "Feedback", "FixedAction", "Policy", "UniformRandom", "load_policy", "sample_actions"]


#: Exploration of a VW policy that starts from nothing and learns online (ε = 0.05 explores too little to recover
#: from its first greedy guesses in the small scenario: measured in tests/simulators/test_marketplace.py).
ONLINE_EPSILON = 0.2


def make_policy(spec: str, seed: int = 0) -> BasePolicy:
    """A policy from a short name: ``uniform``, ``vw`` (online, ε = 0.2), or an action name for a fixed policy.

    Examples
    --------
    >>> make_policy("coupon").params()
    {'action': 'coupon'}
    """
    from features.schemas import ACTIONS

    if spec == "uniform":
        return UniformRandom()
    if spec == "vw":
        from policies.bandits.vw import VowpalWabbitPolicy

        return VowpalWabbitPolicy(epsilon=ONLINE_EPSILON, seed=seed)
    if spec in ACTIONS:
        return FixedAction(spec)
    raise ValueError(f"unknown policy {spec!r}; expected uniform, vw or one of {list(ACTIONS)}")
