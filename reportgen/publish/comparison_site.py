"""Comparisons in a site (``site/comparisons/SLUG/``): built in a staging folder and swapped in
with the same atomic publish as reports, listed in the site index, re-rendered from their
manifest and verified against it.

A comparison published again under its slug replaces the one there (it keeps no versions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

from reportgen import __version__, store
from reportgen.errors import ReportgenError
from reportgen.manifest import (
    MANIFEST_FILE,
    READ_ERRORS,
    ComparedRun,
    ComparisonManifest,
    Program,
)
from reportgen.publish import comparison, comparison_page, index, staging
from reportgen.publish.folders import COMPARISONS_DIR, cache_at, file_hashes, report_files
from reportgen.publish.templates import Templates
from reportgen.results import build_time
from reportgen.slugs import slugify

DEFAULT_FORMATS = ("html", "jekyll", "gfm")


def _stored_folder(run_folder: Path, site_dir: Path) -> str:
    """A run's folder as the manifest records it: relative to the site when in it."""
    run_folder, site_dir = run_folder.resolve(), site_dir.resolve()
    if run_folder.is_relative_to(site_dir):
        return run_folder.relative_to(site_dir).as_posix()
    return run_folder.as_posix()


def build(
    run_dirs: Sequence[Path],
    site_dir: Path,
    *,
    title: str | None = None,
    slug: str | None = None,
    date: dt.date | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    templates_dir: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Compare the runs published in ``run_dirs`` and publish the comparison into
    ``site_dir``; returns its folder."""
    if len(run_dirs) < 2:
        raise ReportgenError("compare needs at least two reports")
    runs = [comparison.load_run(folder) for folder in run_dirs]
    compared = comparison.compare(runs)
    title = title or " against ".join(run.label for run in runs)
    slug = slugify(slug or "-vs-".join(run.slug for run in runs))
    date = date or build_time()[0].date()
    site_dir = Path(site_dir)
    target = site_dir / COMPARISONS_DIR / slug
    templates = Templates(templates_dir, cache_at(None).root / "templates")
    with staging.Staging(site_dir) as stage:
        folder = stage.report
        stored = [_stored_folder(run.folder, site_dir) for run in runs]
        comparison.write_data(compared, folder, stored)
        links = [comparison_page.run_link(run, target.resolve()) for run in runs]
        page = comparison_page.page_of(compared, folder, title, slug, date, links)
        comparison_page.write_pages(page, folder, templates, list(formats))
        ComparisonManifest(
            program=Program(__version__, None),
            title=title,
            slug=slug,
            date=date.isoformat(),
            formats=tuple(name for name in formats if name in comparison_page.TEMPLATES),
            runs=tuple(
                ComparedRun(folder, run.label) for folder, run in zip(stored, runs, strict=True)
            ),
            files=file_hashes(folder),
        ).write(folder)
        with staging.site_lock(site_dir, say):
            staging.publish(folder, target)
            index.update_after_publishing(target, site_dir, templates)
    say(
        f"compared {len(compared.images)} images in common across {len(runs)} runs; "
        f"published {target}"
    )
    return target


def read_manifest(folder: Path) -> ComparisonManifest:
    """The manifest of a published comparison, or an error saying the folder is not one."""
    try:
        return ComparisonManifest.read(folder)
    except READ_ERRORS as error:
        raise ReportgenError(f"{folder} is not a reportgen comparison: {error}") from None


def is_comparison(folder: Path) -> bool:
    return Path(folder).parent.name == COMPARISONS_DIR and (Path(folder) / MANIFEST_FILE).is_file()


def rerender(
    folder: Path,
    templates_dir: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Build a published comparison again from its manifest: the same runs, title, slug and
    date (after changing templates, or when a run was re-rendered)."""
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
        templates_dir=templates_dir,
        say=say,
    )


def check(folder: Path) -> tuple[int, list[str]]:
    """The files a comparison's manifest lists, and what does not match it: files missing,
    changed or unlisted, and runs no longer where it says."""
    try:
        manifest = ComparisonManifest.read(folder)
    except READ_ERRORS as error:
        return 0, [f"{MANIFEST_FILE}: unreadable ({error}): not a verifiable comparison"]
    found = []
    present = set(report_files(folder))
    for name, digest in sorted(manifest.files.items()):
        path = Path(folder) / name
        if name not in present or not path.is_file():
            found.append(f"{name}: missing")
        elif store.sha256_of(path) != digest:
            found.append(f"{name}: sha256 differs from the manifest")
    found += [f"{name}: not in the manifest" for name in sorted(present - set(manifest.files))]
    site_dir = Path(folder).resolve().parent.parent
    for run in manifest.runs:
        if not (site_dir / run.folder / MANIFEST_FILE).is_file():
            found.append(f"run {run.label}: no report at {run.folder}")
    return len(manifest.files), found


def published(site_dir: Path) -> list[Path]:
    """The comparison folders of a site, by slug."""
    return sorted(
        folder
        for folder in (Path(site_dir) / COMPARISONS_DIR).glob("[!.]*/")
        if (folder / MANIFEST_FILE).is_file()
    )
