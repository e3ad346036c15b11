"""The page model: what the report's templates read, as frozen dataclasses, and the small pure
helpers they use (gallery page names, the pager, the levels' colours, the layer chart, captions).

Templates see ``report`` (the :class:`ReportContext` on the front page, a :class:`ReportHeader`
on the others) and ``page`` (the :class:`GalleryPage` or :class:`ImagePage`). Every field that
comes from the user (``name``, labels, titles) is untrusted text the templates escape.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import markupsafe

from reportgen.manifest import FeatureBasisNote
from reportgen.record import ModelSummary, Prediction, SkippedFile

if TYPE_CHECKING:
    from reportgen.publish.classes import Classes

ARTICLE_LEVEL_COLOURS = ("#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


@dataclass(frozen=True)
class ExplorerFiles:
    """The scripts of an image's attention explorer, relative to the report folder."""

    image: str  # the image's id
    data: str  # the image's data
    script: str  # the explorer itself
    colormaps: str  # the report's lookup tables and alpha
    page: str  # a page of its own beside them, which a post frames in an <iframe>
    style: str  # that page's stylesheet, beside it


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
    label: str | None = None  # its class in the source, untrusted

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
    """One map's faithfulness: areas under the deletion and insertion curves, and how sure."""

    name: str
    deletion_auc: float
    insertion_auc: float
    # How sure: standard errors over the images, the score's spread, and the paired lead over
    # the next map in the ranking; None for results written before per-image areas were kept.
    deletion_se: float | None = None
    insertion_se: float | None = None
    score_se: float | None = None
    score_sd: float | None = None
    lead: float | None = None
    lead_se: float | None = None
    lead_sure: bool = False


@dataclass(frozen=True)
class Faithfulness:
    """The "Which map to trust" section: scores best first, and the curves' chart."""

    metric: str
    steps: int
    images: int
    baseline: str
    scores: tuple[MapScore, ...]  # best first
    chart: Chart | None
    precision: str = "float32"  # of the forward passes; the page names any other


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
    classes: Classes | None = None  # the per-class section, when the images have labels
    token_views: bool = False  # the records have token norms and features (methods.norms)
    artifact_images: int = 0  # images whose artifact score is above 0 (with token views)
    relative_min: bool = True  # min takes each layer relative to its peak (store, format 5 on)
    min_from_rollout_start: bool = True  # min leaves out rollout's left-out layers (format 6 on)
    feature_basis: FeatureBasisNote | None = None  # the report's feature basis (per-report)
    # what the source's items are called, one and several (skipped files: of the input folder)
    inputs_called: tuple[str, str] = ("file in the input folder", "files in the input folder")

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

    @property
    def entropy_digits(self) -> int:
        """Decimals of the entropies it shows: enough to tell its levels apart."""
        return entropy_digits(self.levels)

    def header(self) -> ReportHeader:
        return ReportHeader(
            self.title,
            self.slug,
            self.date,
            self.n_levels,
            self.model.layers,
            self.entropy_digits,
        )

    def image_files(self) -> list[str]:
        """Every image file the front page shows (figures, then charts), relative to the report."""
        figures = [figure.file for level in self.levels for figure in level.figures]
        charts = [chart.file for chart in self.charts]
        if self.faithfulness and self.faithfulness.chart:
            charts.append(self.faithfulness.chart.file)
        outcomes = self.classes and self.classes.outcomes
        if outcomes and outcomes.chart:
            charts.append(outcomes.chart.file)
        return figures + charts


@dataclass(frozen=True)
class ReportAddress:
    """What a flavour's layout reads of a report to place its files: its slug and date."""

    slug: str
    date: datetime.date


@dataclass(frozen=True)
class ReportHeader:
    """What a gallery or image page says about its report (so it changes only when these do)."""

    title: str
    slug: str
    date: datetime.date
    n_levels: int
    layers: int
    entropy_digits: int  # decimals of the entropies shown (ReportModel.entropy_digits)


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
    label: str | None = None  # its class in the source, untrusted


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
    correct: bool | None = None  # its top-1 prediction equals its label; None: not checked
    artifact_score: float | None = None  # share of high-norm patch tokens; None: not made
    score_layer: int | None = None  # the layer of the artifact score (--norm-layer); None: last

    def layer_chart(self) -> markupsafe.Markup:
        """A small inline SVG line chart of the entropy of each layer's map."""
        return markupsafe.Markup(layer_entropy_svg(self.layer_entropies))


@dataclass(frozen=True)
class NameIndex:
    """The html galleries' filter by name: scripts holding every name, loaded when used."""

    chunks: int  # gallery/names-1.js ... names-<chunks>.js
    thumb_extension: str  # ".webp": thumbnails are thumbs/<id><extension>
    classes: bool = False  # entries carry labels, and gallery/classes.js lists them


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
    # its other flavours: (the flavour's description, its page or download)
    flavours: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ComparisonEntry:
    """One comparison on the archive index: its page and the runs it compares (label, and the
    run's page when it is in the site), links relative to the index."""

    title: str
    date: str
    href: str
    runs: tuple[tuple[str, str | None], ...]
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
    """A line chart of one value per layer as SVG markup: numbers only, no user text. Its dots
    are one path of zero-length round-capped segments (a third of the bytes of circles)."""
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
    dots = "".join(f"M{x(i):.1f},{y(v):.1f}h0" for i, v in enumerate(values))  # round caps
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
        f'<path d="{dots}" stroke="#4A6FA5" stroke-width="5" stroke-linecap="round"/></svg>'
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


def entropy_digits(levels: Sequence[Level]) -> int:
    """:func:`range_digits` of the levels' entropy ranges."""
    return range_digits((level.entropy_min, level.entropy_max) for level in levels)


def images_entropy_digits(images: Sequence[Any]) -> int:
    """:func:`range_digits` of the entropy ranges of the levels ``images`` (image summaries)
    fall in: what a page that has the images but not the report's levels shows."""
    from reportgen.methods import spread

    ranges = spread.level_ranges([i.entropy for i in images], [i.level for i in images])
    return range_digits(ranges.values())


def range_digits(ranges: Iterable[tuple[float, float]], least: int = 3, most: int = 6) -> int:
    """Decimals that tell the levels' entropy ranges apart: at least ``least``, more (up to
    ``most``) while two of the bounds, in order, differ but read the same. Near-uniform
    attention puts every image between 0.99 and 1, where three decimals show levels such as
    "0.999 to 0.999"."""
    bounds = [bound for low_high in ranges for bound in low_high]
    for digits in range(least, most):
        if all(round(a, digits) != round(b, digits) for a, b in pairwise(bounds) if a != b):
            return digits
    return most


def figure_alt(name: str) -> str:
    """A figure's alt text (escaped by the template), the same wherever the figure is shown."""
    return f"Attention maps of {name}"


def figure_caption(figure: Figure, digits: int) -> str:
    """Plain caption text (escaped by the template): file name, entropy (to ``digits``
    decimals, those that tell the report's levels apart), top predictions."""
    parts = [figure.name, *([f"label {figure.label}"] if figure.label is not None else [])]
    parts.append(f"entropy {figure.entropy:.{digits}f}")
    if figure.predictions:
        parts.append(", ".join(f"{p.label} {p.probability:.1%}" for p in figure.predictions))
    return " · ".join(parts)


def gallery_title(page: GalleryPage) -> str:
    return f"Spread level {page.level.number}, by {page.order}: page {page.number} of {page.count}"
