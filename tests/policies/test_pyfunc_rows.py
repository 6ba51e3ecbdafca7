"""A few rows given to the pyfunc model (a server's request) are decided row by row.

The answer is the frame path's: the same probabilities and, for the same seed, the same actions.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.schemas import ACTIONS, feature_columns
from policies.bandits.thompson import ThompsonSampling
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import tuned_config
from policies.base import FEW_ROWS, BasePolicy, Feedback, eligibility_mask
from policies.serving.pyfunc import ROW_BY_ROW, PolicyModel


@pytest.fixture(scope="module", params=["vw shipped", "vw every column", "thompson"])
def policy(request: pytest.FixtureRequest, small_log: pl.DataFrame) -> BasePolicy:
    made: BasePolicy = {
        "vw shipped": lambda: VowpalWabbitPolicy(config=tuned_config(2)),
        "vw every column": lambda: VowpalWabbitPolicy(seed=2),
        "thompson": lambda: ThompsonSampling(seed=2),
    }[request.param]()
    made.learn(Feedback.from_log(small_log.head(500)))
    return made


@pytest.mark.parametrize("as_text", [False, True], ids=["actions as lists", "actions as a|b text"])
def test_few_rows_are_answered_as_the_frame_path_answers(
    policy: BasePolicy, small_log: pl.DataFrame, as_text: bool
) -> None:
    log = small_log.slice(600, ROW_BY_ROW).select([*feature_columns(small_log), "actions"])
    if as_text:
        log = log.with_columns(pl.col("actions").list.join("|"))
    model = PolicyModel(policy)
    answer = model.predict(None, log.to_pandas(), params={"seed": 4})
    contexts = log.drop("actions")
    chosen, probs = model.decide(contexts, eligibility_mask(log, ACTIONS), np.random.default_rng(4))
    np.testing.assert_allclose(answer[[f"p_{a}" for a in ACTIONS]].to_numpy(), probs, rtol=0, atol=1e-12)
    assert answer["action"].tolist() == [ACTIONS[c] for c in chosen]
    larger = model.predict(None, small_log.slice(600, ROW_BY_ROW + 1).select(log.columns).to_pandas())
    np.testing.assert_allclose(larger[[f"p_{a}" for a in ACTIONS]].to_numpy()[:ROW_BY_ROW], probs, atol=1e-12)


@pytest.mark.parametrize(
    "column",
    [
        pl.Series("actions", [["coupon", "no_offer"], ["free_gift"], None, [], ["trust_badge", "coupon"]] * 4),
        pl.Series("actions", ["coupon|no_offer", "free_gift", None, "installment", "trust_badge|coupon"] * 4),
        pl.Series("actions", [[0, 1], [3], None, [2, 9], [1]] * 4),
    ],
    ids=["lists", "text", "integer labels"],
)
def test_the_eligibility_of_few_rows_is_that_of_many(column: pl.Series) -> None:
    labels = ("0", "1", "2", "3") if column.dtype == pl.List(pl.Int64) else ACTIONS
    few, many = column.head(FEW_ROWS).to_frame(), column.to_frame()
    assert many.height > FEW_ROWS
    np.testing.assert_array_equal(eligibility_mask(few, labels), eligibility_mask(many, labels)[:FEW_ROWS])
