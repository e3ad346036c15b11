"""The mkdocs flavour in a real ``mkdocs build --strict`` with MkDocs Material.

Reports of random images and hostile file names are built with :func:`reportgen.api.build`
(tiny random ViT), their ``mkdocs/<slug>/`` folder is copied into ``docs/reports/`` of a copy of
``tests/mkdocs_site/`` (Material, the extensions the README lists, gallery and image pages out of
the navigation) and built with ``--strict``, so a broken link or image fails it. The tests read
the built pages as a browser would: every figure once, in its collapsible level; files that
exist; no Markdown, HTML or template syntax run from user text; then Chromium opens the levels
and loads every picture.
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
from built_pages import (
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
from reportgen.publish.build import stored_style
from reportgen.publish.options import GallerySettings
from reportgen.results import Analysis

pytestmark = [pytest.mark.mkdocs, pytest.mark.slow]

SKELETON = TESTS / "mkdocs_site"
SITE_NAME = "SENTINEL-SITE-NAME"
MARKERS = ('<article class="md-content__inner md-typeset">', "</article>")


@dataclass(frozen=True)
class DocsSite:
    root: Path  # the built site
    report: Path  # the report as built
    analysis: Analysis
    slug: str

    @property
    def page_url(self) -> str:
        return f"/reports/{self.slug}/"

    def page(self, url: str) -> BuiltPage:
        return BuiltPage(built_file(self.root, "/", url).read_text(encoding="utf-8"), *MARKERS)

    def exists(self, page_url: str, url: str) -> bool:
        return built_file(self.root, page_url, url).is_file()


def mkdocs_source(report: Path, slug: str, work: Path) -> Path:
    """A copy of the skeleton with the report's pages in ``docs/reports/``, to build."""
    source = work / "source"
    shutil.copytree(SKELETON, source)
    shutil.copytree(report / "mkdocs" / slug, source / "docs" / "reports" / slug)
    return source


def mkdocs_site(source: Path) -> Path:
    """``source`` built strictly into ``site/`` beside it."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", "../site"]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        command, cwd=source, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build failed:\n{result.stderr}\n{result.stdout}", pytrace=False)
    return source.parent / "site"


def mkdocs_build(report: Path, slug: str, work: Path) -> Path:
    """The report's pages in ``docs/reports/`` of a copy of the skeleton, built strictly."""
    return mkdocs_site(mkdocs_source(report, slug, work))


def _site(tmp_path_factory, model: Path, slug: str, **options) -> DocsSite:
    report = build_report(tmp_path_factory, model, slug, "mkdocs", **options)
    root = mkdocs_build(report, slug, tmp_path_factory.mktemp(f"mkdocs-{slug}"))
    return DocsSite(root, report, analysis(report), slug)


@pytest.fixture(scope="module")
def single(tiny_vit_dir, tmp_path_factory) -> DocsSite:
    return _site(tmp_path_factory, tiny_vit_dir, "single")


@pytest.fixture(scope="module")
def galleries(tiny_vit_dir, tmp_path_factory) -> DocsSite:
    settings = GallerySettings(gallery_threshold=4, page_size=3)
    return _site(tmp_path_factory, tiny_vit_dir, "galleries", gallery=settings)


def test_the_page_and_its_images_stand_in_one_folder(single):
    folder = single.report / "mkdocs"
    assert [path.name for path in folder.iterdir()] == ["single"]
    extension = stored_style(single.report).extension
    for image in single.analysis.images:
        assert (folder / "single" / f"figures/{image.id}{extension}").is_file()
        assert (folder / "single" / f"explorer/{image.id}.html").is_file()  # linked, not run


def test_every_figure_once_in_its_collapsible_level_with_alt_and_caption(single):
    page = single.page(single.page_url)
    extension = stored_style(single.report).extension
    featured = single.analysis.featured()
    shown = [image.attributes["src"] for image in page.images]
    for image in single.analysis.images:
        url = f"figures/{image.id}{extension}"
        assert shown.count(url) == 1, image.name
        (img,) = [item for item in page.images if item.attributes["src"] == url]
        assert img.folds[0].startswith(f"Spread level {image.level}"), (image.name, img.folds)
        assert len(img.folds) == (1 if featured[image.level].id == image.id else 2)
        assert img.attributes["alt"] == f"Attention maps of {image.name}"
        assert int(img.attributes["width"]) > 0
        digits = page_model.images_entropy_digits(single.analysis.images)
        caption = " ".join(page_model.figure_caption(image, digits).split())
        assert caption in page.texts["small"], image.name
    assert all(single.exists(single.page_url, src) for src in shown)


def test_hostile_text_runs_nothing_and_reads_literally(single):
    html = built_file(single.root, "/", single.page_url).read_text(encoding="utf-8")
    page = single.page(single.page_url)
    assert page.handlers == [] and page.scripts == []
    assert page.leftover_syntax((*HOSTILE_NAMES, HOSTILE_SKIPPED, HOSTILE_TITLE)) == []
    assert HOSTILE_SKIPPED in page.texts["code"]
    assert page.texts["h1"] == [HOSTILE_TITLE]  # Material prints the title
    title = BuiltPage(html, "<title>", "</title>")
    assert "".join(title.text) == f"{HOSTILE_TITLE} - {SITE_NAME}"
    assert "<b>bold</b>" not in html


def test_galleries_are_further_pages_out_of_the_navigation(galleries):
    site = galleries
    page = site.page(site.page_url)
    gallery_urls = sorted({link for link in page.links if "gallery/" in link})
    assert gallery_urls
    image_urls = set()
    for link in gallery_urls:
        url = built_file(Path("/"), site.page_url, link).parent.as_posix() + "/"
        gallery = site.page(url)
        assert gallery.images and all(
            site.exists(url, img.attributes["src"]) for img in gallery.images
        )
        image_urls |= {
            built_file(Path("/"), url, link).parent.as_posix() + "/"
            for link in gallery.links
            if "images/" in link
        }
        assert gallery.leftover_syntax((*HOSTILE_NAMES, HOSTILE_TITLE)) == [], url
        html = built_file(site.root, "/", url).read_text(encoding="utf-8")
        boxes = re.findall(r'<span style="display:inline-block[^"]*"><a href="[^"]+"><img', html)
        assert len(boxes) == len(gallery.images) and "<table" not in html, url  # a grid, no table
    expected = {f"{site.page_url}images/{image.id}/" for image in site.analysis.images}
    assert image_urls == expected
    home = built_file(site.root, "/", "/").read_text(encoding="utf-8")
    assert f"{site.slug}/images/" not in home and f"{site.slug}/gallery/" not in home  # nav
    assert f"reports/{site.slug}/" in home
    for url in expected:
        shown = site.page(url)
        assert shown.images and all(site.exists(url, img.attributes["src"]) for img in shown.images)


def test_a_rebuild_writes_the_same_bytes(galleries):
    def files() -> dict[Path, bytes]:
        return {
            path: path.read_bytes()
            for path in sorted(galleries.report.rglob("*"))
            if path.is_file()
        }

    before = files()
    api.rerender(galleries.report)
    assert files() == before


def test_a_labelled_report_shows_its_class_table_with_labels_as_plain_text(
    classifier_dir,  # noqa: F811
    tmp_path_factory,
):
    """Labels (issue 18) with HTML, Markdown and Liquid in them, on the report's and image pages."""
    out = tmp_path_factory.mktemp("labels")
    built = labelled_report(classifier_dir, out, "mkdocs")
    root = mkdocs_build(built.report, "labelled", out / "mkdocs")
    site = DocsSite(root, built.report, analysis(built.report), "labelled")
    images = [f"{site.page_url}images/{image.id}/" for image in site.analysis.images]
    pages = [site.page(url) for url in (site.page_url, *images)]
    assert_labels_inert(built, pages[0], pages)


@pytest.mark.browser
@pytest.mark.parametrize("which", ["single", "galleries"])
def test_chromium_opens_the_levels_and_shows_every_figure(which, request, browser):  # noqa: F811
    site = request.getfixturevalue(which)
    with serving(site.root) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}{site.page_url}")
        levels = max(image.level for image in site.analysis.images)
        assert open_every_fold(tab, "article > details") == levels
        ARTIFACTS.mkdir(exist_ok=True)
        tab.page.screenshot(path=ARTIFACTS / f"mkdocs-{which}.png", full_page=True)
        assert _load_every_image(tab.page) == []
        if which == "galleries":
            tab.open(f"{server}{BASEURL.strip('/')}{site.page_url}gallery/level-1-entropy-1/")
            thumbs = tab.page.locator("details[open] img")
            tops = {round(thumbs.nth(i).bounding_box()["y"]) for i in range(thumbs.count())}
            assert thumbs.count() > 1 and len(tops) == 1  # side by side in a row
            tab.page.screenshot(path=ARTIFACTS / "mkdocs-gallery.png", full_page=True)
            assert _load_every_image(tab.page) == []
        tab.assert_clean()


@pytest.mark.browser
@pytest.mark.parametrize("directory_urls", [True, False])
def test_an_image_page_links_its_explorer_page_which_draws(
    galleries,
    directory_urls,
    tmp_path,
    browser,  # noqa: F811
):
    """The link is a relative Markdown link, which MkDocs rewrites for either URL style."""
    source = mkdocs_source(galleries.report, galleries.slug, tmp_path)
    config = source / "mkdocs.yml"
    config.write_text(f"{config.read_text()}use_directory_urls: {str(directory_urls).lower()}\n")
    root = mkdocs_site(source)
    image = galleries.analysis.images[0]
    page = f"reports/{galleries.slug}/images/{image.id}" + ("/" if directory_urls else ".html")
    html = (root / page / "index.html" if directory_urls else root / page).read_text()
    (link,) = [href for href in re.findall(r'href="([^"]+)"', html) if "explorer/" in href]
    folder = root / page if directory_urls else (root / page).parent  # what the link is from
    explorer_page = root / f"reports/{galleries.slug}/explorer/{image.id}.html"
    assert (folder / link).resolve() == explorer_page.resolve()
    with serving(root) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/{page}")
        tab.page.click(f'a[href="{link}"]')
        tab.page.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
        assert tab.page.url.endswith(f"/explorer/{image.id}.html")
        tab.assert_clean()
