"""The context columns a VW policy learns from (``VWConfig.features``).

Also the columns it learns on a log scale (``VWConfig.log_features``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pydantic
import pytest

from features.schemas import ACTIONS
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import VWConfig
from policies.base import Feedback


def _feedback(small_log: pl.DataFrame, rows: int = 400) -> Feedback:
    return Feedback.from_log(small_log.head(rows))


def _decides_as_on_prepared_columns(
    small_log: pl.DataFrame, config: VWConfig, prepare: Callable[[pl.DataFrame], pl.DataFrame]
) -> VowpalWabbitPolicy:
    """Learn the log with ``config``; the policy must decide as a default policy on the prepared columns.

    The default policy learned the columns as ``prepare`` makes them (and is asked on prepared contexts too).
    """
    feedback, probe = _feedback(small_log), _feedback(small_log, 60)
    configured = VowpalWabbitPolicy(config=config)
    configured.learn(feedback)
    plain = VowpalWabbitPolicy(config=VWConfig(seed=config.seed))
    plain.learn(Feedback(prepare(feedback.contexts), *_rest(feedback)))
    np.testing.assert_array_equal(
        configured.probabilities(probe.contexts, ACTIONS, probe.eligible),
        plain.probabilities(prepare(probe.contexts), ACTIONS, probe.eligible),
    )
    return configured


def test_the_policy_learns_from_the_configured_columns_only(small_log: pl.DataFrame) -> None:
    chosen = ("price", "coupon_redemption_rate", "channel")
    narrow = _decides_as_on_prepared_columns(
        small_log, VWConfig(features=chosen, seed=0), lambda frame: frame.select(chosen)
    )
    assert narrow.feature_names_ == list(chosen)
    probe = _feedback(small_log, 60)
    with pytest.raises(ValueError, match=r"missing context feature\(s\) \['coupon_redemption_rate'\]"):
        narrow.probabilities(probe.contexts.drop("coupon_redemption_rate"), ACTIONS, probe.eligible)


def test_log_features_equal_learning_the_logged_column(small_log: pl.DataFrame) -> None:
    transform = [pl.col(c).cast(pl.Float64).clip(lower_bound=0).log1p() for c in ("price", "stock")]
    _decides_as_on_prepared_columns(
        small_log, VWConfig(log_features=("price", "stock"), seed=0), lambda frame: frame.with_columns(transform)
    )


def test_a_log_feature_must_be_a_number_and_among_the_features(small_log: pl.DataFrame) -> None:
    policy = VowpalWabbitPolicy(config=VWConfig(log_features=("channel",)))
    with pytest.raises(ValueError, match=r"log feature 'channel' is String, not a number"):
        policy.learn(_feedback(small_log, 20))
    with pytest.raises(pydantic.ValidationError, match=r"log_features \['stock'\] are not among the features"):
        VWConfig(features=("price",), log_features=("price", "stock"))


def _rest(feedback: Feedback) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return feedback.actions, feedback.eligible, feedback.chosen, feedback.rewards, feedback.propensities


def test_the_shipped_policy_learns_from_context_columns() -> None:
    from features.pipelines.context import CONTEXT
    from policies import make_policy
    from policies.bandits.vw_config import TUNED_CONFIG, tuned_config

    assert TUNED_CONFIG.features is not None
    assert set(TUNED_CONFIG.features) <= set(CONTEXT)
    assert all(CONTEXT[c].is_numeric() for c in TUNED_CONFIG.log_features)
    shipped = make_policy("vw", seed=4)
    assert isinstance(shipped, VowpalWabbitPolicy)
    assert shipped.config == tuned_config(4)


def test_cover_refuses_the_direct_method_as_vw_does() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"cb_type 'dm' does not work with the cover explorer"):
        VWConfig(explorer="cover", cb_type="dm")
