"""The promotion gate: a candidate policy becomes champion only if it beats the logging policy off-policy.

The gate compares, round by round on a held-out decision log, the candidate's
estimated reward (by an estimator, SNIPS by default) with the reward the logging
policy actually earned, and bootstraps the mean difference. It passes when the
lower end of that interval clears ``min_lift`` and the importance weights leave
enough effective sample size to trust the estimate. Passing moves the registry's
``champion`` alias; the version it moved from is kept in a tag for rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from experiments.ope import ESTIMATORS, EstimatorResult, evaluate, on_policy_value, paired_difference
from policies.base import Feedback
from policies.serving.config import OfferlabConfig
from policies.serving.registry import alias_version

PREVIOUS_CHAMPION_TAG = "offerlab.previous_champion"


class PromotionGate(BaseModel):
    """The gate's settings.

    Examples
    --------
    >>> PromotionGate(min_ess_ratio=2.0)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for PromotionGate
    min_ess_ratio
      Input should be less than or equal to 1 [type=less_than_equal, input_value=2.0, input_type=float]
        For further information visit https://errors.pydantic.dev/2.14/v/less_than_equal
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    estimator: str = "snips"
    alpha: float = Field(0.05, gt=0, lt=1)
    min_lift: float = 0.0
    min_ess_ratio: float = Field(0.05, ge=0, le=1)
    n_bootstrap: int = Field(1000, ge=100)
    seed: int = 0

    def judge(
        self,
        feedback: Feedback,
        target_probs: np.ndarray,
        champion_probs: np.ndarray | None = None,
        clusters: np.ndarray | None = None,
    ) -> GateDecision:
        """Estimate candidate and baseline on ``feedback`` and decide.

        With ``champion_probs`` (the current champion's probabilities on the same
        rounds) the candidate must also beat the champion, round by round, by the
        same estimator: a version no better than the one in service is not promoted.
        With ``clusters`` (each round's user id) every interval resamples users, not
        rounds: a user's decisions are not independent of each other.
        """
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; known: {sorted(ESTIMATORS)}")
        alpha, n_bootstrap, seed = self.alpha, self.n_bootstrap, self.seed
        (candidate,) = evaluate(feedback, target_probs, (self.estimator,), None, alpha, n_bootstrap, seed, clusters)
        baseline = on_policy_value(feedback, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed, clusters=clusters)
        # round terms, not contributions: a self-normalised estimate is resampled as a whole ratio
        contributions = ESTIMATORS[self.estimator]().round_terms(feedback, target_probs)
        lift = paired_difference(contributions, feedback.rewards, alpha, n_bootstrap, seed, clusters=clusters)
        reasons = []
        if lift.ci_low <= self.min_lift:
            reasons.append(
                f"lift {lift.value:+.4f} has a {1 - self.alpha:.0%} interval [{lift.ci_low:+.4f}, {lift.ci_high:+.4f}] "
                f"whose lower end does not clear {self.min_lift:+.4f}"
            )
        ess_ratio = candidate.diagnostics.get("ess_ratio", 1.0)
        if ess_ratio < self.min_ess_ratio:
            reasons.append(f"effective sample size ratio {ess_ratio:.3f} is below {self.min_ess_ratio:.3f}")
        over_champion = None
        if champion_probs is not None:
            champion = ESTIMATORS[self.estimator]().round_terms(feedback, champion_probs)
            over_champion = paired_difference(contributions, champion, alpha, n_bootstrap, seed, clusters=clusters)
            if over_champion.ci_low <= self.min_lift:
                reasons.append(
                    f"lift over the champion {over_champion.value:+.4f} has a {1 - self.alpha:.0%} interval "
                    f"[{over_champion.ci_low:+.4f}, {over_champion.ci_high:+.4f}] whose lower end does not clear "
                    f"{self.min_lift:+.4f}"
                )
        return GateDecision(not reasons, candidate, baseline, lift, over_champion, reasons)


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and the estimates behind it."""

    passed: bool
    candidate: EstimatorResult
    baseline: EstimatorResult
    lift: EstimatorResult
    lift_over_champion: EstimatorResult | None = None
    reasons: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Flat figures for MLflow."""
        figures = {
            "gate_passed": float(self.passed),
            "candidate_value": self.candidate.value,
            "candidate_ci_low": self.candidate.ci_low,
            "candidate_ci_high": self.candidate.ci_high,
            "baseline_value": self.baseline.value,
            "lift": self.lift.value,
            "lift_ci_low": self.lift.ci_low,
            "lift_ci_high": self.lift.ci_high,
            **{f"diag_{k}": v for k, v in self.candidate.diagnostics.items()},
        }
        if self.lift_over_champion is not None:
            figures["lift_over_champion"] = self.lift_over_champion.value
            figures["lift_over_champion_ci_low"] = self.lift_over_champion.ci_low
            figures["lift_over_champion_ci_high"] = self.lift_over_champion.ci_high
        return figures


def set_champion(config: OfferlabConfig, version: str, client: MlflowClient | None = None) -> str | None:
    """Point the champion alias at ``version``; return the version it pointed at before (kept for rollback)."""
    client = client or MlflowClient()
    name = config.registered_model
    previous = alias_version(name, config.champion_alias, client)
    client.get_model_version(name, version)  # raises if the version does not exist
    client.set_registered_model_alias(name, config.champion_alias, version)
    if previous is not None and previous != str(version):
        client.set_registered_model_tag(name, PREVIOUS_CHAMPION_TAG, previous)
    return previous


def rollback_champion(config: OfferlabConfig, client: MlflowClient | None = None) -> tuple[str, str]:
    """Move the champion alias back to the version it held before the last promotion; return ``(from, to)``."""
    client = client or MlflowClient()
    name = config.registered_model
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        raise LookupError(f"no registered model {name!r} in this store, so nothing to roll back") from error
    previous = model.tags.get(PREVIOUS_CHAMPION_TAG)
    current = alias_version(name, config.champion_alias, client)
    if previous is None or current is None:
        raise LookupError(f"{name!r} has no earlier champion to roll back to")
    client.set_registered_model_alias(name, config.champion_alias, previous)
    client.set_registered_model_tag(name, PREVIOUS_CHAMPION_TAG, current)
    return current, previous
