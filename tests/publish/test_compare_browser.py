"""A comparison's pages in headless Chromium: every image (charts, movers' figures, thumbnails)
loads, every link and source resolves, nothing leaves 127.0.0.1, hostile names run no script,
an image page's explorer switches between the runs and a gallery page sorts itself."""

from __future__ import annotations

import json

import pytest
from compared_reports import DATE, HOSTILE_NAMES, _with_hostile_names
from conftest import tiny_model_dir, write_images
from served_reports import (  # noqa: F401
    _assert_references_resolve,
    _load_every_image,
    browser,
    serving_folder,
    tab,
)

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import comparison_site
from reportgen.publish.options import ReportOptions
from reportgen.results import AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def compared(tiny_vit_dir, tmp_path_factory):
    """Two runs of the same images (patch 8 and 16) and their comparison, in a site."""
    tmp = tmp_path_factory.mktemp("compare-browser")
    root = tmp / "site"
    images = _with_hostile_names(write_images(tmp / "images", 6), 4)
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    runs = [
        api.build(
            FolderSource(images, recursive=True),
            root,
            AnalysisParams(model=str(model)),
            ReportOptions(title=slug, slug=slug, date=DATE),
            execution,
        )
        for slug, model in (
            ("before", tiny_vit_dir),
            ("after", tiny_model_dir(tmp_path_factory, "vit", patch_size=16)),
        )
    ]
    comparison_site.build(runs, root, title="Before <script>alert(1)</script>", date=DATE)
    return root, runs


@pytest.fixture(scope="module")
def served(compared):
    """The site of the runs and their comparison, served."""
    root, _ = compared
    with serving_folder(root) as url:
        yield url


def test_every_image_of_the_comparison_loads_and_every_link_resolves(served, tab):  # noqa: F811
    tab.goto(f"{served}comparisons/before-vs-after/index.html")
    images = tab.page.locator("img").count()
    assert images == 4 + 2 * min(8, 6 + 3)  # the charts; each mover's maps and difference
    assert _load_every_image(tab.page) == []
    checked = _assert_references_resolve(tab)
    assert f"{served}reports/before/index.html" in checked
    assert f"{served}comparisons/before-vs-after/compare.json" in checked
    galleries = [url for url in checked if "/gallery/" in url]
    images = [url for url in checked if "/images/" in url]
    assert len(galleries) == 3 and len(images) == 9  # the three orders; the table's images
    tab.assert_clean()


def _explorer_of(frame_element):
    frame = frame_element.element_handle().content_frame()
    frame.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
    return frame


def test_an_image_pages_explorer_switches_between_the_runs(served, tab):  # noqa: F811
    base = f"{served}comparisons/before-vs-after/"
    tab.goto(f"{base}gallery/by-name-1.html")
    tab.page.locator(".thumbs a").first.click()
    tab.page.wait_for_load_state("load")
    assert "/comparisons/before-vs-after/images/" in tab.page.url
    image = tab.page.url.rsplit("/", 1)[1]
    assert _load_every_image(tab.page) == []
    frame_element = tab.page.locator("iframe[name=run-explorer]")
    frame_element.scroll_into_view_if_needed()
    frame = _explorer_of(frame_element)
    assert frame.url == f"{served}reports/before/explorer/{image}"
    canvas = "#explorer [data-control=canvas]"
    before = frame.eval_on_selector(canvas, "c => c.toDataURL()")
    tab.page.locator("a[target=run-explorer]", has_text="after v1").click()
    tab.page.wait_for_function(
        "() => document.querySelector('iframe[name=run-explorer]').contentWindow"
        ".location.pathname.startsWith('/reports/after/')"
    )
    frame = _explorer_of(frame_element)
    assert frame.url == f"{served}reports/after/explorer/{image}"
    assert frame.eval_on_selector(canvas, "c => c.toDataURL()") != before  # patch 16's maps
    _assert_references_resolve(tab)
    tab.assert_clean()


def test_a_gallery_page_sorts_its_thumbnails_in_the_browser(served, tab):  # noqa: F811
    tab.goto(f"{served}comparisons/before-vs-after/gallery/by-change-1.html")
    assert _load_every_image(tab.page) == []
    tab.page.wait_for_selector("#gallery-sort:not([hidden])")

    def shown(attribute):
        return tab.page.eval_on_selector_all(
            ".thumbs li", f"items => items.map((item) => item.{attribute})"
        )

    static = shown("querySelector('.name').textContent")
    changes = [float(value) for value in shown("dataset.change")]
    assert changes == sorted(changes, reverse=True) and len(static) == 9
    tab.page.select_option("#gallery-sort-by", "name")
    names = shown("querySelector('.name').textContent")
    assert names == sorted(static, key=str.lower)
    tab.page.select_option("#gallery-sort-by", "correlation")
    correlations = [float(value) for value in shown("dataset.correlation") if value]
    assert correlations == sorted(correlations)
    tab.page.select_option("#gallery-sort-by", "page")
    assert shown("querySelector('.name').textContent") == static
    _assert_references_resolve(tab)
    tab.assert_clean()


def test_the_index_links_the_comparison_and_its_runs(served, tab):  # noqa: F811
    tab.goto(f"{served}index.html")
    checked = _assert_references_resolve(tab)
    assert f"{served}comparisons/before-vs-after/index.html" in checked
    assert f"{served}reports/after/index.html" in checked
    tab.assert_clean()


# Where a line inside the first code of the runs table (the model, a long local path here)
# breaks between two letters or digits: a word cut in two.
_CUT_WORDS = """() => {
  const text = document.querySelector("table code").firstChild, range = document.createRange();
  const cuts = [];
  let top = null;
  for (let i = 0; i < text.length; i++) {
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    const now = range.getBoundingClientRect().top;
    if (top !== null && now > top + 1 && /[A-Za-z0-9]{2}/.test(text.data.slice(i - 1, i + 1)))
      cuts.push(text.data.slice(0, i));
    top = now;
  }
  return cuts;
}"""


@pytest.mark.parametrize("width", [1280, 400])
def test_the_runs_table_keeps_its_words_whole_and_scrolls_sideways(served, tab, width):  # noqa: F811
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.goto(f"{served}comparisons/before-vs-after/index.html")
    assert tab.page.evaluate(_CUT_WORDS) == []  # not "offli / ne:din / ov2-"
    box = tab.page.locator(".table-scroll").first
    assert box.locator("thead th").count() == 3  # a column per run, a row per property
    if width < 500:  # two long local paths side by side: wider than a phone
        assert box.evaluate("box => box.scrollWidth > box.clientWidth")
    root = "document.documentElement"
    scrolled, shown = tab.page.evaluate(f"() => [{root}.scrollWidth, {root}.clientWidth]")
    assert scrolled == shown  # the page itself does not scroll sideways
    tab.assert_clean()


@pytest.fixture(scope="module")
def away(compared, tmp_path_factory):
    """The runs compared in the flavours published away from them, and the id of the image
    named like a script; per flavour, what builds its site with its tool (the distill folder
    as it is; hugo by Debian's and by the newest Hugo), when a test asks for it."""
    root, runs = compared
    from jekyll_builds import jekyll_build
    from test_hugo import hugo_build, newest_hugo
    from test_mkdocs import mkdocs_build

    formats = ("jekyll", "hugo", "mkdocs", "distill")
    folder = comparison_site.build(runs, root, slug="away", formats=formats, date=DATE)
    work = tmp_path_factory.mktemp("compare-away")
    rows = json.loads((folder / "compare.json").read_text())["images"]
    image = next(row["ids"][0] for row in rows if row["name"] == HOSTILE_NAMES[0])
    section_page = f"reports/away/images/{image}/"
    built = {
        "jekyll": lambda: (
            jekyll_build(folder, work / "jekyll")[0],
            f"blog/{DATE.year}/away/images/{image}/",
        ),
        "hugo": lambda: (hugo_build(folder, work / "hugo"), section_page),
        "hugo-newest": lambda: (hugo_build(folder, work / "newest", newest_hugo()), section_page),
        "mkdocs": lambda: (mkdocs_build(folder, "away", work / "mkdocs"), section_page),
        "distill": lambda: (
            folder / "distill",
            f"assets/html/{DATE.isoformat()}-away/images/{image}.html",
        ),
    }
    return built, image


def _drawn(frame) -> str:
    """The explorer's canvas in ``frame`` once it has drawn."""
    frame.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
    return frame.eval_on_selector("#explorer [data-control=canvas]", "c => c.toDataURL()")


@pytest.mark.jekyll
@pytest.mark.parametrize("flavour", ["jekyll", "hugo", "hugo-newest", "distill"])
def test_image_pages_published_away_from_the_runs_switch_between_their_explorers(
    away,
    browser,  # noqa: F811
    flavour,
):
    """The image page of the image named like a script, in the built site: it frames the first
    run's explorer (the copy the comparison carries), which draws; the second run's link
    switches the frame to that run's, which draws the patch-16 maps; nothing fails."""
    from explorer_pages import browser_tab
    from jekyll_builds import BASEURL, serving

    built, image = away[0][flavour]()
    with serving(built) as server, browser_tab(browser, server) as opened:
        opened.open(f"{server}{BASEURL.strip('/')}/{image}")
        assert "<script>alert" not in opened.page.content().split("<body", 1)[1]
        frame_element = opened.page.locator("iframe[name=run-explorer]")
        frame_element.scroll_into_view_if_needed()
        frame = frame_element.element_handle().content_frame()
        before = _drawn(frame)
        assert f"/runs/1/explorer/{away[1]}.html" in frame.url
        opened.page.locator("a[target=run-explorer]", has_text="after v1").click()
        opened.page.wait_for_function(
            "() => document.querySelector('iframe[name=run-explorer]').contentWindow"
            ".location.pathname.includes('/runs/2/explorer/')"
        )
        frame = frame_element.element_handle().content_frame()
        assert _drawn(frame) != before  # patch 16's maps
        opened.assert_clean()


@pytest.mark.jekyll
def test_mkdocs_image_pages_link_each_runs_explorer(away, browser):  # noqa: F811
    """MkDocs pages run no script: each run's explorer is a link to the copy the comparison
    carries, which opens and draws; the two runs draw differently."""
    from explorer_pages import browser_tab
    from jekyll_builds import BASEURL, serving

    built, page = away[0]["mkdocs"]()
    drawn = []
    with serving(built) as server, browser_tab(browser, server) as opened:
        for label in ("before v1", "after v1"):
            opened.open(f"{server}{BASEURL.strip('/')}/{page}")
            opened.page.locator("a", has_text=f"explorer of {label}").click()
            opened.page.wait_for_load_state("load")
            assert "/runs/" in opened.page.url and opened.page.url.endswith(
                f"/explorer/{away[1]}.html"
            )
            drawn.append(_drawn(opened.page))
        assert drawn[0] != drawn[1]
        opened.assert_clean()
