"""The numeric feature map of a context frame, for the linear bandits: standardised numbers and one-hot levels.

Numeric columns (integers, floats) are centred and scaled by the mean and standard deviation of the frame the
map was fitted on; booleans are 0/1; text and categorical columns become one 0/1 column per level seen when
fitting (a level not seen then is all zeros); a missing value is 0 (the mean, after centring). A constant 1
comes first, for the intercept. Other dtypes (dates, lists) are left out. The map is fitted once and then kept
fixed, so that sufficient statistics accumulated over many batches stay on one scale.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"price": [10.0, 30.0], "channel": ["email", "push"], "verified": [True, None]})
>>> feature_map = ContextFeatureMap.fit(frame)
>>> feature_map.names
('intercept', 'price', 'verified', 'channel=email', 'channel=push')
>>> feature_map.transform(pl.DataFrame({"price": [20.0], "channel": ["sms"], "verified": [False]})).tolist()
[[1.0, 0.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl


@dataclass(frozen=True)
class ContextFeatureMap:
    """A fitted map from context frames to ``(n, d)`` float matrices.

    Attributes
    ----------
    numeric
        The numeric columns with their centre and scale, ``(name, mean, sd)``.
    boolean
        The boolean columns, coded 0/1.
    levels
        The text columns with the levels that get a one-hot column, ``(name, (level, ...))``.
    """

    numeric: tuple[tuple[str, float, float], ...]
    boolean: tuple[str, ...]
    levels: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def fit(cls, contexts: pl.DataFrame) -> ContextFeatureMap:
        """Learn the columns, their centres and scales and the categorical levels from ``contexts``."""
        numeric: list[tuple[str, float, float]] = []
        boolean: list[str] = []
        levels: list[tuple[str, tuple[str, ...]]] = []
        for name, dtype in contexts.schema.items():
            column = contexts.get_column(name)
            if dtype == pl.Boolean:
                boolean.append(name)
            elif dtype.is_numeric():
                values = column.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
                mean = float(values.mean()) if values.size else 0.0
                sd = float(values.std()) if values.size else 0.0
                numeric.append((name, mean, sd if sd > 0 else 1.0))
            elif dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
                seen = column.cast(pl.String).drop_nulls().unique().sort().to_list()
                levels.append((name, tuple(seen)))
        return cls(tuple(numeric), tuple(boolean), tuple(levels))

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the matrix's columns, in order."""
        return (
            "intercept",
            *(name for name, _, _ in self.numeric),
            *self.boolean,
            *(f"{name}={level}" for name, seen in self.levels for level in seen),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The context columns the map reads."""
        return (*(name for name, _, _ in self.numeric), *self.boolean, *(name for name, _ in self.levels))

    def transform(self, contexts: pl.DataFrame) -> np.ndarray:
        """Return the ``(n, d)`` feature matrix of ``contexts``; a missing column is a :class:`ValueError` naming it."""
        missing = [c for c in self.columns if c not in contexts.columns]
        if missing:
            raise ValueError(
                f"missing context feature(s) {missing}; the feature map was fitted on {list(self.columns)}"
            )
        expressions: list[pl.Expr] = [pl.lit(1.0).alias("intercept")]
        for name, mean, sd in self.numeric:
            expressions.append(((pl.col(name).cast(pl.Float64).fill_nan(None) - mean) / sd).alias(name))
        expressions += [pl.col(name).cast(pl.Float64).alias(name) for name in self.boolean]
        for name, seen in self.levels:
            text = pl.col(name).cast(pl.String)
            expressions += [(text == level).cast(pl.Float64).alias(f"{name}={level}") for level in seen]
        design = contexts.select(expressions).fill_null(0.0).to_numpy().astype(float)
        return np.ascontiguousarray(design.reshape(contexts.height, len(expressions)))

    def to_dict(self) -> dict[str, Any]:
        """Describe the map as JSON-ready data, read back by :meth:`from_dict`."""
        return {
            "numeric": [list(entry) for entry in self.numeric],
            "boolean": list(self.boolean),
            "levels": [[name, list(seen)] for name, seen in self.levels],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Sequence[Any]]) -> ContextFeatureMap:
        """Rebuild the map described by :meth:`to_dict`."""
        return cls(
            numeric=tuple((str(n), float(m), float(s)) for n, m, s in data["numeric"]),
            boolean=tuple(str(n) for n in data["boolean"]),
            levels=tuple((str(n), tuple(str(level) for level in seen)) for n, seen in data["levels"]),
        )
