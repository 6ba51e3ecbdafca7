"""The endpoint's one-context path of the VW policy is the frame path.

Feature by feature and probability by probability:
:func:`~policies.bandits.vw_format.shared_line` writes one context given as a mapping; it must give VW the same
features with the same values as :func:`~policies.bandits.vw_format.shared_lines` of the one-row frame (the two
may spell a number differently, ``1e+20`` against ``1e20``). ``VowpalWabbitPolicy.probabilities_one`` must then
give the probabilities of ``probabilities`` on that frame, with the shipped settings (a subset of the columns,
the price on a log scale) and with every column.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.pipelines.context import CONTEXT
from features.pipelines.context_row import context_frame
from features.schemas import ACTIONS
from policies.bandits.vw import VowpalWabbitPolicy
from policies.bandits.vw_config import tuned_config
from policies.bandits.vw_format import shared_line, shared_lines
from policies.base import Feedback

#: Text as contexts hold it: ids, time zones, categories (letters, digits, spaces, ``/|:_-``, some accents).
TEXT = st.text(alphabet=st.sampled_from("abcXYZ019 /|:_-\téü"), max_size=12)


def value_of(dtype: pl.DataType) -> st.SearchStrategy[object]:
    """Draw a value a context column of ``dtype`` may hold, missing ones (None, NaN) included."""
    if dtype == pl.Boolean:
        return st.none() | st.booleans()
    if dtype == pl.String:
        return st.none() | TEXT
    if dtype.is_integer():
        bits = {pl.Int8: 7, pl.Int16: 15, pl.Int32: 31}.get(type(dtype), 62)
        return st.none() | st.integers(-(2**bits), 2**bits - 1)
    return st.none() | st.floats(allow_infinity=False, width=64)


CONTEXTS = st.fixed_dictionaries({c: value_of(t) for c, t in CONTEXT.items()})


def features_of(line: str) -> list[tuple[str, object]]:
    """Return the (name, value) pairs of a shared line: numbers as floats, text as it is."""
    head, _, body = line.partition(" |u")
    assert head == "shared"
    pairs: list[tuple[str, object]] = []
    for token in body.split():
        if "=" in token:
            name, _, text = token.partition("=")
            pairs.append((name, text))
        else:
            name, _, number = token.rpartition(":")
            pairs.append((name, float(number)))
    return pairs


@settings(max_examples=300, deadline=None)
@given(context=CONTEXTS)
def test_one_context_gives_the_features_of_its_one_row_frame(context: dict[str, object]) -> None:
    assert features_of(shared_line(context)) == features_of(shared_lines(context_frame(context))[0])


@pytest.fixture(scope="module")
def feedback(small_log: pl.DataFrame) -> Feedback:
    return Feedback.from_log(small_log.head(600))


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped settings", "every column"])
def test_probabilities_of_one_context_are_those_of_the_frame(feedback: Feedback, shipped: bool) -> None:
    policy = VowpalWabbitPolicy(config=tuned_config(1)) if shipped else VowpalWabbitPolicy(seed=1)
    policy.learn(feedback)
    contexts = feedback.contexts.head(60)
    if shipped:  # prices of every kind the log scale meets: missing, NaN, negative, zero
        price = pl.Series("price", [None, float("nan"), -5.0, 0.0], pl.Float64).extend_constant(1.0, 0)
        contexts = contexts.with_columns(pl.concat([price, contexts["price"].slice(4)]).alias("price"))
    expected = policy.probabilities(contexts, ACTIONS, feedback.eligible[:60])
    for i, row in enumerate(contexts.iter_rows(named=True)):
        one = policy.probabilities_one(row, ACTIONS, feedback.eligible[i])
        np.testing.assert_allclose(one, expected[i], rtol=0, atol=1e-12, err_msg=f"row {i}: {row}")


def test_one_context_is_refused_as_its_frame_is(feedback: Feedback) -> None:
    policy = VowpalWabbitPolicy(config=tuned_config(1))
    policy.learn(feedback)
    row = feedback.contexts.row(0, named=True)
    eligible = np.ones(len(ACTIONS), dtype=bool)
    lacking = {k: v for k, v in row.items() if k != "authenticated"}
    with pytest.raises(ValueError, match=r"missing context feature\(s\) \['authenticated'\]"):
        policy.probabilities_one(lacking, ACTIONS, eligible)
    with pytest.raises(ValueError, match="log feature 'price' is str, not a number"):
        policy.probabilities_one({**row, "price": "cheap"}, ACTIONS, eligible)
    assert math.isclose(policy.probabilities_one(row, ACTIONS, eligible).sum(), 1.0)
