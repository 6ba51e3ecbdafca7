"""The report page builder and the off-policy evaluation figures."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from experiments.reporting import Page, estimates_forest, ope_report, weight_distribution
from experiments.reporting.plots import N_BINS, WEIGHT_COLOR

DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_page_is_a_standalone_html5_document() -> None:
    text = Page("Title", subtitle="Sub").render()
    assert text.startswith("<!DOCTYPE html>")
    assert "<style>" in text
    assert "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_every_text_is_escaped() -> None:
    page = Page("<T&C>", subtitle='"quoted"')
    page.heading("<h>")
    page.paragraph("a < b & c")
    page.warning("<script>alert(1)</script>")
    page.table(pl.DataFrame({"<col>": ["<cell>"]}), caption="<cap>")
    page.key_values({"<key>": "<value>"}, caption="<kv>")
    page.figure(small_figure(), caption='"alt" <text>')
    text = page.render()
    for raw in ("<T&C>", "<h>", "a < b", "<script>", "<col>", "<cell>", "<cap>", "<key>", "<value>", "<kv>"):
        assert raw not in text
    for escaped in (
        "&lt;T&amp;C&gt;",
        "&quot;quoted&quot;",
        "a &lt; b &amp; c",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ):
        assert escaped in text
    assert 'alt="&quot;alt&quot; &lt;text&gt;"' in text


def test_figure_is_embedded_as_a_png_data_uri_and_closed() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig = plt.figure()
    fig.add_subplot().bar(["a"], [1])
    page = Page("p")
    page.figure(fig, caption="bars")
    (match,) = DATA_URI.findall(page.render())
    assert base64.b64decode(match[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert match[1] == "bars"
    assert not plt.fignum_exists(fig.number)


def test_figure_without_caption_still_has_alt_text() -> None:
    page = Page("p")
    page.figure(small_figure())
    assert DATA_URI.findall(page.render())[0][1] == "figure"


def test_table_formats_floats_and_missing_values() -> None:
    page = Page("p")
    page.table(pl.DataFrame({"name": ["a", None], "value": [0.123456, None], "n": [1200, 3]}), float_format="{:.2f}")
    text = page.render()
    assert '<td class="num">0.12</td>' in text
    assert '<td class="num">1,200</td>' in text
    assert text.count("<td>—</td>") + text.count('<td class="num">—</td>') == 2


@pytest.mark.parametrize(("method", "argument"), [("table", {"a": [1]}), ("figure", "not a figure")])
def test_wrong_argument_types_are_named(method: str, argument: object) -> None:
    with pytest.raises(TypeError, match=f"{method} expects"):
        getattr(Page("p"), method)(argument)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    page = Page("p")
    page.paragraph("first")
    target = page.write(tmp_path / "report.html")
    assert target == tmp_path / "report.html"
    page.paragraph("second")
    page.write(target)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert "second" in target.read_text(encoding="utf-8")


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def broken(self: Page) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(Page, "render", broken)
    with pytest.raises(RuntimeError, match="boom"):
        Page("p").write(target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- the OPE figures -------------------------------------------------------------------------------------------------


def test_weight_distribution_draws_the_positive_weights_and_two_lines() -> None:
    weights = np.array([0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 16.0])
    ax = weight_distribution(weights).axes[0]
    assert len(ax.patches) == N_BINS
    assert sum(patch.get_height() for patch in ax.patches) == 5  # the three zeros are not drawn
    assert {patch.get_facecolor()[:3] for patch in ax.patches} == {to_rgb(WEIGHT_COLOR)}
    assert ax.get_xscale() == "log"
    assert [line.get_xdata()[0] for line in ax.get_lines()] == pytest.approx([weights.mean(), 16.0])
    assert "3 of 8 rounds (37.5%) have weight 0" in ax.get_title(loc="left")


def test_weight_distribution_with_every_weight_zero_says_so() -> None:
    ax = weight_distribution(np.zeros(4)).axes[0]
    assert not ax.patches
    assert [text.get_text() for text in ax.texts] == ["every weight is zero"]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones((2, 2)), "weights must be one-dimensional, got shape (2, 2)"),
        (np.array([1.0, np.nan]), "weights must be finite and non-negative; row 1 is nan"),
        (np.array([-1.0]), "weights must be finite and non-negative; row 0 is -1.0"),
    ],
)
def test_weight_distribution_rejects_bad_weights(weights: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        weight_distribution(weights)


FOREST_ROWS = [
    {"name": "IPS", "value": 0.52, "lower": 0.46, "upper": 0.58},
    {"name": "SNIPS", "value": 0.50, "lower": 0.455, "upper": 0.56},
    {"name": "DR", "value": 0.51, "lower": None, "upper": None},
]


def test_estimates_forest_has_one_row_per_estimate_first_on_top() -> None:
    ax = estimates_forest(FOREST_ROWS, reference=0.43).axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["IPS", "SNIPS", "DR"]
    (container,) = ax.containers
    points, _, (bars,) = container.lines
    assert list(points.get_xdata()) == [0.52, 0.50, 0.51]
    assert list(points.get_ydata()) == [2.0, 1.0, 0.0]
    assert len(bars.get_segments()) == 3
    assert ax.get_legend_handles_labels()[1] == ["policy that wrote the log: 0.430"]
    assert ax.get_xlim()[0] < 0.43


def test_estimates_forest_without_reference_has_no_reference_line() -> None:
    ax = estimates_forest(FOREST_ROWS).axes[0]
    assert len(ax.get_lines()) == 1  # the points only
    assert ax.get_legend_handles_labels() == ([], [])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "estimates_forest needs at least one row"),
        ([{"name": "IPS", "value": 1.0, "lower": 0.0}], "row 0 (IPS) has no 'upper'"),
        ([{"name": "IPS", "value": "high", "lower": 0.0, "upper": 1.0}], "row 0 value must be a number, got 'high'"),
        ([{"name": "IPS", "value": 2.0, "lower": 0.0, "upper": 1.0}], "row 0 (IPS): value 2.0 is outside its interval"),
    ],
)
def test_estimates_forest_rejects_bad_rows(rows: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        estimates_forest(rows)


# --- the OPE report --------------------------------------------------------------------------------------------------


def full_payload(n_rounds: int = 6) -> dict:
    return {
        "n_rounds": n_rounds,
        "n_actions": 3,
        "target": "coupon_always",
        "log": "week47.parquet",
        "alpha": 0.1,
        "estimates": {
            "ips": {"value": 0.52, "lower": 0.46, "upper": 0.58, "se": 0.03},
            "snips": {"value": 0.50, "lower": 0.455, "upper": 0.56, "se": 0.027},
        },
        "logged": {"value": 0.43, "lower": 0.40, "upper": 0.46, "se": 0.015},
        "diagnostics": {
            "effective_sample_size": 3.2,
            "ess_ratio": 0.533,
            "max_weight": 3.0,
            "warnings": ["only 3 rounds match <the target>", "max weight is 3"],
        },
    }


WEIGHTS = np.array([0.0, 3.0, 0.0, 1.5, 1.5, 0.0])


def test_ope_report_has_every_section() -> None:
    text = ope_report(full_payload(), WEIGHTS, title="Coupon for everyone?").render()
    assert (
        "The candidate policy would earn 0.500 per decision (90% interval 0.455 to 0.560), "
        "against 0.430 for the policy that wrote the log." in text
    )
    assert "its whole 90% interval lies above the logging policy&#x27;s value" in text
    assert text.count('class="warning"') == 2
    assert "only 3 rounds match &lt;the target&gt;" in text
    for section in ("Estimates", "Importance weights", "How to read this"):
        assert f"<h2>{section}</h2>" in text
    assert len(DATA_URI.findall(text)) == 2
    assert "candidate: coupon_always · log: week47.parquet · 6 logged decisions · 3 actions" in text
    assert "<td>53.3%</td>" in text  # the ESS ratio as a share
    assert "Policy that wrote the log (observed)" in text


def test_ope_report_needs_only_the_estimates() -> None:
    payload = {"estimates": {"dr": {"value": 12.5}}}
    text = ope_report(payload, WEIGHTS, title="Minimal").render()
    assert (
        "The candidate policy would earn 12.50 per decision; the policy that wrote the log was not evaluated." in text
    )
    assert "The diagnostics raised no warning." in text
    assert 'class="warning"' not in text
    assert len(DATA_URI.findall(text)) == 2


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "payload has no 'estimates'"),
        ({"estimates": []}, "payload['estimates'] must map estimator names to results, got list"),
        ({"estimates": {}}, "payload['estimates'] is empty: nothing to report"),
        ({"estimates": {"ips": {"lower": 0.1}}}, "payload['estimates']['ips'] has no 'value'"),
        ({"estimates": {"ips": {"value": "x"}}}, "payload['estimates']['ips']['value'] must be a number, got 'x'"),
        ({"estimates": {"ips": {"value": 1}}, "logged": {"se": 1}}, "payload['logged'] has no 'value'"),
        ({"n_rounds": 5, "estimates": {"ips": {"value": 1}}}, "6 weights for a payload of n_rounds=5"),
    ],
)
def test_ope_report_rejects_bad_payloads(payload: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ope_report(payload, WEIGHTS, title="t")
