"""The churn evaluation protocol: train on snapshots up to a train date, judge on a later test date.

The model is judged against two baselines: the recency rule (fitted on the train date's labels) and BG/NBD.

Out of time throughout: the model fits on the earlier training snapshots, stops early and is calibrated on the
train snapshot itself, and is scored once on the test snapshot; the labels of every training snapshot end at or
before the test snapshot, so nothing after it is known while training.

BG/NBD needs no label, so it is fitted where a data scientist would fit it to forecast the test period: on the
purchase histories up to the test snapshot (its calibration period ends there). That is the stronger form of
the baseline; fitted on the train snapshot instead, it does worse on CDNOW.

Examples
--------
>>> from datetime import date
>>> protocol = Protocol(date(1997, 6, 30), date(1997, 12, 31), horizon_days=181)
>>> [d.isoformat() for d in protocol.training_snapshots(first_event=date(1997, 1, 1))]
['1997-03-02', '1997-04-01', '1997-05-01', '1997-05-31', '1997-06-30']
>>> Protocol(date(1997, 6, 30), date(1997, 9, 30), horizon_days=181).check()
Traceback (most recent call last):
...
ValueError: horizon of 181 days from the train snapshot 1997-06-30 ends 1997-12-28, after the test snapshot ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from features.churn.baselines import BGNBD, RecencyBaseline
from features.churn.customer_base import PRIOR
from features.churn.dataset import ChurnData, check_snapshots, churn_dataset, data_span
from features.churn.metrics import churn_metrics
from features.churn.model import ChurnModel, ChurnParams, labels, split_out_of_time
from features.churn.tuning import TuningResult, tune


def as_date(value: date | datetime | str) -> date:
    """Read a date from a date, a datetime (its UTC date) or an ISO string, naming the value when it is not one."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise ValueError(f"{value!r} is not an ISO date (e.g. 1997-06-30)") from error


@dataclass(frozen=True)
class Protocol:
    """A train date, a later test date, the horizon, and the earlier snapshots that join the training.

    How many earlier snapshots join, and how far apart (``step_days``; by default the horizon, at most 30 days:
    monthly for long horizons, closer for short logs such as a simulated month).
    """

    train_snapshot: date
    test_snapshot: date
    horizon_days: int = 60
    history: int = 4
    step_days: int | None = None

    @property
    def step(self) -> int:
        """The days between training snapshots."""
        return self.step_days if self.step_days is not None else max(1, min(30, self.horizon_days))

    def check(self) -> None:
        """Raise ``ValueError`` naming the problem if the dates cannot make an out-of-time split."""
        if self.horizon_days < 1:
            raise ValueError(f"horizon must be at least 1 day, got {self.horizon_days}")
        if self.test_snapshot <= self.train_snapshot:
            raise ValueError(
                f"test snapshot {self.test_snapshot} is not after the train snapshot {self.train_snapshot}"
            )
        label_end = self.train_snapshot + timedelta(days=self.horizon_days)
        if label_end > self.test_snapshot:
            raise ValueError(
                f"horizon of {self.horizon_days} days from the train snapshot {self.train_snapshot} ends "
                f"{label_end}, after the test snapshot {self.test_snapshot}: training labels would look past "
                "the test date"
            )

    def training_snapshots(self, first_event: date) -> list[date]:
        """Return the train snapshot and up to ``history`` earlier ones, :attr:`step` days apart, oldest first.

        Each is at least that long after the first event, so every one has some history.
        """
        earliest = first_event + timedelta(days=self.step)
        dates = [self.train_snapshot - timedelta(days=k * self.step) for k in range(self.history + 1)]
        return sorted(d for d in dates if d >= earliest)


@dataclass
class ChurnEvaluation:
    """The fitted model, its test metrics, both baselines' and the sizes."""

    model: ChurnModel
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    n_train: int
    n_test: int
    test: pl.DataFrame = field(repr=False)
    test_proba: np.ndarray = field(repr=False)
    baseline_proba: dict[str, np.ndarray] = field(repr=False)
    tuning: TuningResult | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """Return the JSON the CLI prints."""
        return {
            **{k: self.metrics[k] for k in ("auc", "brier", "pr_auc", "lift_top_decile")},
            "n_train": self.n_train,
            "n_test": self.n_test,
            "baselines": {
                name: {k: values[k] for k in ("auc", "brier", "pr_auc")} for name, values in self.baselines.items()
            },
        }


def check_protocol(events: Any, protocol: Protocol) -> list[date]:
    """Return the training snapshots of ``protocol`` on ``events``.

    A ``ValueError`` names why the dates do not fit the data (cheap: only the data's span is read).
    """
    protocol.check()
    first, last = data_span(events)
    if protocol.train_snapshot < as_date(first):
        raise ValueError(f"train snapshot {protocol.train_snapshot} is before the first event ({as_date(first)})")
    check_snapshots([protocol.test_snapshot], protocol.horizon_days, (first, last))
    snapshots = protocol.training_snapshots(as_date(first))
    if len(snapshots) < 2:
        raise ValueError(
            f"train snapshot {protocol.train_snapshot} leaves fewer than 2 training snapshots after the data start "
            f"{as_date(first)} (need {protocol.step} days of history before each); choose a later date"
        )
    return snapshots


def build_protocol_data(events: Any, items: Any, users: Any, protocol: Protocol) -> tuple[ChurnData, ChurnData]:
    """Training data (every training snapshot) and test data (the test snapshot) for ``protocol``."""
    snapshots = check_protocol(events, protocol)
    train = churn_dataset(events, items, users, snapshots, protocol.horizon_days)
    test = churn_dataset(events, items, users, [protocol.test_snapshot], protocol.horizon_days)
    return train, test


def evaluate(
    events: Any,
    items: Any,
    users: Any,
    protocol: Protocol,
    params: ChurnParams | None = None,
    trials: int = 0,
    seed: int = 0,
    mlflow_experiment_id: str | None = None,
    on_trial: Callable[..., None] | None = None,
) -> ChurnEvaluation:
    """Fit the model and both baselines on the training snapshots, and score all three on the test snapshot.

    The model is tuned by ``trials`` Optuna trials when > 0.
    """
    train, test = build_protocol_data(events, items, users, protocol)
    fit_part, valid_part = split_out_of_time(train.frame)
    tuning = None
    params = params or ChurnParams(seed=seed)
    if trials > 0:
        tuning = tune(
            fit_part,
            valid_part,
            train.feature_columns,
            n_trials=trials,
            seed=seed,
            base=params,
            mlflow_experiment_id=mlflow_experiment_id,
            on_trial=on_trial,
            prior=PRIOR,
        )
        params = tuning.best_params
    model = ChurnModel.fit(
        fit_part, valid_part, train.feature_columns, params, prior=PRIOR, horizon_days=protocol.horizon_days
    )
    y_test = labels(test.frame)
    proba = model.predict_proba(test.frame)
    baseline_proba = {
        "bgnbd": BGNBD().fit(test.frame).predict_proba(test.frame, protocol.horizon_days),
        "recency": RecencyBaseline().fit(valid_part).predict_proba(test.frame),
    }
    return ChurnEvaluation(
        model=model,
        metrics=churn_metrics(y_test, proba),
        baselines={name: churn_metrics(y_test, p) for name, p in baseline_proba.items()},
        n_train=train.frame.height,
        n_test=test.frame.height,
        test=test.frame,
        test_proba=proba,
        baseline_proba=baseline_proba,
        tuning=tuning,
    )


def to_datetime(day: date) -> datetime:
    """Midnight UTC of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
