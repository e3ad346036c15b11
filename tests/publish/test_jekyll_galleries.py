"""A report with galleries (3 images a page) in a real ``jekyll build``: the gallery and image
pages are below the post's URL and every image is two clicks away, no Liquid runs and hostile names
read as text on any page, each page links the explorer's stylesheet once, and in Chromium the
explorer draws and is styled by the theme (al-folio's dark mode and a narrow window included), the
report-wide control switches every built page and without JavaScript the pages are static.

The images, the build and the page reading are ``jekyll_builds.py``'s (shared with
``test_jekyll.py``); like it, this needs Debian's ``jekyll`` and fails without it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from explorer_pages import browser_tab
from jekyll_builds import (
    BASEURL,
    CANVAS_WIDTH,
    DATE,
    HOSTILE_NAMES,
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
from reportgen.publish.options import GallerySettings, ReportOptions
from reportgen.results import Analysis, AnalysisParams, ImageSummary

pytestmark = [pytest.mark.jekyll, pytest.mark.slow]


# --- a report with galleries -----------------------------------------------------------------

GALLERY_SLUG = "galleries"


@dataclass(frozen=True)
class GallerySite:
    root: Path  # the built site
    post: Path
    analysis: Analysis
    report_dir: Path  # the report as built, every flavour


@pytest.fixture(scope="module")
def gallery_site(images_dir, tiny_vit_dir, tmp_path_factory) -> GallerySite:  # noqa: F811
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
def test_without_javascript_the_built_galleries_are_static(gallery_site, gallery_server, browser):  # noqa: F811
    image = gallery_site.analysis.images[0]
    with browser_tab(browser, gallery_server, javascript=False) as tab:
        for page in ("", "gallery/level-1-entropy-1/", f"images/{image.id}/"):
            tab.open(_post_url(gallery_server, GALLERY_SLUG, page))
            assert_static(tab)
        tab.assert_clean()
