"""What a published report's pages weigh with everything they load, and how many clicks reach
every image page: shared by the scale and compare benchmarks."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote

# What a page loads (images, scripts, stylesheets), by flavour: html and gfm name files relative
# to the page, jekyll relative to the site, through relative_url or figure.liquid's path.
_LOADS = {
    "html": re.compile(
        r'<(?:img|script)\b[^>]*?\ssrc="([^"]+)"|<link\b[^>]*?\shref="([^"]+)"[^>]*rel="stylesheet"'
    ),
    "gfm": re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)|<img\b[^>]*?\ssrc="([^"]+)"'),
    "jekyll": re.compile(r'\ssrc="\{\{ \'([^\']+)\' \| relative_url \}\}"|\spath="([^"]+)"'),
}
_SPRITES = re.compile(r'\sdata-sprite="([^"]+)"')  # html: loaded once the wide control is used
LINKS = {
    "html": re.compile(r'<a href="([^"#]+)"'),
    "gfm": re.compile(r'\]\(([^)\s#]+)\)|<a href="([^"#]+)"'),
}
# Each flavour's pages of each kind, as globs in the report folder.
PAGES = {
    "html": {"front": "index.html", "gallery": "gallery/*.html", "image": "images/*.html"},
    "gfm": {"front": "README.md", "gallery": "gallery/*.md", "image": "images/*.md"},
    "jekyll": {
        "front": "jekyll/_posts/*.md",
        "gallery": "jekyll/reports/*/gallery/*.md",
        "image": "jekyll/reports/*/images/*.md",
    },
}


def _names(pattern: re.Pattern, text: str) -> list[str]:
    """Every file name ``pattern``'s groups match in a page, unescaped."""
    return [
        unquote(html.unescape(name))
        for match in pattern.finditer(text)
        for name in match.groups()
        if name
    ]


def loaded_bytes(page: Path, flavour: str, report: Path, sprites: bool = False) -> int:
    """Bytes of a page and of every file it loads, each counted once; lazy images count
    (scrolling loads them). ``sprites``: also the sprites of the html report-wide control."""
    text = page.read_text(encoding="utf-8")
    base = report / "jekyll" if flavour == "jekyll" else page.parent
    names = _names(_LOADS[flavour], text) + (_names(_SPRITES, text) if sprites else [])
    files = {(base / name).resolve() for name in names if not name.startswith("data:")}
    return page.stat().st_size + sum(path.stat().st_size for path in files)


def heaviest_pages(report: Path) -> dict[str, dict[str, int]]:
    """Per flavour and kind of page, the bytes of its heaviest page with what it loads; for html
    front and gallery pages also with the sprites, once the report-wide control is used."""
    weights = {
        flavour: {
            kind: max(loaded_bytes(page, flavour, report) for page in report.glob(pattern))
            for kind, pattern in kinds.items()
        }
        for flavour, kinds in PAGES.items()
    }
    weights["html, control used"] = {
        kind: max(loaded_bytes(page, "html", report, True) for page in report.glob(pattern))
        for kind, pattern in PAGES["html"].items()
        if kind != "image"
    }
    return weights


def clicks_to_every_image(report: Path, flavour: str) -> int | None:
    """The most clicks from the front page to an image page, following links breadth first;
    None when an image page cannot be reached."""
    front = next(report.glob(PAGES[flavour]["front"])).resolve()
    extension = front.suffix
    clicks = {front: 0}
    frontier = [front]
    while frontier:
        reached = []
        for page in frontier:
            for href in _names(LINKS[flavour], page.read_text(encoding="utf-8")):
                target = (page.parent / href).resolve()
                if target.suffix == extension and target.is_file() and target not in clicks:
                    clicks[target] = clicks[page] + 1
                    reached.append(target)
        frontier = reached
    image_pages = [page.resolve() for page in report.glob(PAGES[flavour]["image"])]
    if not all(page in clicks for page in image_pages):
        return None
    return max(clicks[page] for page in image_pages)


def page_weight(report_dir: Path) -> dict[str, int]:
    """Bytes a reader downloads per flavour of a published report."""

    def size(paths):
        return sum(p.stat().st_size for p in paths if p.is_file())

    shared = [*report_dir.glob("figures/*"), *report_dir.glob("charts/*")]
    return {
        "html": size([report_dir / "index.html", *shared]),
        "gfm": size([report_dir / "README.md", *shared]),
        "jekyll": size(list((report_dir / "jekyll").rglob("*"))),
    }
