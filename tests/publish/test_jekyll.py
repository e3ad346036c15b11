"""The jekyll flavour in a real ``jekyll build``: a report built end to end, published in a site.

A report of random images and hostile file names is built with :func:`reportgen.api.build`
(tiny random ViT), its ``jekyll/`` folder (``_posts/`` and ``assets/``) is copied into a copy of
``tests/jekyll_site/`` (a minimal al-folio-like site: kramdown, no theme, no plugins, al-folio's
``figure.liquid`` and ``figure.html`` includes, which print alt and caption unescaped) and the
real ``jekyll`` builds it. The test reads the built post as a browser would: every figure once,
in its level's coloured section, the others in a ``<details>`` block; image URLs that resolve to
files of the built site; no Liquid or Markdown run from user text; the title intact.

Debian's ``jekyll`` package is enough (``apt-get install -y jekyll``; ``make test`` installs
it). Without it the tests fail rather than skip, so a missing check cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import TESTS, write_images
from PIL import Image
from test_browser import _QuietHandler, browser  # noqa: F401
from test_explorer import (
    assert_static,
    assert_the_control_switches_every_overlay,
    browser_tab,
    open_inline_explorer,
)

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import escaping, page_model, pages
from reportgen.publish.build import stored_style
from reportgen.publish.flavours.jekyll import JekyllOptions
from reportgen.publish.options import GallerySettings, ReportOptions
from reportgen.publish.templates import Templates
from reportgen.results import Analysis, AnalysisParams, ImageSummary

pytestmark = [pytest.mark.jekyll, pytest.mark.slow]

SKELETON = TESTS / "jekyll_site"
SITE_TITLE = "SENTINEL-SITE-TITLE"  # the skeleton's _config.yml title
BASEURL = "/sentinel-base"  # the skeleton's _config.yml baseurl
SLUG = "hostile-names"
DATE = datetime.date(2024, 5, 24)
TITLE = 'Where {{ page.title }} looks: <b>bold</b> & "quoted" {% raw %}'
INCLUDES = ("figure.liquid", "figure.html")  # reportgen's default first
HOSTILE_NAMES = (
    "{{ site.title }}.jpg",
    "{% raw %}.png",
    "{% endraw %}x.png",
    "{% include nope.html %}.png",
    "<script>alert(1)</script>.png",  # "<script>alert(1)<" is a sub-folder
    "**bold** [link](x).png",
)
HOSTILE_SKIPPED = "{{ site.title }} **not an image** {% include nope.html %}.png"
N_PLAIN_IMAGES = 8
# What must not be left in the text of a rendered post (once the hostile names, which are
# expected to read literally, are taken out): Liquid and Markdown syntax.
UNRENDERED = ("{{", "}}", "{%", "%}", "**", "![", "](")
JEKYLL_MISSING = (
    "the jekyll check needs the `jekyll` command: apt-get install -y jekyll "
    "(or run `make test`, which installs it)"
)


# --- building ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    folder = write_images(tmp_path_factory.mktemp("jekyll-images") / "images", N_PLAIN_IMAGES)
    for index, name in enumerate(HOSTILE_NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image_format = "JPEG" if name.endswith(".jpg") else "PNG"
        Image.new("RGB", (40, 40), (index * 40, 80, 160)).save(path, image_format)
    (folder / HOSTILE_SKIPPED).write_bytes(b"not an image")
    return folder


@dataclass(frozen=True)
class Report:
    include: str  # the al-folio include the post uses
    dir: Path
    analysis: Analysis
    work: Path  # an empty folder for the Jekyll site

    @property
    def figure_urls(self) -> dict[str, ImageSummary]:
        """The URL each image's figure must have in the built site, with its image."""
        extension = stored_style(self.dir).extension
        return {
            f"{BASEURL}/assets/img/{SLUG}/figures/{image.id}{extension}": image
            for image in self.analysis.images
        }


@pytest.fixture(scope="module", params=INCLUDES)
def report(request, images_dir, tiny_vit_dir, tmp_path_factory) -> Report:
    """The report, built once per include name (reportgen's default, then figure.html)."""
    include = request.param
    options = ReportOptions(title=TITLE, slug=SLUG, date=DATE)  # default: figure.liquid
    if include != "figure.liquid":
        jekyll = {"jekyll": JekyllOptions(include=include)}
        options = ReportOptions(title=TITLE, slug=SLUG, date=DATE, flavour_options=jekyll)
    name = include.replace(".", "-")
    out = tmp_path_factory.mktemp(f"site-{name}")
    params = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=images_dir.parent / "cache")
    source = FolderSource(images_dir, recursive=True)  # "</script>" makes a sub-folder
    report_dir = api.build(source, out, params, options, execution)
    work = tmp_path_factory.mktemp(f"jekyll-{name}")
    return Report(include, report_dir, Analysis.load(report_dir / "data"), work)


@dataclass
class Built:
    root: Path  # the built site (_site)
    post: Path
    html: str
    scan: PostScan


@pytest.fixture(scope="module")
def builds() -> dict[Path, Built]:
    """Jekyll builds by report, made by the first test that needs one (see :func:`built`)."""
    return {}


def built(report: Report, builds: dict[Path, Built]) -> Built:
    """The report's post from a real ``jekyll build``; called in tests so problems fail them."""
    if report.dir in builds:
        return builds[report.dir]
    destination, stdout = jekyll_build(report.dir, report.work)
    posts = sorted(
        {*destination.glob(f"**/{SLUG}/index.html"), *destination.glob(f"**/*{SLUG}*.html")}
    )
    assert len(posts) == 1, f"expected one built post, found {posts}\n{stdout}"
    text = posts[0].read_text(encoding="utf-8")
    builds[report.dir] = Built(destination, posts[0], text, PostScan(text))
    return builds[report.dir]


def jekyll_build(
    report_dir: Path, work: Path, skeleton: Path = SKELETON, folder: str = "jekyll"
) -> tuple[Path, str]:
    """The report's ``folder`` (a Jekyll flavour's) in a copy of the ``skeleton`` site, built by
    the real ``jekyll``; returns the built site and jekyll's output."""
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        pytest.fail(JEKYLL_MISSING, pytrace=False)
    source = work / "source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(skeleton, source)
    shutil.copytree(report_dir / folder, source, dirs_exist_ok=True)
    destination = source / "_site"
    command = [
        jekyll,
        "build",
        "--safe",
        "--source",
        str(source),
        "--destination",
        str(destination),
    ]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "JEKYLL_ENV": "production"},
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"jekyll build took over 120 s:\n{error.stderr}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"jekyll build failed ({result.returncode}):\n{result.stderr}\n{result.stdout}",
            pytrace=False,
        )
    return destination, result.stdout


# --- reading the built post back -----------------------------------------------------------

_BACKGROUND = re.compile(r"background-color:\s*(#[0-9A-Fa-f]{6})")
CONTENT_START, CONTENT_END = "reportgen-test: content start", "reportgen-test: content end"


@dataclass
class Element:
    tag: str
    attributes: dict[str, str]
    level: int | None  # the coloured level section it is in (1, 2, ... in page order)
    in_details: bool
    figure: ShownFigure | None


@dataclass
class ShownFigure:
    include: str  # which include rendered it (data-test-include)
    level: int | None
    in_details: bool
    images: list[dict[str, str]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)


@dataclass
class LevelSection:
    colour: str
    headings: list[str] = field(default_factory=list)


@dataclass
class DetailsBlock:
    level: int | None
    summary: str = ""
    summary_tags: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


class PostScan(HTMLParser):
    """What a browser makes of the built post: title, sections, figures, details, scripts."""

    VOID = {"img", "meta", "link", "br", "hr", "source", "input", "wbr"}
    TEXTS = {"title", "h1", "h3", "summary", "figcaption", "code"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[Element] = []
        self.levels: list[LevelSection] = []
        self.figures: list[ShownFigure] = []
        self.images: list[tuple[dict[str, str], ShownFigure | None, int | None]] = []
        self.details: list[DetailsBlock] = []
        self.texts: dict[str, list[str]] = {tag: [] for tag in self.TEXTS}
        self.children: dict[str, list[list[str]]] = {tag: [] for tag in self.TEXTS}
        self.scripts = 0
        self.event_handlers: list[str] = []
        self.content_text: list[str] = []  # decoded text and attribute values of the post body
        self.in_content = False
        self.content_seen = False
        self._capture: dict[str, list[str]] = {}
        self._capture_tags: dict[str, list[str]] = {}
        self.feed(text)
        self.close()

    def _innermost(self) -> Element | None:
        return self.stack[-1] if self.stack else None

    def handle_comment(self, data):
        if data.strip() == CONTENT_START:
            self.in_content = self.content_seen = True
        elif data.strip() == CONTENT_END:
            self.in_content = False

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.event_handlers += [name for name in attributes if name.startswith("on")]
        self.scripts += tag == "script"
        for inside in self._capture_tags.values():
            inside.append(tag)
        if self.in_content:
            self.content_text += [value for name, value in attributes.items() if name != "src"]
        parent = self._innermost()
        level = parent.level if parent else None
        in_details = parent.in_details if parent else False
        figure = parent.figure if parent else None
        if tag == "div" and (colour := _BACKGROUND.search(attributes.get("style", ""))):
            self.levels.append(LevelSection(colour.group(1).upper()))
            level = len(self.levels)
        if tag == "details":
            self.details.append(DetailsBlock(level))
            in_details = True
        if tag == "figure":
            figure = ShownFigure(attributes.get("data-test-include", ""), level, in_details)
            self.figures.append(figure)
        if tag == "img":
            self.images.append((attributes, figure, level))
            if figure is not None:
                figure.images.append(attributes)
            if in_details:
                self.details[-1].images.append(attributes.get("src", ""))
        if tag in self.TEXTS:
            self._capture[tag] = []
            self._capture_tags[tag] = []
        if tag not in self.VOID:
            self.stack.append(Element(tag, attributes, level, in_details, figure))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in self._capture:
            text = " ".join("".join(self._capture.pop(tag)).split())
            inside = self._capture_tags.pop(tag)
            self.texts[tag].append(text)
            self.children[tag].append(inside)
            if tag == "figcaption" and self.stack and self.stack[-1].figure is not None:
                self.stack[-1].figure.captions.append(text)
            if tag == "h3" and self.stack and self.stack[-1].level is not None:
                self.levels[self.stack[-1].level - 1].headings.append(text)
            if tag == "summary" and self.details:
                self.details[-1].summary = text
                self.details[-1].summary_tags = inside
        if any(element.tag == tag for element in self.stack):
            while self.stack.pop().tag != tag:
                pass

    def handle_data(self, data):
        for parts in self._capture.values():
            parts.append(data)
        if self.in_content:
            self.content_text.append(data)


def _asset_scripts(slug: str, names: list[str], attributes: str = "") -> list[str]:
    """The opening tags of scripts of the report's explorer folder, as the built site has them."""
    folder = f"{BASEURL}/assets/img/{slug}/explorer/"
    return [f'<script src="{folder}{name}"{attributes}>' for name in names]


def _content(html: str) -> str:
    """The raw HTML of the post body (between the test layout's markers)."""
    start = html.index(f"<!-- {CONTENT_START} -->")
    return html[start : html.index(f"<!-- {CONTENT_END} -->", start)]


def _expected_caption(image: ImageSummary, images: list[ImageSummary]) -> str:
    digits = page_model.images_entropy_digits(images)
    return escaping.one_line(page_model.figure_caption(image, digits))


# --- the checks ----------------------------------------------------------------------------


def test_the_post_uses_the_requested_include(report, builds):
    post = next((report.dir / "jekyll/_posts").glob("*.md")).read_text(encoding="utf-8")
    assert f"{{% include {report.include} " in post
    scan = built(report, builds).scan
    assert scan.figures, "no <figure> in the built post: the include did not render"
    assert {figure.include for figure in scan.figures} == {report.include}


def test_every_figure_once_with_an_image_that_exists(report, builds):
    result = built(report, builds)
    urls = report.figure_urls
    shown = [attributes.get("src", "") for attributes, _, _ in result.scan.images]
    for url, image in urls.items():
        assert shown.count(url) == 1, f"{image.name!r}: {url} shown {shown.count(url)} times"
    charts = sorted((report.dir / "charts").iterdir())
    assert len(shown) == len(urls) + len(charts)
    for src in shown:
        assert src.startswith(f"{BASEURL}/"), f"{src} does not go through relative_url"
        assert (result.root / src.removeprefix(f"{BASEURL}/")).is_file(), f"{src} is missing"
    for chart in charts:
        assert f"{BASEURL}/assets/img/{SLUG}/charts/{chart.name}" in shown


def test_figures_have_their_alt_and_caption_as_plain_text(report, builds):
    scan = built(report, builds).scan
    urls = report.figure_urls
    seen = 0
    for figure in scan.figures:
        (attributes,) = figure.images
        image = urls.get(attributes["src"])
        if image is None:
            continue  # a chart
        seen += 1
        assert attributes["alt"] == escaping.one_line(f"Attention maps of {image.name}")
        assert figure.captions == [_expected_caption(image, report.analysis.images)]
        assert "data-zoomable" in attributes and attributes["class"] == (
            "img-fluid rounded z-depth-1"
        )
    assert seen == len(urls)


def test_levels_are_coloured_sections_in_order_with_their_figures(report, builds):
    scan = built(report, builds).scan
    analysis = report.analysis
    numbers = sorted({image.level for image in analysis.images})
    n_levels = max(numbers)
    assert numbers == list(range(1, n_levels + 1))
    assert [section.colour for section in scan.levels] == page_model.level_colours(n_levels)
    expected_headings = [
        [
            f"Spread level {number}"
            + (" (most focused)" if number == 1 else "")
            + (" (most spread)" if number == n_levels else "")
        ]
        for number in numbers
    ]
    assert [section.headings for section in scan.levels] == expected_headings
    featured = analysis.featured()
    where = {
        attributes["src"]: (level, figure.in_details if figure else None)
        for attributes, figure, level in scan.images
    }
    for url, image in report.figure_urls.items():
        in_details = image.id != featured[image.level].id
        assert where[url] == (image.level, in_details), image.name


def test_details_blocks_hold_the_other_figures_rendered(report, builds):
    result = built(report, builds)
    scan = result.scan
    analysis = report.analysis
    featured = analysis.featured()
    members = {
        number: sorted(
            (image for image in analysis.images if image.level == number),
            key=lambda image: (image.entropy, image.index),
        )
        for number in featured
    }
    urls = {image.id: url for url, image in report.figure_urls.items()}
    expected = [
        (number, [urls[image.id] for image in level if image.id != featured[number].id])
        for number, level in sorted(members.items())
        if len(level) > 1
    ]
    assert expected, "the test report has no details block: use more images"
    assert [(block.level, block.images) for block in scan.details] == expected
    for (number, images), block in zip(expected, scan.details, strict=True):
        assert block.summary == f"(click to expand) Other images: level {number} ({len(images)})"
        assert block.summary_tags == ["strong"]
    in_details = [figure for figure in scan.figures if figure.in_details]
    assert len(in_details) == sum(len(images) for _, images in expected)
    assert all(len(figure.images) == 1 and figure.captions for figure in in_details)
    body = _content(result.html)
    details_html = re.findall(r"<details.*?</details>", body, flags=re.S)
    assert len(details_html) == len(expected)
    for block in details_html:
        assert "<figure" in block and "<img" in block
        assert "&lt;figure" not in block and "&lt;img" not in block  # no HTML shown as text
        assert "<pre" not in block and "<code" not in block  # nor as an indented code block
        assert 'markdown="' not in block  # kramdown consumed its markdown attributes


def test_no_liquid_or_markdown_is_left_unrendered(report, builds):
    result = built(report, builds)
    body = _content(result.html)
    for raw in ("{{", "{%", "<p>{% include", "&lt;figure", "&lt;img", "&lt;div", "<pre"):
        assert raw not in body, f"{raw!r} left in the rendered post"
    assert 'markdown="' not in body
    text = "\n".join(result.scan.content_text)
    for name in sorted((*HOSTILE_NAMES, HOSTILE_SKIPPED), key=len, reverse=True):
        text = text.replace(name, "")  # hostile names must read literally: take them out
    for syntax in UNRENDERED:
        assert syntax not in text, f"unrendered {syntax!r} in the post's text"
    assert not re.search(r"^#+ ", text, flags=re.M), "a Markdown heading left as text"


def test_hostile_file_names_run_no_liquid_and_no_html(report, builds):
    result = built(report, builds)
    scan = result.scan
    assert scan.content_seen
    # Only the report's own scripts (the report-wide control, the inline explorers), no handler.
    scripts = ["slider.js", "explorer.js", "colormaps.js"]
    assert re.findall(r"<script[^>]*>", result.html) == _asset_scripts(SLUG, scripts, ' defer=""')
    assert not scan.event_handlers and "onerror" not in result.html.lower()
    # site.title is printed once, by the layout's <title>; never where a file name was.
    assert result.html.count(SITE_TITLE) == 1
    assert scan.texts["title"] == [f"{TITLE} | {SITE_TITLE}"]
    assert SITE_TITLE not in "\n".join(scan.content_text)
    names = {image.name: image for image in report.analysis.images}
    assert set(HOSTILE_NAMES) <= set(names)
    captions = {caption for figure in scan.figures for caption in figure.captions}
    alts = {attributes.get("alt") for attributes, _, _ in scan.images}
    for name in HOSTILE_NAMES:
        assert _expected_caption(names[name], report.analysis.images) in captions, name
        assert f"Attention maps of {name}" in alts, name
    assert "{{ site.title }}.jpg" in "\n".join(captions)
    # The file that is not an image is listed, by its name, as plain text.
    assert HOSTILE_SKIPPED in scan.texts["code"]


def test_front_matter_title_is_the_report_title_as_text(report, builds):
    scan = built(report, builds).scan
    assert scan.texts["h1"] == [TITLE]
    assert scan.children["h1"] == [[]]  # "<b>" stayed text
    post = next((report.dir / "jekyll/_posts").glob("*.md"))
    assert post.name == f"{DATE.isoformat()}-{SLUG}.md"
    built_post = built(report, builds)
    assert built_post.post.relative_to(built_post.root).as_posix() == (
        f"blog/{DATE.year}/{SLUG}/index.html"
    )


# --- a report with galleries -----------------------------------------------------------------

GALLERY_SLUG = "galleries"


@dataclass(frozen=True)
class GallerySite:
    root: Path  # the built site
    post: Path
    analysis: Analysis
    report_dir: Path  # the report as built, every flavour


@pytest.fixture(scope="module")
def gallery_site(images_dir, tiny_vit_dir, tmp_path_factory) -> GallerySite:
    """The hostile images as a report with galleries (3 a page), built into the Jekyll site; the
    maps keep every head, so its explorers show the heads grid."""
    options = ReportOptions(
        title=TITLE,
        slug=GALLERY_SLUG,
        date=DATE,
        gallery=GallerySettings(gallery_threshold=4, page_size=3),
    )
    params = AnalysisParams(model=str(tiny_vit_dir), keep_heads=True)
    execution = Execution(device="cpu", cache_dir=images_dir.parent / "cache")
    out = tmp_path_factory.mktemp("site-galleries")
    source = FolderSource(images_dir, recursive=True)  # "</script>" makes a sub-folder
    report_dir = api.build(source, out, params, options, execution)
    root, _ = jekyll_build(report_dir, tmp_path_factory.mktemp("jekyll-galleries"))
    post = root / f"blog/{DATE.year}/{GALLERY_SLUG}/index.html"
    assert post.is_file()
    return GallerySite(root, post, Analysis.load(report_dir / "data"), report_dir)


def _built_page(site: GallerySite, url: str) -> Path:
    """The built file a site URL (with the baseurl) is served from."""
    path = site.root / url.removeprefix(f"{BASEURL}/")
    return path / "index.html" if url.endswith("/") else path


def _links_and_images(page: Path) -> tuple[list[str], list[str]]:
    text = _content(page.read_text(encoding="utf-8"))
    hrefs = re.findall(r'<a href="([^"#]+)"', text)
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', text)
    return [html.unescape(href) for href in hrefs], [html.unescape(src) for src in srcs]


def test_galleries_are_pages_below_the_post_and_every_image_is_two_clicks_away(gallery_site):
    site_ = gallery_site
    first, _ = _links_and_images(site_.post)
    gallery_urls = [url for url in first if "/gallery/" in url]
    assert gallery_urls
    prefix = f"{BASEURL}/blog/{DATE.year}/{GALLERY_SLUG}/"
    image_urls = set()
    for url in gallery_urls:
        assert url.startswith(f"{prefix}gallery/"), url  # in the post's folder, with baseurl
        page = _built_page(site_, url)
        assert page.is_file(), url
        links, images = _links_and_images(page)
        image_urls |= {link for link in links if "/images/" in link}
        for src in images:
            assert src.startswith(f"{BASEURL}/assets/img/{GALLERY_SLUG}/thumbs/"), src
            assert _built_page(site_, src).is_file(), src
        assert f"{BASEURL}/blog/{DATE.year}/{GALLERY_SLUG}/" in links  # back to the post
    expected = {f"{prefix}images/{image.id}/" for image in site_.analysis.images}
    assert image_urls == expected
    for url in expected:
        page = _built_page(site_, url)
        _, images = _links_and_images(page)
        assert images and all(_built_page(site_, src).is_file() for src in images), url


def test_gallery_and_image_pages_run_no_liquid_and_show_hostile_names_as_text(gallery_site):
    site_ = gallery_site
    pages_ = [
        *site_.root.glob(f"blog/{DATE.year}/{GALLERY_SLUG}/gallery/*/index.html"),
        *site_.root.glob(f"blog/{DATE.year}/{GALLERY_SLUG}/images/*/index.html"),
    ]
    assert len(pages_) > len(site_.analysis.images)
    for page in pages_:
        text = page.read_text(encoding="utf-8")
        scan = PostScan(text)
        scripts = re.findall(r"<script[^>]*>", text)
        if "/images/" in page.as_posix():  # the explorer: its two scripts, in the assets
            explorer = _asset_scripts(GALLERY_SLUG, ["explorer.js", "colormaps.js"])
            assert scripts == explorer, page  # its data: the maps file, fetched
        else:  # the report-wide control
            assert scripts == _asset_scripts(GALLERY_SLUG, ["slider.js"], ' defer=""'), page
        assert not scan.event_handlers, page
        body = _content(text)
        for raw in ("&lt;div", "&lt;a ", "&lt;img", "<pre", 'markdown="'):
            assert raw not in body, f"{raw!r} left in {page}"
        content = "\n".join(scan.content_text)
        assert SITE_TITLE not in content, page
        for hostile in sorted((*HOSTILE_NAMES, TITLE), key=len, reverse=True):
            content = content.replace(hostile, "")  # they must read literally: take them out
        for syntax in UNRENDERED:
            assert syntax not in content, f"unrendered {syntax!r} in {page}"
    by_id = {image.id: image for image in site_.analysis.images}
    for name in HOSTILE_NAMES:
        image = next(image for image in by_id.values() if image.name == name)
        page = site_.root / f"blog/{DATE.year}/{GALLERY_SLUG}/images/{image.id}/index.html"
        scan = PostScan(page.read_text(encoding="utf-8"))
        assert scan.texts["h1"] == [name]  # the page title, as text
        assert name in scan.texts["code"]


# The explorer's and the report-wide control's rules: the template the html pages inline, which
# the jekyll pages link as a file of the post's assets.
EXPLORER_CSS = Templates().file(pages.EXPLORER_STYLE_TEMPLATE)


def _stylesheets(page: Path) -> list[str]:
    """The stylesheet links in a built page's content."""
    return re.findall(r"<link [^>]*>", _content(page.read_text(encoding="utf-8")))


def _assert_the_stylesheet_is_linked_once(root: Path, slug: str, built_pages: list[Path]) -> None:
    """Each page links the explorer's stylesheet once, in the post's assets, where Jekyll copied
    the template as it is (no front matter: no Liquid run)."""
    url = f"{BASEURL}/assets/img/{slug}/{pages.EXPLORER_STYLE}"
    for page in built_pages:
        assert _stylesheets(page) == [f'<link rel="stylesheet" href="{url}" />'], page
    assert (root / url.removeprefix(f"{BASEURL}/")).read_bytes() == EXPLORER_CSS.read_bytes()


def _assert_gfm_and_html_do_not_link_it(report_dir: Path) -> None:
    """The gfm pages name no stylesheet; the html pages inline the rules or link the html
    pages' stylesheet, which has them."""
    gfm = [path for path in report_dir.rglob("*.md") if "jekyll" not in path.parts]
    html_pages = list(report_dir.rglob("*.html"))
    assert gfm and html_pages
    for path in gfm:
        text = path.read_text(encoding="utf-8")
        assert "explorer.css" not in text and "stylesheet" not in text, path
    css = EXPLORER_CSS.read_text(encoding="utf-8")
    assert css in (report_dir / "explorer" / "page.css").read_text(encoding="utf-8")
    for path in html_pages:
        text = path.read_text(encoding="utf-8")
        linked = re.search(r'<link rel="stylesheet" href="(\.\./explorer/)?page\.css">', text)
        assert "explorer.css" not in text and (css in text or linked), path


def test_the_explorer_stylesheet_is_plain_css():
    """Copied as it is into the post's assets and included by Jinja in the html pages: neither
    runs anything in it."""
    css = EXPLORER_CSS.read_text(encoding="utf-8")
    for syntax in ("{{", "{%", "{#"):
        assert syntax not in css, syntax
    assert not css.startswith("---")  # no front matter: Jekyll copies it as it is
    assert ".explorer-canvas {" in css and ".overlay-control {" in css


def test_the_post_links_the_explorer_stylesheet_once(report, builds):
    result = built(report, builds)
    _assert_the_stylesheet_is_linked_once(result.root, SLUG, [result.post])
    _assert_gfm_and_html_do_not_link_it(report.dir)


def test_gallery_and_image_pages_link_the_explorer_stylesheet_once(gallery_site):
    site_ = gallery_site
    built_pages = [
        site_.post,
        *site_.root.glob(f"blog/{DATE.year}/{GALLERY_SLUG}/gallery/*/index.html"),
        *site_.root.glob(f"blog/{DATE.year}/{GALLERY_SLUG}/images/*/index.html"),
    ]
    assert len(built_pages) > len(site_.analysis.images) + 1
    _assert_the_stylesheet_is_linked_once(site_.root, GALLERY_SLUG, built_pages)
    _assert_gfm_and_html_do_not_link_it(site_.report_dir)


# --- the built site in Chromium --------------------------------------------------------------


@contextlib.contextmanager
def serving(root: Path) -> Iterator[str]:
    """The built site ``root`` served on 127.0.0.1 under its baseurl; yields the server's URL."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / BASEURL.strip("/")).symlink_to(root, target_is_directory=True)
        handler = functools.partial(_QuietHandler, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            host, port = server.server_address[:2]
            yield f"http://{host}:{port}/"
        finally:
            server.shutdown()
            server.server_close()


def _post_url(server: str, slug: str, page: str = "") -> str:
    """A page of a report's post (``page``: below the post's URL, e.g. ``gallery/x/``)."""
    return f"{server}{BASEURL.strip('/')}/blog/{DATE.year}/{slug}/{page}"


@pytest.fixture(scope="module")
def gallery_server(gallery_site) -> Iterator[str]:
    with serving(gallery_site.root) as server:
        yield server


@pytest.mark.browser
def test_the_explorer_runs_in_the_built_site(gallery_site, gallery_server, browser):  # noqa: F811
    """An image page of the served site: the explorer draws, the layer slider changes it,
    nothing fails and nothing leaves the site."""
    image = gallery_site.analysis.images[0]
    with browser_tab(browser, gallery_server) as tab:
        tab.open(_post_url(gallery_server, GALLERY_SLUG, f"images/{image.id}/"))
        tab.ready()
        before = tab.canvas()
        tab.page.focus("#explorer-layer")
        tab.page.keyboard.press("ArrowLeft")
        assert tab.canvas() != before
        assert tab.maps_files() == [image.id] and tab.explorer_data() == []
        tab.assert_clean()


CANVAS_WIDTH = 448  # CSS px: the explorer's canvas at most, whatever the image's size


def assert_the_explorer_is_styled(tab, section: str = "explorer") -> None:
    """The explorer's stylesheet applies to the explorer ``section`` of the open page: its
    controls are a grid and its canvas is 448 CSS px wide, or the column's width if narrower
    (the tiny test model's canvas is 32 px without the rules)."""
    assert any(url.endswith(f"/{pages.EXPLORER_STYLE}") for url in tab.requests)
    measured = tab.page.eval_on_selector(
        f"#{section}",
        """section => ({
            controls: getComputedStyle(section.querySelector(".explorer-controls")).display,
            canvas: section.querySelector(".explorer-canvas").getBoundingClientRect().width,
            natural: section.querySelector(".explorer-canvas").width,
            column: section.clientWidth,
        })""",
    )
    assert measured["controls"] == "grid", measured
    assert measured["natural"] < CANVAS_WIDTH, measured  # so the width below is the rules'
    assert abs(measured["canvas"] - min(CANVAS_WIDTH, measured["column"])) <= 1, measured


@pytest.mark.browser
def test_the_explorer_and_the_control_are_styled_in_the_built_site(
    gallery_site,
    gallery_server,
    browser,  # noqa: F811
):
    """al-folio has none of the html page's rules: the image page's explorer, its heads grid and
    the report-wide control get them from the post's stylesheet, follow the theme's colours
    (al-folio's dark mode included), and fit a narrow window."""
    image = gallery_site.analysis.images[0]
    with browser_tab(browser, gallery_server) as tab:
        tab.open(_post_url(gallery_server, GALLERY_SLUG, f"images/{image.id}/"))
        tab.ready()
        assert_the_explorer_is_styled(tab)
        page = tab.page
        page.check("[data-control=show-heads]")
        heads = page.locator("[data-control=heads] button")
        assert heads.count() == image_heads(gallery_site, image)
        grid = page.eval_on_selector("[data-control=heads]", "e => getComputedStyle(e).display")
        assert grid == "grid"
        assert all(box["width"] >= 112 for box in heads.evaluate_all(BOXES))
        button = "[data-control=heads] button"
        assert page.eval_on_selector(button, BACKGROUND) == "rgb(255, 255, 255)"
        # al-folio's dark mode: its theme variables, set on <html data-theme=dark>.
        page.evaluate(DARK_THEME)
        assert page.eval_on_selector(button, BACKGROUND) == "rgb(28, 28, 29)"
        assert page.eval_on_selector(button, "e => getComputedStyle(e).color") == (
            "rgb(232, 232, 232)"
        )
        scheme = page.eval_on_selector("#explorer", "e => getComputedStyle(e).colorScheme")
        assert scheme == "dark"
        page.set_viewport_size({"width": 360, "height": 800})
        assert_the_explorer_is_styled(tab)
        width = page.eval_on_selector("[data-control=canvas]", "c => c.offsetWidth")
        assert width < CANVAS_WIDTH
        for gallery in ("", "gallery/level-1-entropy-1/"):
            tab.open(_post_url(gallery_server, GALLERY_SLUG, gallery))
            control = page.eval_on_selector("#wide-control", "e => getComputedStyle(e).display")
            assert control == "flex", gallery
        tab.assert_clean()


BOXES = "all => all.map(e => e.getBoundingClientRect().toJSON())"
BACKGROUND = "e => getComputedStyle(e).backgroundColor"
DARK_THEME = """() => {
    const root = document.documentElement;
    root.dataset.theme = "dark";
    root.style.setProperty("--global-bg-color", "#1c1c1d");
    root.style.setProperty("--global-text-color", "#e8e8e8");
    document.body.style.color = "var(--global-text-color)";
}"""


def image_heads(site_: GallerySite, image: ImageSummary) -> int:
    """How many heads the image's maps file kept."""
    return site_.analysis.record(image).cls_heads.shape[1]


@pytest.mark.browser
@pytest.mark.parametrize("page", ["", "gallery/level-1-entropy-1/", "gallery/level-2-name-1/"])
def test_the_report_wide_control_switches_the_built_pages(gallery_server, browser, page):  # noqa: F811
    """The post's figures (al-folio's include holds each picture) and a gallery page's
    thumbnails switch to the sprites and back; nothing fails and nothing leaves the site."""
    with browser_tab(browser, gallery_server) as tab:
        tab.open(_post_url(gallery_server, GALLERY_SLUG, page))
        assert_the_control_switches_every_overlay(tab)


@pytest.mark.browser
def test_inline_explorers_run_in_the_built_post(report, builds, browser):  # noqa: F811
    """A single-page post: opening the inline explorers of hostile names loads just their maps
    files and draws; the report-wide control switches the figures."""
    ids = {image.name: image.id for image in report.analysis.images}
    hostile = [ids["<script>alert(1)</script>.png"], ids["{{ site.title }}.jpg"]]
    with serving(built(report, builds).root) as server, browser_tab(browser, server) as tab:
        tab.open(_post_url(server, SLUG))
        assert tab.page.locator(".explorer-inline").count() == len(ids)
        for image_id in hostile:
            assert_the_explorer_is_styled(tab, open_inline_explorer(tab, image_id))
        assert tab.maps_files() == hostile
        assert_the_control_switches_every_overlay(tab)


@pytest.mark.browser
def test_without_javascript_the_built_post_is_static(report, builds, browser):  # noqa: F811
    with (
        serving(built(report, builds).root) as server,
        browser_tab(browser, server, javascript=False) as tab,
    ):
        tab.open(_post_url(server, SLUG))
        assert_static(tab)
        tab.assert_clean()


@pytest.mark.browser
def test_without_javascript_the_built_galleries_are_static(gallery_site, gallery_server, browser):  # noqa: F811
    image = gallery_site.analysis.images[0]
    with browser_tab(browser, gallery_server, javascript=False) as tab:
        for page in ("", "gallery/level-1-entropy-1/", f"images/{image.id}/"):
            tab.open(_post_url(gallery_server, GALLERY_SLUG, page))
            assert_static(tab)
        tab.assert_clean()
