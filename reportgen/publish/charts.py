"""The report's charts: the spread-entropy histogram, the mean entropy by layer for each level,
the artifact scores, correct against wrong and the faithfulness curves; each from the content
cache when the same data was charted before by the same code. All are drawn in the pool, where
matplotlib is imported, while the main process writes the explorer data."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
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
    cache: store.ContentCache | None,
    parts: dict[str, Any],
    plot: Callable[..., bytes],
    args: tuple[Any, ...],
) -> bytes:
    """``plot(*args)``, or the chart from the cache when the same ``parts`` (the data charted
    and the code) were charted before."""
    key = store.content_key(parts)
    cached = cache.existing("charts", key, ".svg") if cache else None
    if cached:
        return cached.read_bytes()
    data = plot(*args)
    if cache:
        cache.put("charts", key, ".svg", data)
    return data


@dataclass(frozen=True)
class ChartDrawing:
    """The report's charts as the pool draws them; None for a chart the report has not."""

    entropy: Future  # {file name: SVG} of CHART_NAMES
    artifact: Future | None
    outcomes: Future | None
    faithfulness: Future | None


def start_charts(analysis: Analysis, cache: store.ContentCache | None, pool: Pool) -> ChartDrawing:
    """Start drawing every chart of the report in the pool: matplotlib is imported only there,
    and the main process goes on with the pages meanwhile."""
    entropy = pool.submit(
        _chart_files,
        [image.entropy for image in analysis.images],
        [list(image.layer_entropies) for image in analysis.images],
        [image.level for image in analysis.images],
        cache,
    )
    started = (_artifact_scores(analysis), _outcomes(analysis), _faithfulness(analysis))
    artifact, outcomes, faithfulness = (
        pool.submit(_cached_chart, cache, *chart) if chart else None for chart in started
    )
    return ChartDrawing(entropy, artifact, outcomes, faithfulness)


def _artifact_scores(analysis: Analysis) -> tuple[dict, Callable[..., bytes], tuple] | None:
    """The images' artifact scores and each level's mean; None for an analysis made before the
    token-norm view (or with a model that gives no hidden states), and where every score is 0 (a
    histogram of one bar at 0; the method section says so)."""
    scored = [image for image in analysis.images if image.artifact_score is not None]
    if not any(image.artifact_score for image in scored):
        return None
    scores = [image.artifact_score for image in scored]
    levels = [image.level for image in scored]
    parts = {"artifact_scores": [scores, levels], "code": store.source_fingerprint("publish.plots")}
    return parts, plots.artifact_score_histogram, (scores, levels)


def _outcomes(analysis: Analysis) -> tuple[dict, Callable[..., bytes], tuple] | None:
    """Correct against wrong: the spread of misclassified and correct images side by side;
    None unless the labels match the model's classes."""
    if not classes.label_match(analysis).matched:
        return None
    wrong, right = classes.outcome_entropies(analysis.images)
    if not (wrong or right):
        return None
    parts = {"outcomes": [wrong, right], "code": store.source_fingerprint("publish.plots")}
    return parts, plots.spread_by_outcome, ({"misclassified": wrong, "correct": right},)


def _faithfulness(analysis: Analysis) -> tuple[dict, Callable[..., bytes], tuple] | None:
    """The deletion and insertion curves of the stored faithfulness scores, most faithful map
    first (an order of their own: the scores' order differs between a build and a re-render)."""
    if not analysis.faithfulness:
        return None
    result = FaithfulnessResult.from_json(analysis.faithfulness)
    curves = {
        name: (result.maps[name].deletion_curve, result.maps[name].insertion_curve)
        for name in result.ranking()
    }
    parts = {
        "faithfulness": analysis.faithfulness,
        "code": store.source_fingerprint("publish.plots", "publish.charts"),
    }
    return parts, plots.faithfulness_curves, (curves, result.metric)


@dataclass(frozen=True)
class WrittenCharts:
    """The charts written into the report, as its pages show them."""

    spread: tuple[page_model.Chart, ...]  # the entropy charts and the artifact scores'
    outcomes: page_model.Chart | None
    faithfulness: page_model.Chart | None


def write_charts(report: Path, drawing: ChartDrawing) -> WrittenCharts:
    """Write the charts of ``drawing`` into the report's charts folder once drawn."""
    spread = write_entropy_charts(report, drawing.entropy.result())
    artifact = _written_when_drawn(
        report,
        drawing.artifact,
        ARTIFACT_CHART,
        "Artifact score of all images (share of high-norm patch tokens), mean per level",
        "Histogram of the images' artifact scores, with a dashed line at each level's mean",
    )
    outcomes = _written_when_drawn(
        report,
        drawing.outcomes,
        OUTCOMES_CHART,
        "Spread entropy of misclassified and correctly classified images",
        "Violin plots of spread entropy, misclassified images beside correct ones, with medians",
    )
    faithfulness = _written_when_drawn(
        report,
        drawing.faithfulness,
        FAITHFULNESS_CHART,
        "Deletion and insertion curves, mean over the scored images",
        "Line charts of the model's score as patches are deleted or inserted, one line per map",
    )
    return WrittenCharts(spread + ((artifact,) if artifact else ()), outcomes, faithfulness)


def _written_when_drawn(
    report: Path, drawing: Future | None, name: str, title: str, alt: str
) -> page_model.Chart | None:
    """:func:`_written_chart` of a chart once drawn; None for one not drawn."""
    return _written_chart(report, name, drawing.result(), title, alt) if drawing else None


def write_entropy_charts(report: Path, charts: dict[str, bytes]) -> tuple[page_model.Chart, ...]:
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
