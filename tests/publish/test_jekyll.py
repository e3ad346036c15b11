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

The post is also served and opened in headless Chromium: its inline explorers run and are styled,
and without JavaScript it is static. A report with galleries is checked in
``test_jekyll_galleries.py``; what both modules use (the images, the build, reading the pages back,
serving them) is in ``jekyll_builds.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from explorer_pages import browser_tab, open_inline_explorer
from jekyll_builds import (
    BASEURL,
    DATE,
    EXPLORER_CSS,
    HOSTILE_NAMES,
    HOSTILE_SKIPPED,
    SITE_TITLE,
    TITLE,
    UNRENDERED,
    PostScan,
    _assert_gfm_and_html_do_not_link_it,
    _assert_the_stylesheet_is_linked_once,
    _asset_scripts,
    _content,
    _post_url,
    assert_the_explorer_is_styled,
    images_dir,  # noqa: F401
    jekyll_build,
    serving,
)
from served_reports import browser  # noqa: F401
from test_explorer import assert_static, assert_the_control_switches_every_overlay

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import escaping, page_model
from reportgen.publish.build import stored_style
from reportgen.publish.flavours.jekyll import JekyllOptions
from reportgen.publish.options import ReportOptions
from reportgen.results import Analysis, AnalysisParams, ImageSummary

pytestmark = [pytest.mark.jekyll, pytest.mark.slow]

SLUG = "hostile-names"
INCLUDES = ("figure.liquid", "figure.html")  # reportgen's default first


# --- building ------------------------------------------------------------------------------


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
def report(request, images_dir, tiny_vit_dir, tmp_path_factory) -> Report:  # noqa: F811
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
