"""Comparisons in a site (``site/comparisons/SLUG/``): built in a staging folder and swapped in
with the same atomic publish as reports, listed in the site index, re-rendered from their
manifest and verified against it.

A different comparison published again under its slug keeps the one there as its
``versions/<n>/``, as reports do, unless it replaces it (``--replace``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen import __version__, digests, store
from reportgen.errors import ReportgenError
from reportgen.manifest import (
    MANIFEST_FILE,
    READ_ERRORS,
    ComparedRun,
    ComparisonManifest,
    Program,
    unreadable,
)
from reportgen.publish import (
    comparison,
    comparison_explorers,
    comparison_figures,
    comparison_page,
    flavours,
    index,
    staging,
)
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import (
    COMPARISONS_DIR,
    VERSIONS_DIR,
    cache_at,
    file_hashes,
    refuse_foreign_site,
    refuse_shared_slug,
    report_files,
)
from reportgen.publish.options import check_slug
from reportgen.publish.templates import Templates
from reportgen.results import build_time
from reportgen.slugs import slugify
from reportgen.workers import Pool, open_pool

DEFAULT_FORMATS = ("html", "jekyll", "gfm")


def _stored_folder(run_folder: Path, site_dir: Path) -> str:
    """A run's folder as the manifest records it: relative to the site when in it."""
    run_folder, site_dir = run_folder.resolve(), site_dir.resolve()
    if run_folder.is_relative_to(site_dir):
        return run_folder.relative_to(site_dir).as_posix()
    return run_folder.as_posix()


@dataclass(frozen=True)
class Settings:
    """How a comparison is titled, named, dated and written (``flavour_options``: every
    flavour's that has some, by name, as :func:`flavours.options` gives them)."""

    title: str
    slug: str
    date: dt.date
    formats: tuple[str, ...]
    flavour_options: Mapping[str, Any]


def _stored_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The flavours' options as the manifest keeps them: those not at their defaults, so that
    a comparison with none given reads and writes as one from before they were kept."""
    defaults = flavours.options_to_json(flavours.options())
    entries = flavours.options_to_json(options)
    return {key: value for key, value in entries.items() if value != defaults[key]}


def _options_of(manifest: ComparisonManifest) -> dict[str, Any]:
    """The flavours' options a comparison was written with (defaults where it keeps none)."""
    return flavours.options(stored=flavours.options_from_json(dict(manifest.flavour_options)))


def _write(
    runs: list[comparison.Run],
    folder: Path,
    final: Path,
    site_dir: Path,
    settings: Settings,
    version: int,
    templates: Templates,
    pool: Pool,
) -> ComparisonManifest:
    """Compare ``runs`` into ``folder`` (to be published as ``final``, which its links are
    relative to), each image read and drawn in ``pool``; returns its manifest, written there
    too."""
    style = FigureStyle.from_json(runs[0].manifest.report["style"])
    painter = comparison_figures.Painter.of(runs, folder, style)
    compared = comparison.compare(runs, painter, pool)
    if len(runs) == 2:
        for position in compared.movers():
            row = compared.images[position]
            compared.visited[row.ids[0]] = painter.with_difference(compared, row)
    stored = [_stored_folder(run.folder, site_dir) for run in runs]
    comparison.write_data(compared, folder, stored)
    links = [comparison_page.run_link(run, final.resolve()) for run in runs]
    folders = [comparison_page.run_link(run, final.resolve(), ".") for run in runs]
    carried = comparison_explorers.NONE
    if comparison_page.carries_explorers(settings.formats):
        carried = comparison_explorers.carry(compared, folder)
    page = comparison_page.page_of(
        compared, folder, settings.title, settings.slug, settings.date, links, folders, carried
    )
    comparison_page.write_pages(
        page, folder, templates, list(settings.formats), pool, settings.flavour_options
    )
    manifest = ComparisonManifest(
        program=Program(__version__, None),
        title=settings.title,
        slug=settings.slug,
        date=settings.date.isoformat(),
        formats=tuple(name for name in settings.formats if name in comparison_page.TEMPLATES),
        runs=tuple(
            ComparedRun(stored_folder, run.label, run.manifest.version)
            for stored_folder, run in zip(stored, runs, strict=True)
        ),
        files=file_hashes(folder),
        version=version,
        flavour_options=_stored_options(settings.flavour_options),
    )
    manifest.write(folder)
    return manifest


def _run_folder(site_dir: Path, run: ComparedRun) -> Path:
    """Where a compared run's version is now: its folder, or the earlier version its report
    keeps since it was rebuilt."""
    folder = site_dir / run.folder
    archived = folder / VERSIONS_DIR / str(run.version)
    if run.version is not None and archived.is_dir():
        try:
            current = index.read_manifest(folder).version
        except ReportgenError:
            current = None
        if current != run.version:
            return archived
    return folder


def _archive(
    previous: ComparisonManifest, target: Path, staged: Path, templates: Templates, pool: Pool
) -> None:
    """Keep the comparison published at ``target`` in the staged one's versions/, rendered again
    from the same runs' versions, so that its links work from there (copied as it is where a
    run is gone); its earlier versions are carried over as they are when it is published."""
    archive = staged / VERSIONS_DIR / str(previous.version)
    site_dir = target.parent.parent
    try:
        runs = [comparison.load_run(_run_folder(site_dir, run)) for run in previous.runs]
    except ReportgenError:
        shutil.copytree(
            target,
            archive,
            copy_function=store.link_or_copy,
            ignore=lambda folder, names: [VERSIONS_DIR] if Path(folder) == target else [],
        )
        return
    date = dt.date.fromisoformat(previous.date)
    settings = Settings(
        previous.title, previous.slug, date, previous.formats, _options_of(previous)
    )
    archive.mkdir(parents=True)
    final = target / VERSIONS_DIR / archive.name
    _write(runs, archive, final, site_dir, settings, previous.version, templates, pool)


def _published(target: Path, replace: bool) -> ComparisonManifest | None:
    """The manifest of the comparison at ``target`` (None: none there, or an unreadable one
    that ``replace`` overwrites)."""
    if not target.exists():
        return None
    try:
        return read_manifest(target)
    except ReportgenError as error:
        if replace:
            return None
        raise ReportgenError(f"{error}; move it away, or compare with --replace") from None


def build(
    run_dirs: Sequence[Path],
    site_dir: Path,
    *,
    title: str | None = None,
    slug: str | None = None,
    date: dt.date | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    flavour_options: Mapping[str, Any] | None = None,
    templates_dir: Path | None = None,
    replace: bool = False,
    in_place: bool = False,
    workers: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Compare the runs published in ``run_dirs`` and publish the comparison into
    ``site_dir``; returns its folder. A different comparison already under the slug is kept
    as its ``versions/<n>/``; the same one publishes nothing. ``flavour_options``: flavour ->
    its options (hugo's: the site's Hugo version), the others' defaults. ``replace``: overwrite it
    instead (even when unreadable), the new one taking its version number and keeping its
    earlier versions, as build's ``--replace`` does for reports. ``in_place``: replace it in
    a re-render, which keeps what is published (so no slug check). ``workers``: processes
    that read and draw the images (None: one per core; 0: none, all here)."""
    if len(run_dirs) < 2:
        raise ReportgenError("compare needs at least two reports")
    flavours.check_names(formats)  # as build checks them, before any run is read
    check_slug(slug)
    chosen = flavours.options(stored=flavour_options)  # checked by their flavours
    runs = [comparison.load_run(folder) for folder in run_dirs]
    settings = Settings(
        title=title or " against ".join(run.label for run in runs),
        slug=slugify(slug or "-vs-".join(run.slug for run in runs)),
        date=date or build_time()[0].date(),
        formats=tuple(formats),
        flavour_options=chosen,
    )
    site_dir = Path(site_dir)
    if not in_place:  # a re-render keeps what is published
        refuse_foreign_site(site_dir)
        refuse_shared_slug(site_dir, settings.slug, COMPARISONS_DIR)
    replace = replace or in_place
    target = site_dir / COMPARISONS_DIR / settings.slug
    templates = Templates(templates_dir, cache_at(None).root / "templates")
    with (
        open_pool(workers) as pool,
        staging.Staging(site_dir) as stage,
        staging.site_lock(site_dir, say),
    ):
        previous = _published(target, replace)
        version = 1 if previous is None else previous.version + (not replace)
        manifest = _write(runs, stage.report, target, site_dir, settings, version, templates, pool)
        if previous is not None and not replace and previous.files == manifest.files:
            say(f"{target} already holds this comparison: nothing published")
            return target
        if previous is not None and not replace:
            _archive(previous, target, stage.report, templates, pool)
        kept = sorted((target / VERSIONS_DIR).glob("[0-9]*")) if previous is not None else []
        staging.publish(stage.report, target, [f"{VERSIONS_DIR}/{path.name}" for path in kept])
        index.update_after_publishing(target, site_dir, templates)
    if in_place:
        say(f"re-rendered {target} ({', '.join(settings.formats)}) from its {len(runs)} runs")
    else:
        say(f"compared {len(runs)} runs; published {target} as version {version}")
    return target


def read_manifest(folder: Path) -> ComparisonManifest:
    """The manifest of a published comparison, or an error saying the folder is not one."""
    try:
        return ComparisonManifest.read(folder)
    except READ_ERRORS as error:
        reason = unreadable(error, kind="comparison manifest")
        raise ReportgenError(f"{folder} is not a reportgen comparison: {reason}") from None


def is_comparison(folder: Path) -> bool:
    return Path(folder).parent.name == COMPARISONS_DIR and (Path(folder) / MANIFEST_FILE).is_file()


def rerender(
    folder: Path,
    templates_dir: Path | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Build a published comparison again from its manifest: the same runs, title, slug, date,
    formats and flavours' options (after changing templates, or when a run was re-rendered)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    site_dir = folder.resolve().parent.parent
    return build(
        [site_dir / run.folder for run in manifest.runs],
        site_dir,
        title=manifest.title,
        slug=manifest.slug,
        date=dt.date.fromisoformat(manifest.date),
        formats=manifest.formats,
        flavour_options=_options_of(manifest),
        templates_dir=templates_dir,
        in_place=True,
        workers=workers,
        say=say,
    )


def check(folder: Path, site_dir: Path | None = None) -> tuple[int, list[str]]:
    """The files a comparison's manifest lists (its earlier versions' too), and what does not
    match it: files missing, changed or unlisted, and runs no longer where it says."""
    folder = Path(folder)
    site_dir = site_dir or folder.resolve().parent.parent
    try:
        manifest = ComparisonManifest.read(folder)
    except READ_ERRORS as error:
        reason = unreadable(error, kind="comparison manifest")
        return 0, [f"{reason}; not a verifiable comparison"]
    found = []
    present = set(report_files(folder))
    for name, digest in sorted(manifest.files.items()):
        path = folder / name
        if name not in present or not path.is_file():
            found.append(f"{name}: missing")
        elif digests.sha256_of(path) != digest:
            found.append(f"{name}: sha256 differs from the manifest")
    found += [f"{name}: not in the manifest" for name in sorted(present - set(manifest.files))]
    for run in manifest.runs:
        if not (_run_folder(site_dir, run) / MANIFEST_FILE).is_file():
            found.append(f"run {run.label}: no report at {run.folder}")
    n_files = len(manifest.files)
    for version in sorted((folder / VERSIONS_DIR).glob("[0-9]*")):
        n_version, in_version = check(version, site_dir)
        n_files += n_version
        found += [f"{VERSIONS_DIR}/{version.name}/{problem}" for problem in in_version]
    return n_files, found


def published(site_dir: Path) -> list[Path]:
    """The comparison folders of a site, by slug."""
    return sorted(
        folder
        for folder in (Path(site_dir) / COMPARISONS_DIR).glob("[!.]*/")
        if (folder / MANIFEST_FILE).is_file()
    )
