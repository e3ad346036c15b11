"""Report pages in every flavour: structure, referenced files, escaping of hostile text, overrides.

The context is built by hand (no model); figures are tiny PNGs. Hostile file names, title and
prediction labels must come out inert and intact (they read the same once rendered).
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import posixpath
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from PIL import Image

from reportgen import store
from reportgen.errors import ReportgenError
from reportgen.publish import escaping, flavours, page_model, pages
from reportgen.publish.flavours.jekyll import JekyllOptions
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


def expected_caption(figure: page_model.Figure, digits: int) -> str:
    """The caption as a reader sees it once the page is rendered."""
    return escaping.one_line(page_model.figure_caption(figure, digits))


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
OTHERS_FOLD = {"mkdocs": r'\?\?\? note "Other images', "hugo": r"<details><summary>"}
# A shortcode parameter: backquoted (raw) or double-quoted (with \" for a quote).
_PARAM = r'(`[^`]*`|"(?:[^"\\]|\\.)*")'
HUGO_FIGURE = re.compile(
    r'\{\{< figure src="([^"]+)" link="[^"]+" alt=' + _PARAM + r' caption="([^"]*)"'
)
HUGO_SHORTCODES = re.compile(
    r'\{\{< (?:figure src="[^"]+" link="[^"]+" alt=' + _PARAM + r' caption="[^"]*" width="\d+"'
    r'|relref "[a-z0-9/._-]+") >\}\}'
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


def page_root(report_dir: Path, flavour: str) -> Path:
    """The folder the report page names its images from (jekyll, distill: the site's root)."""
    layout = flavours.get(flavour).layout
    if flavour in LIQUID_FLAVOURS:
        return report_dir / layout.root
    return report_dir / posixpath.dirname(layout.page_path(make_context(report_dir)))


def body(flavour: str, text: str) -> str:
    """The page without front matter."""
    if flavour in (*LIQUID_FLAVOURS, "hugo", "mkdocs"):
        return text.split("---\n", 2)[2]
    return text


# --- tests ---------------------------------------------------------------------------------


def test_level_colours_are_the_articles_for_four_levels():
    assert page_model.level_colours(4) == ["#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE"]


def test_level_colours_interpolate_along_the_article_sequence():
    assert page_model.level_colours(1) == ["#FFFEE2"]
    assert page_model.level_colours(2) == ["#FFFEE2", "#FFDEDE"]
    assert page_model.level_colours(7)[::2] == page_model.level_colours(4)  # anchors hit exactly
    six = page_model.level_colours(6)
    assert len(six) == 6 and (six[0], six[-1]) == ("#FFFEE2", "#FFDEDE")
    assert all(re.fullmatch(r"#[0-9A-F]{6}", colour) for colour in six)
    # position 0.6 between #FFFEE2 and #FFFDCB: blue 0xE2 + 0.6 * (0xCB - 0xE2) = 212.2 -> D4
    assert six[1] == "#FFFDD4"
    with pytest.raises(ValueError):
        page_model.level_colours(0)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_figure_appears_once_in_its_level(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    images = page_images(flavour, texts[flavour])
    expected = [(level.number, figure.file) for level in ctx.levels for figure in level.figures]
    expected += [(None, chart.file) for chart in ctx.charts]
    assert [(level, path) for level, path, _, _ in images] == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_section_per_level_with_collapsible_others(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = body(flavour, texts[flavour])
    with_others = [level.number for level in ctx.levels if level.others]
    assert 3 not in with_others
    if flavour == "html":
        scan = PageScan(text)
        assert scan.n_levels == len(ctx.levels)
        assert scan.details == with_others
    else:
        assert [int(n) for n in LEVEL_HEADING.findall(text)] == [1, 2, 3, 4]
        details = re.findall(OTHERS_FOLD.get(flavour, "<details"), text)
        folded_levels = len(ctx.levels) if flavour == "distill" else 0  # levels collapse too
        assert len(details) == len(with_others) + folded_levels
    for level in ctx.levels:
        if level.others:
            assert f"Other images: level {level.number} ({len(level.others)})" in text
    assert flavour == "mkdocs" or "(click to expand)" in text


def test_jekyll_levels_are_coloured_kramdown_blocks(tmp_path):
    ctx, _, texts = render(tmp_path)
    text = texts["jekyll"]
    colours = re.findall(r'<div style="background-color:(#[0-9A-F]{6});[^"]*" markdown="1">', text)
    assert colours == [level.colour for level in ctx.levels]
    assert text.count('<details markdown="1"><summary markdown="span">') == 3


def test_gfm_levels_are_marked_by_emoji_not_colour(tmp_path):
    _, _, texts = render(tmp_path)
    markers = re.findall(r"^### (\S+) Spread level", texts["gfm"], re.MULTILINE)
    assert markers == ["🟡", "🟠", "🟠", "🔴"]
    assert "style=" not in texts["gfm"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_referenced_files_exist(tmp_path, flavour):
    _, report_dir, texts = render(tmp_path)
    root = page_root(report_dir, flavour)
    prefix = ASSET_PREFIX.get(flavour, "")
    paths = [prefix + path for _, path, _, _ in page_images(flavour, texts[flavour])]
    assert paths
    for path in paths:
        assert (root / path).is_file(), path


def test_html_page_is_standalone(tmp_path):
    ctx, _, texts = render(tmp_path)
    text = texts["html"]
    assert "<style>" in text and "max-width: 100%" in text
    # no external loads; the only <link> is the empty inline icon (no /favicon.ico request)
    assert not re.search(r"""src=["']?(https?:)?//|url\(""", text)
    assert re.findall(r"<link[^>]*>", text) == ['<link rel="icon" href="data:,">']
    assert "<script" not in text
    scan = PageScan(text)
    for _, attributes in scan.images:
        assert attributes["loading"] == "lazy"
        assert attributes["width"] and attributes["height"]
    assert 'href="manifest.json"' in text and 'href="data/"' in text


def test_jekyll_layout_and_front_matter(tmp_path):
    ctx, report_dir, texts = render(tmp_path, title="Where a ViT looks: cats")
    post = report_dir / "jekyll/_posts/2024-05-24-cats-and-dogs.md"
    assert post.is_file()
    front, _ = texts["jekyll"].removeprefix("---\n").split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["layout"] == "post"
    assert meta["title"] == "Where a ViT looks: cats"
    assert meta["date"] == DATE
    assert meta["tags"] == ["vision-transformer", "x&#123;&#123; y &#125;&#125;"]
    assert meta["categories"] == ["XAI"]
    assert (
        meta["description"]
        == "Where &#123;&#37; raw &#37;&#125; a model &lt;em&gt;looks&lt;/em&gt;"
    )
    for file in ctx.image_files():
        assert (report_dir / "jekyll/assets/img/cats-and-dogs" / file).is_file()
    assert "manifest.json" in texts["jekyll"] and "](manifest.json)" not in texts["jekyll"]


def test_jekyll_front_matter_title_is_escaped_for_unescaping_layouts(tmp_path):
    _, _, texts = render(tmp_path)
    front = texts["jekyll"].removeprefix("---\n").split("\n---\n", 1)[0]
    title = yaml.safe_load(front)["title"]
    assert "<" not in title and "{{" not in title and "{%" not in title
    assert html.unescape(title) == HOSTILE_TITLE


def test_jekyll_include_name_is_configurable(tmp_path):
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    options = {"jekyll": JekyllOptions(include="figure.html")}
    (page,) = pages.render_report(ctx, report_dir, ["jekyll"], options=options)
    text = page.read_text()
    assert "{% include figure.html path=" in text and "figure.liquid" not in text
    with pytest.raises(ReportgenError):
        options = {"jekyll": JekyllOptions(include="x %} {{ y")}
        pages.render_report(ctx, report_dir, ["jekyll"], options=options)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hostile_text_is_inert_and_intact(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = body(flavour, texts[flavour])
    figures = [figure for level in ctx.levels for figure in level.figures]
    images = page_images(flavour, text)[: len(figures)]
    for figure, (_, _, alt, caption) in zip(figures, images, strict=True):
        assert alt == escaping.one_line("Attention maps of " + figure.name)
        assert caption == expected_caption(figure, ctx.entropy_digits)
    if flavour == "html":
        scan = PageScan(text)
        assert scan.scripts == 0 and scan.event_handlers == 0
        assert scan.headings["h1"] == [HOSTILE_TITLE]
        assert scan.headings["title"] == [HOSTILE_TITLE]
    else:
        ours = HUGO_SHORTCODES.sub("", JEKYLL_INCLUDE.sub("", text))
        for delimiter in ("{{", "}}", "{%", "%}"):
            assert delimiter not in ours
        # Hugo's figure alt is raw text in its shortcode (Hugo escapes it): looked at apart.
        assert "<script" not in ours.lower() and "<img" not in ours.lower()
        assert "javascript:" not in ours
        for match in JEKYLL_INCLUDE.finditer(text):
            assert set(include_params(match.group(2))) == {
                "path",
                "class",
                "zoomable",
                "loading",
                "alt",
                "caption",
            }
        # table rows keep two cells: pipes in user text are not cell separators
        for row in re.findall(r"^\|.*\|$", text, re.MULTILINE):
            assert row.count("|") == 3, row


@pytest.mark.parametrize("flavour", ("jekyll", "gfm", "hugo", "mkdocs"))
def test_markdown_user_text_reads_the_same_once_decoded(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    decoded = html.unescape(texts[flavour])
    assert escaping.one_line(ctx.skipped[0].name) in decoded
    assert ctx.skipped[0].reason in decoded
    assert ctx.model.model_id in decoded
    assert "/tmp/{{ evil }}|model" in decoded


def test_no_predictions_and_no_skipped_files(tmp_path):
    _, _, texts = render(tmp_path, num_classes=None, skipped=())
    for text in texts.values():
        assert "no classification head" in text
        assert "None: every file in the input folder was analysed." in text
        assert "tabby" not in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_report_content(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = html.unescape(texts[flavour])
    for phrase in (
        "3 × 224 × 224",
        "197 × 768",
        "768 / 12 = 64",
        "12 encoder layers",
        "1 × 1000",
        '<d-cite key="abnar2020quantifying">'
        if flavour == "distill"
        else "https://arxiv.org/abs/2005.00928",
        "bilinear",
        "normalised Shannon entropy",
        ctx.spread_map,
        "Skipped files",
        "0123456789abcdef0123",  # the revision, whole
        "model weights sha256: ",
        WEIGHTS_SHA256,
        "reportgen 0.1, commit not recorded",
        "torch 2.3.0",
        "2024-05-24T12:00:00Z (UTC), from the SOURCE_DATE_EPOCH environment variable",
    ):
        assert phrase in text, phrase


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_user_templates_override_packaged_ones_by_name(tmp_path, flavour):
    user = tmp_path / "user-templates"
    user.mkdir()
    (user / "_intro.j2").write_text(
        "{% call m.paragraph() %}Custom introduction for {{ report.n_images }} images."
        "{% endcall %}\n"
    )
    _, _, texts = render(tmp_path, templates_dir=user)
    assert "Custom introduction for 12 images." in texts[flavour]
    assert "What this report shows" not in texts[flavour]
    assert "Vision Transformer architecture" in texts[flavour]


def test_template_errors_are_reported_as_messages(tmp_path):
    user = tmp_path / "user-templates"
    user.mkdir()
    (user / "_intro.j2").write_text("{{ no_such_variable }}\n")
    with pytest.raises(ReportgenError, match="no_such_variable"):
        render(tmp_path, templates_dir=user)
    (user / "_intro.j2").write_text("{% if %}\n")
    with pytest.raises(ReportgenError, match=r"_intro\.j2:1"):
        render(tmp_path, templates_dir=user)


def test_bad_format_slug_or_figure_path_is_refused(tmp_path):
    ctx = make_context(tmp_path)
    with pytest.raises(ReportgenError, match="unknown format"):
        pages.render_report(ctx, tmp_path, ["pdf"])
    with pytest.raises(ReportgenError, match="slug"):
        pages.render_report(dataclasses.replace(ctx, slug="../x"), tmp_path, ["gfm"])
    level = ctx.levels[0]
    bad_figure = page_model.Figure("x.png", "../outside.png", 1, 1, 0.0, 1)
    bad_level = page_model.Level(1, level.colour, 0.0, 0.0, (bad_figure,))
    with pytest.raises(ReportgenError, match="slug path"):
        pages.render_report(dataclasses.replace(ctx, levels=(bad_level,)), tmp_path, ["html"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_single_level_without_charts(tmp_path, flavour):
    report_dir = tmp_path / "report"
    one = make_context(report_dir, names=("only.png",), level_sizes=(1,))
    ctx = dataclasses.replace(one, charts=())
    (page,) = pages.render_report(ctx, report_dir, [flavour])
    text = page.read_text()
    assert "Spread level 1" in text and "(most focused)" not in text
    assert "Spread level 2" not in text and "a single spread level" in text
    assert "Other images" not in text and "Spread across the images" not in text
    assert [path for _, path, _, _ in page_images(flavour, body(flavour, text))] == [
        ctx.levels[0].featured.file
    ]


def test_output_is_deterministic(tmp_path):
    outputs = []
    for run in ("a", "b"):
        ctx, report_dir, _ = render(tmp_path / run)
        outputs.append(
            {
                path.relative_to(report_dir).as_posix(): path.read_bytes()
                for path in sorted(report_dir.rglob("*"))
                if path.is_file()
            }
        )
    assert outputs[0] == outputs[1]
    for name, data in outputs[0].items():
        if name.endswith((".md", ".html")):
            assert data.endswith(b"\n") and not data.endswith(b"\n\n"), name


def test_render_index(tmp_path):
    entries = [
        page_model.IndexEntry(
            HOSTILE_TITLE,
            "2024-05-24",
            "org/<m>",
            12,
            "reports/a/index.html",
            "reports/a/thumbnail.webp",
            version=3,
            n_versions=2,
        ),
        page_model.IndexEntry("Second", "2024-05-01", "vit", 1, "reports/b/README.md", None),
    ]
    out = tmp_path / "index.html"
    pages.render_index(entries, out)
    text = out.read_text()
    scan = PageScan(text)
    assert scan.scripts == 0 and scan.event_handlers == 0
    assert [attrs["src"] for _, attrs in scan.images] == ["reports/a/thumbnail.webp"]
    assert 'href="reports/a/index.html"' in text and 'href="reports/b/README.md"' in text
    assert HOSTILE_TITLE in html.unescape(text) and "<b>dogs" not in text
    assert "12 images · version 3 (2 versions kept)<" in text and "1 image · version 1<" in text
    pages.render_index([], out)
    assert "No reports yet" in out.read_text()


# --- a real Jekyll build -------------------------------------------------------------------

FIGURE_INCLUDE = (  # prints caption and alt unescaped, like al-folio's figure.liquid
    '<figure><img src="{{ include.path | relative_url }}" class="{{ include.class }}" '
    'alt="{{ include.alt }}"><figcaption>{{ include.caption }}</figcaption></figure>\n'
)
POST_LAYOUT = (  # prints the title unescaped, like al-folio's post layout
    "<!DOCTYPE html><html><head><title>{{ page.title }}</title></head><body>"
    "<h1>{{ page.title }}</h1>{{ content }}</body></html>\n"
)


@pytest.mark.jekyll
def test_jekyll_build_shows_every_figure_in_its_level_with_inert_text(tmp_path):
    if shutil.which("jekyll") is None:
        pytest.fail("jekyll is not installed: apt-get install -y jekyll (or run make test)")
    ctx, report_dir, _ = render(tmp_path)
    site = tmp_path / "site"
    shutil.copytree(report_dir / "jekyll", site)
    (site / "_config.yml").write_text("title: test\n")
    (site / "_includes").mkdir()
    (site / "_includes/figure.liquid").write_text(FIGURE_INCLUDE)
    (site / "_layouts").mkdir()
    (site / "_layouts/post.html").write_text(POST_LAYOUT)
    subprocess.run(
        ["jekyll", "build", "--quiet", "--source", str(site), "--destination", str(site / "_site")],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (built,) = (site / "_site").rglob("cats-and-dogs.html")
    scan = PageScan(built.read_text())
    assert scan.scripts == 0 and scan.event_handlers == 0
    assert scan.headings["h1"] == [HOSTILE_TITLE]
    assert scan.n_levels == len(ctx.levels)
    assert scan.details == [level.number for level in ctx.levels if level.others]
    figures = [(level.number, figure) for level in ctx.levels for figure in level.figures]
    shown = scan.images[: len(figures)]
    for (number, figure), (level, attributes), caption in zip(
        figures, shown, scan.captions, strict=False
    ):
        assert level == number
        assert attributes["src"] == f"/assets/img/cats-and-dogs/{figure.file}"
        assert attributes["alt"] == escaping.one_line("Attention maps of " + figure.name)
        assert caption == expected_caption(figure, ctx.entropy_digits)
    assert len(scan.images) == len(figures) + len(ctx.charts)


def test_compiled_template_cache_keeps_escaping_policies_apart(tmp_path):
    """The HTML and Markdown environments compile the same partials differently: a shared
    bytecode cache must never hand one's code to the other."""
    _, report_dir, expected = render(tmp_path)
    ctx = make_context(report_dir)
    bytecode = tmp_path / "bytecode"
    for _ in range(2):  # the second run reads every template from the bytecode cache
        templates = Templates(bytecode_dir=bytecode)
        written = pages.render_report(ctx, report_dir, FLAVOURS, templates=templates)
        texts = {name: path.read_text() for name, path in zip(FLAVOURS, written, strict=True)}
        assert texts == expected
    assert any(bytecode.rglob("*.cache"))


VERSION_LINKS = {
    "html": ('href="versions/2/index.html"', 'href="../../index.html"'),
    "gfm": ("(versions/2/README.md)", "(../../README.md)"),
    "jekyll": (None, None),  # published without the report folder: no links to it
    "distill": (None, None),
    "hugo": (None, None),
    "mkdocs": (None, None),
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_versions_list_and_the_notice_on_an_earlier_version(tmp_path, flavour):
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    both = page_model.VersionEntry(
        2, "2024-05-01", "org/<i>x</i>{{ y }}", 7, "versions/2", ("gfm", "html")
    )
    jekyll_only = page_model.VersionEntry(1, "2024-04-01", "vit", 3, "versions/1", ("jekyll",))
    current = dataclasses.replace(ctx, version=3, history=(both, jekyll_only))
    text = pages.render_report(current, report_dir, [flavour])[0].read_text()
    version_link, current_link = VERSION_LINKS[flavour]
    decoded = html.unescape(text)
    assert "This is version 3 of this report" in decoded
    assert "version 3 (this page)" in decoded and "org/<i>x</i>{{ y }}" in decoded
    # (hugo's front matter holds its tags as plain strings: Hugo runs nothing in it)
    assert "<i>x" not in text and (flavour == "html" or "{{ y" not in body(flavour, text))
    assert "versions/1/" not in text  # no standalone page to link to
    if version_link:
        assert text.count(version_link) == 1
    else:
        assert "versions/2/" not in text
    assert "earlier version kept" not in text

    archived = dataclasses.replace(ctx, version=2, current_folder="../..")
    text = pages.render_report(archived, report_dir, [flavour])[0].read_text()
    assert "This is version 2 of this report, an earlier version kept for the record." in text
    assert (current_link in text) if current_link else ("../.." not in text)
    assert "## Versions" not in text and "<h2>Versions" not in text


@pytest.mark.parametrize("flavour", ["html", "jekyll", "gfm"])
def test_counts_from_10000_on_get_thousands_separators(tmp_path, flavour):
    ctx = dataclasses.replace(
        make_context(tmp_path), artifacts_mode="mask", masked_per_layer=(16000, 244), n_images=12345
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(page.read_text().split())
    assert "framed faintly in the figures (16,244 patch-layers in all;" in text
    assert "The 12,345 images are grouped into 4 spread levels" in text
    assert "L1 16,000, L2 244" in text


def _levels_with_bounds(*bounds: tuple[float, float]) -> list[SimpleNamespace]:
    return [SimpleNamespace(entropy_min=low, entropy_max=high) for low, high in bounds]


def test_entropy_digits_tell_near_uniform_levels_apart():
    spread = _levels_with_bounds((0.42, 0.71), (0.72, 0.88), (0.89, 0.97))
    assert page_model.entropy_digits(spread) == 3
    uniform = _levels_with_bounds((0.99812, 0.99931), (0.99934, 0.99968), (0.99971, 0.99996))
    assert page_model.entropy_digits(uniform) == 5  # 0.9993 and 0.9997 would repeat at 4
    same_image = _levels_with_bounds((0.5, 0.5), (0.6, 0.6))  # a level of one image
    assert page_model.entropy_digits(same_image) == 3
    assert page_model.entropy_digits(_levels_with_bounds((0.1234567, 0.1234568))) == 6


@pytest.mark.parametrize(
    ("by", "said", "unsaid"),
    [
        ("attention", "three times the median of its neighbours", "token is in the layer"),
        ("norm", "its token is in the layer's high-norm", "three times"),
        ("both", "its token is in the layer's high-norm", "--artifacts-by attention"),
    ],
)
def test_the_artifact_bullet_names_the_rule_that_found_them(tmp_path, by, said, unsaid):
    ctx = make_context(tmp_path / "report")
    params = {**ctx.params, "artifacts_by": by}
    ctx = dataclasses.replace(
        ctx, artifacts_mode="mask", params=params, token_views=by != "attention"
    )
    (written,) = pages.render_report(ctx, tmp_path / "report", ("html",), templates=Templates())
    text = " ".join(html.unescape(written.read_text(encoding="utf-8")).split())
    assert said in text and unsaid not in text
    assert ("--artifacts-by" in text) == (by != "attention")
    # the token views are explained only in reports that have them
    assert ("Token norms" in text) == ("Features" in text) == (by != "attention")
    if by == "both":
        assert "three times the median of its neighbours" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_captions_show_the_digits_that_tell_near_uniform_levels_apart(tmp_path, flavour):
    ctx = make_context(tmp_path)
    bounds = [(0.998121, 0.999313), (0.999342, 0.999684), (0.999712, 0.999961), (0.99997, 1.0)]
    levels = tuple(
        dataclasses.replace(
            level,
            entropy_min=low,
            entropy_max=high,
            typical=tuple(dataclasses.replace(f, entropy=high) for f in level.typical),
            others=tuple(dataclasses.replace(f, entropy=low) for f in level.others),
        )
        for level, (low, high) in zip(ctx.levels, bounds, strict=False)
    )
    ctx = dataclasses.replace(ctx, levels=levels)
    assert ctx.entropy_digits == 5
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = html.unescape(" ".join(page.read_text().split()))
    for level in levels:
        for figure in level.figures:
            assert f"entropy {figure.entropy:.5f}" in text, figure.name


@pytest.mark.parametrize("maps_format", [4, 5, 6])
@pytest.mark.parametrize("rollout_start_layer", [0, 1])
def test_the_min_is_described_as_its_maps_files_make_it(tmp_path, maps_format, rollout_start_layer):
    ctx = dataclasses.replace(
        make_context(tmp_path),
        relative_min=maps_format >= store.MIN_RELATIVE_FORMAT,
        min_from_rollout_start=maps_format >= store.MIN_KEPT_FORMAT,
        rollout_start_layer=rollout_start_layer,
    )
    [page] = pages.render_report(ctx, tmp_path, ["html"])
    text = " ".join(html.unescape(page.read_text()).split())
    assert "the smallest and the average attention over the" in text
    assert ("divided by its 99th percentile over the patches" in text) == (maps_format >= 5)
    left_out = "The smallest is taken over layers 2 to 12 only, the layers rollout multiplies"
    assert (left_out in text) == (maps_format >= 6 and rollout_start_layer == 1)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("pooling", ["cls", "attention pool"])
@pytest.mark.parametrize(("relative_min", "rollout_auto"), [(True, True), (False, False)])
def test_the_method_sentences_are_apart_in_every_variant(
    tmp_path, flavour, pooling, relative_min, rollout_auto
):
    """Every conditional sentence of "How the maps are made" starts apart from the one before
    (template tags that swallow the space had given "background.In each layer")."""
    ctx = make_context(tmp_path)
    ctx = dataclasses.replace(
        ctx,
        model=dataclasses.replace(ctx.model, pooling=pooling),
        artifacts_mode="mask",
        relative_min=relative_min,
        rollout_auto=rollout_auto,
        rollout_start_layer=1 if rollout_auto else 0,
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(html.unescape(page.read_text()).split())
    section = text.split("How the maps are made", 1)[1]
    assert "Artifact tokens." in section and "Attention rollout" in section
    assert ("It starts after layer 1" in section) == rollout_auto
    assert ("For the smallest" in section) == relative_min
    assert not re.findall(r"[a-z)]\.[A-Z]\w*", section)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("artifact_images", [0, 3])
def test_the_token_norms_bullet_says_how_many_images_have_artifacts(
    tmp_path, flavour, artifact_images
):
    ctx = dataclasses.replace(
        make_context(tmp_path), token_views=True, artifact_images=artifact_images
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(html.unescape(page.read_text()).split())
    said = {
        0: "Here every image scores 0, so no chart of the scores is drawn.",
        3: "Here 3 of the 12 images score above 0; their scores are charted below",
    }
    assert said[artifact_images] in text
    assert said[3 - artifact_images] not in text


def test_the_title_fill_is_what_stands_for_every_slot_or_none():
    slot = pages.TITLE_SLOT
    assert (
        pages.title_fill(
            b"<title>" + slot + b"</title><a>" + slot, b"<title>T&amp;</title><a>T&amp;"
        )
        == b"T&amp;"
    )
    assert pages.title_fill(b"a" + slot + b"b" + slot, b"aXbY") is None  # not the same bytes
    assert pages.title_fill(b"a" + slot + b"b" + slot, b"aTTbT") is None
    assert pages.title_fill(b"no title", b"no title") == b""
    assert pages.title_fill(b"no title", b"another page") is None
