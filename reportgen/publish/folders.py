"""Where things are: a site's folders and a report's files (figures, thumbnails, sprites,
charts, data), as paths relative to the report folder that pages link to.

Layout::

    site/index.html                  archive index (every report)
    site/.nojekyll                   GitHub Pages serves the tree as is
    site/reports/<slug>/index.html   html flavour     README.md   gfm flavour
                        jekyll/      jekyll flavour   figures/ charts/ thumbnail
                        gallery/ images/ thumbs/      galleries and image pages (large reports)
                        manifest.json                 data/       results store
                        versions/<n>/                 earlier versions, each a report of its own
    site/comparisons/<slug>/         runs compared: index.html README.md compare.json ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reportgen import digests, store
from reportgen.errors import ReportgenError
from reportgen.manifest import MANIFEST_FILE
from reportgen.publish.figures import FigureStyle
from reportgen.results import ImageSummary

REPORTS_DIR = "reports"
COMPARISONS_DIR = "comparisons"  # comparisons of runs, site/comparisons/<slug>/
VERSIONS_DIR = "versions"
DATA_DIR = "data"
FIGURES_DIR = "figures"
THUMBS_DIR = "thumbs"
SPRITES_DIR = "sprites"
CHARTS_DIR = "charts"
CURRENT_FROM_VERSION = "../.."  # the current version's folder, seen from versions/<n>/


def refuse_shared_slug(site_dir: Path, slug: str, kind: str) -> None:
    """A one-line error where the site has a comparison under ``slug`` and a report (``kind``
    REPORTS_DIR) is to be published under it, or the other way round: their flavours' pages
    would share folders in one site (Hugo's ``content/reports/<slug>/``, Jekyll's post and
    ``reports/<slug>/``, MkDocs' ``<slug>/``)."""
    other = COMPARISONS_DIR if kind == REPORTS_DIR else REPORTS_DIR
    if (Path(site_dir) / other / slug / MANIFEST_FILE).is_file():
        found = "a comparison" if other == COMPARISONS_DIR else "a report"
        wanted = "report" if kind == REPORTS_DIR else "comparison"
        raise ReportgenError(
            f"{Path(site_dir) / other / slug} is {found} with the slug {slug!r}: a {wanted} "
            "under it would share its Hugo, Jekyll and MkDocs pages; give another --slug"
        )


# What marks an index.html as the site index reportgen writes: the generator line, or in an
# index written before it, the title every earlier index had.
INDEX_MARKS = ('<meta name="generator" content="reportgen">', "<title>Vision Transformer attention")
OTHER_SITES = {
    "_config.yml": "a Jekyll site",
    "hugo.toml": "a Hugo site",
    "config.toml": "a Hugo site",
    "mkdocs.yml": "an MkDocs project",
}


def refuse_foreign_site(site_dir: Path) -> None:
    """A one-line error where ``site_dir`` is someone else's site, which publishing would
    damage: its front page replaced by the index of reports, and a ``.nojekyll`` that turns
    Jekyll off on GitHub Pages. A folder that already holds a report or comparison is ours."""
    site_dir = Path(site_dir)
    ours = (f"{REPORTS_DIR}/*/{MANIFEST_FILE}", f"{COMPARISONS_DIR}/*/{MANIFEST_FILE}")
    if any(next(site_dir.glob(pattern), None) for pattern in ours):
        return
    found = [kind for name, kind in OTHER_SITES.items() if (site_dir / name).is_file()]
    index = site_dir / "index.html"
    if not found and index.is_file():
        with index.open(encoding="utf-8", errors="replace") as page:
            start = page.read(4096)
        if not any(mark in start for mark in INDEX_MARKS):
            found = ["a site whose index.html reportgen did not write"]
    if found:
        raise ReportgenError(
            f"--out {site_dir} is {found[0]}: reportgen writes a site of its own there (its "
            "index.html and .nojekyll); give another --out, and copy a flavour's pages into "
            "your site as docs/publishing/ shows"
        )


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


def distinct_bytes(root: Path) -> int:
    """What the report in ``root`` weighs on disk: its files and manifest (not its earlier
    versions), a file linked under several names (the jekyll flavour's figures) counted once."""
    folder = os.fspath(root)  # strings: a report has 10,000s of files
    names = [*report_files(root), MANIFEST_FILE]
    return _distinct_size(os.stat(os.path.join(folder, name)) for name in names)


def _distinct_size(infos: Iterable[os.stat_result]) -> int:
    """The bytes of the files ``infos`` describe, a file under several names counted once."""
    return sum({(info.st_dev, info.st_ino): info.st_size for info in infos}.values())


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of each of :func:`report_files`, by name; a file known from a manifest read
    before (:func:`remember_hashes`: linked from the version before, or from the cache as it
    was) is not read again."""
    return weighed_file_hashes(root)[0]


def weighed_file_hashes(root: Path) -> tuple[dict[str, str], int]:
    """:func:`file_hashes`, and what those files weigh (:func:`distinct_bytes` without the
    manifest), from the one ``stat`` each file takes: a report has 10,000s of files."""
    folder = os.fspath(root)
    hashes, infos = {}, []
    for name in report_files(root):
        path = os.path.join(folder, name)
        infos.append(info := os.stat(path))
        hashes[name] = digests.file_sha256(path, info=info)
    return hashes, _distinct_size(infos)


def remember_hashes(root: Path, files: Mapping[str, str]) -> None:
    """Take the sha256 of the files of the report in ``root`` from its manifest's ``files``,
    for :func:`file_hashes` of a report that links them (a rebuild, a re-render). A file
    changed after the manifest was written is left to be read."""
    written = (root / MANIFEST_FILE).stat().st_mtime_ns
    folder = os.fspath(root)
    for name, digest in files.items():
        try:
            info = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        if info.st_mtime_ns <= written:
            digests.remember_sha256(info, digest)


def figure_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{FIGURES_DIR}/{image.id}{style.extension}"


def thumb_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{THUMBS_DIR}/{image.id}{style.extension}"


def sprite_path(image: ImageSummary, style: FigureStyle) -> str:
    return f"{SPRITES_DIR}/{image.id}{style.extension}"


def cache_at(cache_dir: Path | None) -> store.ContentCache:
    """The content cache in ``cache_dir``, by default the user's."""
    return store.ContentCache(cache_dir or store.default_cache_dir())


def bytecode_dir(cache: store.ContentCache | None) -> Path | None:
    """Where compiled templates are kept between runs (Jinja re-checks their source)."""
    return cache.root / "templates" if cache else None
