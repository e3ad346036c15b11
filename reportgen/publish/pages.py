"""Report pages: one Jinja2 template per output flavour, its escaping policy and its file layout.

A flavour (html, jekyll, gfm) is one entry in :data:`FLAVOURS`: the page template, the *markup
dialect* its shared partials are written in, an escaping policy and a layout saying where the
page and its images go. The report's structure and prose live once, in shared partials
(``templates/_report.j2`` and the files it includes), written against a small vocabulary of
macros (``m.heading``, ``m.figure``, ``m.details`` ...) that each dialect file defines for its
format. Adding a flavour means one dialect file, one page template and one registry entry.

Templates see ``report`` (the :class:`ReportContext`), ``m`` (the flavour's dialect macros),
``asset_url(file)`` (how the page names a report image), ``report_url(name)`` (link to a report
file such as manifest.json, None where the page is published without them), ``version_url(entry)``
(link to another version's page, or None), ``current_url`` (on an earlier version, link to the
current one's page, or None), ``jekyll_include``, the ``text`` filter and
``caption(figure)``. A user folder of templates overrides any file by name.

Escaping: every string that comes from the user (file names, titles, labels, reasons, model ids,
parameters) goes through the environment's ``text`` filter. The HTML environment autoescapes and
its ``text`` is plain HTML escaping. The Markdown environment does not autoescape; its ``text``
turns ASCII punctuation into numeric character references (dots, commas, hyphens and slashes
stay where they mean nothing), so the text cannot open HTML, Markdown or Liquid syntax, cannot
close a quoted attribute or Liquid string, and still reads the same once rendered: Jekyll runs
Liquid first, and the references are decoded only later, by kramdown or the browser.
"""

from __future__ import annotations

import datetime
import html
import posixpath
import re
import shutil
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import markupsafe

from reportgen.errors import ReportgenError
from reportgen.record import ModelSummary, Prediction, SkippedFile

ARTICLE_LEVEL_COLOURS = ("#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REPORT_FILE = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.[a-z0-9]+")
_INCLUDE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*")


# --- what a report page shows ----------------------------------------------------------------


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictions", tuple(self.predictions))


@dataclass(frozen=True)
class Level:
    """One spread level: its colour, entropy range, featured figure and the rest."""

    number: int
    colour: str  # "#RRGGBB"
    entropy_min: float
    entropy_max: float
    featured: Figure
    others: tuple[Figure, ...]

    def __post_init__(self) -> None:
        if not _COLOUR.fullmatch(self.colour):
            raise ValueError(f"level colour must be #RRGGBB, got {self.colour!r}")
        object.__setattr__(self, "others", tuple(self.others))

    @property
    def figures(self) -> tuple[Figure, ...]:
        return (self.featured, *self.others)


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
    """Everything a report page says; the site builder assembles it."""

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

    @property
    def n_levels(self) -> int:
        """The highest level number: levels count from 1 (focused) to this (spread)."""
        return max((level.number for level in self.levels), default=0)

    def image_files(self) -> list[str]:
        """Every image file the pages show (figures, then charts), relative to the report."""
        figures = [figure.file for level in self.levels for figure in level.figures]
        charts = [chart.file for chart in self.charts]
        if self.faithfulness and self.faithfulness.chart:
            charts.append(self.faithfulness.chart.file)
        return figures + charts


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


@dataclass(frozen=True)
class Layout:
    """Where a flavour puts its page and images inside the report folder.

    ``root`` is the folder the page's links are relative to ("" is the report folder itself);
    ``page`` and ``assets`` are under it and may use ``{date}`` and ``{slug}``. With ``assets``
    empty the page shows the report's images in place; otherwise they are copied there, keeping
    their paths (``figures/...``, ``charts/...``).
    """

    page: str
    root: str = ""
    assets: str = ""

    def page_path(self, ctx: ReportContext) -> str:
        return posixpath.join(self.root, self.page.format(date=ctx.date.isoformat(), slug=ctx.slug))

    def image_url(self, ctx: ReportContext, file: str) -> str:
        """How the page names a report image (relative to ``root``)."""
        return posixpath.join(self.assets.format(slug=ctx.slug), _checked_report_file(file))

    def report_url(self, name: str) -> str | None:
        """Link from the page to a report file such as manifest.json; None when not published."""
        return None if self.root else name

    def copy_images(self, ctx: ReportContext, report_dir: Path) -> None:
        """Copy the images the page shows to ``assets``, for sites that serve them from there."""
        if not self.assets:
            return
        for file in dict.fromkeys(ctx.image_files()):
            source = report_dir / _checked_report_file(file)
            if not source.is_file():
                raise ReportgenError(f"{file} is missing from the report folder {report_dir}")
            target = report_dir / self.root / self.image_url(ctx, file)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


@dataclass(frozen=True)
class Flavour:
    """An output format: page template, markup dialect, escaping policy and file layout.

    ``markup`` lists macro files, later ones overriding earlier ones by macro name; together
    they are the ``m`` the shared partials write with.
    """

    name: str
    template: str
    markup: tuple[str, ...]
    escaping: Escaping
    layout: Layout


FLAVOURS: dict[str, Flavour] = {
    flavour.name: flavour
    for flavour in (
        Flavour(
            "html", "report.html.j2", ("_markup.html.j2",), HTML_ESCAPING, Layout("index.html")
        ),
        Flavour(
            "jekyll",
            "post.jekyll.md.j2",
            ("_markup.md.j2", "_markup.jekyll.md.j2"),
            MARKDOWN_ESCAPING,
            Layout("_posts/{date}-{slug}.md", root="jekyll", assets="assets/img/{slug}"),
        ),
        Flavour(
            "gfm",
            "report.gfm.md.j2",
            ("_markup.md.j2", "_markup.gfm.md.j2"),
            MARKDOWN_ESCAPING,
            Layout("README.md"),
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


def _render(
    environment: jinja2.Environment, name: str, variables: dict, markup: Sequence[str] = ()
) -> str:
    """Render a template; template problems (often in user overrides) become plain messages."""
    try:
        if markup:
            variables = {**variables, "m": _markup(environment, markup, variables)}
        return _tidy(environment.get_template(name).render(variables))
    except jinja2.TemplateSyntaxError as error:
        where = f"{error.filename or error.name}:{error.lineno}"
        raise ReportgenError(f"template {where}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise ReportgenError(f"template {name}: {error}") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


# --- public entry points ---------------------------------------------------------------------


def render_report(
    ctx: ReportContext,
    report_dir: Path,
    formats: Sequence[str],
    *,
    templates_dir: Path | None = None,
    jekyll_include: str = "figure.liquid",
    bytecode_dir: Path | None = None,
) -> list[Path]:
    """Write the page of each format into ``report_dir``; returns their paths, in format order.

    ``report_dir`` already holds the figures and charts named in ``ctx``; flavours whose layout
    needs them elsewhere (jekyll) copy them. ``jekyll_include`` is the al-folio figure include:
    ``figure.liquid`` since 2024, ``figure.html`` in older sites. ``bytecode_dir`` caches
    compiled templates between runs.
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
    environments: dict[Escaping, jinja2.Environment] = {}
    written = []
    for name in dict.fromkeys(formats):
        flavour = FLAVOURS[name]
        layout = flavour.layout
        if flavour.escaping not in environments:
            environments[flavour.escaping] = _environment(
                flavour.escaping, templates_dir, bytecode_dir
            )
        layout.copy_images(ctx, report_dir)
        variables = {
            "report": ctx,
            "asset_url": lambda file, layout=layout: layout.image_url(ctx, file),
            "report_url": layout.report_url,
            "version_url": lambda version, name=name: _version_url(version, name),
            "current_url": ctx.current_folder
            and layout.report_url(posixpath.join(ctx.current_folder, layout.page)),
            "jekyll_include": jekyll_include,
        }
        page = _render(environments[flavour.escaping], flavour.template, variables, flavour.markup)
        page_path = report_dir / layout.page_path(ctx)
        _write(page_path, page)
        written.append(page_path)
    return written


def _version_url(version: VersionEntry, flavour: str) -> str | None:
    """Link from a page of ``flavour`` to another version's page; None where the page is
    published without the report folder (jekyll) or the version has no standalone page."""
    page = standalone_page(version.formats, flavour)
    if page is None:
        return None
    return FLAVOURS[flavour].layout.report_url(posixpath.join(version.folder, page))


def render_index(
    entries: Sequence[IndexEntry],
    out_path: Path,
    *,
    templates_dir: Path | None = None,
    bytecode_dir: Path | None = None,
) -> None:
    """Write the archive site's ``index.html`` listing ``entries`` in the given order."""
    environment = _environment(HTML_ESCAPING, templates_dir, bytecode_dir)
    _write(Path(out_path), _render(environment, "index.html.j2", {"entries": entries}))


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
