"""Reading pages that a real site generator built from a report (hugo, mkdocs), as a browser
would: the images with the collapsible blocks around them, captions, code, scripts and text.

Shared by ``test_hugo.py`` and ``test_mkdocs.py``, with what both check: hostile file names read
literally, and nothing of Liquid, Hugo shortcodes, Markdown or HTML runs from them.
"""

from __future__ import annotations

import datetime
import posixpath
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from conftest import write_images
from labelled_reports import (
    HOSTILE_LABELS,
    Built,
    LabelledSource,
    PageScan,
    _build,
    class_table,
    expected_rows,
)
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.publish.build import rerender
from reportgen.publish.options import ReportOptions
from reportgen.results import Analysis, AnalysisParams

# File names with HTML, Liquid, Hugo shortcode, MkDocs and Markdown syntax; "</script>" makes a
# sub-folder, whose relative name is the same.
HOSTILE_NAMES = (
    "{{ site.title }}.jpg",
    "{% raw %}.png",
    "{{< figure src=x >}}.png",
    "{{% spoiler %}}x.png",
    "{{</* comment */>}}.png",
    "<script>alert(1)</script>.png",
    "<img src=x onerror=alert(1)>.png",
    "**bold** [link](x).png",
    '??? note "x".png',
    'a`b\\c"d.png',
)
HOSTILE_SKIPPED = "{{< figure src=y >}} **not an image** {% include x %}.png"
HOSTILE_TITLE = 'Where {{< figure src=t >}} {{ site.title }} looks: <b>bold</b> & "q" `x` {% raw %}'
N_PLAIN_IMAGES = 8
DATE = datetime.date(2024, 5, 24)
# What must not be left in the text of a built page once the hostile names, which must read
# literally, are taken out: Liquid, Hugo shortcode, Markdown and MkDocs syntax.
UNRENDERED = ("{{", "}}", "{%", "%}", "**", "![", "](", "???", "&#")
VOID = {"img", "meta", "link", "br", "hr", "source", "input", "wbr"}


def hostile_images(folder: Path) -> Path:
    """Plain random images and images with hostile names, and a hostile file that is none."""
    write_images(folder, N_PLAIN_IMAGES)
    for index, name in enumerate(HOSTILE_NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image_format = "JPEG" if name.endswith(".jpg") else "PNG"
        Image.new("RGB", (40, 40), (index * 20, 80, 160)).save(path, image_format)
    (folder / HOSTILE_SKIPPED).write_bytes(b"not an image")
    return folder


def build_report(tmp_path_factory, model: Path, slug: str, flavour: str, **options) -> Path:
    """A report of :func:`hostile_images` with a hostile title, in ``flavour`` only, dated
    :data:`DATE`; ``options`` are more report options (galleries)."""
    images = hostile_images(tmp_path_factory.mktemp(f"{flavour}-images") / "images")
    report_options = ReportOptions(
        title=HOSTILE_TITLE, slug=slug, date=DATE, formats=(flavour,), **options
    )
    params = AnalysisParams(model=str(model), keep_heads=True)
    execution = Execution(device="cpu", cache_dir=images.parent / "cache")
    return api.build(images, tmp_path_factory.mktemp("site"), params, report_options, execution)


def labelled_report(classifier_dir: Path, out: Path, flavour: str, **flavour_options) -> Built:
    """test_labels' report of images with hostile labels (galleries, 5 a page), re-rendered in
    ``flavour`` alone (``flavour_options``: its options)."""
    source = LabelledSource(HOSTILE_LABELS)
    built = _build(source, classifier_dir, out, "labelled", gallery_threshold=8, page_size=5)
    options = {flavour: flavour_options} if flavour_options else None
    rerender(built.report, formats=(flavour,), flavour_options=options)
    return built


def assert_labels_inert(built: Built, front: BuiltPage, pages: list[BuiltPage]) -> None:
    """The per-class table on the ``front`` page reads as counted from the stored results; no
    label runs anything on any of ``pages``."""
    assert class_table(PageScan(front.content)) == expected_rows(built.rows, judged=True)
    for page in pages:
        assert page.handlers == [] and not any(img.attributes["src"] == "x" for img in page.images)
        assert page.leftover_syntax((*HOSTILE_LABELS, "Labels labelled")) == []


def analysis(report: Path) -> Analysis:
    return Analysis.load(report / "data")


def open_every_fold(tab, selector: str) -> int:
    """Click the summary of each collapsible block ``selector``, as a reader would; returns how
    many are open then."""
    folds = tab.page.locator(selector)
    for index in range(folds.count()):
        folds.nth(index).locator("summary").first.click()
    return folds.evaluate_all("all => all.filter((fold) => fold.open).length")


@dataclass
class ShownImage:
    attributes: dict[str, str]
    folds: tuple[str, ...]  # the summaries of the <details> blocks around it, outermost first


@dataclass
class _Fold:
    summary: list[str] = field(default_factory=list)


class BuiltPage(HTMLParser):
    """The content of a built page (``html`` between ``start`` and ``end``, which must be there)
    as a browser reads it."""

    TEXTS = ("h1", "summary", "figcaption", "small", "code")

    def __init__(self, html: str, start: str, end: str):
        super().__init__(convert_charrefs=True)
        begin = html.index(start)
        self.content = html[begin : html.index(end, begin)]
        self.images: list[ShownImage] = []
        self.texts: dict[str, list[str]] = {tag: [] for tag in self.TEXTS}
        self.scripts: list[str] = []
        self.links: list[str] = []
        self.handlers: list[str] = []
        self.text: list[str] = []  # decoded text and attribute values (not URLs)
        self.folds: list[_Fold] = []
        self._open: list[str] = []
        self._capture: dict[str, list[str]] = {}
        self.feed(self.content)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.handlers += [name for name in attributes if name.startswith("on")]
        self.text += [value for name, value in attributes.items() if name not in ("src", "href")]
        if tag == "script":
            self.scripts.append(attributes.get("src", "(inline)"))
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if tag == "details":
            self.folds.append(_Fold())
        if tag == "img":
            folds = tuple(" ".join("".join(fold.summary).split()) for fold in self.folds)
            self.images.append(ShownImage(attributes, folds))
        if tag in self.TEXTS:
            self._capture[tag] = []
        if tag not in VOID:
            self._open.append(tag)

    def handle_endtag(self, tag):
        if tag in self._capture:
            self.texts[tag].append(" ".join("".join(self._capture.pop(tag)).split()))
        if tag == "details" and self.folds:
            self.folds.pop()
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data):
        for parts in self._capture.values():
            parts.append(data)
        if "summary" in self._capture and self.folds:
            self.folds[-1].summary.append(data)
        self.text.append(data)

    def leftover_syntax(self, literal: tuple[str, ...]) -> list[str]:
        """The syntax of :data:`UNRENDERED` in the page's text once ``literal`` is taken out."""
        text = "\n".join(self.text)
        for value in sorted(literal, key=len, reverse=True):
            text = text.replace(value, "")
        return [syntax for syntax in UNRENDERED if syntax in text]


def built_file(root: Path, page_url: str, url: str) -> Path:
    """The file of the built site ``root`` that ``url`` (absolute, or relative to the page at
    site path ``page_url``) is served from."""
    path = urlsplit(url).path
    if not path.startswith("/"):
        path = posixpath.normpath(posixpath.join(page_url, path)) + (
            "/" if path.endswith("/") else ""
        )
    target = root / path.lstrip("/")
    return target / "index.html" if path.endswith("/") else target
