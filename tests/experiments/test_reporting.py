"""The report page builder and the off-policy evaluation figures."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import polars as pl
import pytest
from matplotlib.figure import Figure

from experiments.reporting.html import Page

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
