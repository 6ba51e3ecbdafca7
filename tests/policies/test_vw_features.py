"""The VW policy's shared features, built without text lines, are exactly what VW's parser reads from the lines."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from policies.bandits.vw import SHARED_GROUP, VowpalWabbitPolicy
from policies.bandits.vw_format import action_line, labelled_lines, shared_features, shared_lines
from policies.base import Feedback, eligible_patterns

ACTIONS = ("no_offer", "coupon", "installment")


def awkward_frame(n: int = 280, seed: int = 0) -> pl.DataFrame:
    """Numbers of every size (zeros, -0.0, 1e-50, 1e300), text VW's format can't hold, booleans, small integers,
    and a null in every column of every seventh row (so some rows have no feature at all)."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "x": rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n),
            "s": rng.choice(["a b", "c|d", "e:f", "G"], n),
            "z": np.where(rng.random(n) < 0.3, 0.0, 1e-3 * rng.normal(size=n)),
            "b": rng.random(n) < 0.5,
            "i": rng.integers(-3, 3, n).astype(np.int32),
            "t": [1e-50, 1e300, -0.0, 0.1] * (n // 4),
        }
    )
    every_seventh = pl.int_range(n) % 7 == 0
    return frame.with_columns(pl.when(every_seventh).then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns)


def feedback_of(frame: pl.DataFrame, seed: int = 1) -> Feedback:
    rng = np.random.default_rng(seed)
    n = frame.height
    eligible = rng.random((n, len(ACTIONS))) < 0.7
    eligible[:, 0] = True
    chosen = np.array([rng.choice(np.flatnonzero(row)) for row in eligible])
    return Feedback(frame, ACTIONS, eligible, chosen, rng.normal(size=n), np.full(n, 0.5))


def test_shared_features_are_the_parsed_lines_features() -> None:
    frame = awkward_frame()
    policy = VowpalWabbitPolicy(seed=0)
    features = shared_features(frame, policy._encode_tokens)
    for row, line in enumerate(shared_lines(frame)):
        group = policy._parse(line)[SHARED_GROUP]
        low, high = features.offsets[row], features.offsets[row + 1]
        assert features.indices[low:high].tolist() == group.indices, (row, line)
        assert features.values[low:high].tolist() == group.values, (row, line)


def test_vw_probabilities_equal_those_of_the_parsed_lines() -> None:
    frame = awkward_frame()
    feedback = feedback_of(frame)
    policy = VowpalWabbitPolicy(seed=0)
    policy.learn(feedback)
    got = policy._scores(frame.clone(), ACTIONS, feedback.eligible)  # VW's probabilities, before the floor
    codes, patterns = eligible_patterns(feedback.eligible)
    plain = policy._plain_examples(ACTIONS, patterns)
    expected = np.zeros_like(got)
    for row, line in enumerate(shared_lines(frame)):
        for slot, p in policy._native.predict_multi_ex_one([policy._parse(line), *plain[codes[row]]]):
            expected[row, patterns[codes[row]][slot]] = p
    np.testing.assert_array_equal(got, expected)


def test_a_token_sharing_the_separators_index_is_encoded_with_the_next_separator() -> None:
    policy = VowpalWabbitPolicy(seed=0)
    indices, values, kept = policy._encode_tokens(["__token__", "a:0", "b=c", "d:2.5"])
    single = [policy._parse(f"shared |u {token}")[SHARED_GROUP] for token in ("__token__", "b=c", "d:2.5")]
    assert indices[[0, 2, 3]].tolist() == [group.indices[0] for group in single]
    assert values.tolist() == [1.0, 0.0, 1.0, 2.5]
    assert kept.tolist() == [True, False, True, True]  # VW's parser drops a zero


@pytest.mark.parametrize("tokens", [[], ["a:1"]])
def test_encoding_few_tokens(tokens: list[str]) -> None:
    indices, values, kept = VowpalWabbitPolicy(seed=0)._encode_tokens(tokens)
    assert len(indices) == len(values) == len(kept) == len(tokens)


def test_the_learned_model_equals_one_learned_from_the_text_lines() -> None:
    frame = awkward_frame(seed=3)
    feedback = feedback_of(frame, seed=4)
    policy = VowpalWabbitPolicy(seed=0)
    policy.learn(feedback)
    from_text = VowpalWabbitPolicy(seed=0)
    labels = labelled_lines(ACTIONS, feedback.chosen, -feedback.rewards, feedback.propensities)
    for row, line in enumerate(shared_lines(frame)):
        actions = [labels[row] if c == feedback.chosen[row] else action_line(ACTIONS[c]) for c in range(len(ACTIONS))]
        eligible = [a for c, a in enumerate(actions) if feedback.eligible[row, c]]
        from_text._native.learn_multi_ex_one([from_text._parse(text) for text in [line, *eligible]])
    assert policy._workspace.serialize() == from_text._workspace.serialize()
