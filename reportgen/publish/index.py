"""The site index, and what it reads: the manifests of the published reports and of the earlier
versions each keeps. Rewritten after every publish, with the site's lock held."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reportgen.errors import ReportgenError, os_error
from reportgen.manifest import READ_ERRORS, ComparisonManifest, ReportManifest, unreadable
from reportgen.publish import flavours, page_model, pages, staging, versions
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import COMPARISONS_DIR, REPORTS_DIR, VERSIONS_DIR
from reportgen.publish.options import ReportOptions
from reportgen.publish.templates import Templates


def read_manifest(report_dir: Path) -> ReportManifest:
    """The manifest of a published report, or an error saying the folder is not one."""
    try:
        manifest = ReportManifest.read(report_dir)
        ReportOptions.from_json(manifest.report)
    except READ_ERRORS as error:
        reason = unreadable(error)
        raise ReportgenError(f"{report_dir} is not a reportgen report: {reason}") from None
    return manifest


def version_entry(manifest: ReportManifest, folder: str) -> page_model.VersionEntry:
    """How a report (or an earlier version) with this manifest, in ``folder``, is listed."""
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
        entries.append(version_entry(manifest, f"{VERSIONS_DIR}/{folder.name}"))
    return versions.newest_first(entries)


def _run_link(site_dir: Path, folder: str) -> str | None:
    """A compared run's page from the index, when it is published in the site."""
    try:
        manifest = read_manifest(site_dir / folder)
    except ReportgenError:
        return None
    page = flavours.standalone_page(manifest.report["formats"])
    return f"{folder}/{page}" if page and not folder.startswith("/") else None


def comparison_entries(site_dir: Path) -> list[page_model.ComparisonEntry]:
    """The site's comparisons (folders without a readable manifest left out), newest first."""
    entries = []
    for folder in sorted((site_dir / COMPARISONS_DIR).glob("[!.]*/")):
        try:
            manifest = ComparisonManifest.read(folder)
        except READ_ERRORS:
            continue
        page = flavours.standalone_page(manifest.formats) or ""
        entries.append(
            page_model.ComparisonEntry(
                title=manifest.title,
                date=manifest.date,
                href=f"{COMPARISONS_DIR}/{folder.name}/{page}",
                runs=tuple((run.label, _run_link(site_dir, run.folder)) for run in manifest.runs),
                version=manifest.version,
                n_versions=1 + len(list((folder / VERSIONS_DIR).glob("[0-9]*"))),
            )
        )
    entries.sort(key=lambda entry: (entry.date, entry.title), reverse=True)
    return entries


def other_flavours(options: ReportOptions, folder: str, page: str) -> tuple[tuple[str, str], ...]:
    """Each flavour the report in ``folder`` was written in but the one of its ``page``, as its
    description and the file the index links for it (its page; distill: the zip), from the
    index."""
    stored = flavours.options(stored=options.flavour_options)
    address = page_model.ReportAddress(options.slug, options.date)
    links = []
    for name in options.formats:
        if (flavour := flavours.registry().get(name)) is not None:  # a plugin may be gone
            file = flavour.layout_for(stored.get(name)).download(address)
            if file != page:
                links.append((flavour.description, f"{folder}/{file}"))
    return tuple(links)


def update_index(site_dir: Path, templates: Templates | None = None) -> Path:
    """Rewrite ``site/index.html`` from the manifests of every published report and
    comparison."""
    entries = []
    for folder in sorted((site_dir / REPORTS_DIR).glob("[!.]*/")):
        try:
            manifest = read_manifest(folder)
        except ReportgenError:
            continue  # not a reportgen report: leave it out of the index
        current = version_entry(manifest, f"{REPORTS_DIR}/{folder.name}")
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
                flavours=other_flavours(
                    ReportOptions.from_json(manifest.report), current.folder, page
                ),
            )
        )
    entries.sort(key=lambda entry: (entry.date, entry.title), reverse=True)
    index = site_dir / "index.html"
    with tempfile.TemporaryDirectory(dir=site_dir, prefix=staging.staging_prefix()) as temp:
        staged = Path(temp) / "index.html"
        pages.render_index(entries, staged, templates, comparison_entries(site_dir))
        os.replace(staged, index)
    (site_dir / ".nojekyll").touch()
    return index


def update_after_publishing(report_dir: Path, site_dir: Path, templates: Templates) -> None:
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
