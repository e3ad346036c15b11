"""The report's charts: the spread-entropy histogram, the mean entropy by layer for each level,
the artifact scores and the faithfulness curves; each from the content cache when the same data
was charted before by the same code. matplotlib is imported only where they are drawn (in the
pool)."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import store
from reportgen.methods.faithfulness import FaithfulnessResult
from reportgen.publish import classes, figures, page_model, plots
from reportgen.publish.folders import CHARTS_DIR
from reportgen.results import Analysis
from reportgen.workers import Pool

CHART_NAMES = ("entropy-histogram.svg", "entropy-by-layer.svg")
FAITHFULNESS_CHART = "faithfulness.svg"
OUTCOMES_CHART = "spread-correct-wrong.svg"
ARTIFACT_CHART = "artifact-scores.svg"


def _chart_files(
    entropies: list[float],
    layer_entropies: list[list[float]],
    levels: list[int],
    cache: store.ContentCache | None,
) -> dict[str, bytes]:
    """The report's charts, from the cache when the same entropies were charted before."""
    key = store.content_key(
        {
            "entropies": entropies,
            "layer_entropies": layer_entropies,
            "levels": levels,
            "code": store.source_fingerprint(
                "publish.figures", "publish.plots", "publish.pages", "methods.spread"
            ),
        }
    )
    if cache:
        paths = {name: cache.existing("charts", f"{key}-{name}", "") for name in CHART_NAMES}
        if all(paths.values()):
            return {name: path.read_bytes() for name, path in paths.items()}
    charts = figures.charts(
        entropies, np.array(layer_entropies), levels, page_model.level_colours(max(levels))
    )
    if cache:
        for name, data in charts.items():
            cache.put("charts", f"{key}-{name}", "", data)
    return charts


def _cached_chart(
    cache: store.ContentCache | None, parts: dict[str, Any], make: Callable[[], bytes]
) -> bytes:
    """A chart from the cache when the same data was charted before by the same code."""
    key = store.content_key(parts)
    cached = cache.existing("charts", key, ".svg") if cache else None
    if cached:
        return cached.read_bytes()
    data = make()
    if cache:
        cache.put("charts", key, ".svg", data)
    return data


def start_charts(analysis: Analysis, cache: store.ContentCache | None, pool: Pool) -> Future:
    """Draw the report's charts in the pool (matplotlib is imported only there)."""
    return pool.submit(
        _chart_files,
        [image.entropy for image in analysis.images],
        [list(image.layer_entropies) for image in analysis.images],
        [image.level for image in analysis.images],
        cache,
    )


def write_charts(report: Path, charts: dict[str, bytes]) -> tuple[page_model.Chart, ...]:
    titles = {
        "entropy-histogram.svg": (
            "Spread entropy of all images",
            "Histogram of spread entropy with level boundaries",
        ),
        "entropy-by-layer.svg": (
            "Mean entropy per layer for each level",
            "Line chart of mean attention entropy by layer, one line per level",
        ),
    }
    return tuple(_written_chart(report, name, data, *titles[name]) for name, data in charts.items())


def _svg_size(svg: bytes) -> tuple[int, int]:
    """Pixel size from an SVG's width/height attributes (matplotlib writes them in pt)."""
    head = svg[:2000].decode("utf-8", "replace")
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)', head)
    height = re.search(r'<svg[^>]*\sheight="([\d.]+)', head)
    if not (width and height):
        return 640, 480
    return round(float(width.group(1)) * 4 / 3), round(float(height.group(1)) * 4 / 3)


def _written_chart(report: Path, name: str, data: bytes, title: str, alt: str) -> page_model.Chart:
    """Write an SVG chart into the report's charts folder; the chart as the pages show it."""
    (report / CHARTS_DIR).mkdir(exist_ok=True)
    (report / CHARTS_DIR / name).write_bytes(data)
    width, height = _svg_size(data)
    return page_model.Chart(title, f"{CHARTS_DIR}/{name}", width, height, alt)


def write_faithfulness_chart(
    report: Path, analysis: Analysis, result: FaithfulnessResult, cache: store.ContentCache | None
) -> page_model.Chart:
    """The deletion and insertion curves of the stored faithfulness scores, most faithful map
    first (an order of their own: the scores' order differs between a build and a re-render)."""
    curves = {
        name: (result.maps[name].deletion_curve, result.maps[name].insertion_curve)
        for name in result.ranking()
    }
    data = _cached_chart(
        cache,
        {
            "faithfulness": analysis.faithfulness,
            "code": store.source_fingerprint("publish.plots", "publish.charts"),
        },
        lambda: plots.faithfulness_curves(curves, result.metric),
    )
    return _written_chart(
        report,
        FAITHFULNESS_CHART,
        data,
        "Deletion and insertion curves, mean over the scored images",
        "Line charts of the model's score as patches are deleted or inserted, one line per map",
    )


def write_artifact_chart(
    report: Path, analysis: Analysis, cache: store.ContentCache | None
) -> page_model.Chart | None:
    """The images' artifact scores and each level's mean; None for an analysis made before the
    token-norm view (or with a model that gives no hidden states)."""
    scored = [image for image in analysis.images if image.artifact_score is not None]
    if not scored:
        return None
    scores = [image.artifact_score for image in scored]
    levels = [image.level for image in scored]
    data = _cached_chart(
        cache,
        {"artifact_scores": [scores, levels], "code": store.source_fingerprint("publish.plots")},
        lambda: plots.artifact_score_histogram(scores, levels),
    )
    return _written_chart(
        report,
        ARTIFACT_CHART,
        data,
        "Artifact score of all images (share of high-norm patch tokens), mean per level",
        "Histogram of the images' artifact scores, with a dashed line at each level's mean",
    )


def write_outcomes_chart(
    report: Path, analysis: Analysis, cache: store.ContentCache | None
) -> page_model.Chart | None:
    """Correct against wrong: the spread of misclassified and correct images side by side;
    None unless the labels match the model's classes."""
    if not classes.label_match(analysis).matched:
        return None
    wrong, right = classes.outcome_entropies(analysis.images)
    if not (wrong or right):
        return None
    data = _cached_chart(
        cache,
        {"outcomes": [wrong, right], "code": store.source_fingerprint("publish.plots")},
        lambda: plots.spread_by_outcome({"misclassified": wrong, "correct": right}),
    )
    return _written_chart(
        report,
        OUTCOMES_CHART,
        data,
        "Spread entropy of misclassified and correctly classified images",
        "Violin plots of spread entropy, misclassified images beside correct ones, with medians",
    )
