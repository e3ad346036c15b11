"""Rendering one staged report folder whose figures are drawn (:class:`RenderJob`,
:func:`render`): charts and thumbnail, page model, pages, results table, manifest; and a
published report rendered anew from its stored data, without the model
(:func:`render_from_store`: a re-render, or the version a rebuild keeps), or only its front
pages (:func:`render_front_pages`: the version a rebuild keeps, when this code rendered it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reportgen
from reportgen import digests, store, table
from reportgen.manifest import MANIFEST_FILE, ReportManifest, VersionLink
from reportgen.progress import track
from reportgen.publish import PAGE_MODULES, WORKER_MODULES, charts, explorer, pages, staging
from reportgen.publish.assemble import PageModel, build_page_model
from reportgen.publish.drawing import FigureDrawer, draw_stored, start_thumbnail
from reportgen.publish.folders import (
    DATA_DIR,
    FIGURES_DIR,
    SPRITES_DIR,
    THUMBS_DIR,
    VERSIONS_DIR,
    figure_path,
    file_hashes,
    sprite_path,
    thumb_path,
    weighed_file_hashes,
)
from reportgen.publish.options import ReportOptions
from reportgen.publish.templates import Templates
from reportgen.publish.versions import ReportVersion
from reportgen.results import MAPS_DIR, Analysis, write_results
from reportgen.workers import Imports, InlinePool, Pool, open_pool

# What renders a report's files besides its data, options, templates and reportgen's own code.
RENDERING_LIBRARIES = ("jinja2", "matplotlib", "numpy", "pillow")
RENDERINGS = "renderings"  # cache namespace: by a manifest's sha256, what rendered its report


@dataclass(frozen=True)
class RenderJob:
    """One rendering of a staged report folder whose figures are drawn: what every step reads."""

    report: Path  # the staged report folder
    analysis: Analysis  # its results store, in report/data
    options: ReportOptions
    templates: Templates
    cache: store.ContentCache | None
    version: ReportVersion
    pool: Pool  # where the charts and the thumbnail are drawn
    fingerprint: str | None = None  # the report's (:func:`fingerprint`), when known already
    earlier: Path | None = None  # the results store of the version this one replaces, if any


def render(job: RenderJob, front_only: bool = False) -> int:
    """Charts and thumbnail (drawn in the pool meanwhile), the page model, the pages, the results
    table and the manifest; returns what the report weighs (:func:`folders.distinct_bytes`).
    ``front_only``: of the pages only the front pages, and neither the thumbnail nor the
    scripts, styles and explorer data (the report folder has them already)."""
    drawing_charts = charts.start_charts(job.analysis, job.cache, job.pool)
    if not front_only:
        drawing_thumbnail = start_thumbnail(job.report, job.analysis, job.options.style, job.pool)
        _write_assets(job)
    written = charts.write_charts(job.report, drawing_charts)
    if not front_only:
        drawing_thumbnail.result()
    model = build_page_model(
        job.report,
        job.analysis,
        job.options,
        job.version,
        written.spread,
        written.faithfulness,
        written.outcomes,
    )
    _write_pages(job, model, front_only)
    if not job.version.archived:  # an earlier version keeps its data as published
        _write_results(job)
    weight = _write_manifest(job)
    if job.cache is not None and not job.version.archived:  # only a current one is kept later
        remember_rendering(job.report, job.templates, job.cache)
    return weight


def _write_assets(job: RenderJob) -> None:
    """The pages' scripts and styles and the explorer's data; a report without galleries drops
    the thumbnails drawn for them."""
    options = job.options
    pages.write_overlay_script(job.report, job.templates)
    pages.write_explorer_style(job.report, job.templates)
    maps = options.explorer_data == "maps"
    explorer.write_report(
        job.report, job.analysis, options.style, job.templates, job.cache, maps, job.pool
    )
    if not options.gallery.with_galleries(len(job.analysis.images)):
        shutil.rmtree(job.report / THUMBS_DIR, ignore_errors=True)


def _write_pages(job: RenderJob, model: PageModel, front_only: bool) -> None:
    options = job.options
    pages.render_report(
        model.context,
        job.report,
        options.formats,
        galleries=() if front_only else model.galleries,
        images=() if front_only else model.images,
        templates=job.templates,
        options=options.flavour_options,
        cache=job.cache,
        pool=job.pool,
    )


def _write_results(job: RenderJob) -> None:
    """The results table with each image's figure, in the current format."""
    analysis, style = job.analysis, job.options.style
    write_results(
        job.report / DATA_DIR,
        analysis.images,
        analysis.skipped,
        {image.id: figure_path(image, style) for image in analysis.images},
        analysis.faithfulness,
        job.earlier,
    )


def _write_manifest(job: RenderJob) -> int:
    """Last: it lists the sha256 of every other file. Returns what the report weighs, its
    manifest included (:func:`folders.distinct_bytes`)."""
    version = job.version
    files, weight = weighed_file_hashes(job.report)
    ReportManifest(
        analysis=job.analysis.manifest,
        report=job.options.to_json(),
        files=files,
        version=version.number,
        archived=version.archived,
        history=tuple(VersionLink(entry.number, entry.folder) for entry in version.history),
        fingerprint=job.fingerprint or fingerprint(job.analysis, job.options),
    ).write(job.report)
    return weight + (job.report / MANIFEST_FILE).stat().st_size


def fingerprint(analysis: Analysis, options: ReportOptions) -> str:
    """What makes two builds the same report: the inputs, the model, the parameters, the results
    they gave and the report options, templates included; not the date, so a rebuild on another
    day is the same report."""
    report = options.to_json()
    del report["date"]
    report["templates_dir"] = file_hashes(options.templates_dir) if options.templates_dir else None
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
    paths that publishing adds, so a build, its re-renders and an identical rebuild agree (a
    build has not written its table yet: :func:`_write_results` does)."""
    hashes = file_hashes(analysis.root)
    digest = hashlib.sha256()  # row by row: no second copy of a large table in memory
    for image in analysis.images:
        digest.update(store.canonical_json(image.to_row()).encode())
    hashes[table.TABLE_FILE] = digest.hexdigest()
    return hashes


def render_from_store(
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
    or else in ``workers`` processes opened for it (None: one per core; 0: here), which render
    the pages too (opened for them alone from ``pages.POOLED_IMAGES`` images)."""
    staging.link_tree(source / DATA_DIR, staged / DATA_DIR)
    analysis = Analysis.load(staged / DATA_DIR, called=source / DATA_DIR)
    if options.style == stored.style:
        for folder in (FIGURES_DIR, THUMBS_DIR, SPRITES_DIR):
            if (source / folder).is_dir():
                staging.link_tree(source / folder, staged / folder)
    drawer = FigureDrawer(
        staged, options.style, analysis.spread_spec, norm_layer=analysis.params.norm_layer
    )
    to_draw = missing_pictures(drawer, analysis, options)
    (staged / FIGURES_DIR).mkdir(exist_ok=True)
    if pool is None:
        pooled = bool(to_draw) or len(analysis.images) >= pages.POOLED_IMAGES
        pool = open_pool(workers if pooled else 0, worker_warm_up(drawer if to_draw else None))
    else:
        pool = nullcontext(pool)
    with pool as drawing:
        draw_missing(to_draw, drawing)
        render(RenderJob(staged, analysis, options, templates, cache, version, drawing))


def render_front_pages(
    source: Path,
    staged: Path,
    options: ReportOptions,
    templates: Templates,
    cache: store.ContentCache | None,
    version: ReportVersion,
    pool: Pool | None = None,
) -> None:
    """Stage in ``staged`` the published report ``source`` as :func:`render_from_store` would
    with its own ``options``, for a report :func:`rendered_here`: its files but the manifest are
    linked as they are (not its earlier versions), then the front pages and the manifest, which
    say which version it is, rendered over them. No other page says it (their cache keys hold
    only :class:`ReportHeader`), so the rest would be rendered the same again, file for file;
    charts are drawn (from the cache) in ``pool`` (by default here) for the page model."""
    for entry in source.iterdir():
        if entry.name in (VERSIONS_DIR, MANIFEST_FILE):
            continue
        if entry.is_dir():
            staging.link_tree(entry, staged / entry.name)
        else:
            store.link_or_copy(entry, staged / entry.name)
    analysis = Analysis.load(staged / DATA_DIR, called=source / DATA_DIR)
    job = RenderJob(staged, analysis, options, templates, cache, version, pool or InlinePool())
    render(job, front_only=True)


def _rendering(templates: Templates) -> str:
    """What made a report's files besides its data and options: reportgen's code, the
    ``templates`` and the libraries that draw and write them."""
    return store.content_key(
        {
            "code": _package_fingerprint(),
            "templates": templates.fingerprint,
            "libraries": {name: importlib.metadata.version(name) for name in RENDERING_LIBRARIES},
        }
    )


@functools.cache
def _package_fingerprint() -> str:
    """:func:`store.source_fingerprint` of every reportgen module: each may shape a report."""
    package = Path(reportgen.__file__).resolve().parent
    files = sorted(path.relative_to(package).with_suffix("") for path in package.rglob("*.py"))
    return store.source_fingerprint(*(".".join(path.parts) for path in files))


def remember_rendering(report: Path, templates: Templates, cache: store.ContentCache) -> None:
    """Remember in ``cache`` that the report folder ``report`` was rendered here, with
    ``templates``, by its manifest's sha256 (which names the sha256 of every file)."""
    manifest = digests.sha256_of(report / MANIFEST_FILE)
    cache.put_json(RENDERINGS, manifest, {"rendering": _rendering(templates)})


def rendered_here(report: Path, templates: Templates, cache: store.ContentCache | None) -> bool:
    """Whether the report published in ``report`` was rendered by this code with ``templates``
    and these libraries, as ``cache`` remembers (:func:`remember_rendering`); False without
    a cache or a manifest."""
    try:
        manifest = digests.sha256_of(report / MANIFEST_FILE)
    except OSError:
        return False
    remembered = cache.get_json(RENDERINGS, manifest) if cache is not None else None
    return remembered == {"rendering": _rendering(templates)}


def missing_pictures(
    drawer: FigureDrawer, analysis: Analysis, options: ReportOptions
) -> list[tuple[Any, ...]]:
    """The tasks of :func:`draw_stored` that draw what the report folder of ``drawer`` lacks:
    each image's figure, sprite and (a report with galleries) gallery thumbnail."""
    report, style = drawer.report, options.style
    with_galleries = options.gallery.with_galleries(len(analysis.images))
    to_draw = []
    for image in analysis.images:
        which = {
            "figure": not (report / figure_path(image, style)).is_file(),
            "thumb": with_galleries and not (report / thumb_path(image, style)).is_file(),
            "sprite": not (report / sprite_path(image, style)).is_file(),
        }
        if any(which.values()):
            to_draw.append((drawer, image, analysis.root / MAPS_DIR / f"{image.id}.npz", which))
    return to_draw


def draw_missing(to_draw: list[tuple[Any, ...]], pool: Pool) -> None:
    for _ in track(pool.imap(draw_stored, to_draw), total=len(to_draw), desc="figures"):
        pass


def worker_warm_up(drawer: FigureDrawer | None) -> tuple[Callable[[], Any], ...]:
    """What each worker of a pool that publishes a report does before its first task: import
    what it runs (:class:`Imports`: once, in the fork server), and with a ``drawer`` (None: it
    draws nothing), what drawing figures and charts needs."""
    if drawer is None:
        return (Imports(PAGE_MODULES),)
    return Imports(WORKER_MODULES), drawer.warm_up
