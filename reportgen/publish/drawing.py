"""Drawing a report's images: each image's figure, gallery thumbnail and sprite (from the
content cache when drawn before), and the archive index's thumbnail of the report."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reportgen import store
from reportgen.methods import spread
from reportgen.publish import figures, render
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import figure_path, sprite_path, thumb_path
from reportgen.record import ImageRecord
from reportgen.results import MAPS_DIR, Analysis, ImageSummary
from reportgen.workers import Pool


@dataclass(frozen=True)
class FigureDrawer:
    """Draws (or takes from the cache) each image's figure, gallery thumbnail and sprite into a
    report folder. Picklable: it runs where the records are made (worker processes, Ray
    workers)."""

    report: Path
    style: FigureStyle
    spread_spec: spread.SpreadSpec
    cache_dir: Path | None = None
    norm_layer: int | None = None  # --norm-layer: the sprites' token-norm panel (None: the last)

    def __call__(
        self,
        image: ImageSummary,
        record: Callable[[], ImageRecord],
        key: str | None = None,
        **which: bool,
    ) -> None:
        """``which``: ``figure``, ``thumb``, ``sprite`` set False to skip one."""
        cache = store.ContentCache(self.cache_dir) if self.cache_dir else None
        _draw(
            self.report,
            image,
            record,
            self.style,
            self.spread_spec,
            cache,
            key,
            norm_layer=self.norm_layer,
            **which,
        )

    def warm_up(self) -> None:
        """What every figure needs, made once per worker before its first one."""
        render.colormap_lut(self.style.colormap)
        render.font()


def draw_stored(
    drawer: FigureDrawer, image: ImageSummary, record_file: Path, which: dict[str, bool]
) -> None:
    """Draw what ``which`` names of one image from its stored record file."""
    record = functools.cache(functools.partial(store.read_record, record_file, image.name))
    drawer(image, record, **which)


def _draw(
    report: Path,
    image: ImageSummary,
    record: Callable[[], ImageRecord],
    style: FigureStyle,
    spread_spec: spread.SpreadSpec,
    cache: store.ContentCache | None = None,
    record_key: str | None = None,
    *,
    norm_layer: int | None = None,
    figure: bool = True,
    thumb: bool = True,
    sprite: bool = True,
) -> None:
    """Draw (or take from the cache) one image's figure, gallery thumbnail and sprite (every
    panel in a row, for the report-wide control) into the report. ``record()`` is called only
    when something has to be drawn. ``norm_layer``: the layer of the sprite's token-norm panel
    (None: the last)."""
    code = store.source_fingerprint("publish.figures", "publish.render")
    parts = {"record": record_key, "style": asdict(style), "code": code}

    def key(**more: Any) -> str | None:
        return store.content_key({**parts, **more}) if cache and record_key else None

    def thumbnail() -> bytes:
        spread_map = spread_spec.select(record().maps)
        return figures.thumbnail(record(), spread_map, style, figures.GALLERY_THUMBNAIL).data

    def image_figure() -> bytes:
        return figures.image_figure(record(), style).data

    def strip() -> bytes:
        return figures.sprite(record(), style, norm_layer).data

    if figure:
        destination = report / figure_path(image, style)
        store.produce(cache, "figures", key(), style.extension, destination, image_figure)
    if thumb:
        thumb_key = key(spread=str(spread_spec), side=figures.GALLERY_THUMBNAIL)
        destination = report / thumb_path(image, style)
        store.produce(cache, "thumbs", thumb_key, style.extension, destination, thumbnail)
    if sprite:
        destination = report / sprite_path(image, style)
        chosen = {"norm_layer": norm_layer} if norm_layer else {}  # keys as before without it
        sprite_key = key(side=figures.SPRITE_PANEL, **chosen)
        store.produce(cache, "sprites", sprite_key, style.extension, destination, strip)


def _write_thumbnail(
    report: Path, record_file: Path, name: str, spread_by: str, style: FigureStyle
) -> None:
    """The archive index's thumbnail of one record: an overlay of the map the levels use."""
    record = store.read_record(record_file, name)
    spread_map = spread.SpreadSpec.parse(spread_by).select(record.maps)
    thumbnail = figures.thumbnail(record, spread_map, style).data
    (report / f"thumbnail{style.extension}").write_bytes(thumbnail)


def start_thumbnail(report: Path, analysis: Analysis, style: FigureStyle, pool: Pool) -> Future:
    """Draw the thumbnail of the featured image of the most focused level, in the pool."""
    featured = analysis.featured()[min(analysis.featured())]
    record_file = analysis.root / MAPS_DIR / f"{featured.id}.npz"
    return pool.submit(
        _write_thumbnail, report, record_file, featured.name, analysis.params.spread_by, style
    )
