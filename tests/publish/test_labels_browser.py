"""The html pages of labelled reports in headless Chromium: the per-class table sorts by a click
on a column's header, and the galleries' filter shows more than its first 100 matches."""

from __future__ import annotations

import pytest
from explorer_pages import browser_tab
from jekyll_builds import BASEURL, serving
from labelled_reports import HOSTILE_LABELS, LabelledSource, _build
from served_reports import browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def crowded(tiny_vit_dir, tmp_path_factory):
    """230 images of two classes (154 and 76) in galleries: more matches than the filter shows
    at first."""
    out = tmp_path_factory.mktemp("labels-crowded")
    source = LabelledSource((HOSTILE_LABELS[0], HOSTILE_LABELS[0], HOSTILE_LABELS[1]), 230)
    return _build(source, tiny_vit_dir, out, "crowded", ("html",), gallery_threshold=8)


def _rows(tab) -> list[list[str]]:
    """The cells of the first per-class table, as shown."""
    return tab.page.eval_on_selector(
        ".sortable-table table",
        "t => Array.from(t.tBodies[0].rows, r => Array.from(r.cells, c => c.textContent))",
    )


def test_the_per_class_table_sorts_by_a_click_on_a_header(crowded, browser):  # noqa: F811
    with serving(crowded.report.parent.parent) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/reports/crowded/index.html")
        static = _rows(tab)
        medians = [float(row[3]) for row in static]
        assert medians == sorted(medians) and len(static) == 2  # most focused first
        assert {row[0]: row[1] for row in static} == dict(
            zip(HOSTILE_LABELS[:2], ["154", "76"], strict=True)
        )
        headers = tab.page.locator(".sortable-table thead th")
        assert headers.locator("button").count() == 4  # not the level bars
        headers.nth(0).locator("button").click()
        assert [row[0] for row in _rows(tab)] == sorted(HOSTILE_LABELS[:2], key=str.lower)
        assert headers.nth(0).get_attribute("aria-sort") == "ascending"
        images = headers.nth(1).locator("button")
        images.click()
        assert [row[1] for row in _rows(tab)] == ["76", "154"]
        images.click()
        assert [row[1] for row in _rows(tab)] == ["154", "76"]
        assert headers.nth(1).get_attribute("aria-sort") == "descending"
        assert headers.nth(0).get_attribute("aria-sort") == "none"
        tab.assert_clean()


def test_the_filter_shows_more_matches_when_asked(crowded, browser):  # noqa: F811
    status = "document.getElementById('name-filter-status').textContent"
    with serving(crowded.report.parent.parent) as server, browser_tab(browser, server) as tab:
        gallery = sorted(crowded.report.glob("gallery/level-*.html"))[0].name
        tab.open(f"{server}{BASEURL.strip('/')}/reports/crowded/gallery/{gallery}")
        tab.page.locator("#name-filter-input").fill("pic")
        tab.page.wait_for_function(f"() => {status} === 'the first 100 images, by name'")
        results = tab.page.locator("#name-filter-results > li")
        assert results.count() == 100
        more = tab.page.locator("#name-filter-more")
        more.click()
        tab.page.wait_for_function(f"() => {status} === 'the first 200 images, by name'")
        assert results.count() == 200
        more.click()
        tab.page.wait_for_function(f"() => {status} === '230 images'")
        assert results.count() == 230 and more.is_hidden()
        names = results.locator(".name").all_text_contents()
        assert len(set(names)) == 230
        tab.page.locator("#name-filter-input").fill("pic <1")  # a new search starts at 100
        tab.page.wait_for_function(f"() => {status} === 'the first 100 images, by name'")
        assert results.count() == 100 and more.is_visible()
        tab.assert_clean()
