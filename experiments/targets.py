"""The target policy's probabilities on a log: the one place they are loaded, from any of three kinds of target.

A target is named by one string (``spec``):

* a model URI (``models:/offer-policy@champion``, ``models:/offer-policy/3``, ``runs:/<run id>/policy``, any
  ``scheme:/...`` MLflow reads): a policy logged as a pyfunc model
  (:func:`policies.serving.pyfunc.load_policy_model`);
* an existing path to a saved policy: the folder :meth:`policies.base.BasePolicy.save` writes (its
  ``policy.json``, and for VW ``model.vw``), that ``policy.json`` itself, or a pyfunc model folder
  (``MLmodel``);
* an existing Parquet or CSV table of target probabilities, row-aligned with the log: one column ``p_<action>``
  per action of the log (``p_7`` for the integer label 7), rows summing to one. Columns ``p_<a>`` for actions
  the log does not have are allowed only if they are zero throughout (they are then ignored); other columns are
  ignored. Probability on an action a row did not offer is allowed, as the estimators allow it.

A policy scores the log's contexts, actions and eligibility; one that records the actions it learned about
(``actions_``) must know every action eligible somewhere in the log. A VW policy saved before VW policies
recorded them is taken to know the four offers, the only actions the project trained on then.

Bad input raises ``SchemaError`` (a ``ValueError``), ``ValueError`` or ``FileNotFoundError``, naming the column,
the row and the value at fault, before anything is estimated.

Examples
--------
>>> import numpy as np, polars as pl
>>> from policies.base import Feedback
>>> feedback = Feedback(pl.DataFrame({"x": [0.0, 1.0]}), ("7", "9"), np.ones((2, 2), bool), np.array([0, 1]),
...     np.array([1.0, 0.0]), np.array([0.5, 0.5]))
>>> table_probabilities(pl.DataFrame({"p_7": [1.0, 0.2], "p_9": [0.0, 0.8]}), feedback.actions, 2)
array([[1. , 0. ],
       [0.2, 0.8]])
>>> table_probabilities(pl.DataFrame({"p_7": [1.0, 0.2], "p_9": [0.0, 0.7]}), feedback.actions, 2)
Traceback (most recent call last):
...
features.validation.SchemaError: target-probs: row 1 sums to 0.9, not 1 (within 1e-06); 1 row(s) do not sum to 1
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.io import READERS, read_frame
from features.schemas import ACTIONS
from features.validation import SchemaError
from policies.base import POLICY_FILE, BasePolicy, Feedback, load_policy

if TYPE_CHECKING:
    from policies.serving.config import OfferlabConfig

#: How far a row of target probabilities may sum from one.
ROW_SUM_TOLERANCE = 1e-6
#: What a model URI looks like: a scheme of two or more characters, then ``:/``.
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")
#: The file an MLflow model folder holds.
MLMODEL_FILE = "MLmodel"
#: How many names a message lists before it says how many there are in all.
SHOWN = 10


def target_probabilities(
    spec: str | Path, feedback: Feedback, config: OfferlabConfig | None = None
) -> tuple[np.ndarray, str]:
    """``(n, k)`` probabilities of the target ``spec`` on ``feedback``'s rounds and actions, and its description.

    The description is for reports; see the module's docstring for the kinds of target.

    Parameters
    ----------
    spec
        A model URI, a saved policy's folder (or its ``policy.json``), a pyfunc model folder, or a Parquet/CSV
        table of ``p_<action>`` columns.
    feedback
        The logged feedback the target is evaluated on.
    config
        Where MLflow's tracking and registry live, for a model URI; ``None`` keeps MLflow's current setting.
    """
    path = Path(str(spec))
    if path.is_file() and path.suffix.lower() in READERS:
        return table_probabilities(read_frame(path), feedback.actions, feedback.n_rounds), f"table {path}"
    policy, description, where = _located_policy(spec, config)
    return policy_probabilities(policy, feedback, f"target {where}"), description


def target_policy(spec: str | Path, config: OfferlabConfig | None = None) -> tuple[BasePolicy, str]:
    """Load the policy ``spec`` names and a description of it for reports.

    ``spec`` is a model URI, a saved policy's folder or its ``policy.json``, or a pyfunc model folder. For
    callers that score other contexts than a log's own.

    A table of target probabilities is not a policy: it raises ``ValueError``, as a spec naming nothing does.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from policies.bandits.baselines import UniformRandom
    >>> folder = Path(tempfile.mkdtemp()) / "uniform"
    >>> UniformRandom().save(folder)
    >>> policy, described = target_policy(folder)
    >>> policy.name, described.startswith("saved uniform policy")
    ('uniform', True)
    """
    path = Path(str(spec))
    if path.is_file() and path.suffix.lower() in READERS:
        raise ValueError(
            f"target {path}: a table of target probabilities, not a policy that can score other contexts; give a "
            "model URI or a saved policy"
        )
    policy, description, _ = _located_policy(spec, config)
    return policy, description


def _located_policy(spec: str | Path, config: OfferlabConfig | None) -> tuple[BasePolicy, str, str]:
    """Load the policy ``spec`` names, with its description and where it was found (for messages)."""
    text = str(spec)
    path = Path(text)
    if path.exists():
        if path.name == POLICY_FILE and path.is_file():
            path = path.parent
        if (path / POLICY_FILE).is_file():
            policy = load_policy(path)
            return policy, f"saved {policy.name} policy {path}", str(path)
        if (path / MLMODEL_FILE).is_file():
            return (*_model_policy(str(path), config), str(path))
        raise ValueError(
            f"target {path}: neither a saved policy (no {POLICY_FILE}), an MLflow model folder (no {MLMODEL_FILE}) "
            f"nor a table of target probabilities (one of {', '.join(sorted(READERS))})"
        )
    if URI.match(text):
        return (*_model_policy(text, config), text)
    raise FileNotFoundError(
        f"target {text}: no such file or folder, and not a model URI (models:/name@alias, models:/name/version, "
        "runs:/run-id/path)"
    )


def _model_policy(uri: str, config: OfferlabConfig | None) -> tuple[BasePolicy, str]:
    """Load the policy inside a logged or registered pyfunc model, with its description."""
    from mlflow.exceptions import MlflowException

    from policies.serving.config import configure_mlflow
    from policies.serving.pyfunc import load_policy_model

    if config is not None:
        configure_mlflow(config)
    try:
        model = load_policy_model(uri)
    except MlflowException as error:
        raise ValueError(f"target {uri}: MLflow can't load it: {error.message}") from error
    except TypeError as error:
        if not str(error).startswith(f"{uri} is not an offerlab policy model"):
            raise  # a bug, not a model of another kind
        raise ValueError(f"target {error}") from error
    if model.policy is None:
        raise ValueError(f"target {uri}: the model holds no policy")
    return model.policy, f"{model.policy.name} policy {uri}"


def policy_probabilities(policy: BasePolicy, feedback: Feedback, target: str = "target") -> np.ndarray:
    """``(n, k)`` probabilities ``policy`` gives ``feedback``'s actions.

    It is first checked to know every action eligible somewhere in the log.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from policies.bandits.vw import VowpalWabbitPolicy
    >>> trained = VowpalWabbitPolicy(actions=["no_offer", "coupon"])
    >>> feedback = Feedback(pl.DataFrame({"x": [1.0]}), ("0", "1"), np.ones((1, 2), bool), np.array([0]),
    ...     np.array([1.0]), np.array([0.5]))
    >>> policy_probabilities(trained, feedback)
    Traceback (most recent call last):
    ...
    ValueError: target: the vw policy can't score the log's action(s) ['0', '1']; it knows ['no_offer', 'coupon']
    """
    known = known_actions(policy)
    if known is not None:
        offered = [feedback.actions[i] for i in np.flatnonzero(np.asarray(feedback.eligible).any(axis=0))]
        unknown = [a for a in offered if a not in set(known)]
        if unknown:
            raise ValueError(
                f"{target}: the {policy.name} policy can't score the log's action(s) {_listed(unknown)}; "
                f"it knows {_listed(list(known))}"
            )
    return policy.probabilities(feedback.contexts, feedback.actions, feedback.eligible)


def known_actions(policy: BasePolicy) -> tuple[str, ...] | None:
    """Return the actions ``policy`` can score, or ``None`` when it scores any (a policy that learns nothing).

    A policy that learns records them as ``actions_``; a VW policy saved before that record existed was trained
    on the four offers.
    """
    known = getattr(policy, "actions_", None)
    if known is None and policy.name == "vw":
        return ACTIONS
    return None if known is None else tuple(known)


def table_probabilities(frame: pl.DataFrame, actions: Sequence[str], n_rows: int) -> np.ndarray:
    """``(n, k)`` target probabilities from a table's ``p_<action>`` columns.

    Row-aligned with a log of ``n_rows`` rows whose actions are ``actions``; raises ``SchemaError`` naming the
    first fault.
    """
    required = [f"p_{a}" for a in actions]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"target-probs: missing column(s) {_listed(missing)}; expected one p_<action> column per action of "
            f"the log, {_listed(list(actions))}"
        )
    if frame.height != n_rows:
        raise SchemaError(f"target-probs: has {frame.height} rows but the log has {n_rows}; they must be row-aligned")
    extra = [c for c in frame.columns if c.startswith("p_") and c not in set(required)]
    for column in [*required, *extra]:
        _check_column(frame, column)
    positive = [c for c in extra if (frame.get_column(c) > 0).any()]
    if positive:
        row = int((frame.get_column(positive[0]) > 0).arg_true()[0])
        raise SchemaError(
            f"target-probs: column(s) {_listed(positive)} give probability to action(s) the log does not have "
            f"(row {row} has {positive[0]} = {frame[positive[0]][row]!r}); the log's actions are "
            f"{_listed(list(actions))}"
        )
    probs = frame.select(required).to_numpy().astype(float)
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise SchemaError(
            f"target-probs: row {int(bad[0])} sums to {float(sums[bad[0]]):.9g}, not 1 (within {ROW_SUM_TOLERANCE:g}); "
            f"{bad.size} row(s) do not sum to 1"
        )
    return probs


def _check_column(frame: pl.DataFrame, column: str) -> None:
    """Check a probability column: numbers, no nulls, each in [0, 1] (NaN is not)."""
    dtype = frame.schema[column]
    if not dtype.is_numeric():
        raise SchemaError(f"target-probs: column {column!r} has dtype {dtype}, expected a number")
    values = frame.get_column(column)
    nulls = values.is_null()
    if nulls.any():
        raise SchemaError(
            f"target-probs: column {column!r} has {nulls.sum()} null value(s), the first in row {nulls.arg_true()[0]}"
        )
    as_float = values.cast(pl.Float64)
    bad = (~((as_float >= 0) & (as_float <= 1))).arg_true()  # NaN compares false, so it is caught too
    if len(bad):
        row = int(bad[0])
        raise SchemaError(
            f"target-probs: column {column!r} must lie in [0, 1]; row {row} has {float(as_float[row])!r} "
            f"({len(bad)} bad row(s))"
        )


def _listed(names: list[str]) -> str:
    """Format a list for a message: all of it when short, else its first names and how many there are."""
    if len(names) <= SHOWN:
        return repr(names)
    return "[" + ", ".join(map(repr, names[:SHOWN])) + f", ...] ({len(names)} in all)"
