"""The distill flavour in a real ``jekyll build`` and in Chromium, built end to end.

Reports of random images and hostile names are built with :func:`reportgen.api.build` (tiny random
ViT): one page, and one with galleries. Their ``distill/`` folders are copied into a copy of
``tests/distill_site/`` (a minimal al-folio-like site whose ``distill`` layout prints the front
matter as al-folio's does, into a JSON script and the title block, lists the toc and includes
``{{ content }}``), as into a fork of the ICLR Blogposts site, and the real ``jekyll`` builds it.
``check-distill`` passes on both folders; the built post shows every figure, its toc links its
headings, its citations are in its bibliography; in Chromium every image loads and the framed
explorers draw and follow their layer slider; re-renders keep the flavour's options, verify
passes, and a rebuild writes the same bytes.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from analysis.generated_source import GeneratedSource
from conftest import TESTS, write_images
from explorer_pages import assert_framed_explorer_follows_its_slider, browser_tab
from jekyll_builds import BASEURL, HOSTILE_NAMES, SITE_TITLE, jekyll_build, serving
from PIL import Image
from served_reports import browser  # noqa: F401

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.manifest import ReportManifest
from reportgen.publish import distill_check, escaping
from reportgen.publish.build import rerender
from reportgen.publish.flavours.distill import DistillOptions
from reportgen.publish.options import GallerySettings, ReportOptions
from reportgen.publish.verify import verify
from reportgen.results import Analysis, AnalysisParams

pytestmark = [pytest.mark.jekyll, pytest.mark.slow]

SKELETON = TESTS / "distill_site"
DATE = datetime.date(2024, 5, 24)
POST_DATE = "2026-04-27"
TITLE = 'Where {{ page.title }} looks: <b>bold</b> & "quoted" \\ {% raw %}'
AUTHORS = 'Ada "Countess" Lovelace, {{ site.title }} Engines; Alan Turing'


@dataclass(frozen=True)
class Post:
    report_dir: Path
    folder: Path  # the report's distill/ folder
    site: Path  # the built site
    html: str  # the built post
    analysis: Analysis

    @property
    def name(self) -> str:
        return f"{POST_DATE}-{self.report_dir.name}"


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    folder = write_images(tmp_path_factory.mktemp("distill-images") / "images", 4)
    for index, name in enumerate(HOSTILE_NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (index * 40, 80, 160)).save(path, "PNG")
    return folder


def _build(images_dir, tiny_vit_dir, tmp_path_factory, slug, **gallery) -> Post:
    options = ReportOptions(
        title=TITLE,
        slug=slug,
        date=DATE,
        formats=("html", "distill"),
        gallery=GallerySettings(**gallery),
        flavour_options={"distill": DistillOptions(POST_DATE, AUTHORS)},
    )
    params = AnalysisParams(model=str(tiny_vit_dir), keep_heads=True)
    execution = Execution(device="cpu", cache_dir=images_dir.parent / "cache")
    report_dir = api.build(images_dir, tmp_path_factory.mktemp(slug), params, options, execution)
    work = tmp_path_factory.mktemp(f"jekyll-{slug}")
    site, _ = jekyll_build(report_dir, work, skeleton=SKELETON, folder="distill")
    post = site / f"blog/{POST_DATE[:4]}/{slug}/index.html"
    assert post.is_file(), sorted(site.rglob("*.html"))
    return Post(
        report_dir,
        report_dir / "distill",
        site,
        post.read_text(encoding="utf-8"),
        Analysis.load(report_dir / "data"),
    )


@pytest.fixture(scope="module")
def single(images_dir, tiny_vit_dir, tmp_path_factory) -> Post:
    return _build(images_dir, tiny_vit_dir, tmp_path_factory, "hostile-post")


@pytest.fixture(scope="module")
def galleries(images_dir, tiny_vit_dir, tmp_path_factory) -> Post:
    return _build(
        images_dir, tiny_vit_dir, tmp_path_factory, "gallery-post", gallery_threshold=4, page_size=3
    )


def _content(text: str) -> str:
    start = text.index("<!-- reportgen-test: content start -->")
    return text[start : text.index("<!-- reportgen-test: content end -->")]


# --- the folder and the built post -----------------------------------------------------------


@pytest.mark.parametrize("which", ["single", "galleries"])
def test_check_distill_passes_on_the_output(which, request):
    post = request.getfixturevalue(which)
    assert distill_check.check_folder(post.folder) == (post.name, [])
    kinds = {path.relative_to(post.folder).parts[:2] for path in post.folder.rglob("*.*")}
    assert kinds == {
        ("_posts", f"{post.name}.md"),
        ("assets", "img"),
        ("assets", "html"),
        ("assets", "bibliography"),
    }


def test_the_built_front_matter_is_valid_json_and_reads_as_given(single):
    script = re.search(r'<script async type="text/json">(.*?)</script>', single.html, re.DOTALL)
    data = json.loads(script.group(1))
    assert html.unescape(data["title"]) == TITLE
    assert '"' not in html.unescape(data["description"]) and "http" not in data["description"]
    assert [html.unescape(author["author"]) for author in data["authors"]] == [
        'Ada "Countess" Lovelace',
        "Alan Turing",
    ]
    assert html.unescape(data["authors"][0]["affiliations"][0]["name"]) == (
        "{{ site.title }} Engines"
    )
    assert SITE_TITLE not in _content(single.html)
    assert SITE_TITLE not in single.html.split("</title>", 1)[1]


def test_every_figure_once_and_every_toc_entry_links_a_heading(single):
    content = _content(single.html)
    shown = [html.unescape(src) for src in re.findall(r'<img[^>]* src="([^"]+)"', content)]
    for image in single.analysis.images:
        url = f"{BASEURL}/assets/img/{single.name}/figures/{image.id}.webp"
        assert shown.count(url) == 1, image.name
    for src in shown:
        assert (single.site / src.removeprefix(f"{BASEURL}/")).is_file(), src
    ids = set(re.findall(r' id="([^"]+)"', content))
    toc = re.findall(r'<a href="#([^"]+)">', single.html)
    assert len(toc) >= 8 and set(toc) <= ids


def test_the_citations_are_in_the_served_bibliography(single):
    bib_url = re.search(r'<d-bibliography src="([^"]+)">', single.html).group(1)
    bib = (single.site / bib_url.removeprefix(f"{BASEURL}/")).read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, re.MULTILINE))
    cited = set(re.findall(r'<d-cite key="([^"]+)">', single.html))
    assert {"abnar2020quantifying", "dosovitskiy2021image"} <= cited == keys


def test_explorers_are_framed_from_the_html_assets(single):
    frames = re.findall(r'<div class="l-page">\s*<iframe src="([^"]+)"', single.html)
    assert len(frames) == len(single.analysis.images)
    for src in frames:
        assert src.startswith(f"{BASEURL}/assets/html/{single.name}/explorer/")
        assert (single.site / src.removeprefix(f"{BASEURL}/")).is_file()
    assert "<script" not in _content(single.html)


def test_galleries_are_html_pages_linked_from_the_post(galleries):
    content = _content(galleries.html)
    links = [html.unescape(h) for h in re.findall(r'<a href="([^"#]+)"', content)]
    pages = [link for link in links if "/gallery/" in link]
    assert pages and all(link.startswith(f"{BASEURL}/assets/html/") for link in pages)
    for link in pages:
        assert (galleries.site / link.removeprefix(f"{BASEURL}/")).is_file(), link
    frames = re.findall(r'<iframe src="([^"]+)"', content)
    levels = max(image.level for image in galleries.analysis.images)
    assert len(frames) == levels  # each level frames its featured image's explorer


_OWN_SCRIPT = re.compile(
    r'<script src="[./a-z]*(?:explorer|colormaps|slider|\d{3}-[a-z0-9-]+)\.js"'
    r'(?: data-explorer="explorer"| defer)?>'
)


def test_hostile_names_are_inert_on_the_html_pages(galleries):
    folder = galleries.folder / f"assets/html/{galleries.name}"
    pages = sorted(folder.rglob("*.html"))
    assert len(pages) > len(galleries.analysis.images)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<script[^>]*>", text):
            assert _OWN_SCRIPT.fullmatch(tag), (page, tag)
        assert not re.search(r"(?:href|src)=\"javascript", text), page
    for image in galleries.analysis.images:
        page = (folder / f"images/{image.id}.html").read_text(encoding="utf-8")
        assert f"<h1>{escaping.html_text(image.name)}</h1>" in page


# --- in Chromium -----------------------------------------------------------------------------

IMAGES_LOADED = (
    "() => [...document.images].map(i => [i.currentSrc, i.complete && i.naturalWidth > 0])"
)


def _show_every_image(page) -> list[tuple[str, bool]]:
    """Unfold every <details> and bring each image into view, as a reader would (they load
    lazily); returns each image's address and whether it loaded."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    for image in page.locator("img").all():
        image.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=10_000)
    return page.evaluate(IMAGES_LOADED)


@pytest.mark.browser
def test_the_post_shows_every_figure_and_its_explorers_work(single, browser):  # noqa: F811
    with serving(single.site) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/blog/{POST_DATE[:4]}/hostile-post/")
        loaded = _show_every_image(tab.page)
        # entropy by layer, its histogram, and the artifact scores where some image has any
        charts = 2 + any(image.artifact_score for image in single.analysis.images)
        assert len(loaded) == len(single.analysis.images) + charts
        assert all(ok for _, ok in loaded), [src for src, ok in loaded if not ok]
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()


@pytest.mark.browser
def test_the_galleries_and_the_featured_explorers_work(galleries, browser):  # noqa: F811
    with serving(galleries.site) as server, browser_tab(browser, server) as tab:
        base = f"{server}{BASEURL.strip('/')}"
        tab.open(f"{base}/blog/{POST_DATE[:4]}/gallery-post/")
        assert_framed_explorer_follows_its_slider(tab)
        tab.page.locator("a", has_text="by name").first.click()
        tab.page.wait_for_load_state("load")
        assert "/assets/html/" in tab.page.url
        assert all(ok for _, ok in _show_every_image(tab.page))
        tab.page.locator(".thumbs a").first.click()
        tab.page.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
        tab.page.locator("a", has_text=html.unescape(TITLE)).first.click()
        assert tab.page.url.endswith(f"/blog/{POST_DATE[:4]}/gallery-post/")
        tab.assert_clean()


# --- render, verify, versions, rebuilds ------------------------------------------------------


def test_render_keeps_the_options_and_verify_passes(galleries, tmp_path):
    manifest = ReportManifest.read(galleries.report_dir)
    assert manifest.report["distill_post_date"] == POST_DATE
    assert manifest.report["distill_authors"] == AUTHORS
    post = galleries.folder / f"_posts/{galleries.name}.md"
    before = post.read_bytes()
    rerender(galleries.report_dir, workers=0)
    assert post.read_bytes() == before
    assert not verify(galleries.report_dir).problems
    rerender(galleries.report_dir, flavour_options={"distill": {"authors": "anonymous"}}, workers=0)
    text = post.read_text()
    assert '  - name: "Anonymous"\n' in text and "Lovelace" not in text
    assert distill_check.check_folder(galleries.folder)[1] == []
    assert not verify(galleries.report_dir).problems


def test_a_new_version_keeps_the_earlier_post_and_a_rebuild_is_byte_identical(
    images_dir, tiny_vit_dir, tmp_path
):
    def build(out: Path, title: str) -> Path:
        options = ReportOptions(
            title=title,
            slug="versions",
            date=DATE,
            formats=("distill",),
            flavour_options={"distill": DistillOptions(POST_DATE)},
        )
        params = AnalysisParams(model=str(tiny_vit_dir))
        execution = Execution(device="cpu", cache_dir=images_dir.parent / "cache")
        return api.build(images_dir, out, params, options, execution)

    first = build(tmp_path / "a", "First")
    again = build(tmp_path / "b", "First")
    files = sorted(p.relative_to(first).as_posix() for p in (first / "distill").rglob("*"))
    assert files == sorted(p.relative_to(again).as_posix() for p in (again / "distill").rglob("*"))
    for name in files:
        if (first / name).is_file():
            assert (first / name).read_bytes() == (again / name).read_bytes(), name
    second = build(tmp_path / "a", "Second")
    earlier = second / "versions/1/distill"
    assert 'title: "First"' in (earlier / f"_posts/{POST_DATE}-versions.md").read_text()
    assert distill_check.check_folder(earlier)[1] == []
    assert not verify(second).problems


def test_a_labelled_report_from_another_source_passes_the_check(tiny_vit_dir, tmp_path):
    """Items of a source that is no folder, labelled, under names with markup in them."""
    options = ReportOptions(slug="shelf", date=DATE, formats=("distill",))
    params = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    report_dir = api.build(GeneratedSource(5), tmp_path / "site", params, options, execution)
    folder = report_dir / "distill"
    name, findings = distill_check.check_folder(folder)
    assert (name, findings) == (f"{DATE.isoformat()}-shelf", [])
    post = (folder / f"_posts/{name}.md").read_text()
    assert "<0>" not in post and "& co" not in post
    assert "shelf 0/pic <0> & co" in html.unescape(post)
    assert '  - name: "Spread by class"\n' in post  # the per-class section, in the toc
