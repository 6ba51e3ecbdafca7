"""Typed records of the business report: the log it reads, and the figures it gives.

Examples
--------
>>> Estimate(0.12, 0.10, 0.15).to_dict()
{'value': 0.12, 'lower': 0.1, 'upper': 0.15}
>>> Estimate(float("inf"), 3.0, float("nan")).to_dict()  # not defined: null in JSON
{'value': None, 'lower': 3.0, 'upper': None}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from features.io import write_frame

#: The outcome columns a decision carries once joined (see :func:`experiments.business.loading.join_outcomes`).
OUTCOME_FIELDS: tuple[str, ...] = ("converted", "revenue", "offer_cost", "reward", "delivered")


@dataclass(frozen=True)
class BusinessLog:
    """What the report reads from a simulation or decision-log folder.

    Attributes
    ----------
    purchases
        Purchase events: ``user_id``, ``ts``, ``merchant_id``, ``price``, ``quantity``.
    items
        The catalogue: ``item_id``, ``merchant_id``.
    decisions
        The decision log joined with the outcomes: ``decision_id``, ``user_id``, ``send_at``, ``trigger``,
        ``trigger_kind``, ``action``, ``item_id``, ``converted``, ``revenue``, ``offer_cost``, and where logged
        ``delivered`` (without it every chosen offer counts as sent) and ``reward``.
    holdout
        The global holdout's trigger moments (no message sent): ``user_id``, ``ts`` (when a message would have
        gone out), ``trigger_kind``.
    truth
        Simulator only: per decision the expected reward of every action (``q_<action>``), or ``None``.
    """

    purchases: pl.DataFrame
    items: pl.DataFrame
    decisions: pl.DataFrame
    holdout: pl.DataFrame
    truth: pl.DataFrame | None = None

    def write(self, folder: str | Path) -> None:
        """Write the log as a folder :func:`~experiments.business.loading.load_business_log` reads (Parquet)."""
        folder = Path(folder)
        outcomes = [c for c in ("decision_id", *OUTCOME_FIELDS) if c in self.decisions.columns]
        write_frame(self.purchases.with_columns(type=pl.lit("purchase")), folder / "events.parquet")
        write_frame(self.items, folder / "items.parquet")
        write_frame(self.decisions.drop(outcomes[1:]), folder / "decisions.parquet")
        write_frame(self.decisions.select(outcomes), folder / "outcomes.parquet")
        write_frame(self.holdout, folder / "holdout.parquet")
        if self.truth is not None:
            write_frame(self.truth, folder / "truth.parquet")


@dataclass(frozen=True)
class Estimate:
    """A figure and the ends of its 95% (or ``1 - alpha``) bootstrap interval.

    ``nan`` means not defined (no buyers to take a rate over); ``inf`` an unbounded cost (no incremental
    conversion to divide by). Both become ``null`` in JSON.
    """

    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, float | None]:
        """Return the figure and its ends as JSON-ready floats, ``None`` where not finite."""
        return {"value": _finite(self.value), "lower": _finite(self.lower), "upper": _finite(self.upper)}


@dataclass(frozen=True)
class KpiFigures:
    """One KPI for the treated users, the holdout users and their difference (treated minus holdout)."""

    treated: Estimate
    holdout: Estimate
    incremental: Estimate

    def to_dict(self) -> dict[str, dict[str, float | None]]:
        """Return the three estimates as JSON-ready mappings (see :meth:`Estimate.to_dict`)."""
        return {
            "treated": self.treated.to_dict(),
            "holdout": self.holdout.to_dict(),
            "incremental": self.incremental.to_dict(),
        }


@dataclass(frozen=True)
class CellReport:
    """The figures of one slice of users: everyone, a trigger kind, or a merchant segment.

    Attributes
    ----------
    name
        ``overall``, a trigger kind or a segment.
    n_treated, n_holdout
        Users of the slice in each group.
    kpis
        Per-user KPIs by name (:data:`experiments.business.kpis.KPIS`).
    effects
        Totals over the slice's treated users, with intervals (:data:`experiments.business.kpis.EFFECTS`):
        attributed and incremental orders and revenue, offer cost, acquisition cost.
    """

    name: str
    n_treated: int
    n_holdout: int
    kpis: dict[str, KpiFigures]
    effects: dict[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        """Return the slice's counts, KPIs and effects as JSON-ready data (the name is the caller's key)."""
        return {
            "n_treated": self.n_treated,
            "n_holdout": self.n_holdout,
            "kpis": {name: figures.to_dict() for name, figures in self.kpis.items()},
            "effects": {name: estimate.to_dict() for name, estimate in self.effects.items()},
        }


@dataclass(frozen=True)
class BusinessReport:
    """Treated users against the global holdout: overall, by trigger kind and by merchant segment.

    Attributes
    ----------
    overall, by_trigger_kind, by_segment
        The slices' figures.
    headline
        A paragraph a marketing lead can read.
    period
        First and last send time of the log's moments (ISO 8601, UTC).
    settings
        How the figures were computed: seed, resamples, interval level, take rate, window.
    definitions
        What each KPI, effect and group means, in words.
    warnings
        What a reader must not miss (a small holdout, unbalanced groups).
    truth
        Simulator only: the incremental effect the simulator's truth expects, or ``None``.
    """

    overall: CellReport
    by_trigger_kind: dict[str, CellReport]
    by_segment: dict[str, CellReport]
    headline: str
    period: tuple[str, str]
    settings: dict[str, Any]
    definitions: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    truth: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready object (non-finite figures as ``None``)."""
        return {
            "headline": self.headline,
            "period": {"start": self.period[0], "end": self.period[1]},
            "overall": self.overall.to_dict(),
            "by_trigger_kind": {name: cell.to_dict() for name, cell in self.by_trigger_kind.items()},
            "by_segment": {name: cell.to_dict() for name, cell in self.by_segment.items()},
            "warnings": list(self.warnings),
            "truth": None if self.truth is None else {k: _finite(v) for k, v in self.truth.items()},
            "settings": dict(self.settings),
            "definitions": dict(self.definitions),
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
