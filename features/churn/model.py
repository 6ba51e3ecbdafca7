"""The churn model: a LightGBM classifier of "no purchase within the horizon", calibrated out of time.

Each score comes with its top reasons, from LightGBM's own feature contributions.

Training is out of time only: the booster learns from earlier snapshots, stops early and is calibrated on a
later one (:func:`split_out_of_time`), and is judged on a later one still.

Examples
--------
>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> def frame(n, snapshot):
...     idle = rng.exponential(30, n)
...     churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-(idle - 40) / 10))).astype(np.int8)
...     return pl.DataFrame({"user_id": [f"u{i}" for i in range(n)], "snapshot": [snapshot] * n,
...                          "idle": idle, "noise": rng.normal(size=n), "churned": churned})
>>> model = ChurnModel.fit(frame(3000, 0), frame(1000, 1), ["idle", "noise"], ChurnParams(n_estimators=50))
>>> p = model.predict_proba(frame(5, 2))
>>> bool(((p >= 0) & (p <= 1)).all()), model.best_iteration > 0
(True, True)
>>> model.explain(frame(2, 2), top=1)["reason_1"].str.starts_with("idle").to_list()
[True, True]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from features.churn.calibration import CalibrationKind, Calibrator, fit_calibrator
from features.churn.columns import LABEL
from features.io import atomic_path, write_bytes

_BOOSTER_FILE = "booster.txt"
_META_FILE = "churn_model.json"


@dataclass(frozen=True)
class ChurnParams:
    """LightGBM settings (the ones Optuna tunes, and the fixed ones).

    The defaults are small, heavily regularised trees: they correct a prior (the BG/NBD churn probability)
    rather than learn churn from scratch, and must not chase features whose range drifts between the training
    and the test snapshots (on CDNOW, three splits, they beat both larger trees and the prior alone). A learning
    rate of 0.1 gives the same CDNOW figures as 0.03 with a quarter of the trees (protocol: 159 against 713), so
    training and scoring cost a quarter.
    """

    num_leaves: int = 7
    learning_rate: float = 0.1
    min_child_samples: int = 400
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l1: float = 0.0
    lambda_l2: float = 10.0
    n_estimators: int = 400
    early_stopping_rounds: int = 50
    seed: int = 0
    #: One thread by default: LightGBM's OpenMP threads spin when the cores are shared (other jobs, pytest -n 2)
    #: and run ten times slower there (measured: 28 ms against 250-280 ms an iteration on 88k rows, 2 busy cores).
    num_threads: int = 1

    def lightgbm(self) -> dict[str, Any]:
        """Return the parameters as ``lightgbm.train`` takes them."""
        params = asdict(self)
        for key in ("n_estimators", "early_stopping_rounds"):
            params.pop(key)
        return {
            "objective": "binary",
            "metric": ["binary_logloss", "auc"],
            "verbosity": -1,
            "deterministic": True,
            "force_row_wise": True,
            **params,
        }


def features_matrix(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Return the model's inputs as float32 (nulls as NaN, which LightGBM routes as missing)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"churn features: missing column {missing[0]!r} ({len(missing)} of {len(columns)} missing)")
    return frame.select(pl.col(list(columns)).cast(pl.Float32)).to_numpy()


def labels(frame: pl.DataFrame) -> np.ndarray:
    """Return the 0/1 label column."""
    if LABEL not in frame.columns:
        raise ValueError(f"churn data: missing label column {LABEL!r}")
    return frame[LABEL].cast(pl.Int8).to_numpy()


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


def prior_scores(frame: pl.DataFrame, prior: str | None) -> np.ndarray | None:
    """Return the log-odds the booster starts from: ``logit(frame[prior])``, or None without a prior."""
    if prior is None:
        return None
    if prior not in frame.columns:
        raise ValueError(f"churn data: missing prior column {prior!r}")
    values = frame[prior].cast(pl.Float64)
    if values.null_count():
        raise ValueError(f"churn data: prior column {prior!r} has {values.null_count()} missing value(s)")
    return logit(values.to_numpy())


def lightgbm_set(
    frame: pl.DataFrame, columns: Sequence[str], prior: str | None, reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    """Build a LightGBM dataset of ``frame``: its features, its label and, with a prior, its log-odds.

    The prior's log-odds are the initial score; ``feature_pre_filter`` is off, so one binned dataset serves
    settings with any leaf size.
    """
    return lgb.Dataset(
        features_matrix(frame, columns),
        labels(frame),
        init_score=prior_scores(frame, prior),
        feature_name=list(columns),
        reference=reference,
        free_raw_data=False,
        params={"feature_pre_filter": False},
    )


def train_booster(
    params: ChurnParams, train_set: lgb.Dataset, valid_set: lgb.Dataset, callbacks: Sequence[Any] = ()
) -> lgb.Booster:
    """Boost on ``train_set`` until the log loss on ``valid_set`` (named ``valid``) stops improving.

    It stops after ``params.early_stopping_rounds`` rounds without improvement; ``callbacks`` run too (e.g.
    Optuna's pruning).
    """
    return lgb.train(
        params.lightgbm(),
        train_set,
        num_boost_round=params.n_estimators,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False), *callbacks],
    )


def split_out_of_time(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows of the earlier snapshots (to fit) and of the latest one (to stop early and calibrate)."""
    snapshots = frame["snapshot"].unique().sort()
    if snapshots.len() < 2:
        raise ValueError(
            f"churn training needs at least 2 snapshots (earlier ones to fit, the latest to validate); got "
            f"{snapshots.len()}"
        )
    latest = snapshots[-1]
    return frame.filter(pl.col("snapshot") < latest), frame.filter(pl.col("snapshot") == latest)


@dataclass
class ChurnModel:
    """A fitted booster, its calibration map and the feature columns it reads (in order)."""

    booster: lgb.Booster
    calibrator: Calibrator
    feature_columns: list[str]
    params: ChurnParams = field(default_factory=ChurnParams)
    best_iteration: int = 0
    prior: str | None = None
    horizon_days: int | None = None
    prior_center: float = 0.0

    @classmethod
    def fit(
        cls,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        feature_columns: Sequence[str],
        params: ChurnParams | None = None,
        calibration: CalibrationKind = "platt",
        callbacks: Sequence[Any] = (),
        prior: str | None = None,
        horizon_days: int | None = None,
    ) -> ChurnModel:
        """Fit on ``train``, stop early on ``valid`` (log loss) and calibrate on ``valid``.

        With ``prior`` (a column of probabilities, e.g. the BG/NBD churn probability), the booster starts from
        its log-odds and learns corrections to it (LightGBM's ``init_score``); scoring adds it back.
        ``horizon_days`` is recorded: the horizon the label (and the prior) look ahead.
        """
        params = params or ChurnParams()
        columns = list(feature_columns)
        for name, part in (("training", train), ("validation", valid)):
            if part.height == 0:
                raise ValueError(f"churn {name} data: no rows")
        train_set = lightgbm_set(train, columns, prior)
        valid_set = lightgbm_set(valid, columns, prior, reference=train_set)
        booster = train_booster(params, train_set, valid_set, callbacks)
        best = booster.best_iteration or booster.current_iteration()
        start = prior_scores(train, prior)
        center = float(start.mean()) if start is not None else 0.0
        model = cls(
            booster, fit_calibrator(np.zeros(1), np.zeros(1)), columns, params, best, prior, horizon_days, center
        )
        model.calibrator = fit_calibrator(model.raw_proba(valid), labels(valid), calibration)
        return model

    def raw_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Return the uncalibrated probability of churn: the booster's score on top of the prior's log-odds, if any."""
        x = features_matrix(frame, self.feature_columns)
        score: NDArray[np.float64] = np.asarray(
            self.booster.predict(x, num_iteration=self.best_iteration, raw_score=True), dtype=np.float64
        )
        start = prior_scores(frame, self.prior)
        if start is not None:
            score = score + start
        return 1.0 / (1.0 + np.exp(-score))

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Return the calibrated probability of churn, one per row."""
        return self.calibrator.transform(self.raw_proba(frame))

    def explain(self, frame: pl.DataFrame, top: int = 3) -> pl.DataFrame:
        r"""Return each row's ``top`` reasons, as ``reason_k`` ("feature=value (+0.42)").

        The reasons are the features whose LightGBM contributions (SHAP values on the log-odds scale) push its
        score up the most.

        Notes
        -----
        ``predict(pred_contrib=True)`` splits each raw score into one additive contribution per feature plus a
        bias (TreeSHAP); the reasons are the largest positive contributions, those that raise the churn risk.
        With a prior, the score is :math:`\mathrm{logit}(p_0) + \sum_j \phi_j + b`; the prior enters as one
        more reason, named ``<prior> (prior)``, contributing :math:`\mathrm{logit}(p_0) - c` with :math:`c` its
        mean over the training rows.
        """
        x = features_matrix(frame, self.feature_columns)
        contributions = np.asarray(self.booster.predict(x, num_iteration=self.best_iteration, pred_contrib=True))
        per_feature = contributions[:, :-1]
        columns = list(self.feature_columns)
        start = prior_scores(frame, self.prior)
        if start is not None:
            per_feature = np.column_stack([per_feature, start - self.prior_center])
            x = np.column_stack([x, frame[str(self.prior)].cast(pl.Float32).to_numpy()])
            columns.append(f"{self.prior} (prior)")
        order = np.argsort(-per_feature, axis=1, kind="stable")[:, :top]
        names = np.asarray(columns, dtype=object)
        out: dict[str, Any] = {"user_id": frame["user_id"]} if "user_id" in frame.columns else {}
        rows = np.arange(len(x))
        for k in range(min(top, len(columns))):
            feature = order[:, k]
            values, pushes = x[rows, feature], per_feature[rows, feature]
            out[f"reason_{k + 1}"] = [
                f"{name}={_short(value)} ({push:+.2f})"
                for name, value, push in zip(names[feature], values.tolist(), pushes.tolist(), strict=True)
            ]
        return pl.DataFrame(out)

    def importance(self) -> pl.DataFrame:
        """Gain importance per feature, largest first."""
        gain = self.booster.feature_importance(importance_type="gain", iteration=self.best_iteration)
        return pl.DataFrame({"feature": self.feature_columns, "gain": gain.astype(float)}).sort("gain", descending=True)

    def save(self, folder: str | Path) -> None:
        """Write the booster (LightGBM's text format) and the rest (JSON) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / _BOOSTER_FILE) as tmp:
            self.booster.save_model(str(tmp), num_iteration=self.best_iteration)
        meta = {
            "feature_columns": self.feature_columns,
            "calibrator": self.calibrator.to_dict(),
            "params": asdict(self.params),
            "best_iteration": self.best_iteration,
            "prior": self.prior,
            "horizon_days": self.horizon_days,
            "prior_center": self.prior_center,
        }
        write_bytes(json.dumps(meta, indent=1).encode(), folder / _META_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> ChurnModel:
        """Read the model :meth:`save` wrote."""
        folder = Path(folder)
        meta = json.loads((folder / _META_FILE).read_text())
        booster = lgb.Booster(model_file=str(folder / _BOOSTER_FILE))
        return cls(
            booster,
            Calibrator.from_dict(meta["calibrator"]),
            list(meta["feature_columns"]),
            ChurnParams(**meta["params"]),
            int(meta["best_iteration"]),
            meta.get("prior"),
            meta.get("horizon_days"),
            float(meta.get("prior_center", 0.0)),
        )


def _short(value: float) -> str:
    if np.isnan(value):
        return "missing"
    return f"{value:.4g}"
