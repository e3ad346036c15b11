"""Report pages: one Jinja2 template per output flavour, its escaping policy and its file layout.

A flavour (html, jekyll, gfm) is one entry in :data:`FLAVOURS`: the page templates, the *markup
dialect* its shared partials are written in, an escaping policy and a layout saying where pages
and images go and how pages link each other. The report's structure and prose live once, in
shared partials (``templates/_report.j2``, ``_gallery.j2``, ``_image.j2`` and the files they
include), written against a small vocabulary of macros (``m.heading``, ``m.figure``,
``m.details``, ``m.thumbs`` ...) that each dialect file defines for its format. Adding a flavour
means one dialect file, its page templates and one registry entry.

A report has a front page and, when it is large, gallery pages (a level's thumbnails, a page at a
time) and a page per image (:mod:`reportgen.publish.gallery` plans them). Templates see
``report`` (the :class:`ReportContext` on the front page, a :class:`ReportHeader` on the others),
``page`` (the :class:`GalleryPage` or :class:`ImagePage`) and ``page_title`` on the others, ``m``
(the flavour's dialect macros), ``asset_url(file)`` (how the page names a report image),
``page_url(kind, name)`` (a link to another page of the report: ``("report", "")``,
``("gallery", name)``, ``("image", id)``), ``report_url(name)`` (link to a report file such as
manifest.json, None where the page is published without them), ``version_url(entry)`` (link to
another version's page, or None), ``current_url`` (on an earlier version, link to the current
one's page, or None), ``name_index`` (the html galleries' filter by name, else None),
``html_page(kind, name)`` (the html flavour's page, relative to the report, None when it is not
written: the gfm image pages link its explorer), ``sprite_panels`` and ``overlay_script`` (the
report-wide control's panels and script), ``jekyll_include``, the ``text`` filter and
``caption(figure)``. A user folder of templates overrides any file by name.

Escaping: every string that comes from the user (file names, titles, labels, reasons, model ids,
parameters) goes through the environment's ``text`` filter. The HTML environment autoescapes and
its ``text`` is plain HTML escaping. The Markdown environment does not autoescape; its ``text``
turns ASCII punctuation into numeric character references (dots, commas, hyphens and slashes
stay where they mean nothing), so the text cannot open HTML, Markdown or Liquid syntax, cannot
close a quoted attribute or Liquid string, and still reads the same once rendered: Jekyll runs
Liquid first, and the references are decoded only later, by kramdown or the browser. The names
in the html filter's index are JSON in script files, with ``<``, ``>`` and ``&`` escaped too.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import posixpath
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import markupsafe

from reportgen import store
from reportgen.errors import ReportgenError
from reportgen.progress import track
from reportgen.publish import figures
from reportgen.record import ModelSummary, Prediction, SkippedFile

ARTICLE_LEVEL_COLOURS = ("#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REPORT_FILE = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.[a-z0-9]+")
_INCLUDE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*")


# --- what a report page shows ----------------------------------------------------------------


@dataclass(frozen=True)
class ExplorerFiles:
    """The scripts of an image's attention explorer, relative to the report folder."""

    image: str  # the image's id
    data: str  # the image's data
    script: str  # the explorer itself
    colormaps: str  # the report's lookup tables and alpha


@dataclass(frozen=True)
class Figure:
    """One image's figure. ``name`` and prediction labels are untrusted user text."""

    name: str  # original file name relative to the input folder
    file: str  # image relative to the report folder, a slug path such as figures/003-cat.webp
    width: int
    height: int
    entropy: float
    level: int
    predictions: tuple[Prediction, ...] = ()
    sprite: str | None = None  # every panel in a row, for the report-wide control
    explorer: ExplorerFiles | None = None  # inline below it (single-page reports)

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictions", tuple(self.predictions))


@dataclass(frozen=True)
class Level:
    """One spread level: its colour, entropy range, typical figures (in full on the front page;
    the first is the featured one), and either the other figures (folded below them, in a
    single-page report) or the names of its gallery pages by entropy (a report with galleries)."""

    number: int
    colour: str  # "#RRGGBB"
    entropy_min: float
    entropy_max: float
    typical: tuple[Figure, ...]
    others: tuple[Figure, ...] = ()
    count: int = 0  # images in the level (at least the figures given)
    gallery: tuple[str, ...] = ()  # its gallery pages in entropy order, page 1 first
    gallery_by_name: str | None = None  # the first of its gallery pages by name

    def __post_init__(self) -> None:
        if not _COLOUR.fullmatch(self.colour):
            raise ValueError(f"level colour must be #RRGGBB, got {self.colour!r}")
        if not self.typical:
            raise ValueError("a level shows at least one figure")
        object.__setattr__(self, "typical", tuple(self.typical))
        object.__setattr__(self, "others", tuple(self.others))
        object.__setattr__(self, "gallery", tuple(self.gallery))
        object.__setattr__(self, "count", max(self.count, len(self.figures)))

    @property
    def featured(self) -> Figure:
        return self.typical[0]

    @property
    def figures(self) -> tuple[Figure, ...]:
        """The figures on the front page: typical, then folded."""
        return (*self.typical, *self.others)


@dataclass(frozen=True)
class Chart:
    title: str
    file: str
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class MapScore:
    """One map's faithfulness: areas under the deletion and insertion curves."""

    name: str
    deletion_auc: float
    insertion_auc: float


@dataclass(frozen=True)
class Faithfulness:
    """The "Which map to trust" section: scores best first, and the curves' chart."""

    metric: str
    steps: int
    images: int
    baseline: str
    scores: tuple[MapScore, ...]  # best first
    chart: Chart | None


@dataclass(frozen=True)
class VersionEntry:
    """One version of a report, as the versions list names it; ``folder`` is relative to the
    folder of the report whose page shows the list ("" for that report itself)."""

    number: int
    date: str
    model_id: str
    n_images: int
    folder: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class ReportContext:
    """Everything a report's front page says; the site builder assembles it."""

    title: str
    slug: str
    date: datetime.date
    description: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    model: ModelSummary
    spread_map: str  # which map the levels use, in words
    params: dict[str, Any]  # every parameter of the analysis and the figure style
    levels: tuple[Level, ...]
    charts: tuple[Chart, ...]
    skipped: tuple[SkippedFile, ...]
    n_images: int
    versions: dict[str, str]  # python, torch, transformers, reportgen
    created_utc: str
    reportgen_commit: str | None
    reportgen_version: str | None = None
    time_source: str | None = None  # "SOURCE_DATE_EPOCH", "--date" or "clock"
    manifest_file: str = "manifest.json"
    data_dir: str = "data/"
    rollout_start_layer: int = 0  # layers left out of rollout
    rollout_auto: bool = False  # chosen by --rollout-start-layer auto
    artifacts_mode: str | None = None  # "mask" or "keep"; None: made before detection (0.1)
    masked_per_layer: tuple[int, ...] = ()  # artifact patches per layer, all images
    normalise: str = "panel"  # how overlays are scaled: "panel" or "shared"
    faithfulness: Faithfulness | None = None
    version: int = 1
    # On an earlier version: the folder of the current one, relative to this one's; else None.
    current_folder: str | None = None
    history: tuple[VersionEntry, ...] = ()  # the earlier versions kept, newest first
    typical_per_level: int = 1  # figures in full per level (a level may have fewer images)

    @property
    def n_levels(self) -> int:
        """The highest level number: levels count from 1 (focused) to this (spread)."""
        return max((level.number for level in self.levels), default=0)

    @property
    def galleries(self) -> bool:
        """Whether the levels have gallery pages (a large report) or fold their figures."""
        return any(level.gallery for level in self.levels)

    @property
    def sprites(self) -> bool:
        """Whether its figures have sprites, for the report-wide control."""
        return any(figure.sprite for level in self.levels for figure in level.figures)

    @property
    def inline_explorer(self) -> ExplorerFiles | None:
        """The explorer of its first figure that has one inline: the page loads its shared
        scripts (explorer.js, colormaps.js) once, for every figure's; None without."""
        figures = (figure for level in self.levels for figure in level.figures)
        return next((figure.explorer for figure in figures if figure.explorer), None)

    def header(self) -> ReportHeader:
        return ReportHeader(self.title, self.slug, self.date, self.n_levels, self.model.layers)

    def image_files(self) -> list[str]:
        """Every image file the front page shows (figures, then charts), relative to the report."""
        figures = [figure.file for level in self.levels for figure in level.figures]
        charts = [chart.file for chart in self.charts]
        if self.faithfulness and self.faithfulness.chart:
            charts.append(self.faithfulness.chart.file)
        return figures + charts


@dataclass(frozen=True)
class ReportHeader:
    """What a gallery or image page says about its report (so it changes only when these do)."""

    title: str
    slug: str
    date: datetime.date
    n_levels: int
    layers: int


@dataclass(frozen=True)
class LevelMark:
    """A level as a gallery or image page marks it."""

    number: int
    colour: str  # "#RRGGBB"


@dataclass(frozen=True)
class Thumb:
    """A thumbnail on a gallery page, linking its image's page. ``name`` is untrusted."""

    id: str  # the image's page: images/<id>
    name: str
    file: str  # thumbs/<id>.webp, a slug path
    width: int
    height: int
    entropy: float
    sprite: str | None = None  # every panel in a row, for the report-wide control


@dataclass(frozen=True)
class GalleryPage:
    """One page of a level's gallery in one order."""

    level: LevelMark
    level_size: int
    order: str  # "entropy" or "name"
    number: int  # 1-based
    count: int  # pages of this level in this order
    first: int  # 1-based position of its first thumbnail in the level
    thumbs: tuple[Thumb, ...]
    levels: tuple[int, ...]  # every level of the report, for links between them

    @property
    def name(self) -> str:
        return gallery_page_name(self.level.number, self.order, self.number)

    @property
    def sprites(self) -> bool:
        """Whether its thumbnails have sprites, for the report-wide control."""
        return any(thumb.sprite for thumb in self.thumbs)

    def sibling(self, number: int, order: str | None = None) -> str:
        """Name of page ``number`` of this level, in this order or ``order``."""
        return gallery_page_name(self.level.number, order or self.order, number)

    def pager(self) -> list[int | None]:
        """Page numbers to show: first, last and two either side, None for a gap."""
        return pager(self.number, self.count)


@dataclass(frozen=True)
class ImagePage:
    """The page of one image: its full figure and what is known about it."""

    id: str
    figure: Figure
    level: LevelMark
    sha256: str
    size_bytes: int
    original_size: tuple[int, int]  # (width, height)
    layer_entropies: tuple[float, ...]
    artifact_counts: tuple[int, ...]  # artifact patches found per layer; () before 0.2
    gallery: str  # the gallery page (entropy order) that shows it
    maps_file: str  # relative to the report: data/maps/<id>.npz
    table_file: str  # relative to the report: data/results.parquet
    explorer: ExplorerFiles | None = None  # the interactive explorer, where the page has one

    def layer_chart(self) -> markupsafe.Markup:
        """A small inline SVG line chart of the entropy of each layer's map."""
        return markupsafe.Markup(layer_entropy_svg(self.layer_entropies))


@dataclass(frozen=True)
class NameIndex:
    """The html galleries' filter by name: scripts holding every name, loaded when used."""

    chunks: int  # gallery/names-1.js ... names-<chunks>.js
    thumb_extension: str  # ".webp": thumbnails are thumbs/<id><extension>


@dataclass(frozen=True)
class IndexEntry:
    """One report on the archive index; ``href`` and ``thumbnail`` are relative to the index."""

    title: str
    date: str
    model_id: str
    n_images: int
    href: str
    thumbnail: str | None
    version: int = 1
    n_versions: int = 1  # the current version and the earlier ones kept


def gallery_page_name(level: int, order: str, number: int) -> str:
    """File name (no extension) of a gallery page: ``level-2-entropy-3``."""
    return f"level-{level}-{order}-{number}"


def pager(current: int, total: int, around: int = 2) -> list[int | None]:
    """Page numbers a pager shows: the first, the last and ``around`` either side of ``current``,
    with None where numbers are left out."""
    shown = sorted({1, total, *range(max(1, current - around), min(total, current + around) + 1)})
    numbers: list[int | None] = []
    for number in shown:
        if numbers and number - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def layer_entropy_svg(values: Sequence[float], width: int = 360, height: int = 140) -> str:
    """A line chart of one value per layer as SVG markup: numbers only, no user text."""
    left, right, top, bottom = 44, 10, 10, 28
    low, high = min(values), max(values)
    if high - low < 1e-6:
        low, high = low - 0.005, high + 0.005
    span_x = max(len(values) - 1, 1)

    def x(index: int) -> float:
        return left + (width - left - right) * index / span_x

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - value) / (high - low)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5"/>' for i, v in enumerate(values)
    )
    summary = ", ".join(f"L{i} {v:.3f}" for i, v in enumerate(values, start=1))
    axis_y = height - bottom
    return (
        f'<svg class="layer-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Entropy of each layer map: {summary}">'
        f'<g font-family="sans-serif" font-size="11" fill="#59636e">'
        f'<text x="{left - 6}" y="{y(high) + 4:.1f}" text-anchor="end">{high:.3f}</text>'
        f'<text x="{left - 6}" y="{y(low) + 4:.1f}" text-anchor="end">{low:.3f}</text>'
        f'<text x="{x(0):.1f}" y="{axis_y + 16}" text-anchor="middle">L1</text>'
        f'<text x="{x(len(values) - 1):.1f}" y="{axis_y + 16}" text-anchor="middle">'
        f"L{len(values)}</text></g>"
        f'<path d="M{left},{top}V{axis_y}H{width - right}" fill="none" stroke="#d1d9e0"/>'
        f'<polyline points="{points}" fill="none" stroke="#4A6FA5" stroke-width="2"/>'
        f'<g fill="#4A6FA5">{dots}</g></svg>'
    )


def level_colours(n: int) -> list[str]:
    """``n`` background colours from focused to spread: the article's four, interpolated in RGB.

    One level gets the first colour, two the first and last; four are exactly the article's.
    """
    if n < 1:
        raise ValueError("there must be at least one level")
    anchors = [
        tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) for colour in ARTICLE_LEVEL_COLOURS
    ]
    colours = []
    for index in range(n):
        position = index * (len(anchors) - 1) / (n - 1) if n > 1 else 0.0
        low = min(int(position), len(anchors) - 2)
        weight = position - low
        rgb = (
            round(a + (b - a) * weight) for a, b in zip(anchors[low], anchors[low + 1], strict=True)
        )
        colours.append("#" + "".join(f"{channel:02X}" for channel in rgb))
    return colours


# --- escaping --------------------------------------------------------------------------------

_UNSAFE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}  # controls, lone surrogates, line/para separators
_NON_CHARACTERS = {"\ufffe", "\uffff"}
_READABLE_PUNCTUATION = ".,-/"  # no syntax of their own, except in the positions below
_AS_REFERENCES = {
    ord(char): f"&#{ord(char)};" for char in string.punctuation if char not in _READABLE_PUNCTUATION
}
# Where dots and hyphens do mean something: as a list marker at the start ("- x", "1. x") and
# in runs (kramdown typography turns "--" and "..." into dashes and ellipses).
_MEANINGFUL_DOTS_AND_HYPHENS = re.compile(r"^(?:\d+\.|-)(?=\s|$)|\.{2,}|-{2,}")
_LIQUID_AS_REFERENCES = {ord(char): f"&#{ord(char)};" for char in "{}%"}


def _dots_and_hyphens_as_references(match: re.Match[str]) -> str:
    return "".join(f"&#{ord(char)};" if char in ".-" else char for char in match.group())


def one_line(value: object) -> str:
    """``value`` as printable text on one line, so it can never start a block of its own.

    Control characters, line breaks and lone surrogates (undecodable file names) become spaces,
    and runs of white space one space.
    """
    text = "".join(
        " " if unicodedata.category(char) in _UNSAFE_CATEGORIES or char in _NON_CHARACTERS else char
        for char in str(value)
    )
    return " ".join(text.split())


def html_text(value: object) -> markupsafe.Markup:
    """Untrusted text for an HTML page (content or quoted attribute); Markup passes through."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.escape(one_line(value))


def markdown_text(value: object) -> str:
    """Untrusted text for a Markdown page, inert for HTML, Markdown (GFM, kramdown) and Liquid.

    ASCII punctuation becomes numeric character references, so no tag, emphasis, link, table
    cell, Liquid delimiter or closing quote can form wherever the text is placed (inline
    Markdown, HTML content or attributes, a quoted Liquid include parameter). Dots, commas,
    hyphens and slashes stay readable where they cannot mean anything.
    """
    text = one_line(value).translate(_AS_REFERENCES)
    return _MEANINGFUL_DOTS_AND_HYPHENS.sub(_dots_and_hyphens_as_references, text)


def yaml_quoted(value: object) -> str:
    """Untrusted text as a double-quoted YAML scalar for Jekyll front matter.

    The value is HTML-escaped with Liquid delimiters as references because layouts such as
    al-folio's print ``page.title`` and ``page.tags`` unescaped; after escaping, only the
    backslash is special inside YAML double quotes.
    """
    escaped = html.escape(one_line(value)).translate(_LIQUID_AS_REFERENCES)
    return '"' + escaped.replace("\\", "\\\\") + '"'


def param_value(value: object) -> str:
    """A parameter's value as shown in the parameters table (JSON spelling of none/true/false)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def figure_caption(figure: Figure) -> str:
    """Plain caption text (escaped by the template): file name, entropy, top predictions."""
    parts = [figure.name, f"entropy {figure.entropy:.3f}"]
    if figure.predictions:
        parts.append(", ".join(f"{p.label} {p.probability:.1%}" for p in figure.predictions))
    return " · ".join(parts)


@dataclass(frozen=True, eq=False)
class Escaping:
    """An escaping policy: Jinja autoescape on or off, and the filters applied to user text."""

    autoescape: bool
    filters: Mapping[str, Callable[[Any], str]]


# Every template of the HTML environment is HTML, including the shared *.j2 partials that
# select_autoescape would not recognise by extension, so autoescape is simply on.
HTML_ESCAPING = Escaping(autoescape=True, filters={"text": html_text})
MARKDOWN_ESCAPING = Escaping(
    autoescape=False, filters={"text": markdown_text, "yaml_quoted": yaml_quoted}
)


# --- flavours --------------------------------------------------------------------------------


PAGE_FOLDERS = {"gallery": "gallery", "image": "images"}
_PERMALINK = re.compile(r"/(?:(?:[a-z0-9_-]+|:year|:month|:day|:title)/)*")


@dataclass(frozen=True)
class Layout:
    """Where a flavour puts its pages and images inside the report folder, and how pages link.

    ``root`` is the folder of the flavour's files ("" is the report folder itself). Under it,
    ``page`` is the front page and gallery and image pages go to ``gallery/`` and ``images/``
    with ``extension``. The pages show the report's images in place and link each other and the
    report's files by relative paths, so the folder works from disk and on any web server.
    """

    page: str
    extension: str

    root = ""

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        """A page's file, relative to ``root``; ``kind`` is report, gallery or image."""
        if kind == "report":
            return self.page.format(date=ctx.date.isoformat(), slug=ctx.slug)
        return f"{PAGE_FOLDERS[kind]}/{name}{self.extension}"

    def page_path(self, ctx: ReportContext | ReportHeader, kind: str = "report", name="") -> str:
        """A page's file, relative to the report folder."""
        return posixpath.join(self.root, self.path(ctx, kind, name))

    def _from(self, ctx: ReportContext | ReportHeader, here: str, target: str) -> str:
        """``target`` (relative to ``root``) as seen from a page of kind ``here``."""
        folder = posixpath.dirname(self.path(ctx, here, "x"))
        return posixpath.relpath(target, folder or ".") + ("/" if target.endswith("/") else "")

    def link(
        self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str, permalink: str
    ) -> str:
        """The href from a page of kind ``here`` to another page of the report."""
        return self._from(ctx, here, self.path(ctx, kind, name))

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        """How a page of kind ``here`` names a report image."""
        return self._from(ctx, here, _checked_report_file(file))

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> str | None:
        """Link from a page to a report file such as manifest.json; None when not published."""
        return self._from(ctx, here, name)

    def permalink(self, ctx: ReportHeader, kind: str, name: str, permalink: str) -> str | None:
        """The URL a page declares for itself (Jekyll front matter); None: wherever it is."""
        return None

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Put the images the pages show where the pages expect them (already in place here)."""


def check_jekyll_permalink(permalink: str) -> str:
    """A post permalink the jekyll layout can expand, else a clear error."""
    if not _PERMALINK.fullmatch(permalink):
        raise ReportgenError(
            f"--jekyll-permalink {permalink!r}: use a path from / to / made of fixed parts "
            "and :year, :month, :day, :title, e.g. /blog/:year/:title/"
        )
    return permalink


@dataclass(frozen=True)
class JekyllLayout(Layout):
    """A Jekyll site's layout: the front page is a post, gallery and image pages are Jekyll pages
    under ``pages`` whose permalinks put them below the post's URL (``permalink`` is the site's
    post permalink, al-folio's ``/blog/:year/:title/`` by default), and images are copied to
    ``assets`` (keeping their paths: ``figures/...``, ``thumbs/...``, ``charts/...``). Pages link
    each other through Liquid (``relative_url``, ``post_url``), so the site's baseurl applies."""

    root = "jekyll"
    pages: str = "reports/{slug}"
    assets: str = "assets/img/{slug}"

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        if kind == "report":
            return super().path(ctx, kind, name)
        return posixpath.join(self.pages.format(slug=ctx.slug), super().path(ctx, kind, name))

    def url(self, ctx: ReportContext | ReportHeader, kind: str, name: str, permalink: str) -> str:
        """The site URL (before baseurl) of a gallery or image page."""
        check_jekyll_permalink(permalink)
        date = ctx.date
        post = (
            permalink.replace(":year", f"{date.year:04d}")
            .replace(":month", f"{date.month:02d}")
            .replace(":day", f"{date.day:02d}")
            .replace(":title", ctx.slug)
        )
        return f"{post}{PAGE_FOLDERS[kind]}/{name}/"

    def link(
        self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str, permalink: str
    ) -> str:
        if kind == "report":
            return "{% post_url " + f"{ctx.date.isoformat()}-{ctx.slug}" + " %}"
        return "{{ '" + self.url(ctx, kind, name, permalink) + "' | relative_url }}"

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        """Relative to the site root: al-folio's figure include and the dialect's ``src`` macro
        add the site's baseurl."""
        return posixpath.join(self.assets.format(slug=ctx.slug), _checked_report_file(file))

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> None:
        return None  # the site publishes the pages and images, not the report's data

    def permalink(self, ctx: ReportHeader, kind: str, name: str, permalink: str) -> str | None:
        """A gallery or image page's own; the post's is the site's post permalink."""
        return None if kind == "report" else self.url(ctx, kind, name, permalink)

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Link (or copy) the images into ``assets``, where the site serves them from."""
        for file in dict.fromkeys(files):
            source = report_dir / _checked_report_file(file)
            if not source.is_file():
                raise ReportgenError(f"{file} is missing from the report folder {report_dir}")
            store.link_or_copy(source, report_dir / self.root / self.image_url(ctx, "", file))


@dataclass(frozen=True)
class Flavour:
    """An output format: page templates, markup dialect, escaping policy and file layout.

    ``template`` renders the front page, ``page_template`` the gallery and image pages.
    ``markup`` lists macro files, later ones overriding earlier ones by macro name; together
    they are the ``m`` the shared partials write with. ``name_filter``: galleries get the
    progressive filter by name (a script; only where pages may run one).
    """

    name: str
    template: str
    page_template: str
    markup: tuple[str, ...]
    escaping: Escaping
    layout: Layout
    name_filter: bool = False


FLAVOURS: dict[str, Flavour] = {
    flavour.name: flavour
    for flavour in (
        Flavour(
            "html",
            "report.html.j2",
            "page.html.j2",
            ("_markup.html.j2",),
            HTML_ESCAPING,
            Layout("index.html", ".html"),
            name_filter=True,
        ),
        Flavour(
            "jekyll",
            "post.jekyll.md.j2",
            "page.jekyll.md.j2",
            ("_markup.md.j2", "_markup.jekyll.md.j2"),
            MARKDOWN_ESCAPING,
            JekyllLayout("_posts/{date}-{slug}.md", ".md"),
        ),
        Flavour(
            "gfm",
            "report.gfm.md.j2",
            "page.gfm.md.j2",
            ("_markup.md.j2", "_markup.gfm.md.j2"),
            MARKDOWN_ESCAPING,
            Layout("README.md", ".md"),
        ),
    )
}


def standalone_page(formats: Sequence[str], preferred: str | None = None) -> str | None:
    """The page to link to in a report folder written in ``formats``: the ``preferred``
    flavour's when it has one, else the first page that stands in the folder (html, gfm)."""
    for name in (preferred, *formats):
        if name in formats and name in FLAVOURS and not FLAVOURS[name].layout.root:
            return FLAVOURS[name].layout.page
    return None


def _checked_report_file(file: str) -> str:
    """A report image path, refused unless it is a slug path (it goes into URLs and Liquid)."""
    if not _REPORT_FILE.fullmatch(file):
        raise ReportgenError(f"not a slug path for a report image: {file!r}")
    return file


# --- templates -------------------------------------------------------------------------------


def _packaged_templates() -> Path:
    """``reportgen/templates`` in an installed wheel, else ``<repo>/templates`` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def template_search_path(templates_dir: Path | None) -> list[Path]:
    """Where templates are looked up: the user's folder first, then the packaged templates."""
    user = [Path(templates_dir)] if templates_dir is not None else []
    return [*user, _packaged_templates()]


def template_file(name: str, templates_dir: Path | None) -> Path:
    """A file shipped with the templates (a script), the user's folder first."""
    return next(
        folder / name for folder in template_search_path(templates_dir) if (folder / name).is_file()
    )


def _environment(
    escaping: Escaping, templates_dir: Path | None, bytecode_dir: Path | None = None
) -> jinja2.Environment:
    """``bytecode_dir`` keeps compiled templates between runs (keyed by their source).

    Compiled code depends on the autoescape setting and the shared partials are compiled by
    both environments, so each escaping policy gets its own bytecode folder.
    """
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(folder) for folder in template_search_path(templates_dir)]
    )
    bytecode_cache = None
    if bytecode_dir is not None:
        folder = Path(bytecode_dir) / ("autoescape" if escaping.autoescape else "verbatim")
        folder.mkdir(parents=True, exist_ok=True)
        bytecode_cache = jinja2.FileSystemBytecodeCache(str(folder))
    environment = jinja2.Environment(
        loader=loader,
        bytecode_cache=bytecode_cache,
        autoescape=escaping.autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(escaping.filters)
    environment.filters["param_value"] = param_value
    environment.globals["caption"] = figure_caption
    return environment


def _markup(environment: jinja2.Environment, names: Sequence[str], variables: dict) -> Any:
    """The dialect macros of ``names`` as one namespace, later files overriding earlier ones."""
    macros: dict[str, jinja2.runtime.Macro] = {}
    for name in names:
        module = environment.get_template(name).make_module(vars=variables)
        macros.update(
            (key, value)
            for key, value in vars(module).items()
            if isinstance(value, jinja2.runtime.Macro)
        )
    return SimpleNamespace(**macros)


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, exactly one final newline."""
    lines = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip("\n") + "\n"


def _render(environment: jinja2.Environment, name: str, variables: dict) -> bytes:
    """Render a template; template problems (often in user overrides) become plain messages."""
    try:
        return _tidy(environment.get_template(name).render(variables)).encode()
    except jinja2.TemplateSyntaxError as error:
        where = f"{error.filename or error.name}:{error.lineno}"
        raise ReportgenError(f"template {where}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise ReportgenError(f"template {name}: {error}") from None


def _templates_fingerprint(templates_dir: Path | None) -> str:
    """sha256 of every template that could be used (user folder first) and of this module's
    code (the filters): part of the key of a cached page."""
    digest = hashlib.sha256(store.source_fingerprint("publish.pages").encode())
    for folder in template_search_path(templates_dir):
        for path in sorted(folder.iterdir()):
            if path.is_file():
                digest.update(f"{folder}/{path.name}\n".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _digest(page: Any) -> str:
    """sha256 of a page's content, for the keys of cached pages: the repr of its frozen
    dataclasses (fields in a fixed order, floats exact), much quicker than JSON."""
    return hashlib.sha256(repr(page).encode()).hexdigest()


def script_json(value: Any) -> str:
    """JSON for a script: ASCII only (so U+2028/9 are escaped too), and no ``<``, ``>`` or ``&``
    that HTML could see, so no string in it can end the script."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


OVERLAY_SCRIPT = "explorer/slider.js"  # the report-wide control of the front and gallery pages


def write_overlay_script(report_dir: Path, templates_dir: Path | None) -> None:
    """The script of the report-wide control (front and gallery pages of html and jekyll)."""
    source = template_file(posixpath.basename(OVERLAY_SCRIPT), templates_dir)
    store.atomic_write(Path(report_dir) / OVERLAY_SCRIPT, source.read_bytes())


# The explorer's and the report-wide control's CSS rules: html pages inline them (_page.html.j2
# includes the template), jekyll pages link this copy, as the theme's own CSS does not have them.
EXPLORER_STYLE = "explorer/explorer.css"
EXPLORER_STYLE_TEMPLATE = "_explorer.css"  # plain CSS: no Jinja or Liquid syntax


def write_explorer_style(report_dir: Path, templates_dir: Path | None) -> None:
    """The stylesheet of the explorer and the report-wide control, for the jekyll pages."""
    source = template_file(EXPLORER_STYLE_TEMPLATE, templates_dir)
    store.atomic_write(Path(report_dir) / EXPLORER_STYLE, source.read_bytes())


NAME_INDEX_CHUNK = 2000  # names per script of the filter's index: about 100 KB


def _write_name_index(
    images: Sequence[ImagePage], folder: Path, templates_dir: Path | None, thumb_extension: str
) -> NameIndex:
    """The html galleries' filter: its script and every image's (name, page, level), sorted by
    name, in scripts of :data:`NAME_INDEX_CHUNK` that the filter loads only when it is used."""
    entries = sorted(
        ([one_line(page.figure.name), page.id, page.level.number] for page in images),
        key=lambda entry: (entry[0].casefold(), entry[0]),
    )
    chunks = [
        entries[start : start + NAME_INDEX_CHUNK]
        for start in range(0, len(entries), NAME_INDEX_CHUNK)
    ]
    for number, chunk in enumerate(chunks, start=1):
        script = f"reportgenNames({script_json(chunk)});\n"
        store.atomic_write(folder / f"names-{number}.js", script)
    store.atomic_write(folder / "filter.js", template_file("filter.js", templates_dir).read_bytes())
    return NameIndex(len(chunks), thumb_extension)


def gallery_title(page: GalleryPage) -> str:
    return f"Spread level {page.level.number}, by {page.order}: page {page.number} of {page.count}"


class _FlavourPages:
    """Renders the pages of one flavour: the variables each kind of page shares, its dialect
    macros made once, and rendered pages kept in the cache by content."""

    def __init__(
        self,
        flavour: Flavour,
        environment: jinja2.Environment,
        ctx: ReportContext,
        report_dir: Path,
        settings: dict[str, Any],
        cache: store.ContentCache | None,
    ):
        self.flavour, self.environment, self.ctx = flavour, environment, ctx
        self.report_dir, self.settings, self.cache = report_dir, settings, cache
        self._header_digest = _digest(ctx.header())
        self._shared: dict[str, dict[str, Any]] = {}

    def _variables(self, kind: str) -> dict[str, Any]:
        """What every page of ``kind`` sees, ``m`` included."""
        if kind not in self._shared:
            layout, ctx = self.flavour.layout, self.ctx
            permalink = self.settings["jekyll_permalink"]
            variables = {
                "report": ctx if kind == "report" else ctx.header(),
                "kind": kind,
                "asset_url": lambda file: layout.image_url(ctx, kind, file),
                "page_url": lambda to, name: layout.link(ctx, kind, to, name, permalink),
                "report_url": lambda name: layout.report_url(ctx, kind, name),
                "version_url": lambda version: _version_url(version, self.flavour, ctx, kind),
                "current_url": ctx.current_folder
                and layout.report_url(ctx, kind, posixpath.join(ctx.current_folder, layout.page)),
                "gallery_page": gallery_page_name,
                "jekyll_include": self.settings["jekyll_include"],
                "name_index": self.settings["name_index"] if kind == "gallery" else None,
                "html_page": self._html_page,
                "sprite_panels": figures.sprite_labels(ctx.model.layers),
                "overlay_script": OVERLAY_SCRIPT,
                "explorer_style": EXPLORER_STYLE,
            }
            variables["m"] = _markup(self.environment, self.flavour.markup, variables)
            self._shared[kind] = variables
        return self._shared[kind]

    def _html_page(self, kind: str, name: str) -> str | None:
        """The html flavour's page of (kind, name), relative to the report; None when the html
        flavour is not written (the gfm pages link its explorer)."""
        if not self.settings["html"]:
            return None
        return FLAVOURS["html"].layout.page_path(self.ctx, kind, name)

    def render(self, kind: str, name: str, page: Any, title: str, digest: str = "") -> Path:
        """Write one page (from the cache when the same page was rendered before)."""
        layout = self.flavour.layout
        path = self.report_dir / layout.page_path(self.ctx, kind, name)
        permalink = layout.permalink(
            self.ctx.header(), kind, name, self.settings["jekyll_permalink"]
        )
        key = None
        if self.cache is not None:
            # Everything the page is made of: itself, what it says of its report, the settings
            # it uses (the filter's index only on gallery pages), the templates.
            settings = {
                name: str(value)
                for name, value in self.settings.items()
                if name != "name_index" or kind == "gallery"
            }
            key = store.content_key(
                {
                    "flavour": self.flavour.name,
                    "kind": kind,
                    "page": digest or _digest(page),
                    "report": "" if kind == "report" else self._header_digest,
                    "title": title,
                    "permalink": permalink,
                    **settings,
                }
            )
        template = self.flavour.template if kind == "report" else self.flavour.page_template
        variables = {"page": page, "page_title": title, "permalink": permalink}

        def make() -> bytes:
            return _render(self.environment, template, {**self._variables(kind), **variables})

        store.produce(self.cache, "pages", key, path.suffix, path, make)
        return path


# --- public entry points ---------------------------------------------------------------------

DEFAULT_JEKYLL_PERMALINK = "/blog/:year/:title/"  # al-folio's post permalink


def render_report(
    ctx: ReportContext,
    report_dir: Path,
    formats: Sequence[str],
    *,
    galleries: Sequence[GalleryPage] = (),
    images: Sequence[ImagePage] = (),
    templates_dir: Path | None = None,
    jekyll_include: str = "figure.liquid",
    jekyll_permalink: str = DEFAULT_JEKYLL_PERMALINK,
    bytecode_dir: Path | None = None,
    cache: store.ContentCache | None = None,
) -> list[Path]:
    """Write the pages of each format into ``report_dir``; returns the front pages, in format
    order.

    ``report_dir`` already holds the figures, thumbnails and charts the pages name; flavours
    whose layout needs them elsewhere (jekyll) link or copy them. ``galleries`` and ``images``
    are the gallery and image pages of a large report (none for a single-page one).
    ``jekyll_include`` is the al-folio figure include: ``figure.liquid`` since 2024,
    ``figure.html`` in older sites; ``jekyll_permalink`` the site's post permalink, under which
    the jekyll flavour's gallery and image pages go. ``bytecode_dir`` caches compiled templates
    between runs; ``cache`` keeps rendered pages by content, so a rebuild renders only the pages
    that changed.
    """
    unknown = [name for name in formats if name not in FLAVOURS]
    if unknown:
        raise ReportgenError(
            f"unknown format {', '.join(unknown)}; choose from {', '.join(FLAVOURS)}"
        )
    if not _SLUG.fullmatch(ctx.slug):
        raise ReportgenError(
            f"report slug must be lower-case letters, digits and '-': {ctx.slug!r}"
        )
    if not _INCLUDE_NAME.fullmatch(jekyll_include):
        raise ReportgenError(f"not an include file name: {jekyll_include!r}")
    report_dir = Path(report_dir)
    files = _shown_files(ctx, galleries, images)
    fingerprint = _templates_fingerprint(templates_dir) if cache is not None else ""
    digests = [_digest(page) for page in images] if cache is not None else [""] * len(images)
    environments: dict[Escaping, jinja2.Environment] = {}
    written = []
    for name in dict.fromkeys(formats):
        flavour = FLAVOURS[name]
        if flavour.escaping not in environments:
            environments[flavour.escaping] = _environment(
                flavour.escaping, templates_dir, bytecode_dir
            )
        flavour.layout.place_images(ctx, files, report_dir)
        name_index = None
        if flavour.name_filter and galleries:
            folder = report_dir / posixpath.dirname(flavour.layout.page_path(ctx, "gallery", "x"))
            extension = posixpath.splitext(galleries[0].thumbs[0].file)[1]
            name_index = _write_name_index(images, folder, templates_dir, extension)
        settings = {
            "jekyll_include": jekyll_include,
            "jekyll_permalink": jekyll_permalink,
            "name_index": name_index,
            "templates": fingerprint,
            "html": "html" in formats,
        }
        renderer = _FlavourPages(
            flavour, environments[flavour.escaping], ctx, report_dir, settings, cache
        )
        written.append(renderer.render("report", "", ctx, ctx.title))
        for page in galleries:
            renderer.render("gallery", page.name, page, gallery_title(page))
        pending = track(
            zip(images, digests, strict=True), total=len(images), desc=f"{name} pages", unit="page"
        )
        for page, digest in pending:
            renderer.render("image", page.id, page, page.figure.name, digest)
    return written


def _shown_files(
    ctx: ReportContext, galleries: Sequence[GalleryPage], images: Sequence[ImagePage]
) -> list[str]:
    """Every report file the pages show or load, relative to the report folder (a flavour that
    publishes its pages elsewhere, jekyll, places them): images, sprites, scripts and the
    stylesheet of the explorer and the report-wide control."""
    thumbs = [thumb for page in galleries for thumb in page.thumbs]
    front = [figure for level in ctx.levels for figure in level.figures]
    sprites = [item.sprite for item in (*front, *thumbs) if item.sprite]
    explorers = [item.explorer for item in (*front, *images) if item.explorer]
    return [
        *ctx.image_files(),
        *(thumb.file for thumb in thumbs),
        *(page.figure.file for page in images),
        *sprites,
        *([OVERLAY_SCRIPT] if sprites else []),
        *(file for files in explorers for file in (files.data, files.script, files.colormaps)),
        *([EXPLORER_STYLE] if sprites or explorers else []),
    ]


def _version_url(
    version: VersionEntry, flavour: Flavour, ctx: ReportContext, kind: str
) -> str | None:
    """Link from a page of ``flavour`` to another version's page; None where the page is
    published without the report folder (jekyll) or the version has no standalone page."""
    page = standalone_page(version.formats, flavour.name)
    if page is None:
        return None
    return flavour.layout.report_url(ctx, kind, posixpath.join(version.folder, page))


def render_index(
    entries: Sequence[IndexEntry],
    out_path: Path,
    *,
    templates_dir: Path | None = None,
    bytecode_dir: Path | None = None,
) -> None:
    """Write the archive site's ``index.html`` listing ``entries`` in the given order."""
    environment = _environment(HTML_ESCAPING, templates_dir, bytecode_dir)
    store.atomic_write(Path(out_path), _render(environment, "index.html.j2", {"entries": entries}))


def compile_templates(templates_dir: Path | None, bytecode_dir: Path) -> None:
    """Compile every template of every flavour into ``bytecode_dir`` before any page is
    rendered: a build does it in a worker while the model loads, so its pages do not wait.
    Templates that do not compile are left to fail, with a message, when they are rendered."""
    escapings = {flavour.escaping for flavour in FLAVOURS.values()} | {HTML_ESCAPING}
    for escaping in escapings:
        environment = _environment(escaping, templates_dir, bytecode_dir)
        for name in environment.list_templates(extensions=["j2"]):
            try:
                environment.get_template(name)
            except jinja2.TemplateError:
                continue
