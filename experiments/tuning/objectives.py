"""What a trial is judged by: the simulator's truth or an off-policy estimate, behind one interface.

The simulator's truth is :class:`SimulatedValue`, an off-policy estimate on a held-out part of a log is
:class:`OffPolicyValue`, and the interface is :class:`Objective`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
import polars as pl

from experiments.inputs import check_bandit_log, feedback_from_checked, log_actions
from experiments.ope import make_estimator
from experiments.targets import policy_probabilities
from features.schemas import ACTIONS
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from simulators.marketplace import MarketplaceSimulator
from simulators.scenario import Scenario

if TYPE_CHECKING:
    pass

from experiments.tuning.space import OFF_POLICY_ESTIMATORS, SPLITS


@dataclass(frozen=True)
class Judged:
    """What an objective makes of one configuration: its value, other figures to record, the policy."""

    value: float
    figures: dict[str, float]
    policy: VowpalWabbitPolicy


class Objective(Protocol):
    """What :func:`tune` maximises: a value for a configuration."""

    #: The name of the value, as the trials' MLflow metric.
    metric: str

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged:
        """Return the value of ``config`` with its figures and policy; with ``trial``, report progress to it."""

    def describe(self) -> dict[str, Any]:
        """Return the objective's settings as plain data, for the run's parameters."""

    def reward_range(self) -> tuple[float, float] | None:
        """Return the range of rewards, or ``None`` when it is not known."""

    def context_columns(self) -> tuple[str, ...]:
        """Return the context columns a policy sees."""

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy:
        """Return the policy to deploy with the best ``config``."""


@dataclass
class SimulatedValue:
    """The simulator's true value of the VW policy learning online in ``scenario``, over ``worlds`` worlds.

    World ``i`` is the scenario run with seed ``seed + i`` (what ``offerlab simulate --seed`` runs), each with a
    fresh policy; the value is the mean of the worlds' ``policy_expected_value``, the other figures the means
    of theirs. More worlds make a configuration's value less a matter of one world's luck (the best of many
    trials on one world flatters it) at the cost of that many runs per trial.

    Examples
    --------
    >>> from simulators.scenario import load_scenario
    >>> objective = SimulatedValue(load_scenario("default").with_size(n_users=150, days=2), seed=1)
    >>> judged = objective.judge(VWConfig())
    >>> judged.value == judged.figures["policy_expected_value"], judged.value <= judged.figures["oracle_value"]
    (True, True)
    """

    scenario: Scenario
    seed: int = 0
    worlds: int = 1
    metric: str = "policy_expected_value"

    def __post_init__(self) -> None:
        """Check ``worlds``."""
        if self.worlds < 1:
            raise ValueError(f"--worlds must be at least 1, got {self.worlds}")

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged:
        """Run each world with the policy learning after each date.

        With ``trial``, report the running value after each date and stop early (``optuna.TrialPruned``) when
        the pruner says so.

        Notes
        -----
        The running value a pruner sees at date ``d`` of world ``i`` (step ``i * days + d``) is the mean, over
        the decisions so far, of the chosen action's expected reward as the decision was taken (``q``,
        :meth:`~simulators.base.SimulationResult.truth_matrix`); the trial's value is the worlds' mean
        ``policy_expected_value``, which also counts stock-outs and delivery. Every trial runs the same worlds,
        so the running values of two trials are compared on the same moments.
        """
        earned, decided = 0.0, 0
        summaries = []
        for world in range(self.worlds):
            policy = VowpalWabbitPolicy(config=config)
            session = MarketplaceSimulator(self.scenario).start(self.seed + world)
            for day in range(self.scenario.days):
                batch = session.step(policy)
                if batch.feedback.n_rounds:
                    policy.learn(batch.feedback)
                if trial is None or not batch.decisions.height:
                    continue
                earned += float(chosen_truth(batch.decisions, batch.truth).sum())
                decided += batch.decisions.height
                trial.report(earned / decided, world * self.scenario.days + day)
                if trial.should_prune():
                    raise optuna.TrialPruned(
                        f"pruned after day {day} of world {world}: running value {earned / decided:.4f}"
                    )
            summaries.append(session.result().summary())
        names = [k for k, v in summaries[0].items() if k.endswith("value") and isinstance(v, int | float)]
        figures = {k: float(np.mean([float(summary[k]) for summary in summaries])) for k in names}
        gap = figures["oracle_value"] - figures["best_fixed_value"]
        if gap > 0:
            figures["oracle_margin_captured"] = (figures["policy_expected_value"] - figures["best_fixed_value"]) / gap
        return Judged(figures["policy_expected_value"], figures, policy)

    def describe(self) -> dict[str, Any]:
        """Return the objective's settings as plain data, for the run's parameters."""
        return {
            "objective": "simulated",
            "scenario": self.scenario.name,
            "users": self.scenario.n_users,
            "days": self.scenario.days,
            "seed": self.seed,
            "worlds": self.worlds,
        }

    def reward_range(self) -> tuple[float, float] | None:
        """Return ``None``: simulated rewards have no range known in advance."""
        return None

    def context_columns(self) -> tuple[str, ...]:
        """Return the columns a policy sees in the simulator: the one context definition."""
        from features.pipelines.context import CONTEXT

        return tuple(CONTEXT)

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy:
        """Return the best trial's own policy, as it stood at the end of its (last world's) run."""
        return judged.policy


def chosen_truth(decisions: pl.DataFrame, truth: pl.DataFrame) -> np.ndarray:
    """``(n,)`` expected reward ``q`` of the action each decision took, as the decision was taken.

    Examples
    --------
    >>> decisions = pl.DataFrame({"decision_id": ["b", "a"], "action": ["coupon", "no_offer"]})
    >>> truth = pl.DataFrame({"decision_id": ["a", "b"], "q_no_offer": [0.1, 0.2], "q_coupon": [0.5, 0.7],
    ...     "q_installment": [None, 0.3], "q_trust_badge": [0.0, 0.0]})
    >>> chosen_truth(decisions, truth)
    array([0.7, 0.1])
    """
    aligned = decisions.select("decision_id", "action").join(truth, on="decision_id", how="left", maintain_order="left")
    q = aligned.select(f"q_{a}" for a in ACTIONS).to_numpy().astype(float)
    index = aligned.get_column("action").replace_strict({a: i for i, a in enumerate(ACTIONS)}).to_numpy()
    chosen: np.ndarray = q[np.arange(len(index)), index]
    return chosen


def split_log(
    log: pl.DataFrame, by: str = "time", holdout: float = 0.3, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    r"""``(train, held_out)`` parts of a log.

    ``by="time"``: the earliest ``1 - holdout`` of the rounds (by ``ts`` when the log has it, else in the
    log's order) train, the rest are held out. ``by="user"``: a seeded ``holdout`` share of the ``user_id``\ s
    (at least one) is held out with all their rounds.

    Examples
    --------
    >>> log = pl.DataFrame({"ts": [3, 1, 2, 4], "user_id": ["a", "b", "a", "c"], "reward": [0.0, 1.0, 0.0, 1.0]})
    >>> [part["ts"].to_list() for part in split_log(log, "time", 0.5)]
    [[1, 2], [3, 4]]
    >>> train, held_out = split_log(log, "user", 0.3, seed=0)
    >>> set(train["user_id"]) & set(held_out["user_id"]), train.height + held_out.height
    (set(), 4)
    >>> split_log(log, "day")
    Traceback (most recent call last):
    ...
    ValueError: --split: unknown split 'day'; known: time, user
    """
    if by not in SPLITS:
        raise ValueError(f"--split: unknown split {by!r}; known: {', '.join(SPLITS)}")
    if not 0 < holdout < 1:
        raise ValueError(f"--holdout: the held-out share must lie in (0, 1); got {holdout}")
    if by == "time":
        ordered = log.sort("ts", maintain_order=True) if "ts" in log.columns else log
        cut = min(max(round(ordered.height * (1 - holdout)), 1), ordered.height - 1)
        return ordered.head(cut), ordered.slice(cut)
    if "user_id" not in log.columns:
        raise ValueError("--split user: the log has no user_id column; split by time instead")
    users = log.get_column("user_id").unique(maintain_order=True).sort().to_numpy()
    if len(users) < 2:
        raise ValueError(f"--split user: the log has {len(users)} user(s); at least 2 are needed")
    n_held = min(max(round(len(users) * holdout), 1), len(users) - 1)
    held = np.random.default_rng(seed).choice(users, size=n_held, replace=False)
    in_held = log.get_column("user_id").is_in(pl.Series(held))
    return log.filter(~in_held), log.filter(in_held)


@dataclass
class OffPolicyValue:
    """An off-policy estimate of the VW policy trained on one part of ``log``, on the other part.

    Parameters
    ----------
    log
        A bandit log (:func:`experiments.inputs.load_bandit_log`), checked here.
    estimator
        ``dr`` (cross-fitted reward model) or ``snips``.
    split, holdout, seed
        How the log is split (:func:`split_log`); ``seed`` also drives the reward model's folds.
    n_folds
        Folds of the cross-fitted reward model.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 1200
    >>> x = rng.integers(0, 2, n).astype(float)
    >>> action = rng.integers(0, 2, n)
    >>> log = pl.DataFrame({"x": x, "action": np.array(["no_offer", "coupon"])[action], "propensity": 0.5,
    ...     "reward": (action == x).astype(float)})
    >>> objective = OffPolicyValue(log, estimator="snips", holdout=0.5)
    >>> judged = objective.judge(VWConfig(epsilon=0.1))
    >>> judged.value > 0.9, round(judged.figures["logged_value"], 2)
    (True, 0.49)
    """

    log: pl.DataFrame
    estimator: str = "dr"
    split: str = "time"
    holdout: float = 0.3
    seed: int = 0
    n_folds: int = 5
    metric: str = field(init=False)

    def __post_init__(self) -> None:
        """Check the estimator and the log; split it into training and held-out parts; fit ``dr``'s reward model."""
        if self.estimator not in OFF_POLICY_ESTIMATORS:
            raise ValueError(f"--estimator: {self.estimator!r} is not one of {', '.join(OFF_POLICY_ESTIMATORS)}")
        self.metric = f"{self.estimator}_value"
        checked = check_bandit_log(self.log)
        self.actions = log_actions(checked)
        train, held_out = split_log(checked, self.split, self.holdout, self.seed)
        self.everything = feedback_from_checked(checked, self.actions)
        self.train = feedback_from_checked(train, self.actions)
        self.held_out = feedback_from_checked(held_out, self.actions)
        self.clusters = held_out.get_column("user_id").to_numpy() if "user_id" in held_out.columns else None
        self.q_hat: np.ndarray | None = None
        if self.estimator == "dr":
            from experiments.ope.reward_model import cross_fitted_rewards

            self.q_hat = cross_fitted_rewards(self.held_out, n_folds=self.n_folds, seed=self.seed, groups=self.clusters)

    def judge(self, config: VWConfig, trial: optuna.Trial | None = None) -> Judged:
        """Learn from the training part, estimate on the held-out part (``trial`` is not used: no pruning)."""
        policy = VowpalWabbitPolicy(config=config)
        policy.learn(self.train)
        probs = policy_probabilities(policy, self.held_out, "tuned policy")
        result = make_estimator(self.estimator).estimate(
            self.held_out, probs, self.q_hat, clusters=self.clusters, interval="normal"
        )
        figures = {self.metric: result.value, "ci_low": result.ci_low, "ci_high": result.ci_high}
        figures["logged_value"] = float(self.held_out.rewards.mean())
        return Judged(result.value, figures, policy)

    def describe(self) -> dict[str, Any]:
        """Return the objective's settings as plain data, for the run's parameters."""
        return {
            "objective": "off-policy",
            "estimator": self.estimator,
            "split": self.split,
            "holdout": self.holdout,
            "seed": self.seed,
            "n_train": self.train.n_rounds,
            "n_held_out": self.held_out.n_rounds,
        }

    def reward_range(self) -> tuple[float, float] | None:
        """Return the range of the training part's rewards."""
        rewards = self.train.rewards
        return float(rewards.min()), float(rewards.max())

    def context_columns(self) -> tuple[str, ...]:
        """Return the log's context columns."""
        return tuple(self.train.contexts.columns)

    def final_policy(self, config: VWConfig, judged: Judged) -> VowpalWabbitPolicy:
        """Train a policy with the best settings on the whole log (both parts), as it would be deployed."""
        policy = VowpalWabbitPolicy(config=config)
        policy.learn(self.everything)
        return policy
