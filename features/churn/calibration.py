"""Calibration maps from a classifier's raw probability to a calibrated one, fitted on out-of-time data.

Two kinds, as scikit-learn names them: ``isotonic`` (a monotone step function, the default: no shape assumed)
and ``platt`` (a logistic curve on the raw log-odds, better with few positives).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> raw = rng.uniform(0.01, 0.99, 2000)
>>> y = (rng.uniform(size=2000) < raw**2).astype(int)  # the raw scores overstate the rate
>>> calibrated = fit_calibrator(raw, y, "isotonic").transform(raw)
>>> bool(abs(calibrated.mean() - y.mean()) < 0.01), bool(abs(raw.mean() - y.mean()) > 0.1)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

CalibrationKind = Literal["isotonic", "platt"]
_EPS = 1e-6


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    clipped = np.clip(p, _EPS, 1 - _EPS)
    return np.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class Calibrator:
    r"""A fitted calibration map (``kind`` and the parameters that define it, so it saves as plain numbers).

    Notes
    -----
    Isotonic: :math:`\hat p = g(p)` with :math:`g` the non-decreasing step function minimising squared error on
    the calibration set (kept as its knots ``x`` and values ``y``, linearly interpolated, clipped at the ends).
    Platt: :math:`\hat p = \sigma(a\,\mathrm{logit}(p) + b)`.
    """

    kind: CalibrationKind
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw ones."""
        probabilities = np.asarray(raw, dtype=np.float64)
        if self.kind == "isotonic":
            return np.interp(probabilities, np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64))
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(probabilities) + self.b)))

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Calibrator:
        """Rebuild the calibrator :meth:`to_dict` wrote."""
        kind = values["kind"]
        if kind not in ("isotonic", "platt"):
            raise ValueError(f"calibration: unknown kind {kind!r}; known: isotonic, platt")
        x, y = (tuple(float(v) for v in values[k]) for k in ("x", "y"))
        return cls(kind=kind, x=x, y=y, a=float(values["a"]), b=float(values["b"]))


def fit_calibrator(raw: np.ndarray, y: np.ndarray, kind: CalibrationKind = "isotonic") -> Calibrator:
    """Fit a calibration map of ``kind`` on raw probabilities and 0/1 outcomes."""
    raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=float)
    if len(raw) != len(y) or len(raw) == 0:
        raise ValueError(f"calibration: {len(raw)} scores and {len(y)} outcomes; need the same, non-zero number")
    if kind == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", tuple(iso.X_thresholds_.tolist()), tuple(iso.y_thresholds_.tolist()))
    if kind == "platt":
        if len(np.unique(y)) < 2:
            return Calibrator("platt", a=0.0, b=float(_logit(np.array([y.mean()]))[0]))
        logistic = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
        return Calibrator("platt", a=float(logistic.coef_[0, 0]), b=float(logistic.intercept_[0]))
    raise ValueError(f"calibration: unknown kind {kind!r}; known: isotonic, platt")
