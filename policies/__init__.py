"""Policies: deciding what (bandits, baselines), when (triggers, guardrails), and serving."""

from policies.bandits.baselines import FixedAction, UniformRandom
from policies.base import BasePolicy, Feedback, Policy, load_policy, sample_actions

__all__ = ["BasePolicy", "Feedback", "FixedAction", "Policy", "UniformRandom", "load_policy", "sample_actions"]


def make_policy(spec: str, seed: int = 0) -> BasePolicy:
    """A policy by short name: ``uniform``, ``vw`` (online, SquareCB), ``rules``, or an action (a fixed policy).

    Examples
    --------
    >>> make_policy("coupon").params()
    {'action': 'coupon'}
    """
    from features.schemas import ACTIONS

    if spec == "uniform":
        return UniformRandom()
    if spec == "rules":
        from policies.bandits.rules import RuleBasedPolicy

        return RuleBasedPolicy()
    if spec == "vw":
        from policies.bandits.vw import VowpalWabbitPolicy

        return VowpalWabbitPolicy(explorer="squarecb", seed=seed)
    if spec in ACTIONS:
        return FixedAction(spec)
    raise ValueError(f"unknown policy {spec!r}; expected uniform, vw, rules or one of {list(ACTIONS)}")
