"""The pictures of a comparison's images, drawn from the runs' stored maps (no model): for each
image in common, every run's spread-by map side by side over the image (as the first run saw
it) and the gallery's thumbnail, a strip of every run's map; for the biggest movers of two
runs, the difference of their maps (a diverging colour map centred on 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reportgen.methods import compare_runs
from reportgen.publish import render
from reportgen.publish.comparison import Comparison, ImageRow, Run
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
    difference: str | None  # two runs' movers: the second's map minus the first's
    thumb: str  # every run's map, small, for the galleries
    thumb_width: int
    thumb_height: int


def write_new(folder: Path, name: str, data: bytes | str) -> str:
    """Write the file ``name`` of the fresh folder a comparison is built in, in place: no file
    there is written twice nor read before the folder is published (a temporary file and a
    rename, for each of some 10,000 files, cost more than drawing them). Returns ``name``."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return name


@dataclass(frozen=True)
class Painter:
    """Draws an image in common where :func:`comparison.compare` reads its maps (a worker),
    into ``folder``: a picklable :data:`comparison.Visit`."""

    labels: tuple[str, ...]
    grid: tuple[int, int]
    folder: Path
    style: FigureStyle

    @classmethod
    def of(cls, runs: Sequence[Run], folder: Path, style: FigureStyle) -> Painter:
        for sub in (FIGURES_DIR, THUMBS_DIR):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        grid = compare_runs.common_grid([run.analysis.model.grid for run in runs])
        return cls(tuple(run.label for run in runs), grid, folder, style)

    def __call__(self, stem: str, maps: list[np.ndarray], seen: np.ndarray) -> Drawn:
        return draw(stem, self.labels, maps, seen, self.style, self.folder)

    def with_difference(self, comparison: Comparison, row: ImageRow) -> Drawn:
        """An image's pictures and the difference of its two runs' maps (each scaled to sum 1,
        on the common grid; a diverging colour map centred on 0), its maps read again: drawn
        for the biggest movers only, which are known once every image is compared."""
        maps, seen = comparison.read_image(row)
        first, second = (
            compare_runs.as_distribution(compare_runs.resample(values, self.grid))
            for values in maps
        )
        change = second - first
        bound = float(np.abs(change).max()) or 1.0
        panel = render.Panel(f"{self.labels[1]} - {self.labels[0]}", change, (-bound, bound))
        colorbar = render.Colorbar(f"-{bound:.3g}", f"+{bound:.3g}", "share of attention, B - A")
        drawn = render.compose_figure(
            seen, [panel], cmap=DIFFERENCE_COLORMAP, alpha=0.6, colorbar=colorbar
        )
        difference = write_new(
            self.folder,
            f"{FIGURES_DIR}/{row.ids[0]}-difference{self.style.extension}",
            render.encode_image(drawn, self.style.image_format, self.style.quality),
        )
        return replace(comparison.visited[row.ids[0]], difference=difference)


def draw(
    stem: str,
    labels: Sequence[str],
    maps: Sequence[np.ndarray],
    seen: np.ndarray,
    style: FigureStyle,
    folder: Path,
) -> Drawn:
    """Draw one image in common into ``folder`` (``figures/<stem>``, ``thumbs/<stem>``): the
    runs' spread-by ``maps`` (labelled ``labels``) over ``seen``, side by side."""
    panels = [render.Panel(label, values) for label, values in zip(labels, maps, strict=True)]
    figure = render.compose_figure(
        seen, panels, cmap=style.colormap, alpha=style.alpha, columns=len(panels) + 1
    )
    thumb = render.strip(
        seen, panels, cmap=style.colormap, alpha=style.alpha, panel_size=THUMB_PANEL
    )
    encoded, thumb_bytes = (
        render.encode_image(picture, style.image_format, style.quality)
        for picture in (figure, thumb)
    )
    return Drawn(
        figure=write_new(folder, f"{FIGURES_DIR}/{stem}{style.extension}", encoded),
        width=figure.width,
        height=figure.height,
        difference=None,
        thumb=write_new(folder, f"{THUMBS_DIR}/{stem}{style.extension}", thumb_bytes),
        thumb_width=thumb.width,
        thumb_height=thumb.height,
    )
