r"""Apprentice mode: a learner shadows the incumbent and takes over once an off-policy estimate says it is better.

While apprenticing, :class:`ApprenticePolicy` decides as the incumbent does (by default the operator's rules,
:class:`~policies.bandits.rules.RuleBasedPolicy`), mixed with an exploration floor so that every eligible action
is shown now and then; the learner (by default VW, :class:`~policies.bandits.vw.VowpalWabbitPolicy`) learns from
everything that is logged. :meth:`ApprenticePolicy.maybe_hand_over` scores both on a log and hands over when the
interval of the paired difference, learner minus incumbent, lies above a margin.

Examples
--------
Coupons pay best for everyone; the rules almost never show one. The apprentice logs a day as the rules (with a
floor of 0.1), learns from it, and on the next day's log the learner is clearly better:

>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> actions = ("no_offer", "coupon", "installment", "trust_badge")
>>> rng = np.random.default_rng(0)
>>> def day(policy, n=2000):
...     contexts = pl.DataFrame({
...         "coupon_redemption_rate": rng.uniform(0, 0.4, n), "installment_use_rate": rng.uniform(0, 1, n),
...         "account_age_days": rng.integers(30, 900, n), "merchant_verified": rng.random(n) < 0.9})
...     eligible = np.ones((n, 4), bool)
...     chosen, propensities = policy.act(contexts, actions, rng, eligible)
...     rewards = rng.normal(np.array([0.0, 1.0, 0.2, 0.1])[chosen], 0.5)
...     return Feedback(contexts, actions, eligible, chosen, rewards, propensities)
>>> apprentice = ApprenticePolicy(floor=0.1, estimator="snips", n_bootstrap=200, seed=0)
>>> apprentice.learn(day(apprentice))
>>> decision = apprentice.maybe_hand_over(day(apprentice))
>>> decision.hand_over, round(decision.value, 2), apprentice.handed_over_
(True, 0.5, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from policies.base import BasePolicy, Feedback, load_policy
from policies.sampling import with_floor

#: Subfolders of a saved apprentice holding its two policies, each saved as a policy of its own.
INCUMBENT_FOLDER, LEARNER_FOLDER = "incumbent", "learner"


@dataclass(frozen=True)
class HandoverDecision:
    """One comparison of learner and incumbent on a log, and what was decided.

    Attributes
    ----------
    estimator
        The off-policy estimator (``"dr"``, ``"snips"``, ...; :data:`experiments.ope.ESTIMATORS`).
    value, ci_low, ci_high, std_error
        The estimated difference of value per round, learner minus incumbent (each with the exploration floor),
        and its paired interval.
    margin
        The lower end had to exceed it for the learner to take over.
    hand_over
        Whether this comparison says the learner is better: ``ci_low > margin``.
    n_rounds
        Rounds of the log compared on.
    rounds_learned
        Rounds the learner had learned from when compared (``None`` when the learner does not count them).
    clustered_by_user
        Whether the interval resampled users rather than rounds.
    at
        When, in UTC (ISO 8601).
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    margin: float
    hand_over: bool
    n_rounds: int
    rounds_learned: int | None
    clustered_by_user: bool
    at: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return asdict(self)


class ApprenticePolicy(BasePolicy):
    r"""Decide as the incumbent while a learner learns; hand over when the learner is estimated to be better.

    Parameters
    ----------
    incumbent
        The policy in charge until the handover; the rule policy
        (:class:`~policies.bandits.rules.RuleBasedPolicy`) when ``None``.
    learner
        The policy that learns and may take over; ``VowpalWabbitPolicy(config=VWConfig(seed=seed))`` when
        ``None``.
    floor
        The exploration floor, in (0, 1]: every eligible action keeps at least this probability (see
        :class:`~policies.base.BasePolicy`), before and after the handover, so that the learner sees every
        action and either policy can be scored on the log.
    estimator
        The off-policy estimator of :meth:`maybe_hand_over` (a name of :data:`experiments.ope.ESTIMATORS`):
        ``"dr"`` (cross-fitted LightGBM reward model) or ``"snips"`` (no model) are the natural choices.
    margin
        The lower end of the difference's interval must exceed it (in reward per round, >= 0).
    alpha, n_bootstrap
        The interval's level (``1 - alpha`` coverage) and bootstrap resamples.
    seed
        Seeds the default learner, the reward model's folds and the bootstrap.
    handed_over, decisions
        Learned state, recorded by :meth:`save`: whether the learner is in charge, and every comparison so far.

    Attributes
    ----------
    handed_over\_
        Whether the learner decides (final once true: there is no hand-back).
    decisions\_
        Every :class:`HandoverDecision`, oldest first.

    Notes
    -----
    **Acting.** With :math:`\pi_I` the incumbent and :math:`\pi_L` the learner, the apprentice's probabilities
    are :math:`p = \mathrm{floor}(\pi_I)` until the handover and :math:`\mathrm{floor}(\pi_L)` after it,
    where :math:`\mathrm{floor}(q)_a = (1 - m f) q_a + f` over the :math:`m` eligible actions
    (:func:`~policies.sampling.with_floor`).

    **Learning.** :meth:`learn` passes the logged feedback to both policies. The learner learns it as bandit
    feedback, as it would learn any log: the VW learner's cost is :math:`-r` on the chosen action, importance
    weighted by the logged propensity (so the floor's rare actions count in full). It is not trained to
    imitate the incumbent's choices: the rounds it learns from are the incumbent's decisions and their
    outcomes, which is what it needs to beat the incumbent, not to copy it. A learned incumbent goes on
    learning too; the rule policy ignores it.

    **Handing over.** On a log :math:`(x_i, a_i, r_i, p_i)`, :meth:`maybe_hand_over` computes the estimator's
    round terms for :math:`\mathrm{floor}(\pi_L)` and for :math:`\mathrm{floor}(\pi_I)` (what the apprentice
    would do after and before a handover) and their paired difference
    :math:`\hat\Delta = \hat V(\pi_L) - \hat V(\pi_I)` with a percentile bootstrap interval
    :math:`[\Delta_-, \Delta_+]` that resamples both on the same rounds, or the same users when ``clusters``
    are given (:func:`experiments.ope.paired_difference`). The learner takes over iff
    :math:`\Delta_- > \text{margin}`: at level ``alpha`` the learner is better by more than the margin. The
    log should hold rounds the learner has not learned from (the latest batch, scored before :meth:`learn`):
    scored on its own training rounds a learner looks better than it is.
    """

    name = "apprentice"

    def __init__(
        self,
        incumbent: BasePolicy | None = None,
        learner: BasePolicy | None = None,
        *,
        floor: float = 0.05,
        estimator: str = "dr",
        margin: float = 0.0,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
        handed_over: bool = False,
        decisions: list[HandoverDecision] | None = None,
    ) -> None:
        from experiments.ope import make_estimator
        from experiments.ope.interval import check_settings

        if not 0 < floor <= 1:
            raise ValueError(f"apprentice: floor must lie in (0, 1] so that the learner sees every action; got {floor}")
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"apprentice: margin must be a finite number >= 0; got {margin}")
        make_estimator(estimator)  # names an unknown estimator
        check_settings(alpha, n_bootstrap, "bootstrap")
        self.incumbent = incumbent if incumbent is not None else _default_incumbent()
        self.learner = learner if learner is not None else _default_learner(seed)
        self.floor = floor
        self.estimator = estimator
        self.margin = margin
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.handed_over_ = handed_over
        self.decisions_: list[HandoverDecision] = list(decisions or [])

    @classmethod
    def example(cls) -> ApprenticePolicy:
        """Rules as the incumbent, VW as the learner, a floor of 0.05, SNIPS with 200 resamples."""
        return cls(floor=0.05, estimator="snips", n_bootstrap=200, seed=0)

    @property
    def acting(self) -> BasePolicy:
        """The policy that decides now: the learner after the handover, else the incumbent."""
        return self.learner if self.handed_over_ else self.incumbent

    def _scores(self, contexts: pl.DataFrame, actions: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
        return self.acting.probabilities(contexts, actions, eligible)

    def learn(self, feedback: Feedback) -> None:
        """Pass the logged feedback to the learner (and to the incumbent, which may learn too)."""
        self.learner.learn(feedback)
        self.incumbent.learn(feedback)

    def maybe_hand_over(
        self, feedback: Feedback, *, clusters: np.ndarray | None = None, q_hat: np.ndarray | None = None
    ) -> HandoverDecision:
        """Score learner and incumbent on ``feedback``, record it, and hand over if the learner is better.

        See the Notes of :class:`ApprenticePolicy`.

        Parameters
        ----------
        feedback
            Logged rounds, preferably ones the learner has not learned from.
        clusters
            ``(n,)`` user ids: the interval resamples users and the reward model's folds keep a user's rounds
            together.
        q_hat
            ``(n, k)`` reward predictions for a model-based estimator; ``None`` fits the cross-fitted reward
            model (:func:`experiments.ope.reward_model.cross_fitted_rewards`) when the estimator needs one.

        Returns
        -------
        HandoverDecision
            The comparison, also appended to :attr:`decisions_`.
        """
        from experiments.offline_evaluation import needs_reward_model
        from experiments.ope import make_estimator, paired_difference
        from experiments.ope.reward_model import cross_fitted_rewards

        if clusters is not None and np.shape(clusters) != (feedback.n_rounds,):
            raise ValueError(f"apprentice: clusters has shape {np.shape(clusters)}, expected ({feedback.n_rounds},)")
        eligible = feedback.eligible
        floored = {
            role: with_floor(policy.probabilities(feedback.contexts, feedback.actions, eligible), eligible, self.floor)
            for role, policy in (("learner", self.learner), ("incumbent", self.incumbent))
        }
        if q_hat is None and needs_reward_model([self.estimator]):
            q_hat = cross_fitted_rewards(feedback, seed=self.seed, groups=clusters)
        estimator = make_estimator(self.estimator)
        learner_terms = estimator.round_terms(feedback, floored["learner"], q_hat)
        incumbent_terms = estimator.round_terms(feedback, floored["incumbent"], q_hat)
        difference = paired_difference(
            learner_terms, incumbent_terms, self.alpha, self.n_bootstrap, self.seed, clusters=clusters
        )
        rounds = getattr(self.learner, "rounds_learned_", None)
        decision = HandoverDecision(
            estimator=self.estimator,
            value=difference.value,
            ci_low=difference.ci_low,
            ci_high=difference.ci_high,
            std_error=difference.std_error,
            margin=self.margin,
            hand_over=bool(difference.ci_low > self.margin),
            n_rounds=feedback.n_rounds,
            rounds_learned=None if rounds is None else int(rounds),
            clustered_by_user=clusters is not None,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.decisions_.append(decision)
        self.handed_over_ = self.handed_over_ or decision.hand_over
        return decision

    def params(self) -> dict[str, Any]:
        """Return the settings, with the incumbent's and the learner's kind and params."""
        return {
            **self._settings(),
            "incumbent": {"name": self.incumbent.name, "params": self.incumbent.params()},
            "learner": {"name": self.learner.name, "params": self.learner.params()},
        }

    def _settings(self) -> dict[str, Any]:
        return {
            "floor": self.floor,
            "estimator": self.estimator,
            "margin": self.margin,
            "alpha": self.alpha,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
        }

    def saved_params(self) -> dict[str, Any]:
        """Return the settings, whether the learner is in charge, and every decision.

        The two policies are saved in subfolders ``incumbent`` and ``learner``.
        """
        decisions = [d.to_dict() for d in self.decisions_]
        return {**self._settings(), "handed_over": self.handed_over_, "decisions": decisions}

    def save(self, path: str | Path) -> None:
        """Write the incumbent and the learner into subfolders, then ``policy.json``.

        Each is saved as a policy, the VW model included.
        """
        folder = Path(path)
        self.incumbent.save(folder / INCUMBENT_FOLDER)
        self.learner.save(folder / LEARNER_FOLDER)
        super().save(folder)

    @classmethod
    def _from_folder(cls, folder: Path, params: dict[str, Any]) -> BasePolicy:
        params = dict(params)
        decisions = [HandoverDecision(**d) for d in params.pop("decisions", [])]
        incumbent, learner = load_policy(folder / INCUMBENT_FOLDER), load_policy(folder / LEARNER_FOLDER)
        return cls(incumbent, learner, decisions=decisions, **params)


def _default_incumbent() -> BasePolicy:
    from policies.bandits.rules import RuleBasedPolicy

    return RuleBasedPolicy()


def _default_learner(seed: int) -> BasePolicy:
    from policies.bandits.vw import VowpalWabbitPolicy
    from policies.bandits.vw_config import VWConfig

    return VowpalWabbitPolicy(config=VWConfig(seed=seed))
