"""The search space: which VW configurations a trial may try (:func:`suggest_config`).

Examples
--------
>>> import optuna
>>> config = suggest_config(optuna.trial.FixedTrial({"explorer": "softmax", "softmax_lambda": 8.0,
...     "epsilon": 0.02, "cb_type": "dr", "interactions": "ua,uu", "learning_rate": 0.1, "l2": 1e-7,
...     "passes": 2, "inputs": "offer_signals"}), VWConfig(seed=3))
>>> config.to_args()[:5], config.interactions, config.seed
(['--cb_explore_adf', '--softmax', '--lambda', '8.0', '--epsilon'], ('ua', 'uu'), 3)
>>> config.features == OFFER_SIGNALS, config.log_features
(True, ('price',))
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import optuna

from policies.bandits.vw_config import EXPLORER_FIELDS, EXPLORERS, MTR_ONLY, NO_DM, OFFER_SIGNALS, VWConfig

if TYPE_CHECKING:
    pass


#: The interaction sets tried: pairs of the formatter's namespaces (u: shared context, a: action).
INTERACTIONS: tuple[str, ...] = ("ua", "ua,uu", "ua,aa", "ua,uu,aa", "")
#: The context inputs tried: every column the log holds, or the offer signals alone with the price on a log
#: scale (:data:`~policies.bandits.vw_config.OFFER_SIGNALS`).
INPUTS: dict[str, dict[str, Any]] = {
    "all": {"features": None, "log_features": ()},
    "offer_signals": {"features": OFFER_SIGNALS, "log_features": ("price",)},
}
#: Estimators an off-policy objective may use.
OFF_POLICY_ESTIMATORS: tuple[str, ...] = ("dr", "snips")
#: Ways to split a log into the part learned from and the part judged on.
SPLITS: tuple[str, ...] = ("time", "user")


def suggest_config(
    trial: optuna.Trial | optuna.trial.FixedTrial,
    base: VWConfig | None = None,
    reward_range: tuple[float, float] | None = None,
    columns: Collection[str] | None = None,
) -> VWConfig:
    """One trial's VW settings: the search space, over ``base`` (its seed, floor and action features kept).

    Parameters
    ----------
    trial
        The Optuna trial that picks the values.
    base
        The settings not searched; ``None``: :class:`VWConfig`'s defaults.
    reward_range
        ``(low, high)`` of the rewards, when known: RegCB then learns costs in ``[-high, -low]``. ``None``: the
        range is searched too (``regcb_reward_scale``).
    columns
        The context columns the policy will see, when known: only the :data:`INPUTS` they hold are tried.

    Notes
    -----
    The explorer is one of the seven; its own parameter is searched only when it is the one drawn (a
    conditional space, which TPE handles parameter by parameter):

    - ``epsilon`` in [0.005, 0.3] (log) for epsilon-greedy, softmax, bag, cover and RND;
    - softmax's ``softmax_lambda`` in [0.5, 100] (log); ``n_policies`` in 2..8 for bag, cover and RND;
    - SquareCB's ``gamma_scale`` in [1, 1000] (log) and ``gamma_exponent`` in [0, 1];
    - RegCB's ``mellowness`` in [0.001, 1] (log), ``optimistic`` (RegCB-opt) or not, and its cost range
      ``[-s, 1]`` with the scale ``s`` in [1, 100] (log) when the rewards' range is not known.

    Then ``cb_type`` (ips, dr, mtr, dm; SquareCB and RegCB run ``mtr`` only and cover all but ``dm``: VW refuses
    the others for them),
    and for every explorer the interactions (one of :data:`INTERACTIONS`),
    the learning rate in [0.001, 1] and L2 in [1e-10, 1e-3] (both log), 1..4 passes, and the context inputs
    (one of :data:`INPUTS`).
    """
    base = base or VWConfig()
    explorer = str(trial.suggest_categorical("explorer", list(EXPLORERS)))
    settings: dict[str, Any] = {"explorer": explorer}
    if explorer in ("epsilon", "softmax", "bag", "cover", "rnd"):
        settings["epsilon"] = trial.suggest_float("epsilon", 0.005, 0.3, log=True)
    if explorer == "softmax":
        settings["softmax_lambda"] = trial.suggest_float("softmax_lambda", 0.5, 100.0, log=True)
    elif explorer in ("bag", "cover", "rnd"):
        settings["n_policies"] = trial.suggest_int("n_policies", 2, 8)
    elif explorer == "squarecb":
        settings["gamma_scale"] = trial.suggest_float("gamma_scale", 1.0, 1000.0, log=True)
        settings["gamma_exponent"] = trial.suggest_float("gamma_exponent", 0.0, 1.0)
    elif explorer == "regcb":
        settings["mellowness"] = trial.suggest_float("mellowness", 0.001, 1.0, log=True)
        settings["optimistic"] = bool(trial.suggest_categorical("optimistic", [False, True]))
        if reward_range is None:
            low, high = -1.0, trial.suggest_float("regcb_reward_scale", 1.0, 100.0, log=True)
        else:
            low, high = reward_range
        settings["min_cost"], settings["max_cost"] = -high, -low if low < high else 1.0 - high
    if explorer in MTR_ONLY:
        settings["cb_type"] = "mtr"
    else:
        cb_types = ["ips", "dr", "mtr"] + ([] if explorer in NO_DM else ["dm"])
        settings["cb_type"] = trial.suggest_categorical(
            f"cb_type_{explorer}" if explorer in NO_DM else "cb_type", cb_types
        )
    settings["interactions"] = str(trial.suggest_categorical("interactions", list(INTERACTIONS)))
    settings["learning_rate"] = trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
    settings["l2"] = trial.suggest_float("l2", 1e-10, 1e-3, log=True)
    settings["passes"] = trial.suggest_int("passes", 1, 4)
    usable = [name for name, given in INPUTS.items() if columns is None or set(given["features"] or ()) <= set(columns)]
    settings |= INPUTS[str(trial.suggest_categorical("inputs", usable))]
    kept = {k: v for k, v in base.model_dump().items() if k not in EXPLORER_FIELDS and k != "optimistic"}
    return VWConfig(**(kept | settings))
