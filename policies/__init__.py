"""Policies: deciding what (bandits, baselines), when (triggers, guardrails), and serving."""

import inspect
from collections.abc import Callable

from policies.bandits.baselines import FixedAction, UniformRandom
from policies.base import BasePolicy, Feedback, Policy, load_policy
from policies.sampling import sample_actions

__all__ = [
    "BasePolicy",
    "Feedback",
    "FixedAction",
    "Policy",
    "UniformRandom",
    "load_policy",
    "make_policy",
    "policy_names",
    "sample_actions",
]


#: Policy kinds that :func:`make_policy` cannot build from a name alone: ``fixed`` is named by its action, the
#: oracle reads the simulator's truth (``experiments.jobs.simulation_policy`` builds it), the apprentice's point
#: is a handover its caller drives (``ApprenticePolicy.maybe_hand_over``): by name it would be the rules.
_NOT_BY_NAME = ("apprentice", "fixed", "oracle")


def policy_names() -> tuple[str, ...]:
    """Every name :func:`make_policy` accepts: the registered learned and baseline kinds, then each action.

    Examples
    --------
    >>> policy_names()[:7]
    ('lin_ts', 'linucb', 'rules', 'thompson', 'uniform', 'vw', 'no_offer')
    """
    from features.schemas import ACTIONS
    from policies.base import _LAZY_MODULES

    kinds = sorted(set(_LAZY_MODULES) - set(_NOT_BY_NAME))
    return (*kinds, *ACTIONS)


def make_policy(spec: str, seed: int = 0) -> BasePolicy:
    """Build a fresh policy by short name (see :func:`policy_names`), seeded with ``seed`` where it draws at random.

    ``vw`` is the VW policy with the shipped, tuned settings (:data:`~policies.bandits.vw_config.TUNED_CONFIG`);
    ``thompson``, ``linucb`` and ``lin_ts`` are the comparators with
    their default settings; ``rules`` the operator's rule policy; ``uniform`` the uniform one; an action name
    gives the policy that always shows that action (``no_offer`` where it is ineligible).

    Examples
    --------
    >>> make_policy("coupon").params()
    {'action': 'coupon'}
    >>> make_policy("linucb", seed=4).params()
    {'alpha': 1.0, 'ridge': 1.0, 'floor': 0.01, 'seed': 4}
    >>> make_policy("oracle")
    Traceback (most recent call last):
    ...
    ValueError: unknown policy 'oracle'; expected one of lin_ts, linucb, rules, thompson, uniform, vw, ...
    """
    import importlib

    from features.schemas import ACTIONS
    from policies.base import _LAZY_MODULES

    if spec in ACTIONS:
        return FixedAction(spec)
    if spec == "vw":
        from policies.bandits.vw import VowpalWabbitPolicy
        from policies.bandits.vw_config import tuned_config

        return VowpalWabbitPolicy(config=tuned_config(seed))
    if spec not in _LAZY_MODULES or spec in _NOT_BY_NAME:
        raise ValueError(f"unknown policy {spec!r}; expected one of {', '.join(policy_names())}")
    importlib.import_module(_LAZY_MODULES[spec])
    kind: Callable[..., BasePolicy] = BasePolicy.registry[spec]
    return kind(seed=seed) if "seed" in inspect.signature(kind).parameters else kind()
