"""VWConfig: bad settings fail naming the field; the command line of every explorer; VW accepts each one."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import vowpal_wabbit_next as vw

from policies.bandits.vw_config import EXPLORERS, VWConfig

#: The command line the policy ran before its settings became a config, for its default keyword arguments.
OLD_DEFAULT_ARGS = [
    "--cb_explore_adf",
    "--epsilon",
    "0.05",
    "--cb_type",
    "mtr",
    "-l",
    "0.05",
    "--random_seed",
    "0",
    "--quiet",
    "-q",
    "ua",
]


def test_default_config_runs_the_command_line_of_before() -> None:
    assert VWConfig().to_args() == OLD_DEFAULT_ARGS


@pytest.mark.parametrize(
    ("settings", "old_args"),
    [
        ({"explorer": "squarecb", "seed": 3}, ["--cb_explore_adf", "--squarecb", "--epsilon", "0.05"]),
        ({"explorer": "bag", "epsilon": 0.2}, ["--cb_explore_adf", "--bag", "5", "--epsilon", "0.2"]),
        ({"explorer": "cover"}, ["--cb_explore_adf", "--cover", "4", "--epsilon", "0.05"]),
    ],
)
def test_explorers_of_before_keep_their_flags(settings: dict[str, Any], old_args: list[str]) -> None:
    assert VWConfig(**settings).to_args()[: len(old_args)] == old_args


@pytest.mark.parametrize(
    ("settings", "explorer_args"),
    [
        ({"explorer": "epsilon"}, []),
        ({"explorer": "softmax"}, ["--softmax"]),
        ({"explorer": "softmax", "softmax_lambda": 10}, ["--softmax", "--lambda", "10.0"]),
        ({"explorer": "bag", "n_policies": 7}, ["--bag", "7"]),
        ({"explorer": "cover", "n_policies": 2}, ["--cover", "2"]),
        ({"explorer": "rnd"}, ["--rnd", "3"]),
        (
            {"explorer": "squarecb", "gamma_scale": 5, "gamma_exponent": 0.3},
            ["--squarecb", "--gamma_scale", "5.0", "--gamma_exponent", "0.3"],
        ),
        ({"explorer": "regcb"}, ["--regcb"]),
        ({"explorer": "regcb", "mellowness": 0.01, "optimistic": True}, ["--regcbopt", "--mellowness", "0.01"]),
        (
            {"explorer": "regcb", "min_cost": -1, "max_cost": 0},
            ["--regcb", "--cb_min_cost", "-1.0", "--cb_max_cost", "0.0"],
        ),
    ],
)
def test_explorer_flags(settings: dict[str, Any], explorer_args: list[str]) -> None:
    config = VWConfig(**settings)
    assert config.explorer_args() == explorer_args
    assert config.to_args()[1 : 1 + len(explorer_args)] == explorer_args
    vw.Workspace(config.to_args())  # VW accepts the whole line


def test_other_settings_reach_the_command_line() -> None:
    args = VWConfig(cb_type="dr", interactions="ua, uu", learning_rate=0.5, l2=1e-6, seed=9).to_args()
    tail = ["--cb_type", "dr", "-l", "0.5", "--random_seed", "9", "--quiet", "--l2", "1e-06"]
    assert args[3:] == [*tail, "-q", "ua", "-q", "uu"]
    assert VWConfig(interactions="").to_args()[-1] == "--quiet"
    assert VWConfig(interactions=[]).interactions == ()


def test_every_explorer_is_listed_once() -> None:
    assert sorted(EXPLORERS) == sorted(set(EXPLORERS))
    assert len(EXPLORERS) == 7
    for explorer in EXPLORERS:
        vw.Workspace(VWConfig(explorer=explorer).to_args())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"explorer": "thompson"},
            r"explorer\n  Input should be 'epsilon', 'softmax', 'bag', 'cover', 'rnd', 'squarecb' or 'regcb'",
        ),
        ({"epsilon": -0.1}, r"epsilon\n  Input should be greater than or equal to 0 .*input_value=-0.1"),
        ({"epsilon": 1.5}, r"epsilon\n  Input should be less than or equal to 1 .*input_value=1.5"),
        ({"explorer": "softmax", "softmax_lambda": 0}, r"softmax_lambda\n  Input should be greater than 0"),
        ({"explorer": "bag", "n_policies": 0}, r"n_policies\n  Input should be greater than or equal to 1"),
        ({"explorer": "squarecb", "gamma_scale": -1}, r"gamma_scale\n  Input should be greater than 0"),
        (
            {"explorer": "squarecb", "gamma_exponent": -1},
            r"gamma_exponent\n  Input should be greater than or equal to 0",
        ),
        ({"explorer": "regcb", "mellowness": 0}, r"mellowness\n  Input should be greater than 0"),
        ({"gamma_scale": 5}, r"gamma_scale applies to the squarecb explorer only; explorer is 'epsilon'"),
        (
            {"explorer": "softmax", "n_policies": 3},
            r"n_policies applies to the bag / cover / rnd explorer only; explorer is 'softmax'",
        ),
        (
            {"explorer": "bag", "softmax_lambda": 2},
            r"softmax_lambda applies to the softmax explorer only; explorer is 'bag'",
        ),
        (
            {"explorer": "cover", "mellowness": 0.1},
            r"mellowness applies to the regcb explorer only; explorer is 'cover'",
        ),
        (
            {"explorer": "regcb", "min_cost": 0, "max_cost": 0},
            r"min_cost must be below max_cost; got min_cost=0.0, max_cost=0.0",
        ),
        (
            {"explorer": "squarecb", "cb_type": "dr"},
            r"cb_type 'dr' does not work with the squarecb explorer: VW takes only 'mtr' there",
        ),
        (
            {"explorer": "regcb", "cb_type": "ips"},
            r"cb_type 'ips' does not work with the regcb explorer: VW takes only 'mtr' there",
        ),
        (
            {"explorer": "squarecb", "min_cost": -1},
            r"min_cost applies to the regcb explorer only; explorer is 'squarecb'",
        ),
        ({"optimistic": True}, r"optimistic applies to the regcb explorer only; explorer is 'epsilon'"),
        ({"cb_type": "sm"}, r"cb_type\n  Input should be 'mtr', 'dr', 'ips' or 'dm' .*input_value='sm'"),
        ({"interactions": "ux"}, r"interaction 'ux' must be two of the formatter's namespaces u, a"),
        ({"interactions": ["uaa"]}, r"interaction 'uaa' must be two of the formatter's namespaces u, a"),
        ({"learning_rate": 0}, r"learning_rate\n  Input should be greater than 0"),
        ({"l2": -1e-3}, r"l2\n  Input should be greater than or equal to 0"),
        ({"seed": -1}, r"seed\n  Input should be greater than or equal to 0"),
        ({"passes": 0}, r"passes\n  Input should be greater than or equal to 1"),
        ({"floor": -0.01}, r"floor\n  Input should be greater than or equal to 0"),
        ({"floor": 1.5}, r"floor\n  Input should be less than or equal to 1"),
        (
            {"action_features": {"coupon": {"cost rate": 0.1}}},
            r"action_features\['coupon'\]: feature 'cost rate'=0.1 has a space",
        ),
        (
            {"action_features": {"coupon": {"kind": "a|b"}}},
            r"action_features\['coupon'\]: feature 'kind'='a\|b' has a space",
        ),
        ({"lambda": 3}, r"lambda\n  Extra inputs are not permitted"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        VWConfig(**settings)


def test_config_is_frozen() -> None:
    config = VWConfig()
    with pytest.raises(pydantic.ValidationError, match="Instance is frozen"):
        config.epsilon = 0.5  # type: ignore[misc]


def test_config_round_trips_through_json() -> None:
    config = VWConfig(explorer="regcb", mellowness=0.05, optimistic=True, min_cost=-2, interactions="ua,uu", floor=0.02)
    assert VWConfig.model_validate_json(config.model_dump_json()) == config
    assert VWConfig(**config.model_dump(mode="json", exclude_none=True)) == config
