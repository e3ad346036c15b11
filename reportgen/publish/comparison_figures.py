"""The pictures of a comparison's images, drawn from the runs' stored maps (no model): for each
image in common, every run's spread-by map side by side over the image (as the first run saw
it), for two runs the difference of their maps (a diverging colour map centred on 0), and the
gallery's thumbnail, a strip of every run's map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen import store
from reportgen.methods import compare_runs
from reportgen.publish import render
from reportgen.publish.comparison import Comparison, ImageRow, spread_map
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import FIGURES_DIR, THUMBS_DIR

DIFFERENCE_COLORMAP = "RdBu_r"  # diverging: blue where B has less, red where it has more
THUMB_PANEL = 96  # longer side of each run's map in a gallery thumbnail, in pixels


@dataclass(frozen=True)
class Drawn:
    """An image's pictures, relative to the comparison's folder."""

    figure: str  # every run's map
    width: int
    height: int
    difference: str | None  # two runs: the second's map minus the first's
    thumb: str  # every run's map, small, for the galleries
    thumb_width: int
    thumb_height: int


def _write(folder: Path, name: str, data: bytes) -> str:
    store.atomic_write(folder / name, data)
    return name


def draw(comparison: Comparison, row: ImageRow, folder: Path, style: FigureStyle) -> Drawn:
    """Draw one image in common into ``folder`` (``figures/<id>...``, ``thumbs/<id>``), named
    by its id in the first run."""
    runs = comparison.runs
    images = [run.image(image_id) for run, image_id in zip(runs, row.ids, strict=True)]
    maps = [spread_map(run, image) for run, image in zip(runs, images, strict=True)]
    seen = runs[0].analysis.record(images[0]).seen_image
    panels = [render.Panel(run.label, values) for run, values in zip(runs, maps, strict=True)]
    stem, extension = row.ids[0], style.extension
    figure = render.compose_figure(
        seen, panels, cmap=style.colormap, alpha=style.alpha, columns=len(panels) + 1
    )
    encoded = render.encode_image(figure, style.image_format, style.quality)
    thumb = render.strip(
        seen, panels, cmap=style.colormap, alpha=style.alpha, panel_size=THUMB_PANEL
    )
    thumb_bytes = render.encode_image(thumb, style.image_format, style.quality)
    difference = None
    if len(runs) == 2:
        first, second = (
            compare_runs.as_distribution(compare_runs.resample(values, comparison.grid))
            for values in maps
        )
        change = second - first
        bound = float(np.abs(change).max()) or 1.0
        panel = render.Panel(f"{runs[1].label} - {runs[0].label}", change, (-bound, bound))
        colorbar = render.Colorbar(f"-{bound:.3g}", f"+{bound:.3g}", "share of attention, B - A")
        drawn = render.compose_figure(
            seen, [panel], cmap=DIFFERENCE_COLORMAP, alpha=0.6, colorbar=colorbar
        )
        difference = _write(
            folder,
            f"{FIGURES_DIR}/{stem}-difference{extension}",
            render.encode_image(drawn, style.image_format, style.quality),
        )
    return Drawn(
        figure=_write(folder, f"{FIGURES_DIR}/{stem}{extension}", encoded),
        width=figure.width,
        height=figure.height,
        difference=difference,
        thumb=_write(folder, f"{THUMBS_DIR}/{stem}{extension}", thumb_bytes),
        thumb_width=thumb.width,
        thumb_height=thumb.height,
    )
