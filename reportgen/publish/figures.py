"""What goes into a report's pictures: the panels of each image's figure and the two charts.

Turns records and summaries into encoded image bytes via ``render`` (pixels) and ``plots``
(charts); knows nothing about files or pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reportgen.methods import maps, spread
from reportgen.publish import plots, render
from reportgen.record import ImageRecord

AGGREGATE_PANELS = ("max", "min", "mean")


@dataclass(frozen=True)
class FigureStyle:
    """How overlays look; part of a report's parameters."""

    colormap: str = "jet"
    alpha: float = 0.5
    image_format: str = "webp"
    quality: int = 80
    panel_size: int = 160

    @property
    def extension(self) -> str:
        return render.FORMAT_EXTENSIONS[self.image_format]


def panels(record: ImageRecord) -> list[tuple[str, np.ndarray]]:
    """The labelled maps of one figure: L1..LN, then max, min, mean and rollout."""
    layer_maps = record.layer_maps()
    labelled = [(f"L{index}", layer) for index, layer in enumerate(layer_maps, start=1)]
    labelled += [(how, maps.aggregate(layer_maps, how)) for how in AGGREGATE_PANELS]
    labelled.append(("rollout", record.rollout.astype(np.float64)))
    return labelled


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int


def _encoded(image, style: FigureStyle) -> EncodedImage:
    return EncodedImage(render.encode_image(image, style.image_format, style.quality), *image.size)


def image_figure(record: ImageRecord, style: FigureStyle) -> EncodedImage:
    """The figure of one image: the input as the model saw it, then every overlay."""
    figure = render.compose_figure(
        record.seen_image,
        panels(record),
        cmap=style.colormap,
        alpha=style.alpha,
        panel_size=style.panel_size,
    )
    return _encoded(figure, style)


def thumbnail(record: ImageRecord, spread_map: np.ndarray, style: FigureStyle) -> EncodedImage:
    """A small overlay of the map the levels use, for the archive index."""
    overlay = render.overlay(record.seen_image, spread_map, style.colormap, style.alpha)
    return _encoded(render.thumbnail(overlay), style)


def charts(
    entropies: Sequence[float],
    layer_entropies: np.ndarray,
    levels: Sequence[int],
    colours: Sequence[str],
) -> dict[str, bytes]:
    """The report's two SVG charts: entropy histogram with level boundaries, entropy by depth."""
    values = np.asarray(entropies)
    level_array = np.asarray(levels)
    return {
        "entropy-histogram.svg": plots.entropy_histogram(
            values, spread.level_boundaries(values, level_array), colours
        ),
        "entropy-by-layer.svg": plots.layer_entropy_plot(layer_entropies, level_array),
    }
