"""A randomised retention experiment on a simulated world, with the counterfactual truth of both arms.

The experiment reads a running :class:`~simulators.marketplace.SimulationSession` (after its warm-up, or after
any number of dates stepped) and changes nothing in it, so :meth:`MarketplaceSimulator.run` produces the same
frames as before for every scenario and seed. At the decision moment :math:`D` (midnight UTC after the world's
last simulated day):

- **population (at risk)**: the platform's customers as of :math:`D`
  (:func:`features.churn.dataset.customer_features`: signed up and bought before :math:`D`), not in the
  platform's global holdout, whose BG/NBD churn probability over ``churn_horizon_days`` (``cb_p_churn``, the
  churn model's prior, fitted on the customers' purchase days only) is at least ``risk_threshold``;
- **features**: those customer features, plus what the platform knows of reachability at :math:`D`
  (``consent_<channel>`` as unsubscribes left it, ``opted_out`` before :math:`D`);
- **randomisation**: each customer is treated (sent one retention message) with probability ``treat_share``
  (1/2), independently, from a generator spawned from the seed;
- **outcome** ``returned``: a session within the next ``horizon_days`` world days.

The truth comes from the simulator's own mechanics, not from a hand-written effect (see
:func:`return_probabilities`): the natural return (Poisson sessions at the user's latent ``activity``), the
churn hazard rising with inactivity (:func:`simulators.behaviour.update_churn`: a churned user never comes back
unprompted), and the retention message, which reaches the user on their first consented channel
(:func:`simulators.channels.reachable_channel`), is opened with the world's open probability (channel, the send
hour's fit to the user's latent peak hour, fatigue from the last week's messages:
:func:`simulators.channels.open_probability`) and, once opened, brings the user back with
``scenario.lifecycle.winback_return``, as a lifecycle message does in :meth:`SimulationSession._decide`.
The effect is therefore heterogeneous: active users return anyway, unreachable ones never respond, churned and
reachable ones return only when treated.

The assignment, the outcomes and the truth are reproducible for a seed; a few float features (sums of log prices
over polars' parallel group-bys) may differ in the last bits between runs.

Examples
--------
>>> from simulators.scenario import load_scenario
>>> scenario = load_scenario("default").with_size(n_users=600)
>>> experiment = run_retention_experiment(scenario, seed=0, design=RetentionDesign(warmup_days=30))
>>> frame = experiment.frame
>>> {"treated", "returned", "p_return_treated", "p_return_control"} <= set(frame.columns)
True
>>> bool((frame["p_return_treated"] >= frame["p_return_control"]).all()), frame["treated"].is_in([0, 1]).all()
(True, True)
>>> again = run_retention_experiment(scenario, seed=0, design=RetentionDesign(warmup_days=30)).frame
>>> again.select("user_id", *EXPERIMENT_COLUMNS).equals(frame.select("user_id", *EXPERIMENT_COLUMNS))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features.churn.customer_base import PRIOR
from features.churn.dataset import customer_features
from features.schemas import CHANNELS
from simulators.channels import open_probability, reachable_channel
from simulators.marketplace import MarketplaceSimulator, SimulationSession
from simulators.scenario import Scenario, _validated

#: The experiment's columns besides the features.
EXPERIMENT_COLUMNS: tuple[str, ...] = ("treated", "returned", "p_return_treated", "p_return_control")


@dataclass(frozen=True)
class RetentionDesign:
    """How the retention experiment is run.

    Attributes
    ----------
    horizon_days
        Days after :math:`D` in which a session counts as a return.
    risk_threshold
        The at-risk population: customers with ``cb_p_churn`` at least this.
    churn_horizon_days
        The horizon of the BG/NBD churn probability (and of the customer features).
    treat_share
        Probability that a customer is treated (the known propensity).
    send_hour
        Local hour at which the retention message is sent.
    winback_return
        Chance an opened message brings the user back; ``None``: the scenario's ``lifecycle.winback_return``.
    warmup_days
        Days of organic behaviour before :math:`D` when :func:`run_retention_experiment` starts the world (the
        scenario's ``warmup_days`` is replaced; at most 90).
    """

    horizon_days: int = 14
    risk_threshold: float = 0.5
    churn_horizon_days: int = 30
    treat_share: float = 0.5
    send_hour: float = 19.0
    winback_return: float | None = None
    warmup_days: int = 60

    def __post_init__(self) -> None:
        """Check the settings: a horizon of at least a day, shares and probabilities within their ranges."""
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {self.horizon_days}")
        if not 0.0 < self.treat_share < 1.0:
            raise ValueError(f"treat_share must lie strictly between 0 and 1, got {self.treat_share}")
        if not 0.0 <= self.risk_threshold <= 1.0:
            raise ValueError(f"risk_threshold must lie in [0, 1], got {self.risk_threshold}")
        if self.winback_return is not None and not 0.0 <= self.winback_return <= 1.0:
            raise ValueError(f"winback_return must lie in [0, 1], got {self.winback_return}")


@dataclass(frozen=True)
class RetentionExperiment:
    """One randomised retention experiment, with the users' features and the truth.

    ``frame`` holds ``user_id``, the ``feature_columns`` as of ``as_of``, and :data:`EXPERIMENT_COLUMNS`
    (``treated``, ``returned`` observed; the two true probabilities).
    """

    frame: pl.DataFrame
    feature_columns: list[str]
    as_of: datetime
    design: RetentionDesign

    @property
    def true_uplift(self) -> np.ndarray:
        """``p_return_treated - p_return_control`` per row: the individual treatment effect."""
        return (self.frame["p_return_treated"] - self.frame["p_return_control"]).to_numpy()


def return_probabilities(
    session: SimulationSession, users: np.ndarray, design: RetentionDesign
) -> tuple[np.ndarray, np.ndarray]:
    r"""P(return within the horizon) of each user (world index) without and with one retention message.

    Notes
    -----
    Let the world's last simulated day be :math:`d_0`; the horizon is days :math:`t = d_0+1, \dots, d_0+H`. A
    user not churned at :math:`d_0` has at least one session on a day with probability
    :math:`q = 1 - e^{-a}` (sessions are Poisson with the latent activity :math:`a`); a day without one
    churns them with hazard :math:`h_t = \min(1, \lambda (1 + \kappa (t - \ell)))`, :math:`\ell` the day of
    their last session, :math:`\lambda` their latent base hazard, :math:`\kappa` the scenario's
    ``inactivity_hazard``; a churned user has no session. So, with :math:`S` the chance of being neither
    returned nor churned yet,

    .. math:: p_0 = \sum_{t} S_{t-1}\, q, \qquad S_t = S_{t-1} (1 - q)(1 - h_t), \qquad S_{d_0} = 1

    (:math:`p_0 = 0` for a user already churned). The message, sent on day :math:`d_0+1`, brings the user back
    with :math:`r = P(\text{open}) \cdot w` (zero when no channel is reachable) independently of that natural
    process, hence :math:`p_1 = 1 - (1 - r)(1 - p_0)` and the effect :math:`p_1 - p_0 = r (1 - p_0)`. A
    purchase prompted by the message (which also returns the user in the simulator) is left out: at the
    lifecycle trigger's unprompted log-odds it adds well under one percentage point to :math:`r`.
    """
    world, history = session.world, session.history
    scenario, u = world.scenario, world.users
    day0 = session.day
    q = 1.0 - np.exp(-u.activity[users])
    lam = u.churn_hazard[users]
    last = history.last_session_day[users]
    alive = 1.0 - u.churned[users].astype(float)
    p_control = np.zeros(len(users))
    for t in range(day0 + 1, day0 + design.horizon_days + 1):
        p_control += alive * q
        hazard = np.clip(lam * (1.0 + scenario.lifecycle.inactivity_hazard * (t - last)), 0.0, 1.0)
        alive = alive * (1.0 - q) * (1.0 - hazard)
    channel = reachable_channel(world, users, day0 + 1)
    reachable = np.array([c is not None for c in channel], dtype=bool)
    hour = np.full(len(users), design.send_hour)
    p_open = np.where(reachable, open_probability(world, users, channel, hour, history.messages_7d()[users]), 0.0)
    winback = scenario.lifecycle.winback_return if design.winback_return is None else design.winback_return
    r = p_open * winback
    return p_control, 1.0 - (1.0 - r) * (1.0 - p_control)


def retention_experiment(
    session: SimulationSession, seed: int | np.random.Generator = 0, design: RetentionDesign | None = None
) -> RetentionExperiment:
    """Run the retention experiment on ``session``'s world as it stands (read only; see the module docstring).

    ``seed`` draws the assignment and the observed outcomes; the truth does not depend on it.
    """
    design = design or RetentionDesign()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    assign_rng, outcome_rng = rng.spawn(2)
    as_of = session._at(session.day + 1)
    users_frame = session.world.users_frame()
    customers = customer_features(
        session.log.all(), session.world.items_frame(), users_frame, as_of, horizon_days=design.churn_horizon_days
    )
    reach = users_frame.select(
        "user_id",
        *(pl.col(f"consent_{c}").cast(pl.Int8) for c in CHANNELS),
        opted_out=(pl.col("opted_out_at") < as_of).fill_null(False).cast(pl.Int8),
        holdout=pl.col("holdout"),
    )
    at_risk = (
        customers.join(reach, on="user_id", how="inner")
        .filter(~pl.col("holdout") & (pl.col(PRIOR) >= design.risk_threshold))
        .drop("holdout", "snapshot")
        .sort("user_id")
    )
    excluded = {"user_id", "bgnbd_frequency", "bgnbd_recency", "bgnbd_T"}
    features = [c for c, dtype in at_risk.schema.items() if c not in excluded and dtype.is_numeric()]
    users = at_risk["user_id"].str.slice(1).cast(pl.Int64).to_numpy()
    p_control, p_treated = return_probabilities(session, users, design)
    treated = assign_rng.random(len(users)) < design.treat_share
    returned = outcome_rng.random(len(users)) < np.where(treated, p_treated, p_control)
    frame = at_risk.select("user_id", *features).with_columns(
        pl.Series("treated", treated.astype(np.int8)),
        pl.Series("returned", returned.astype(np.int8)),
        pl.Series("p_return_treated", p_treated),
        pl.Series("p_return_control", p_control),
    )
    return RetentionExperiment(frame, features, as_of, design)


def run_retention_experiment(
    scenario: Scenario, seed: int = 0, design: RetentionDesign | None = None
) -> RetentionExperiment:
    """Run a retention experiment in a fresh world of ``scenario``.

    The world is warmed up for ``design.warmup_days`` (no decisions taken), then the experiment is run; one master
    ``seed`` spawns the world's seed and the experiment's generator.
    """
    design = design or RetentionDesign()
    world_rng, experiment_rng = np.random.default_rng(seed).spawn(2)
    warm = _validated(scenario.name, {**scenario.model_dump(), "warmup_days": design.warmup_days})
    session = MarketplaceSimulator(warm).start(int(world_rng.integers(2**31)))
    return retention_experiment(session, experiment_rng, design)
