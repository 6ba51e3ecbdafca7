"""The OPE report opened in a real headless Chromium: the screenshot must show both figures.

The figures are found in the screenshot by the exact colours they are drawn
with (:mod:`experiments.reporting.plots` keeps them opaque and named), so the
test fails if an image does not decode, is cut off or is not laid out.

Chromium is a system package: ``make browser`` (run by ``make test`` and so by
CI) installs it on Debian; the test fails, rather than skips, without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from experiments.reporting import ope_report
from experiments.reporting.plots import ESTIMATE_COLOR, INTERVAL_COLOR, REFERENCE_COLOR, WEIGHT_COLOR

WIDTH, HEIGHT = 1200, 2400
WARNING_BACKGROUND = "#fff4d6"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed; this test needs it. Install it with `make browser` (as root: "
            "apt-get update && apt-get install -y chromium)."
        )
    return path


def screenshot(html: Path, png: Path, profile: Path) -> np.ndarray:
    """Render ``html`` at ``WIDTH`` x ``HEIGHT`` CSS pixels, one device pixel each; return its RGB pixels."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--force-color-profile=srgb",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}"
    with Image.open(png) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def mask_of(pixels: np.ndarray, colour: str, tolerance: int = 3) -> np.ndarray:
    target = np.round(np.array(to_rgb(colour)) * 255).astype(int)
    return np.abs(pixels - target).max(axis=2) <= tolerance


def box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the true pixels."""
    rows, cols = np.nonzero(mask)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def distinct_colours(pixels: np.ndarray) -> int:
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    return len(np.unique(packed))


def synthetic_payload(weights: np.ndarray) -> dict:
    return {
        "n_rounds": weights.size,
        "n_actions": 3,
        "target": "coupon_for_lapsing",
        "log": "runs/log.parquet",
        "estimates": {
            "ips": {"value": 0.052, "lower": 0.046, "upper": 0.058, "se": 0.0031},
            "snips": {"value": 0.051, "lower": 0.0455, "upper": 0.056, "se": 0.0027},
            "dr": {"value": 0.0512, "lower": 0.047, "upper": 0.0556, "se": 0.0022},
        },
        "logged": {"value": 0.0431, "lower": 0.0405, "upper": 0.0458, "se": 0.0013},
        "diagnostics": {
            "effective_sample_size": 1830.0,
            "ess_ratio": 0.37,
            "max_weight": float(weights.max()),
            "mean_weight": float(weights.mean()),
            "match_rate": float(np.mean(weights > 0)),
            "warnings": ["effective sample size is 37% of the log"],
        },
    }


@pytest.fixture(scope="module")
def pixels(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(7)
    weights = np.where(rng.random(4000) < 0.4, 0.0, rng.lognormal(0.3, 0.9, 4000))
    html = ope_report(synthetic_payload(weights), weights, title="Coupons for lapsing buyers").write(
        folder / "ope.html"
    )
    assert html.read_text(encoding="utf-8").count('<img src="data:image/png;base64,') == 2
    return screenshot(html, folder / "ope.png", folder / "profile")


def test_screenshot_is_a_rendered_page(pixels: np.ndarray) -> None:
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert distinct_colours(pixels) > 500, "the screenshot is (nearly) blank"
    assert mask_of(pixels, WARNING_BACKGROUND, tolerance=1).sum() > 5_000, "the warning box is not visible"


def test_weight_histogram_is_visible(pixels: np.ndarray) -> None:
    bars = mask_of(pixels, WEIGHT_COLOR)
    assert bars.sum() > 20_000, f"only {bars.sum()} pixels of the histogram's colour"
    top, bottom, left, right = box(bars)
    assert bottom - top > 150, "the histogram is squeezed"
    assert right - left > 400, "the histogram is squeezed"
    assert distinct_colours(pixels[top : bottom + 1, left : right + 1]) > 30


def test_estimates_figure_is_visible_above_the_histogram(pixels: np.ndarray) -> None:
    intervals = mask_of(pixels, INTERVAL_COLOR)
    assert intervals.sum() > 3_000, f"only {intervals.sum()} pixels of the intervals' colour"
    assert mask_of(pixels, ESTIMATE_COLOR).sum() > 100, "the estimates' points are missing"
    assert mask_of(pixels, REFERENCE_COLOR).sum() > 100, "the logging policy's reference line is missing"
    top, bottom, left, right = box(intervals)
    assert distinct_colours(pixels[top : bottom + 1, left : right + 1]) > 30
    assert bottom < box(mask_of(pixels, WEIGHT_COLOR))[0], "the estimates figure should come before the weights"
