"""Off-policy evaluation of one target policy on one log, end to end: what ``offerlab ope`` computes.

:func:`evaluate_target` takes a log's feedback and the target's probabilities and returns every requested
estimate with its interval, the logging policy's own value, the paired lift of the target over it (or over a
baseline policy), and the diagnostics with their warnings, as one :class:`OffPolicyEvaluation` whose
:meth:`~OffPolicyEvaluation.payload` is the JSON the command prints. The reward model of DM and the doubly
robust family is cross-fitted LightGBM (:func:`experiments.ope.reward_model.cross_fitted_rewards`) unless
predictions are given; rounds are clustered by ``user_id`` when the log has it.

Examples
--------
>>> import numpy as np, polars as pl
>>> from experiments.inputs import feedback_from_log
>>> rng = np.random.default_rng(0)
>>> n = 4000
>>> action = rng.integers(0, 3, size=n)
>>> log = pl.DataFrame({"action": action, "propensity": np.full(n, 1 / 3),
...     "reward": rng.binomial(1, np.array([0.2, 0.5, 0.3])[action]).astype(float),
...     "user_id": rng.integers(0, 800, size=n).astype(str)})
>>> feedback = feedback_from_log(log)
>>> always_1 = np.tile([0.0, 1.0, 0.0], (n, 1))
>>> result = evaluate_target(feedback, always_1, ("ips", "snips"), clusters=log["user_id"].to_numpy(),
...     n_bootstrap=500)
>>> payload = result.payload()
>>> sorted(payload["estimates"]), round(payload["estimates"]["snips"]["value"], 3)
(['ips', 'snips'], 0.498)
>>> payload["lift"]["snips"]["lower"] > 0, payload["diagnostics"]["warnings"]
(True, [])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.ope import ESTIMATORS, Diagnostics, EstimatorResult, diagnose, make_estimator, paired_difference
from experiments.ope.evaluate import on_policy_value
from experiments.ope.interval import summarise_all
from experiments.ope.reward_model import RewardModelParams, cross_fitted_rewards
from experiments.ope.validation import check_target_probs
from policies.base import Feedback

#: The estimators ``offerlab ope`` runs when none are named.
DEFAULT_ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dr")
#: Estimators that need no reward model.
MODEL_FREE = frozenset({"ips", "snips"})


@dataclass(frozen=True)
class OffPolicyEvaluation:
    """Every figure of one target on one log.

    Attributes
    ----------
    estimates
        One result per estimator, in the order asked.
    logged
        The logging policy's own value (the mean observed reward), with the same interval.
    lift
        Per estimator: the paired difference of the target's estimate and the reference's (the logging
        policy, or the baseline policy when one was given), with its interval.
    diagnostics
        Importance weight and support diagnostics of the target, with warnings.
    reference
        What ``lift`` is measured against: ``"logged"`` or the baseline's description.
    settings
        The settings behind the figures (interval kind, alpha, resamples, seed, clustering, reward model).
    """

    estimates: list[EstimatorResult]
    logged: EstimatorResult
    lift: dict[str, EstimatorResult]
    diagnostics: Diagnostics
    n_rounds: int
    n_actions: int
    reference: str = "logged"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def weights(self) -> np.ndarray:
        """``(n,)`` importance weights of the target, for the weight histogram."""
        return self.diagnostics.weights

    def payload(self, **extra: Any) -> dict[str, Any]:
        """Return the one JSON object ``offerlab ope --json`` prints.

        It holds ``n_rounds``, ``n_actions``, ``estimates`` (``value``, ``lower``, ``upper``, ``se`` per
        estimator), ``diagnostics`` (figures and ``warnings``), plus ``logged``, ``lift``, ``reference``,
        ``settings`` and any ``extra`` keys.
        """
        return {
            "n_rounds": self.n_rounds,
            "n_actions": self.n_actions,
            "estimates": {r.estimator: interval_fields(r) for r in self.estimates},
            "diagnostics": {**self.diagnostics.values, "warnings": list(self.diagnostics.warnings)},
            "logged": interval_fields(self.logged),
            "lift": {name: interval_fields(r) for name, r in self.lift.items()},
            "reference": self.reference,
            "alpha": self.settings.get("alpha"),
            "settings": dict(self.settings),
            **extra,
        }


def interval_fields(result: EstimatorResult) -> dict[str, float]:
    """``value``, ``lower``, ``upper`` and ``se`` of a result, as the JSON names them."""
    return {"value": result.value, "lower": result.ci_low, "upper": result.ci_high, "se": result.std_error}


def check_estimator_names(names: Sequence[str]) -> tuple[str, ...]:
    """Return the names, checked against the registry before anything is read.

    Examples
    --------
    >>> check_estimator_names(["ips", "snips"])
    ('ips', 'snips')
    >>> check_estimator_names(["ips", "magic"])
    Traceback (most recent call last):
    ...
    ValueError: unknown estimator 'magic'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']
    """
    chosen = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not chosen:
        raise ValueError(f"no estimator named; known: {sorted(ESTIMATORS)}")
    for name in chosen:
        make_estimator(name)
    return chosen


def needs_reward_model(names: Sequence[str]) -> bool:
    """Whether any of the estimators needs ``q_hat``."""
    return any(name not in MODEL_FREE for name in names)


def evaluate_target(
    feedback: Feedback,
    target_probs: np.ndarray,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    *,
    q_hat: np.ndarray | None = None,
    baseline_probs: np.ndarray | None = None,
    baseline: str = "baseline",
    logging_probs: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    interval: str = "bootstrap",
    clip: float | None = None,
    n_folds: int = 5,
    reward_model: RewardModelParams | None = None,
) -> OffPolicyEvaluation:
    """Estimate the target's value with every named estimator, its lift and its diagnostics.

    Parameters
    ----------
    feedback
        The logged rounds.
    target_probs
        ``(n, k)`` probabilities of the target policy (checked here).
    estimators
        Names from :data:`experiments.ope.ESTIMATORS`.
    q_hat
        ``(n, k)`` reward predictions; ``None`` fits the cross-fitted reward model when an estimator needs one.
    baseline_probs, baseline
        A second policy's probabilities and its description: the lift is then the target's minus the
        baseline's estimate, paired on the same resamples. ``None``: the lift is over the logged rewards.
    logging_probs
        ``(n, k)`` probabilities of the logging policy, when the log carries them (sharper support check).
    clusters
        ``(n,)`` user ids: intervals resample users, the reward model's folds keep a user's rounds together.
    alpha, n_bootstrap, seed, interval, clip
        As in :func:`experiments.ope.evaluate`; one ``seed`` drives the folds and the resamples.
    n_folds, reward_model
        Folds and settings of the cross-fitted reward model.
    """
    names = check_estimator_names(estimators)
    probs = check_target_probs(feedback, target_probs)
    base = None if baseline_probs is None else check_target_probs(feedback, baseline_probs)
    model_source = None if not needs_reward_model(names) else "given" if q_hat is not None else "cross-fitted"
    if q_hat is None and needs_reward_model(names):
        q_hat = cross_fitted_rewards(feedback, n_folds=n_folds, seed=seed, groups=clusters, params=reward_model)
    chosen = [make_estimator(name, clip) for name in names]
    diagnostics = diagnose(feedback, probs, logging_probs)
    terms = {e.name: e.round_terms(feedback, probs, q_hat) for e in chosen}
    estimates = summarise_all(
        terms, alpha, n_bootstrap, seed, diagnostics=diagnostics.values, clusters=clusters, interval=interval
    )
    logged = on_policy_value(feedback, alpha, n_bootstrap, seed, clusters, interval)
    lift = {}
    for estimator in chosen:
        reference = feedback.rewards if base is None else estimator.round_terms(feedback, base, q_hat)
        result = paired_difference(
            terms[estimator.name], reference, alpha, n_bootstrap, seed, clusters=clusters, interval=interval
        )
        lift[estimator.name] = result
    settings = {
        "alpha": alpha,
        "interval": interval,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "clip": clip,
        "clustered_by_user": clusters is not None,
        "reward_model": model_source,
        "n_folds": n_folds if model_source == "cross-fitted" else None,
    }
    return OffPolicyEvaluation(
        estimates=estimates,
        logged=logged,
        lift=lift,
        diagnostics=diagnostics,
        n_rounds=feedback.n_rounds,
        n_actions=len(feedback.actions),
        reference="logged" if base is None else baseline,
        settings=settings,
    )
