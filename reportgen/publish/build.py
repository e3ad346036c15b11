"""The archive site: building a report into a staging folder and publishing it atomically.

Layout::

    site/index.html                  archive index (every report)
    site/.nojekyll                   GitHub Pages serves the tree as is
    site/reports/<slug>/index.html   html flavour     README.md   gfm flavour
                        jekyll/      jekyll flavour   figures/ charts/ thumbnail
                        gallery/ images/ thumbs/      galleries and image pages (large reports)
                        manifest.json                 data/       results store
                        versions/<n>/                 earlier versions, each a report of its own

A report is assembled in a hidden folder next to ``reports/`` and swapped in with one rename, so
a build that fails or is killed leaves the published site exactly as it was. Building into a
slug that holds a report keeps that report as ``versions/<n>/`` (unless told to replace it); a
rebuild that would give the same report publishes nothing. Files that did not change (maps,
figures, thumbnails, pages) are hard links to the content cache, so a rebuild writes only what
is new and the old report is removed quickly.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import store, table
from reportgen.errors import ReportgenError, os_error
from reportgen.manifest import MANIFEST_FILE, READ_ERRORS, ReportManifest, VersionLink
from reportgen.methods import spread
from reportgen.methods.faithfulness import FaithfulnessResult
from reportgen.progress import track
from reportgen.publish import (
    explorer,
    figures,
    flavours,
    gallery,
    page_model,
    pages,
    plots,
    render,
    staging,
    versions,
)
from reportgen.publish.figures import FigureStyle
from reportgen.publish.staging import REPORTS_DIR, VERSIONS_DIR
from reportgen.publish.templates import Templates
from reportgen.record import ImageRecord
from reportgen.results import AUTO, MAPS_DIR, Analysis, ImageSummary, build_time, write_results
from reportgen.slugs import slugify
from reportgen.workers import InlinePool, Pool, open_pool

DATA_DIR = "data"
FIGURES_DIR = "figures"
THUMBS_DIR = "thumbs"
SPRITES_DIR = "sprites"
CHARTS_DIR = "charts"
CURRENT_FROM_VERSION = "../.."  # the current version's folder, seen from versions/<n>/
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ReportOptions:
    """How a report is titled, dated and rendered (the analysis has its own options)."""

    title: str | None = None
    slug: str | None = None
    date: dt.date | None = None
    description: str | None = None
    tags: tuple[str, ...] = ("vision-transformer", "attention")
    categories: tuple[str, ...] = ("XAI",)
    formats: tuple[str, ...] = flavours.DEFAULT_FORMATS
    style: FigureStyle = field(default_factory=FigureStyle)
    templates_dir: Path | None = None
    gallery_threshold: int = 50  # more images than this: galleries and a page per image
    typical: int = 3  # with galleries: images in full per level on the front page
    page_size: int = 200  # thumbnails per gallery page
    # each flavour's own options by flavour name (see publish.flavours; missing: the defaults)
    flavour_options: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> ReportOptions:
        flavours.check_names(self.formats)
        if self.templates_dir is not None and not Path(self.templates_dir).is_dir():
            raise ReportgenError(f"templates folder not found: {self.templates_dir}")
        if self.slug is not None and slugify(self.slug) != self.slug:
            raise ReportgenError(
                f"--slug {self.slug!r} is not a slug; use lower-case letters, digits and '-', "
                f"e.g. {slugify(self.slug)!r}"
            )
        if not 0.0 <= self.style.alpha <= 1.0:
            raise ReportgenError("--alpha must be in [0, 1]")
        if self.style.normalise not in figures.NORMALISATIONS:
            raise ReportgenError(
                f"--normalise must be one of {', '.join(figures.NORMALISATIONS)}, "
                f"got {self.style.normalise!r}"
            )
        if self.style.image_format not in render.FORMAT_EXTENSIONS:
            raise ReportgenError(f"unknown image format {self.style.image_format!r}")
        if self.gallery_threshold < 0:
            raise ReportgenError("--gallery-threshold must be 0 or more")
        if self.typical < 1:
            raise ReportgenError("--typical must be at least 1")
        if self.page_size < 1:
            raise ReportgenError("--page-size must be at least 1")
        render.colormap_lut(self.style.colormap)  # an unknown colormap fails here, not mid-build
        return replace(self, flavour_options=flavours.options(stored=self.flavour_options))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat() if self.date else None
        data["templates_dir"] = None  # a local path: not part of the archived report
        del data["flavour_options"]  # stored as the flavours' entries, every flavour's
        return {**data, **flavours.options_to_json(flavours.options(stored=self.flavour_options))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportOptions:
        data = dict(data)
        data["date"] = dt.date.fromisoformat(data["date"]) if data["date"] else None
        data["flavour_options"] = flavours.options_from_json(data)
        data["style"] = FigureStyle.from_json(data["style"])
        for key in ("tags", "categories", "formats"):
            data[key] = tuple(data[key])
        return cls(**data)


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` to a date, with a clear error."""
    if not _DATE.fullmatch(text):
        raise ReportgenError(f"--date must look like 2024-05-24, got {text!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise ReportgenError(f"--date {text}: {error}") from None


def _report_time(options: ReportOptions) -> tuple[dt.datetime, str]:
    """The time recorded in the report: SOURCE_DATE_EPOCH, else --date, else the clock."""
    if os.environ.get("SOURCE_DATE_EPOCH") or options.date is None:
        return build_time()
    return dt.datetime.combine(options.date, dt.time(), dt.UTC), "--date"


def _with_defaults(options: ReportOptions, inputs: str, created: dt.datetime) -> ReportOptions:
    """Title and slug from the name of the inputs (a source's name), date from the time."""
    inputs = inputs or "images"
    return replace(
        options,
        date=options.date or created.date(),
        title=options.title or f"Where a Vision Transformer looks: {inputs}",
        slug=options.slug or slugify(inputs, fallback="report"),
    )


# --- files and publishing -------------------------------------------------------------------


def report_files(root: Path) -> list[str]:
    """The files of the report in ``root``, as sorted POSIX paths relative to it: all files below
    it except its manifest and its earlier versions (each has a manifest of its own)."""
    names = []
    for folder, subfolders, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        if relative == os.curdir:
            subfolders[:] = [name for name in subfolders if name != VERSIONS_DIR]
            files = [name for name in files if name != MANIFEST_FILE]
        prefix = "" if relative == os.curdir else relative.replace(os.sep, "/") + "/"
        names += [prefix + name for name in files]
    return sorted(names)  # strings, not Path objects: a large report has 100,000s of files


def _file_hashes(root: Path) -> dict[str, str]:
    """sha256 of each of :func:`report_files`, by name."""
    return {name: store.sha256_of(root / name) for name in report_files(root)}


# --- rendering a report ---------------------------------------------------------------------


def _figure_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{FIGURES_DIR}/{image.id}{style.extension}"


def _thumb_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{THUMBS_DIR}/{image.id}{style.extension}"


def _sprite_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{SPRITES_DIR}/{image.id}{style.extension}"


@dataclass(frozen=True)
class FigureDrawer:
    """Draws (or takes from the cache) each image's figure, gallery thumbnail and sprite into a
    report folder. Picklable: it runs where the records are made (worker processes, Ray
    workers)."""

    report: Path
    style: FigureStyle
    spread_spec: spread.SpreadSpec
    cache_dir: Path | None = None

    def __call__(
        self,
        image: ImageSummary,
        record: Callable[[], ImageRecord],
        key: str | None = None,
        **which: bool,
    ) -> None:
        """``which``: ``figure``, ``thumb``, ``sprite`` set False to skip one."""
        cache = store.ContentCache(self.cache_dir) if self.cache_dir else None
        _draw(self.report, image, record, self.style, self.spread_spec, cache, key, **which)

    def warm_up(self) -> None:
        """What every figure and chart needs, made once per worker before its first one."""
        render.colormap_lut(self.style.colormap)
        render.font()
        plots.warm_up()


def _draw_stored(
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
    figure: bool = True,
    thumb: bool = True,
    sprite: bool = True,
) -> None:
    """Draw (or take from the cache) one image's figure, gallery thumbnail and sprite (every
    panel in a row, for the report-wide control) into the report. ``record()`` is called only
    when something has to be drawn."""
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
        return figures.sprite(record(), style).data

    if figure:
        destination = report / _figure_path(image, style)
        store.produce(cache, "figures", key(), style.extension, destination, image_figure)
    if thumb:
        thumb_key = key(spread=str(spread_spec), side=figures.GALLERY_THUMBNAIL)
        destination = report / _thumb_path(image, style)
        store.produce(cache, "thumbs", thumb_key, style.extension, destination, thumbnail)
    if sprite:
        destination = report / _sprite_path(image, style)
        sprite_key = key(side=figures.SPRITE_PANEL)
        store.produce(cache, "sprites", sprite_key, style.extension, destination, strip)


_IMAGE_SIZES: dict[tuple[int, int, int, int], tuple[int, int]] = {}


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, remembered by its inode: a rebuild's figures and
    thumbnails are links to the files of the build before, and archiving renders them twice."""
    from PIL import Image

    stat = os.stat(path)
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if identity not in _IMAGE_SIZES:
        with Image.open(path) as opened:
            _IMAGE_SIZES[identity] = opened.size
    return _IMAGE_SIZES[identity]


def _figure_entry(
    report: Path, image: ImageSummary, style: FigureStyle, inline_explorer: bool = False
) -> page_model.Figure:
    path = _figure_path(image, style)
    width, height = _image_size(report / path)
    return page_model.Figure(
        image.name,
        path,
        width,
        height,
        image.entropy,
        image.level,
        image.predictions,
        sprite=_sprite_path(image, style),
        explorer=explorer.files(image.id) if inline_explorer else None,
    )


def _by_level(analysis: Analysis) -> dict[int, list[ImageSummary]]:
    """The images of each level, from the most focused to the most spread (ties: input order)."""
    members: dict[int, list[ImageSummary]] = {}
    for image in sorted(analysis.images, key=lambda image: (image.entropy, image.index)):
        members.setdefault(image.level, []).append(image)
    return dict(sorted(members.items()))


def _levels(
    report: Path, analysis: Analysis, options: ReportOptions, with_galleries: bool
) -> tuple[page_model.Level, ...]:
    """The levels as the front page shows them: a single-page report folds all but the featured
    figure below it; a report with galleries shows the typical figures and links the gallery."""
    entropies = np.array([image.entropy for image in analysis.images])
    level_numbers = np.array([image.level for image in analysis.images])
    ranges = spread.level_ranges(entropies, level_numbers)
    colours = page_model.level_colours(max(ranges))
    style = options.style

    def front_figure(image: ImageSummary) -> page_model.Figure:
        """A single-page report has each figure's explorer inline."""
        return _figure_entry(report, image, style, inline_explorer=not with_galleries)

    sections = []
    for number, members in _by_level(analysis).items():
        shown = options.typical if with_galleries else 1
        typical_indices = spread.typical_indices(entropies, level_numbers, number, shown)
        typical = [analysis.images[index] for index in typical_indices]
        shown_ids = {image.id for image in typical}
        others = [] if with_galleries else [i for i in members if i.id not in shown_ids]
        n_pages = len(gallery.paginate(len(members), options.page_size)) if with_galleries else 0
        sections.append(
            page_model.Level(
                number=number,
                colour=colours[number - 1],
                entropy_min=ranges[number][0],
                entropy_max=ranges[number][1],
                typical=tuple(front_figure(image) for image in typical),
                others=tuple(front_figure(image) for image in others),
                count=len(members),
                gallery=tuple(
                    page_model.gallery_page_name(number, "entropy", page)
                    for page in range(1, n_pages + 1)
                ),
                gallery_by_name=page_model.gallery_page_name(number, "name", 1)
                if with_galleries
                else None,
            )
        )
    return tuple(sections)


def _gallery_pages(
    report: Path, analysis: Analysis, options: ReportOptions
) -> tuple[list[page_model.GalleryPage], list[page_model.ImagePage]]:
    """Every gallery page (each level, both orders) and every image's page."""
    style, page_size = options.style, options.page_size
    colours = page_model.level_colours(max(image.level for image in analysis.images))
    by_level = _by_level(analysis)
    galleries: list[page_model.GalleryPage] = []
    image_pages: dict[str, page_model.ImagePage] = {}
    for number, members in by_level.items():
        mark = page_model.LevelMark(number, colours[number - 1])
        thumbs = [
            page_model.Thumb(
                image.id,
                image.name,
                _thumb_path(image, style),
                *_image_size(report / _thumb_path(image, style)),
                image.entropy,
                sprite=_sprite_path(image, style),
            )
            for image in members
        ]
        galleries += gallery.level_pages(mark, thumbs, tuple(by_level), page_size)
        for position, image in enumerate(members):
            image_pages[image.id] = page_model.ImagePage(
                id=image.id,
                figure=_figure_entry(report, image, style),
                level=mark,
                sha256=image.sha256,
                size_bytes=image.size_bytes,
                original_size=image.original_size,
                layer_entropies=image.layer_entropies,
                artifact_counts=image.artifact_counts,
                gallery=page_model.gallery_page_name(number, "entropy", position // page_size + 1),
                maps_file=f"{DATA_DIR}/{table.maps_file(image.id)}",
                table_file=f"{DATA_DIR}/{table.TABLE_FILE}",
                explorer=explorer.files(image.id),
            )
    return galleries, [image_pages[image.id] for image in analysis.images]


def _write_explorer(
    report: Path,
    analysis: Analysis,
    options: ReportOptions,
    templates: Templates,
    cache: store.ContentCache | None,
) -> None:
    """The explorer of the image pages: its scripts, and each image's data (from the cache when
    the same maps file was prepared before)."""
    style = options.style
    explorer.write_shared(report, style.colormap, style.alpha, templates)
    code = store.source_fingerprint("publish.explorer", "store")  # store: reads, quantises
    for image in track(analysis.images, total=len(analysis.images), desc="explorer data"):
        maps_path = analysis.root / table.maps_file(image.id)
        key = None
        if cache is not None:
            key = store.content_key({"maps": store.file_sha256(maps_path, cache), "code": code})

        def make(image: ImageSummary = image, maps_path: Path = maps_path) -> str:
            webp = explorer.seen_image_webp(maps_path)
            return explorer.data_script(analysis.record(image), webp)

        destination = report / explorer.files(image.id).data
        store.produce(cache, "explorer", key, ".js", destination, make)


CHART_NAMES = ("entropy-histogram.svg", "entropy-by-layer.svg")


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


FAITHFULNESS_CHART = "faithfulness.svg"


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


def _write_faithfulness(
    report: Path, analysis: Analysis, cache: store.ContentCache | None
) -> page_model.Faithfulness | None:
    """The "Which map to trust" section from the stored scores, with its chart."""
    if not analysis.faithfulness:
        return None
    result = FaithfulnessResult.from_json(analysis.faithfulness)
    curves = {
        name: (scores.deletion_curve, scores.insertion_curve)
        for name, scores in result.maps.items()
    }
    data = _cached_chart(
        cache,
        {"faithfulness": analysis.faithfulness, "code": store.source_fingerprint("publish.plots")},
        lambda: plots.faithfulness_curves(curves, result.metric),
    )
    (report / CHARTS_DIR).mkdir(exist_ok=True)
    (report / CHARTS_DIR / FAITHFULNESS_CHART).write_bytes(data)
    width, height = _svg_size(data)
    chart = page_model.Chart(
        "Deletion and insertion curves, mean over the scored images",
        f"{CHARTS_DIR}/{FAITHFULNESS_CHART}",
        width,
        height,
        "Line charts of the model's score as patches are deleted or inserted, one line per map",
    )
    return page_model.Faithfulness(
        metric=result.metric,
        steps=result.steps,
        images=result.images,
        baseline=result.baseline,
        scores=tuple(
            page_model.MapScore(
                name, result.maps[name].deletion_auc, result.maps[name].insertion_auc
            )
            for name in result.ranking()
        ),
        chart=chart,
    )


def _start_charts(analysis: Analysis, cache: store.ContentCache | None, pool: Pool) -> Future:
    """Draw the report's charts in the pool (matplotlib is imported only there)."""
    return pool.submit(
        _chart_files,
        [image.entropy for image in analysis.images],
        [list(image.layer_entropies) for image in analysis.images],
        [image.level for image in analysis.images],
        cache,
    )


def _write_charts(report: Path, charts: dict[str, bytes]) -> tuple[page_model.Chart, ...]:
    (report / CHARTS_DIR).mkdir(exist_ok=True)
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
    written = []
    for name, data in charts.items():
        (report / CHARTS_DIR / name).write_bytes(data)
        title, alt = titles[name]
        width, height = _svg_size(data)
        written.append(page_model.Chart(title, f"{CHARTS_DIR}/{name}", width, height, alt))
    return tuple(written)


def _svg_size(svg: bytes) -> tuple[int, int]:
    """Pixel size from an SVG's width/height attributes (matplotlib writes them in pt)."""
    head = svg[:2000].decode("utf-8", "replace")
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)', head)
    height = re.search(r'<svg[^>]*\sheight="([\d.]+)', head)
    if not (width and height):
        return 640, 480
    return round(float(width.group(1)) * 4 / 3), round(float(height.group(1)) * 4 / 3)


def _write_thumbnail(
    report: Path, record_file: Path, name: str, spread_by: str, style: FigureStyle
) -> None:
    """The archive index's thumbnail of one record: an overlay of the map the levels use."""
    record = store.read_record(record_file, name)
    spread_map = spread.SpreadSpec.parse(spread_by).select(record.maps)
    thumbnail = figures.thumbnail(record, spread_map, style).data
    (report / f"thumbnail{style.extension}").write_bytes(thumbnail)


def _start_thumbnail(report: Path, analysis: Analysis, style: FigureStyle, pool: Pool) -> Future:
    """Draw the thumbnail of the featured image of the most focused level, in the pool."""
    featured = analysis.featured()[min(analysis.featured())]
    record_file = analysis.root / MAPS_DIR / f"{featured.id}.npz"
    return pool.submit(
        _write_thumbnail, report, record_file, featured.name, analysis.options.spread_by, style
    )


@dataclass(frozen=True)
class ReportVersion:
    """Which version of its report a rendering is, and the earlier ones it lists."""

    number: int
    archived: bool = False  # an earlier version, in the current one's versions/ folder
    history: tuple[page_model.VersionEntry, ...] = ()


def _render_pages(
    report: Path,
    analysis: Analysis,
    options: ReportOptions,
    templates: Templates,
    cache: store.ContentCache | None,
    version: ReportVersion,
    pool: Pool | None = None,
) -> None:
    """Charts, thumbnail, pages, results table and manifest for a report whose figures (and,
    for one with galleries, thumbnails) exist; the charts and the thumbnail are drawn in
    ``pool`` (default: here) while the pages are prepared."""
    pool = pool or InlinePool()
    drawing_charts = _start_charts(analysis, cache, pool)
    drawing_thumbnail = _start_thumbnail(report, analysis, options.style, pool)
    pages.write_overlay_script(report, templates)
    pages.write_explorer_style(report, templates)
    with_galleries = len(analysis.images) > options.gallery_threshold
    galleries, image_pages = ([], [])
    _write_explorer(
        report, analysis, options, templates, cache
    )  # image pages, or inline (single page)
    if with_galleries:
        galleries, image_pages = _gallery_pages(report, analysis, options)
    else:
        shutil.rmtree(report / THUMBS_DIR, ignore_errors=True)
    manifest = analysis.manifest
    spec = analysis.spread_spec
    faithfulness = _write_faithfulness(report, analysis, cache)
    charts = _write_charts(report, drawing_charts.result())
    drawing_thumbnail.result()
    context = page_model.ReportContext(
        title=options.title,
        slug=options.slug,
        date=options.date,
        description=options.description
        or (
            f"Where {analysis.model.model_id} looks in {len(analysis.images)} images: CLS "
            "attention per layer, aggregates, rollout and spread levels"
        ),
        tags=options.tags,
        categories=options.categories,
        model=analysis.model,
        spread_map=spec.describe(analysis.rollout_start_layer),
        params={
            **analysis.options.parameters(),
            **asdict(options.style),
            "levels_used": max(image.level for image in analysis.images),
        },
        levels=_levels(report, analysis, options, with_galleries),
        charts=charts,
        skipped=tuple(analysis.skipped),
        n_images=len(analysis.images),
        versions=manifest.libraries,
        created_utc=manifest.created_utc,
        reportgen_commit=manifest.program.commit,
        reportgen_version=manifest.program.version,
        time_source=manifest.time_source,
        manifest_file=MANIFEST_FILE,
        data_dir=f"{DATA_DIR}/",
        rollout_start_layer=analysis.rollout_start_layer,
        rollout_auto=analysis.options.rollout_start_layer == AUTO,
        artifacts_mode=manifest.artifacts.mode if manifest.artifacts else None,
        masked_per_layer=manifest.artifacts.masked_per_layer if manifest.artifacts else (),
        normalise=options.style.normalise,
        faithfulness=faithfulness,
        version=version.number,
        current_folder=CURRENT_FROM_VERSION if version.archived else None,
        history=version.history,
        typical_per_level=options.typical if with_galleries else 1,
    )
    pages.render_report(
        context,
        report,
        options.formats,
        galleries=galleries,
        images=image_pages,
        templates=templates,
        options=options.flavour_options,
        cache=cache,
    )
    if not version.archived:  # an earlier version keeps its data as published
        figure_files = {image.id: _figure_path(image, options.style) for image in analysis.images}
        write_results(
            report / DATA_DIR,
            analysis.images,
            analysis.skipped,
            figure_files,
            analysis.faithfulness,
        )
    ReportManifest(
        analysis=manifest,
        report=options.to_json(),
        files=_file_hashes(report),
        version=version.number,
        archived=version.archived,
        history=tuple(VersionLink(entry.number, entry.folder) for entry in version.history),
        fingerprint=_fingerprint(analysis, options),
    ).write(report)


def _fingerprint(analysis: Analysis, options: ReportOptions) -> str:
    """What makes two builds the same report: the inputs, the model, the parameters, the results
    they gave and the report options, templates included; not the date, so a rebuild on another
    day is the same report."""
    report = options.to_json()
    del report["date"]
    report["templates_dir"] = _file_hashes(options.templates_dir) if options.templates_dir else None
    manifest = analysis.manifest.to_json()
    return store.content_key(
        {
            "inputs": manifest["inputs"],
            "model": manifest["model"],
            "parameters": manifest["parameters"],
            "results": _results_hashes(analysis),
            "report": report,
        }
    )


def _results_hashes(analysis: Analysis) -> dict[str, str]:
    """sha256 of the results store's files; for the table, of its content without the figures'
    paths that publishing adds, so a build, its re-renders and an identical rebuild agree."""
    hashes = _file_hashes(analysis.root)
    if table.TABLE_FILE in hashes:
        digest = hashlib.sha256()  # row by row: no second copy of a large table in memory
        for image in analysis.images:
            digest.update(store.canonical_json(image.to_row()).encode())
        hashes[table.TABLE_FILE] = digest.hexdigest()
    return hashes


def cache_at(cache_dir: Path | None) -> store.ContentCache:
    return store.ContentCache(cache_dir or store.default_cache_dir())


def _bytecode_dir(cache: store.ContentCache | None) -> Path | None:
    """Where compiled templates are kept between runs (Jinja re-checks their source)."""
    return cache.root / "templates" if cache else None


def read_manifest(report_dir: Path) -> ReportManifest:
    """The manifest of a published report, or an error saying the folder is not one."""
    try:
        manifest = ReportManifest.read(report_dir)
        ReportOptions.from_json(manifest.report)
    except READ_ERRORS as error:
        raise ReportgenError(f"{report_dir} is not a reportgen report: {error}") from None
    return manifest


def _version_entry(manifest: ReportManifest, folder: str) -> page_model.VersionEntry:
    report = manifest.report
    return page_model.VersionEntry(
        number=manifest.version,
        date=report["date"],
        model_id=manifest.analysis.model.model_id,
        n_images=len(manifest.analysis.inputs.images),
        folder=folder,
        formats=tuple(report["formats"]),
    )


def history(report_dir: Path) -> tuple[page_model.VersionEntry, ...]:
    """The earlier versions kept in a report's ``versions/`` folder, newest first (folders
    without a readable manifest are left out; ``verify`` reports them)."""
    entries = []
    for folder in (Path(report_dir) / VERSIONS_DIR).glob("[0-9]*"):
        try:
            manifest = read_manifest(folder)
        except ReportgenError:
            continue
        entries.append(_version_entry(manifest, f"{VERSIONS_DIR}/{folder.name}"))
    return versions.newest_first(entries)


def update_index(site_dir: Path, templates: Templates | None = None) -> Path:
    """Rewrite ``site/index.html`` from the manifests of every published report."""
    entries = []
    for folder in sorted((site_dir / REPORTS_DIR).glob("[!.]*/")):
        try:
            manifest = read_manifest(folder)
        except ReportgenError:
            continue  # not a reportgen report: leave it out of the index
        current = _version_entry(manifest, f"{REPORTS_DIR}/{folder.name}")
        page = flavours.standalone_page(current.formats) or ""
        thumbnail = f"thumbnail{FigureStyle.from_json(manifest.report['style']).extension}"
        entries.append(
            page_model.IndexEntry(
                title=manifest.report["title"],
                date=current.date,
                model_id=current.model_id,
                n_images=current.n_images,
                href=f"{current.folder}/{page}",
                thumbnail=f"{current.folder}/{thumbnail}"
                if (folder / thumbnail).is_file()
                else None,
                version=current.number,
                n_versions=1 + len(history(folder)),
            )
        )
    entries.sort(key=lambda entry: (entry.date, entry.title), reverse=True)
    index = site_dir / "index.html"
    with tempfile.TemporaryDirectory(dir=site_dir, prefix=staging.staging_prefix()) as temp:
        staged = Path(temp) / "index.html"
        pages.render_index(entries, staged, templates)
        os.replace(staged, index)
    (site_dir / ".nojekyll").touch()
    return index


def _index_after_publishing(report_dir: Path, site_dir: Path, templates: Templates) -> None:
    """Update the site index once ``report_dir`` is published; failing now is a message that
    says the report itself is in place."""
    try:
        update_index(site_dir, templates)
    except OSError as error:
        raise os_error(
            error,
            outcome=f"{report_dir} was published, but the site index was not updated; "
            f"'reportgen render {report_dir}' updates it",
        ) from None


def _render_from_store(
    source: Path,
    staged: Path,
    stored: ReportOptions,
    options: ReportOptions,
    templates: Templates,
    cache: store.ContentCache | None,
    version: ReportVersion,
    pool: Pool | None = None,
    workers: int | None = 0,
) -> None:
    """Stage in ``staged`` the published report ``source`` (rendered with ``stored``) rendered
    anew with ``options`` from its data, without the model: data, figures and thumbnails are
    shared with it unless the figure style changed; what is missing (all of them after a style
    change, the thumbnails of a report that grew past the gallery threshold or was made before
    galleries, the sprites of one made before them) is drawn from the stored maps, in ``pool``
    or else in ``workers`` processes opened for it (None: one per core; 0: here)."""
    staging.link_tree(source / DATA_DIR, staged / DATA_DIR)
    analysis = Analysis.load(staged / DATA_DIR)
    if options.style == stored.style:
        for folder in (FIGURES_DIR, THUMBS_DIR, SPRITES_DIR):
            if (source / folder).is_dir():
                staging.link_tree(source / folder, staged / folder)
    with_galleries = len(analysis.images) > options.gallery_threshold
    drawer = FigureDrawer(staged, options.style, analysis.spread_spec)
    to_draw = []
    for image in analysis.images:
        which = {
            "figure": not (staged / _figure_path(image, options.style)).is_file(),
            "thumb": with_galleries and not (staged / _thumb_path(image, options.style)).is_file(),
            "sprite": not (staged / _sprite_path(image, options.style)).is_file(),
        }
        if any(which.values()):
            to_draw.append((drawer, image, analysis.root / MAPS_DIR / f"{image.id}.npz", which))
    (staged / FIGURES_DIR).mkdir(exist_ok=True)
    if pool is None:
        pool = open_pool(workers if to_draw else 0, (drawer.warm_up,))
    else:
        pool = nullcontext(pool)
    with pool as drawing:
        for _ in track(drawing.imap(_draw_stored, to_draw), total=len(to_draw), desc="figures"):
            pass
        _render_pages(staged, analysis, options, templates, cache, version, drawing)


# --- public entry points --------------------------------------------------------------------


class ReportBuild:
    """One report being built in a hidden staging folder of the site: figures are drawn as the
    analysis delivers records (:meth:`draw`), then :meth:`publish` writes the pages and swaps
    the report in. Leaving the ``with`` block without publishing removes every staged file."""

    def __init__(
        self,
        site_dir: Path,
        inputs: str,
        options: ReportOptions,
        cache: store.ContentCache | None,
        spread_spec: spread.SpreadSpec,
        *,
        replace: bool = False,
        keep_versions: int | None = None,
    ):
        """``options`` as the user gave them: defaults come from ``inputs`` (the name of the
        images' source) and the time.
        ``spread_spec`` is the analysis's spread map (the galleries' thumbnails show it).
        ``replace`` overwrites the report published under the slug instead of keeping it as an
        earlier version; ``keep_versions`` bounds how many earlier versions are kept (None: all).
        """
        if keep_versions is not None and keep_versions < 0:
            raise ReportgenError("--keep-versions must be 0 or more")
        self.created = _report_time(options)
        self.site_dir, self.cache = Path(site_dir), cache
        self.replace, self.keep_versions = replace, keep_versions
        self.options = _with_defaults(options.validated(), inputs, self.created[0])
        self.templates = Templates(self.options.templates_dir, _bytecode_dir(cache))
        self.spread_spec = spread_spec
        self._staging = staging.Staging(self.site_dir)
        self.report = self._staging.report
        (self.report / FIGURES_DIR).mkdir()
        self.data_dir = self.report / DATA_DIR
        cache_dir = cache.root if cache else None
        self.drawer = FigureDrawer(self.report, self.options.style, spread_spec, cache_dir)

    def __enter__(self) -> ReportBuild:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._staging.__exit__(*exc_info)

    def draw(self, image: ImageSummary, record: Callable[[], ImageRecord], key: str) -> None:
        """Figure, gallery thumbnail and sprite of one image (a small report drops the
        thumbnails)."""
        self.drawer(image, record, key)

    def prepare_pages(self) -> None:
        """Compile the templates into the cache ahead of :meth:`publish` (picklable: a worker
        can do it while the model loads)."""
        if self.cache:
            pages.compile_templates(self.templates)

    def publish(
        self,
        analysis: Analysis,
        say: Callable[[str], None] = lambda message: None,
        pool: Pool | None = None,
    ) -> Path:
        """Write pages and manifest, publish atomically, update the site index; the charts
        and thumbnail are drawn in ``pool`` (by default here).

        The report already published under the slug becomes ``versions/<n>/`` of the new one,
        unless ``replace`` (then the new one takes its place and its number); at most
        ``keep_versions`` earlier versions are kept. When the new
        report would be the same as the current one (:func:`_fingerprint`), nothing changes.
        """
        with staging.site_lock(self.site_dir, say):
            return self._publish(analysis, say, pool)

    def _publish(self, analysis: Analysis, say: Callable[[str], None], pool: Pool | None) -> Path:
        """:meth:`publish`, with the site's lock held."""
        target = self.site_dir / REPORTS_DIR / self.options.slug
        current = self._current(target)
        if (
            current
            and not self.replace
            and current.fingerprint == _fingerprint(analysis, self.options)
        ):
            say(
                f"{target} is unchanged (version {current.version}): same inputs, model, "
                "results and options, so nothing was published; `reportgen render` refreshes "
                "its pages, --replace rebuilds it"
            )
            return target
        earlier = history(target)
        plan = versions.plan(
            current.version if current else None,
            [entry.number for entry in earlier],
            replace=self.replace,
            keep=self.keep_versions,
        )
        for entry in earlier:
            if entry.number in plan.kept:
                staging.link_tree(target / entry.folder, self.report / entry.folder)
        if plan.archived is not None:
            self._archive(target, plan.archived, pool)
        version = ReportVersion(plan.number, history=history(self.report))
        _render_pages(
            self.report, analysis, self.options, self.templates, self.cache, version, pool
        )
        _IMAGE_SIZES.clear()
        staging.publish(self.report, target)
        _index_after_publishing(target, self.site_dir, self.templates)
        notes = versions.plan_notes(plan, VERSIONS_DIR)
        say(
            f"published {target} ({', '.join(self.options.formats)}) as version {plan.number}"
            + (f"; {'; '.join(notes)}" if notes else "")
        )
        return target

    def _current(self, target: Path) -> ReportManifest | None:
        """The manifest of the report published at ``target`` (its version, fingerprint)."""
        if not target.exists():
            return None
        try:
            manifest = read_manifest(target)
        except ReportgenError as error:
            if self.replace:
                return None
            raise ReportgenError(f"{error}; move it away, or build with --replace") from None
        return manifest

    def _archive(self, target: Path, number: int, pool: Pool | None) -> None:
        """Stage the current report as ``versions/<number>/`` of the new one: its data and figures
        as they are, its pages rendered again to say which version they are."""
        try:
            options = ReportOptions.from_json(read_manifest(target).report)
            destination = self.report / VERSIONS_DIR / str(number)
            destination.mkdir(parents=True)
            version = ReportVersion(number, archived=True)
            _render_from_store(
                target, destination, options, options, self.templates, self.cache, version, pool
            )
        except ReportgenError as error:
            raise ReportgenError(
                f"cannot keep the current report as version {number} ({error}); "
                "build with --replace to overwrite it"
            ) from None


def stored_style(report_dir: Path) -> FigureStyle:
    """The figure style a report was rendered with."""
    return ReportOptions.from_json(read_manifest(report_dir).report).style


def rerender(
    report_dir: Path,
    *,
    templates_dir: Path | None = None,
    formats: tuple[str, ...] | None = None,
    style: FigureStyle | None = None,
    flavour_options: Mapping[str, Mapping[str, Any]] | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = lambda message: None,
    **layout: Any,
) -> Path:
    """Re-render a published report from its stored data, without the model.

    ``flavour_options`` changes stored options of flavours (flavour -> {field: value}, e.g.
    ``{"jekyll": {"permalink": "/posts/:title/"}}``); ``layout`` changes any of the stored page
    layout options (``gallery_threshold``, ``typical``, ``page_size``).

    Figures, thumbnails and sprites are drawn only when the style changed or they are missing (a
    report that grows past the gallery threshold, or one from before galleries), in ``workers``
    processes (None: one per core; 0: here); pages, charts, the results table and the manifest
    are always rewritten, in the current format. The report is replaced atomically, and the
    site index updated when it sits in a site.
    """
    report_dir = Path(report_dir)
    site_dir = staging.site_of(report_dir)
    with staging.site_lock(site_dir or report_dir.resolve().parent, say):
        manifest = read_manifest(report_dir)
        stored = ReportOptions.from_json(manifest.report)
        options = replace(
            stored,
            templates_dir=templates_dir,
            formats=formats or stored.formats,
            style=style or stored.style,
            flavour_options=flavours.options(flavour_options, stored.flavour_options),
            **layout,
        ).validated()
        cache = cache_at(cache_dir)
        templates = Templates(templates_dir, _bytecode_dir(cache))
        with staging.Staging(report_dir.resolve().parent) as stage:
            report = stage.report
            for entry in history(report_dir):
                staging.link_tree(report_dir / entry.folder, report / entry.folder)
            version = ReportVersion(manifest.version, manifest.archived, history(report))
            _render_from_store(
                report_dir, report, stored, options, templates, cache, version, workers=workers
            )
            _IMAGE_SIZES.clear()
            staging.publish(report, report_dir)
        if report_dir.resolve().parent.name == REPORTS_DIR:
            _index_after_publishing(report_dir, site_dir, templates)
    say(f"re-rendered {report_dir} ({', '.join(options.formats)})")
    return report_dir
