"""A report's compact summary as one self-contained HTML fragment (what a notebook shows for a
:class:`reportgen.notebook.Report`): the level table, the two charts, each level's featured
figure and, with labels, the per-class table; drawn by the report's own code, pictures inlined
as data URLs.

It stays small whatever the number of images: the charts do not grow with it, and the figures
stop at :data:`FIGURES_BUDGET` (the levels past it name their featured image instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportgen.methods import spread
from reportgen.publish import classes, figures, page_model
from reportgen.publish.assemble import inputs_called, members_by_level
from reportgen.publish.escaping import HTML_ESCAPING
from reportgen.publish.explorer import data_url
from reportgen.publish.figures import FigureStyle
from reportgen.publish.templates import Templates
from reportgen.results import Analysis, ImageSummary

TEMPLATE = "summary.notebook.html.j2"
FIGURES_BUDGET = 1_200_000  # characters of figure data URLs: the summary stays under 2 MB
SKIPPED_SHOWN = 5  # skipped files listed with their reason; the rest are counted


@dataclass(frozen=True)
class LevelRow:
    """One spread level of the summary."""

    number: int
    colour: str
    entropy_min: float
    entropy_max: float
    count: int
    featured: ImageSummary  # the image nearest the level's median entropy
    figure: str | None  # its figure as a data URL; None past the budget


def level_rows(analysis: Analysis, style: FigureStyle, budget: int) -> list[LevelRow]:
    """The levels from the most focused, each with its featured figure while ``budget``
    characters of data URLs last."""
    entropies = np.array([image.entropy for image in analysis.images])
    ranges = spread.level_ranges(entropies, np.array([image.level for image in analysis.images]))
    colours = _level_colours(analysis)
    featured = analysis.featured()
    rows = []
    for number, members in members_by_level(analysis).items():
        image = featured[number]
        figure = None
        if budget > 0:
            encoded = figures.image_figure(analysis.record(image), style)
            figure = data_url(f"image/{style.image_format}", encoded.data)
            if len(figure) > budget:
                figure, budget = None, 0
            else:
                budget -= len(figure)
        low, high = ranges[number]
        rows.append(LevelRow(number, colours[number - 1], low, high, len(members), image, figure))
    return rows


def _level_colours(analysis: Analysis) -> list[str]:
    """The colour of each level, 1 to the highest, as the report's sections have them."""
    return page_model.level_colours(max(image.level for image in analysis.images))


def chart_urls(analysis: Analysis) -> dict[str, str]:
    """The report's two charts (:func:`figures.charts`) as SVG data URLs, by file name."""
    charts = figures.charts(
        [image.entropy for image in analysis.images],
        np.array([image.layer_entropies for image in analysis.images]),
        [image.level for image in analysis.images],
        _level_colours(analysis),
    )
    return {name: data_url("image/svg+xml", svg) for name, svg in charts.items()}


def summary_html(analysis: Analysis, title: str, style: FigureStyle, templates: Templates) -> str:
    """The summary of ``analysis`` titled ``title`` (user text, escaped), figures in ``style``;
    with labels, the report's per-class numbers (:func:`classes.class_section`) too."""
    variables = {
        "title": title,
        "model": analysis.model,
        "n_images": len(analysis.images),
        "levels": level_rows(analysis, style, FIGURES_BUDGET),
        "classes": classes.class_section(analysis, _level_colours(analysis), None, None),
        "charts": chart_urls(analysis),
        "skipped": analysis.skipped[:SKIPPED_SHOWN],
        "n_skipped": len(analysis.skipped),
        "inputs_called": inputs_called(analysis.manifest.inputs.source),
    }
    return templates.render(HTML_ESCAPING, TEMPLATE, variables).decode()
