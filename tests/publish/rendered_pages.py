"""Report pages rendered from a report context made by hand (no model), and how to read them
back as a reader would; shared by test_pages.py, test_pages_hostile_text.py and
test_pages_wording.py.

The context's figures and charts are tiny PNGs; its file names, title and prediction labels are
hostile (HTML, Liquid, Hugo and Markdown syntax), to come out inert and intact.
"""

from __future__ import annotations

import datetime
import html
import re
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from reportgen.publish import flavours, page_model, pages
from reportgen.publish.templates import Templates
from reportgen.record import ModelSummary, Prediction, SkippedFile
from reportgen.slugs import slugify

HOSTILE_NAMES = (
    "<script>alert(1)</script>.png",
    "{{ site.title }}.jpg",
    "{% raw %}.png",
    "{% endraw %}x.png",
    "a\"b'c.png",
    "with  spaces and\nnewline.png",
    "café 日本.jpg",
    "[x](javascript:alert(1)).png",
    "pipe|in|name.png",
    "*stars* _under_ `tick` #hash \\slash.png",
    "1. list--dash...dots.png",
    "plain.png",
)
HOSTILE_TITLE = "Cats & <b>dogs</b> {{ page.title }} {% include x %} 'single' \"double\""
HOSTILE_LABEL = '<img src=x onerror=alert(1)> {{ label }} | "q"'
FLAVOURS = tuple(flavours.BUILT_IN)
DATE = datetime.date(2024, 5, 24)
LEVEL_SIZES = (4, 3, 1, 4)  # level 3 has no other images: no details block
WEIGHTS_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path)


def _model(num_classes: int | None = 1000) -> ModelSummary:
    return ModelSummary(
        model_id="org/vit-<b>base</b>{{ x }}",
        source="hub",
        revision="0123456789abcdef0123",
        weights_sha256=WEIGHTS_SHA256,
        family="vit",
        layers=12,
        heads=12,
        hidden_size=768,
        head_dim=64,
        patch_size=(16, 16),
        image_size=(224, 224),
        grid=(14, 14),
        n_prefix=1,
        num_classes=num_classes,
    )


def make_context(
    report_dir: Path,
    *,
    names: tuple[str, ...] = HOSTILE_NAMES,
    title: str = HOSTILE_TITLE,
    skipped: tuple[SkippedFile, ...] = (SkippedFile("notes<i>.txt", "not an image: {{ x }}"),),
    num_classes: int | None = 1000,
    level_sizes: tuple[int, ...] = LEVEL_SIZES,
) -> page_model.ReportContext:
    """A report of ``names`` in levels of ``level_sizes``, figures and charts written as PNGs."""
    predictions = (Prediction(HOSTILE_LABEL, 0.931), Prediction("tabby cat", 0.042))
    figures = []
    for index, name in enumerate(names):
        file = f"figures/{index:03d}-{slugify(name.rsplit('.', 1)[0], 40, 'image')}.png"
        _png(report_dir / file, (12, 4))
        level = next(
            number for number, end in enumerate(_cumulative(level_sizes), start=1) if index < end
        )
        figures.append(
            page_model.Figure(
                name,
                file,
                12,
                4,
                index / len(names),
                level,
                predictions if num_classes else (),
            )
        )
    colours = page_model.level_colours(len(level_sizes))
    levels = []
    for number in range(1, len(level_sizes) + 1):
        members = [figure for figure in figures if figure.level == number]
        levels.append(
            page_model.Level(
                number,
                colours[number - 1],
                members[0].entropy,
                members[-1].entropy,
                (members[0],),
                tuple(members[1:]),
            )
        )
    charts = []
    for name, chart_title in (("entropy-histogram", "Spread <histogram>"), ("by-layer", "Layers")):
        _png(report_dir / f"charts/{name}.png", (8, 6))
        charts.append(
            page_model.Chart(chart_title, f"charts/{name}.png", 8, 6, f"{chart_title} chart")
        )
    return page_model.ReportContext(
        title=title,
        slug="cats-and-dogs",
        date=DATE,
        description="Where {% raw %} a model <em>looks</em>",
        tags=("vision-transformer", "x{{ y }}"),
        categories=("XAI",),
        model=_model(num_classes),
        spread_map="the mean over layers of the CLS attention (heads averaged)",
        params={
            "levels": 4,
            "spread_by": "mean",
            "head_fusion": "mean",
            "discard_ratio": 0.9,
            "rollout_start_layer": 0,
            "colormap": "jet",
            "alpha": 0.5,
            "image_format": "png",
            "batch_size": 8,
            "model": "/tmp/{{ evil }}|model",
            "quality": None,
        },
        levels=tuple(levels),
        charts=tuple(charts),
        skipped=skipped,
        n_images=len(names),
        versions={
            "python": "3.11.9",
            "torch": "2.3.0",
            "transformers": "4.46.0",
            "reportgen": "0.1",
        },
        created_utc="2024-05-24T12:00:00Z",
        reportgen_commit=None,
        reportgen_version="0.1",
        time_source="SOURCE_DATE_EPOCH",
    )


def _cumulative(sizes: tuple[int, ...]) -> list[int]:
    total, ends = 0, []
    for size in sizes:
        total += size
        ends.append(total)
    return ends


def render(
    tmp_path: Path, templates_dir: Path | None = None, **context_options
) -> tuple[page_model.ReportContext, Path, dict[str, str]]:
    """Render every flavour of a hand-made report; returns it, its folder and the page texts."""
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir, **context_options)
    templates = Templates(templates_dir)
    written = pages.render_report(ctx, report_dir, FLAVOURS, templates=templates)
    texts = {
        name: path.read_text(encoding="utf-8") for name, path in zip(FLAVOURS, written, strict=True)
    }
    return ctx, report_dir, texts


# --- reading pages back --------------------------------------------------------------------


class PageScan(HTMLParser):
    """What a reader's browser sees: images and details per coloured level, captions, scripts."""

    VOID = {"img", "meta", "link", "br", "hr", "source", "input"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int | None]] = []
        self.n_levels = 0
        self.images: list[tuple[int | None, dict[str, str]]] = []
        self.details: list[int | None] = []
        self.captions: list[str] = []
        self.headings: dict[str, list[str]] = {}
        self.scripts = 0
        self.event_handlers = 0
        self._text: list[str] | None = None
        self.feed(text)
        self.close()

    @property
    def level(self) -> int | None:
        return self.stack[-1][1] if self.stack else None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.event_handlers += sum(name.startswith("on") for name in attributes)
        self.scripts += tag == "script"
        if tag == "img":
            self.images.append((self.level, attributes))
        if tag == "details":
            self.details.append(self.level)
        if tag in ("figcaption", "h1", "h2", "h3", "title"):
            self._text = []
        if tag not in self.VOID:
            level = self.level
            if "background-color" in attributes.get("style", ""):
                self.n_levels += 1
                level = self.n_levels
            self.stack.append((tag, level))

    def handle_endtag(self, tag):
        if tag in ("figcaption", "h1", "h2", "h3", "title") and self._text is not None:
            text = " ".join("".join(self._text).split())
            (self.captions if tag == "figcaption" else self.headings.setdefault(tag, [])).append(
                text
            )
            self._text = None
        if any(open_tag == tag for open_tag, _ in self.stack):
            while self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


# A level's heading: Markdown (gfm, jekyll), a <details> summary (distill, hugo), a ??? block
# (mkdocs).
LEVEL_HEADING = re.compile(
    r'^(?:### |<summary><h3[^>]*>|<details class="reportgen-level"[^>]*><summary>'
    r'|\s*\?\?\?\+? note ").*?Spread level (\d+)',
    re.MULTILINE,
)
# Where the Jekyll flavours copy the report's images (the distill one by post date and slug).
ASSET_PREFIX = {
    "jekyll": "assets/img/cats-and-dogs/",
    "distill": "assets/img/2024-05-24-cats-and-dogs/",
}
LIQUID_FLAVOURS = tuple(ASSET_PREFIX)
# The folded other images of a level, in each flavour's syntax.
# A shortcode parameter: backquoted (raw) or double-quoted (with \" for a quote).
_PARAM = r'(`[^`]*`|"(?:[^"\\]|\\.)*")'
HUGO_FIGURE = re.compile(
    r'\{\{< figure src="([^"]+)" link="[^"]+" alt=' + _PARAM + r' caption="([^"]*)"'
)


def shortcode_param(param: str) -> str:
    """A quoted shortcode parameter as Hugo reads it; the backslash that a double-quoted one
    cannot hold (:func:`escaping.shortcode_text`) counted as the text's own."""
    if param.startswith("`"):
        return param[1:-1]
    return param[1:-1].replace('\\"', '"').replace("\u29f5", "\\")


JEKYLL_INCLUDE = re.compile(r"\{% include (\S+) (.*?) %\}")
INCLUDE_PARAM = re.compile(r'([\w-]+)=(?:"([^"\\]*)"|([\w.-]+))\s*')
MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def include_params(markup: str) -> dict[str, str]:
    """Parameters of a Jekyll include tag; fails unless the markup is nothing but parameters."""
    params, position = {}, 0
    for match in INCLUDE_PARAM.finditer(markup):
        assert match.start() == position, f"stray text in include: {markup[position:]!r}"
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()
    assert position == len(markup), f"stray text in include: {markup[position:]!r}"
    return params


def markdown_images(flavour: str, text: str) -> list[tuple[int | None, str, str, str | None]]:
    """(level, path, alt, caption) of every image, the level from the heading above it."""
    images = []
    headings = [(m.start(), int(m.group(1))) for m in LEVEL_HEADING.finditer(text)]
    sections = [(m.start(), None) for m in re.finditer(r"^(?:## |<h2 )", text, re.MULTILINE)]
    boundaries = sorted(headings + sections)

    def level_at(offset: int) -> int | None:
        level = None
        for start, number in boundaries:
            if start > offset:
                break
            level = number
        return level

    if flavour == "hugo":
        for match in HUGO_FIGURE.finditer(text):
            src, alt, caption = match.groups()
            alt = html.escape(shortcode_param(alt))
            images.append((level_at(match.start()), src, alt, caption))
    elif flavour in LIQUID_FLAVOURS:
        for match in JEKYLL_INCLUDE.finditer(text):
            params = include_params(match.group(2))
            images.append(
                (level_at(match.start()), params["path"], params["alt"], params["caption"])
            )
    else:
        for match in MARKDOWN_IMAGE.finditer(text):
            caption = re.match(r"[^\n]*\s*<(?:sub|small)>(.*?)</", text[match.end() :])
            images.append(
                (
                    level_at(match.start()),
                    match.group(2),
                    match.group(1),
                    caption.group(1) if caption else None,
                )
            )
    return images


def page_images(flavour: str, text: str) -> list[tuple[int | None, str, str, str | None]]:
    """(level, path relative to the report, decoded alt, decoded caption) of every image."""
    if flavour == "html":
        scan = PageScan(text)
        captions = iter(scan.captions)
        return [(level, attrs["src"], attrs["alt"], next(captions)) for level, attrs in scan.images]
    prefix = ASSET_PREFIX.get(flavour, "")
    return [
        (level, path.removeprefix(prefix), html.unescape(alt), caption and html.unescape(caption))
        for level, path, alt, caption in markdown_images(flavour, text)
    ]


def body(flavour: str, text: str) -> str:
    """The page without front matter."""
    if flavour in (*LIQUID_FLAVOURS, "hugo", "mkdocs"):
        return text.split("---\n", 2)[2]
    return text
