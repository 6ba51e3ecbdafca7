"""The off-policy evaluation report: the CLI's JSON result as a page a marketing lead can read.

The page opens with one sentence (what the candidate policy would earn per
decision, against the policy that wrote the log), then the diagnostics'
warnings, the estimates (table and figure), the importance weights (table and
figure), and a short guide to reading them.

Examples
--------
>>> import numpy as np
>>> payload = {
...     "n_rounds": 4, "n_actions": 2, "target": "coupon_always", "log": "week47.parquet",
...     "estimates": {"snips": {"value": 0.5, "lower": 0.4, "upper": 0.6, "se": 0.05}},
...     "logged": {"value": 0.3, "lower": 0.25, "upper": 0.35, "se": 0.025},
...     "diagnostics": {"ess_ratio": 0.5, "warnings": ["only 2 rounds match"]},
... }
>>> page = ope_report(payload, np.array([0.0, 2.0, 0.0, 2.0]), title="Coupon for everyone?")
>>> print(headline(payload))
The candidate policy would earn 0.500 per decision (95% interval 0.400 to 0.600),
against 0.300 for the policy that wrote the log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from experiments.reporting.html import Page
from experiments.reporting.plots import as_number, estimates_forest, short_number, weight_distribution

HEADLINE_PREFERENCE = ("dr", "snips", "ips", "dm")
"""Which estimate the headline quotes, first present wins: DR, the default estimator (it covered the truth in the
estimator study, docs/benchmarks.md), then SNIPS, bounded by the rewards and model-free."""

ESTIMATOR_NAMES = {
    "ips": "IPS (inverse propensity weighting)",
    "snips": "SNIPS (self-normalised IPS)",
    "dm": "DM (direct method, reward model)",
    "dr": "DR (doubly robust)",
    "sndr": "SNDR (self-normalised doubly robust)",
    "switch-dr": "Switch-DR (model where weights are large)",
    "dr-os": "DR-OS (doubly robust, optimistic shrinkage)",
    "logged": "Policy that wrote the log (observed)",
}

DIAGNOSTIC_NAMES = {
    "effective_sample_size": "Effective sample size (rounds the estimate effectively rests on)",
    "ess_ratio": "Effective sample size as a share of the log",
    "max_weight": "Largest importance weight",
    "mean_weight": "Mean importance weight (about 1 when all is well)",
    "match_rate": "Share of rounds where the candidate could take the logged action",
    "support_deficit_rate": "Share of rounds where the candidate puts mass on actions the logger never takes",
    "support_deficit_mass": "Candidate's mean probability on such actions",
}

SHARES = frozenset({"ess_ratio", "match_rate", "support_deficit_rate", "support_deficit_mass"})
"""Diagnostics that are fractions of the log (or of probability), shown as percentages."""

HOW_TO_READ = (
    "Each estimate re-weights the logged decisions: a round counts more when the candidate policy is more likely "
    "than the logging policy to take the action that was actually taken, and not at all when the candidate would "
    "never take it. The interval is a bootstrap interval: if it excludes the value of the policy that wrote the "
    "log, the difference is unlikely to be noise, though the two intervals overlapping does not prove there is "
    "no difference.",
    "Trust the numbers less when the warnings above fire, when the effective sample size is a small share of the "
    "log, or when a single weight is huge (the weights figure has a long right tail): then a handful of rounds "
    "decide the estimate. When the estimators disagree with each other, prefer a test on live traffic.",
)


def ope_report(payload: Mapping[str, Any], weights: np.ndarray, *, title: str) -> Page:
    """Build the report page from the JSON payload of ``offerlab ope`` and the importance weights.

    Parameters
    ----------
    payload
        ``{"estimates": {name: {"value", "lower", "upper", "se"}}, ...}``; optional keys:
        ``n_rounds``, ``n_actions``, ``target``, ``log``, ``alpha``, ``logged``
        (the logging policy's own value, same fields as an estimate) and
        ``diagnostics`` (numbers by name, and ``warnings``, a list of strings).
    weights
        ``(n,)`` importance weights of the target on the log, finite and non-negative.
    title
        The page title.

    Returns
    -------
    Page
        Ready to :meth:`~experiments.reporting.html.Page.write`.

    Examples
    --------
    >>> import numpy as np
    >>> ope_report({"estimates": {}}, np.ones(3), title="t")
    Traceback (most recent call last):
    ...
    ValueError: payload['estimates'] is empty: nothing to report
    >>> ope_report({"n_rounds": 5, "estimates": {"ips": {"value": 1.0}}}, np.ones(3), title="t")
    Traceback (most recent call last):
    ...
    ValueError: 3 weights for a payload of n_rounds=5
    """
    estimates = _estimates(payload)
    w = np.asarray(weights, dtype=float)
    n_rounds = payload.get("n_rounds")
    if n_rounds is not None and w.shape != (n_rounds,):
        raise ValueError(f"{w.size} weights for a payload of n_rounds={n_rounds}")
    logged = _logged(payload)
    diagnostics: dict[str, Any] = {str(name): value for name, value in (payload.get("diagnostics") or {}).items()}
    warnings = [str(text) for text in diagnostics.pop("warnings", None) or []]
    level = _level(payload)

    page = Page(title, subtitle=_subtitle(payload))
    page.paragraph(headline(payload))
    lift = _lift(payload, estimates)
    page.paragraph(_verdict(estimates, logged, level) if not lift else _lift_verdict(lift, payload, estimates, level))
    for text in warnings:
        page.warning(text)
    if not warnings:
        page.paragraph("The diagnostics raised no warning.")

    page.heading("Estimates")
    rows = [{"name": _estimator_name(name), **values} for name, values in estimates.items()]
    if logged:
        rows.append({"name": ESTIMATOR_NAMES["logged"], **logged})
    page.table(_estimates_frame(rows), caption=f"Value per decision with {level} intervals", float_format=_format(rows))
    forest_rows = [row for row in rows if row["name"] != ESTIMATOR_NAMES["logged"]]
    reference = logged["value"] if logged else None
    caption = "Each estimator's value (point) and interval (bar)"
    page.figure(
        estimates_forest(forest_rows, reference=reference, title=f"Estimated value per decision, {level} intervals"),
        caption=caption + ("; the dashed line is the policy that wrote the log." if logged else "."),
    )

    if lift:
        reference_name = str(payload.get("reference") or "logged")
        against = "the policy that wrote the log" if reference_name == "logged" else reference_name
        page.table(
            _estimates_frame([{"name": _estimator_name(name), **values} for name, values in lift.items()]),
            caption=f"Difference from {against}, paired on the same rounds, with {level} intervals",
            float_format=_format(list(lift.values())),
        )

    page.heading("Importance weights")
    if diagnostics:
        page.key_values(
            {DIAGNOSTIC_NAMES.get(name, name): _diagnostic_text(name, value) for name, value in diagnostics.items()},
            caption="Diagnostics",
        )
    page.figure(
        weight_distribution(w, title="How much each logged round counts"),
        caption="Histogram of the importance weights (log scale), with the mean and the largest weight marked.",
    )

    page.heading("How to read this")
    for text in HOW_TO_READ:
        page.paragraph(text)
    return page


def headline(payload: Mapping[str, Any]) -> str:
    """One sentence: the candidate's value per decision, its interval, and the logging policy's value.

    Examples
    --------
    >>> headline({"estimates": {"ips": {"value": 12.5, "lower": None, "upper": None}}})
    'The candidate policy would earn 12.50 per decision; the policy that wrote the log was not evaluated.'
    """
    estimates = _estimates(payload)
    name = next((n for n in HEADLINE_PREFERENCE if n in estimates), next(iter(estimates)))
    best = estimates[name]
    sentence = f"The candidate policy would earn {short_number(best['value'])} per decision"
    lower, upper = best["lower"], best["upper"]
    if math.isfinite(lower) and math.isfinite(upper):
        sentence += f" ({_level(payload)} interval {short_number(lower)} to {short_number(upper)})"
    logged = _logged(payload)
    if logged:
        return sentence + f", against {short_number(logged['value'])} for the policy that wrote the log."
    return sentence + "; the policy that wrote the log was not evaluated."


def _lift(payload: Mapping[str, Any], estimates: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Return the payload's paired differences (``lift``) of the estimators it reports, as plain floats."""
    lift = payload.get("lift") or {}
    if not isinstance(lift, Mapping):
        raise ValueError(f"payload['lift'] must be a mapping of estimator to interval, got {type(lift).__name__}")
    return {
        str(name): {key: float(values.get(key, math.nan)) for key in ("value", "lower", "upper", "se")}
        for name, values in lift.items()
        if name in estimates and isinstance(values, Mapping)
    }


def _lift_verdict(
    lift: Mapping[str, Mapping[str, float]], payload: Mapping[str, Any], estimates: Mapping[str, Any], level: str
) -> str:
    """State in one sentence what the paired difference of the headline estimator says."""
    name = next((n for n in HEADLINE_PREFERENCE if n in lift), next(iter(lift)))
    row = lift[name]
    reference = str(payload.get("reference") or "logged")
    against = "the policy that wrote the log" if reference == "logged" else reference
    shown = f"{row['value']:+.3f} per decision ({level} interval {row['lower']:+.3f} to {row['upper']:+.3f})"
    if row["lower"] > 0:
        verdict = "the candidate is better"
    elif row["upper"] < 0:
        verdict = "the candidate is worse"
    else:
        verdict = "no clear difference"
    return (
        f"Paired on the same logged rounds, {_estimator_name(name)} puts the candidate's difference from {against} "
        f"at {shown}: {verdict}."
    )


def _verdict(estimates: Mapping[str, Mapping[str, float]], logged: Mapping[str, float] | None, level: str) -> str:
    name = next((n for n in HEADLINE_PREFERENCE if n in estimates), next(iter(estimates)))
    source = f"The headline quotes {_estimator_name(name)}"
    if not logged:
        return source + "."
    reference = logged["value"]
    lower, upper = estimates[name]["lower"], estimates[name]["upper"]
    if lower > reference:
        position = f"its whole {level} interval lies above the logging policy's value"
    elif upper < reference:
        position = f"its whole {level} interval lies below the logging policy's value"
    elif math.isfinite(lower) and math.isfinite(upper):
        position = f"its {level} interval contains the logging policy's value: no clear difference"
    else:
        return source + "."
    return f"{source}; {position}."


def _estimates(payload: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Return the payload's estimates as plain floats (NaN where a bound is missing), checked."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a mapping (the JSON of `offerlab ope`), got {type(payload).__name__}")
    estimates = payload.get("estimates")
    if estimates is None:
        raise ValueError("payload has no 'estimates'")
    if not isinstance(estimates, Mapping):
        raise ValueError(f"payload['estimates'] must map estimator names to results, got {type(estimates).__name__}")
    if not estimates:
        raise ValueError("payload['estimates'] is empty: nothing to report")
    return {str(name): _result(values, f"payload['estimates'][{name!r}]") for name, values in estimates.items()}


def _logged(payload: Mapping[str, Any]) -> dict[str, float] | None:
    """Return the logging policy's own result, or ``None`` when the payload has none."""
    logged = payload.get("logged")
    return _result(logged, "payload['logged']") if logged else None


def _result(values: object, where: str) -> dict[str, float]:
    if not isinstance(values, Mapping) or values.get("value") is None:
        raise ValueError(f"{where} has no 'value'")
    return {key: as_number(values.get(key), f"{where}[{key!r}]") for key in ("value", "lower", "upper", "se")}


def _format(rows: list[dict[str, Any]]) -> str:
    """Four decimals for rates and small values, two (with separators) once any value reaches one.

    Examples
    --------
    >>> _format([{"value": 0.05}]), _format([{"value": 12.5}, {"value": 0.5}])
    ('{:.4f}', '{:,.2f}')
    """
    largest = max((abs(row["value"]) for row in rows if math.isfinite(row["value"])), default=0.0)
    return "{:,.2f}" if largest >= 1 else "{:.4f}"


def _estimates_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per estimate; polars keeps NaN as NaN, which the page shows as a dash."""
    return pl.DataFrame(
        {
            "estimator": [row["name"] for row in rows],
            "value": [row["value"] for row in rows],
            "lower": [row["lower"] for row in rows],
            "upper": [row["upper"] for row in rows],
            "standard error": [row["se"] for row in rows],
        },
        schema={"estimator": pl.String, **dict.fromkeys(("value", "lower", "upper", "standard error"), pl.Float64)},
    )


def _diagnostic_text(name: str, value: object) -> object:
    """Shares as percentages, counts and weights as short numbers; anything else as given.

    Examples
    --------
    >>> [_diagnostic_text(name, value) for name, value in [("ess_ratio", 0.3661), ("effective_sample_size", 1830.2)]]
    ['36.6%', '1,830']
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if name in SHARES:
        return f"{value:.1%}"
    if name == "effective_sample_size":
        return f"{value:,.0f}"
    return short_number(float(value))


def _subtitle(payload: Mapping[str, Any]) -> str:
    parts = []
    if payload.get("target"):
        parts.append(f"candidate: {payload['target']}")
    if payload.get("log"):
        parts.append(f"log: {payload['log']}")
    if payload.get("n_rounds") is not None:
        parts.append(f"{int(payload['n_rounds']):,} logged decisions")
    if payload.get("n_actions") is not None:
        parts.append(f"{int(payload['n_actions'])} actions")
    return " · ".join(parts) or "Off-policy evaluation"


def _level(payload: Mapping[str, Any]) -> str:
    alpha = as_number(payload.get("alpha", 0.05), "payload['alpha']")
    return f"{1 - alpha:.0%}" if math.isfinite(alpha) else "95%"


def _estimator_name(name: str) -> str:
    return ESTIMATOR_NAMES.get(name, name)
