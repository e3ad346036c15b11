"""What a published report weighs, by kind of file: the numbers behind ``--max-site-size`` and
``python -m benchmarks.storage --report N``.

Sizes are over distinct files: a file linked under several names (the jekyll flavour's figures,
sprites and explorer, hard links to the report's own) counts once, under its first name in
sorted order, so a report's kinds add up to :func:`folders.distinct_bytes`.
"""

from __future__ import annotations

import collections
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from reportgen.cache import format_size
from reportgen.manifest import MANIFEST_FILE
from reportgen.publish import explorer, folders, pages

KINDS = (
    "figures",
    "explorer data",
    "maps files",
    "pages",
    "explorer pages",
    "sprites",
    "thumbnails",
    "charts",
    "data tables",
    "scripts",  # and stylesheets
    "manifest",
)
_BY_FOLDER = {
    folders.FIGURES_DIR: "figures",
    folders.SPRITES_DIR: "sprites",
    folders.THUMBS_DIR: "thumbnails",
    folders.CHARTS_DIR: "charts",
}


# The report's own scripts in the explorer folder, beside each image's data script and page.
_SHARED_SCRIPTS = {
    explorer.SCRIPT,
    explorer.COLORMAPS,
    *(posixpath.basename(script) for script in (pages.OVERLAY_SCRIPT, pages.TABLE_SORT_SCRIPT)),
}


def kind(name: str) -> str:
    """The kind of the report file ``name`` (a POSIX path relative to the report folder); the
    jekyll flavour's copies of the report's files are of the same kind as the originals."""
    folder, file = posixpath.split(name)
    parts = set(folder.split("/"))  # a flavour's copies: jekyll/assets/img/<slug>/figures/...
    if name == MANIFEST_FILE:
        return "manifest"
    if explorer.FOLDER in parts:
        if file in _SHARED_SCRIPTS or file.endswith(".css"):
            return "scripts"
        return "explorer pages" if file.endswith(".html") else "explorer data"
    if folders.DATA_DIR in parts:
        return "maps files" if file.endswith(".npz") else "data tables"
    if file.startswith("thumbnail."):
        return "thumbnails"
    for part, named in _BY_FOLDER.items():
        if part in parts:
            return named
    return "scripts" if file.endswith(".js") else "pages"


def breakdown(report: Path) -> dict[str, int]:
    """Bytes of the report in ``report`` by :func:`kind` (its earlier versions left out)."""
    seen: set[tuple[int, int]] = set()
    sizes: collections.Counter[str] = collections.Counter()
    for name in [*folders.report_files(report), MANIFEST_FILE]:
        inode = _inode(report / name)
        if inode not in seen:
            seen.add(inode)
            sizes[kind(name)] += (report / name).stat().st_size
    return {name: sizes[name] for name in KINDS if sizes[name]}


def flavour_only_bytes(report: Path, trees: dict[str, str]) -> dict[str, int]:
    """Bytes that only one flavour needs, by flavour: what leaving it out of ``--format`` saves.
    ``trees`` names each flavour's folder in the report (jekyll: ``jekyll``): its files, less
    its links to files the others share; for gfm, the Markdown pages outside those folders (the
    html flavour's pages and the shared files are the report's own)."""
    names = folders.report_files(report)
    owner = {
        name: next((f for f, tree in trees.items() if name.startswith(f"{tree}/")), None)
        for name in names
    }
    shared = {_inode(report / name) for name in names if owner[name] is None}
    sizes: collections.Counter[str] = collections.Counter()
    counted: set[tuple[int, int]] = set()
    for name in names:
        inode = _inode(report / name)
        if owner[name] is not None and inode not in shared and inode not in counted:
            counted.add(inode)
            sizes[owner[name]] += (report / name).stat().st_size
        elif owner[name] is None and name.endswith(".md"):
            sizes["gfm"] += (report / name).stat().st_size
    return dict(sizes)


def _inode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _files(root: Path, skip: Iterable[Path] = ()) -> Iterable[Path]:
    """Every file below ``root``, except below the folders ``skip``."""
    left_out = {Path(path) for path in skip}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if Path(folder, name) not in left_out]
        yield from (Path(folder, name) for name in files)


def site_bytes_after(
    site_dir: Path, staged: Path, target: Path, staging: Path, carried: Iterable[str] = ()
) -> int:
    """What ``site_dir`` will weigh once the report staged in ``staged`` replaces ``target``,
    keeping its folders ``carried`` (earlier versions): its other files and the staged ones,
    each file once however many links it has; ``staging``, the build's own folder, is left out.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    kept = [path for folder in carried for path in _files(target / folder)]
    for path in [*_files(site_dir, (target, staging)), *kept, *_files(staged)]:
        inode = _inode(path)
        if inode not in seen:
            seen.add(inode)
            total += path.stat().st_size
    return total


def over_budget(
    site_bytes: int,
    budget: int,
    sizes: dict[str, int],
    flavour_bytes: dict[str, int],
    formats: Iterable[str] = (),
) -> str | None:
    """The one-line warning when a site of ``site_bytes`` exceeds ``budget``, naming what the
    new report in ``formats`` could drop, by the option that drops it, and what each would save:
    the explorer's data scripts and each flavour's own files (no option drops the rest)."""
    if site_bytes <= budget:
        return None
    maps = "--explorer-data maps" + (", without distill" if "distill" in formats else "")
    savings = {
        f"the explorer's data scripts ({maps})": sizes.get("explorer data", 0),
        **{f"the {name} flavour (--format)": size for name, size in flavour_bytes.items()},
    }
    ranked = sorted(savings.items(), key=lambda item: -item[1])
    named = ", ".join(f"{what} {format_size(size)}" for what, size in ranked if size)
    return (
        f"warning: the site will weigh {format_size(site_bytes)} with this report, over "
        f"--max-site-size {format_size(budget)} by {format_size(site_bytes - budget)}"
        + (f"; dropping would save: {named}" if named else "")
    )


def budget_warning(
    budget: int,
    site_dir: Path,
    staged: Path,
    target: Path,
    formats: Iterable[str],
    carried: Iterable[str] = (),
) -> str | None:
    """:func:`over_budget` for the report in ``formats`` staged in ``staged`` (its staging
    folder's ``report``) to replace ``target`` in ``site_dir``, keeping its folders ``carried``."""
    from reportgen.publish import flavours

    site_bytes = site_bytes_after(site_dir, staged, target, staged.parent, carried)
    if site_bytes <= budget:
        return None
    registry = flavours.registry()
    trees = {name: registry[name].layout.root for name in formats if registry[name].layout.root}
    sizes, flavour_bytes = breakdown(staged), flavour_only_bytes(staged, trees)
    return over_budget(site_bytes, budget, sizes, flavour_bytes, formats)
