"""Progressive validation, the learning curve of a log.

Each chunk is judged off-policy before it is learned, and bad settings are refused.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from experiments.progressive_validation import progressive_validation
from features.schemas import ACTIONS
from policies.bandits.baselines import UniformRandom
from policies.bandits.vw import VowpalWabbitPolicy
from policies.base import Feedback


def test_progressive_validation_judges_each_chunk_before_learning_it(small_log: pl.DataFrame) -> None:
    feedback = Feedback.from_log(small_log.sort("ts", maintain_order=True))
    policy = VowpalWabbitPolicy(seed=1)
    curve = progressive_validation(feedback, policy, chunks=4)
    rounds = curve.get_column("rounds").to_numpy()
    assert curve.get_column("chunk").to_list() == [0, 1, 2, 3]
    assert rounds.sum() == feedback.n_rounds
    assert rounds.max() - rounds.min() <= 1
    assert curve.get_column("step").to_list() == [0, *np.cumsum(rounds)[:-1].tolist()]
    # before any learning VW is uniform over the eligible actions, as the logging policy was: every
    # importance weight is 1 and SNIPS is the chunk's mean reward
    first = curve.row(0, named=True)
    assert first["value"] == pytest.approx(first["logged_value"])
    assert first["lift"] == pytest.approx(0.0)
    # learning chunk by chunk (one pass) trains the very model one call on the whole log trains
    whole = VowpalWabbitPolicy(seed=1)
    whole.learn(feedback)
    contexts, eligible = feedback.contexts, feedback.eligible
    assert np.array_equal(
        policy.probabilities(contexts, ACTIONS, eligible), whole.probabilities(contexts, ACTIONS, eligible)
    )


@pytest.mark.parametrize(
    ("chunks", "estimator", "message"),
    [(0, "snips", "chunks must be at least 1; got 0"), (3, "magic", "magic")],
)
def test_progressive_validation_refuses_bad_settings(
    small_log: pl.DataFrame, chunks: int, estimator: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        progressive_validation(Feedback.from_log(small_log), UniformRandom(), chunks=chunks, estimator=estimator)
