"""A report's Jekyll flavour in a real ``jekyll build``, shared by test_jekyll.py (the single
post) and test_jekyll_galleries.py (a report with galleries): the hostile images, the build in a
copy of ``tests/jekyll_site/``, reading the built pages back as a browser would, the explorer's
stylesheet checks, and serving the built site on 127.0.0.1 under its baseurl for Chromium."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import TESTS, write_images
from PIL import Image
from served_reports import serving_folder

from reportgen.publish import pages
from reportgen.publish.templates import Templates

SKELETON = TESTS / "jekyll_site"
SITE_TITLE = "SENTINEL-SITE-TITLE"  # the skeleton's _config.yml title
BASEURL = "/sentinel-base"  # the skeleton's _config.yml baseurl
DATE = datetime.date(2024, 5, 24)
TITLE = 'Where {{ page.title }} looks: <b>bold</b> & "quoted" {% raw %}'
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


# --- the built site in Chromium --------------------------------------------------------------


@contextlib.contextmanager
def serving(root: Path) -> Iterator[str]:
    """The built site ``root`` served on 127.0.0.1 under its baseurl; yields the server's URL."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / BASEURL.strip("/")).symlink_to(root, target_is_directory=True)
        with serving_folder(Path(folder)) as url:
            yield url


def _post_url(server: str, slug: str, page: str = "") -> str:
    """A page of a report's post (``page``: below the post's URL, e.g. ``gallery/x/``)."""
    return f"{server}{BASEURL.strip('/')}/blog/{DATE.year}/{slug}/{page}"


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
