"""The single-page reports and the site's index in headless Chromium (issue 4): images load,
nothing leaves 127.0.0.1, the level blocks fold and unfold, every link resolves, and hostile file
names run no script.

The reports are built once into a site folder and served on 127.0.0.1 (``served_reports.py``,
shared with ``test_browser_galleries.py``). Full-page screenshots go to ``test-artifacts/`` at the
repository root.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS
from served_reports import (
    GALLERY_TITLE,
    HOSTILE_NAMES,
    HOSTILE_SLUG,
    HOSTILE_TITLE,
    PLAIN_SLUG,
    PLAIN_TITLE,
    _assert_references_resolve,
    _load_every_image,
    _references,
    _script_surface,
    browser,  # noqa: F401
    served,  # noqa: F401
    tab,  # noqa: F401
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# --- the checks -------------------------------------------------------------------------------


def test_report_images_load_and_nothing_leaves_localhost(served, tab):  # noqa: F811
    tab.goto(served.url(f"reports/{HOSTILE_SLUG}/index.html"))
    n_images = tab.page.locator("img").count()
    assert n_images >= 8 + len(HOSTILE_NAMES)  # every analysed image, plus the charts
    assert _load_every_image(tab.page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
    tab.assert_clean()
    loaded = {urlsplit(url).path for url in tab.requests}
    for figure in (served.hostile_report / "figures").iterdir():
        assert f"/reports/{HOSTILE_SLUG}/figures/{figure.name}" in loaded, figure.name


def test_index_lists_both_reports_and_links_to_them(served, tab):  # noqa: F811
    tab.goto(served.url("index.html"))
    entries = tab.page.locator("ul.reports > li")
    assert entries.count() == 3
    titles = sorted(entries.locator(".title").all_inner_texts())
    assert titles == sorted([HOSTILE_TITLE, PLAIN_TITLE, GALLERY_TITLE])
    assert tab.page.locator("img").count() == 3  # one thumbnail per report
    assert _load_every_image(tab.page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "index.png", full_page=True)
    _assert_references_resolve(tab)
    tab.assert_clean()

    tab.page.get_by_role("link", name=HOSTILE_TITLE).click()
    tab.page.wait_for_url(served.url(f"reports/{HOSTILE_SLUG}/index.html"))
    assert tab.page.title() == HOSTILE_TITLE
    assert tab.page.locator("h1").inner_text() == HOSTILE_TITLE
    tab.page.go_back()
    tab.page.get_by_role("link", name=PLAIN_TITLE).click()
    tab.page.wait_for_url(served.url(f"reports/{PLAIN_SLUG}/index.html"))
    assert tab.page.title() == PLAIN_TITLE
    tab.assert_clean()


def test_each_levels_details_block_opens_and_closes(served, tab):  # noqa: F811
    tab.goto(served.url(f"reports/{HOSTILE_SLUG}/index.html"))
    sections = tab.page.locator("section.level")
    assert sections.count() == 4  # the default number of levels; 13 images fill each
    for number in range(sections.count()):
        section = sections.nth(number)
        assert section.locator(":scope > figure").first.is_visible()  # the featured image
        details = section.locator("details")
        assert details.count() == 1, f"level {number + 1} has no collapsible block"
        summary = details.locator(":scope > summary")
        inner = details.locator("figure").first
        is_open = functools.partial(details.evaluate, "(element) => element.open")
        assert not is_open() and inner.is_hidden()
        summary.click()
        assert is_open()
        inner.scroll_into_view_if_needed()
        assert inner.is_visible()
        inner.locator("img").evaluate("(img) => img.decode()")
        assert inner.locator("img").evaluate("(img) => img.naturalWidth") > 0
        summary.click()
        assert not is_open() and inner.is_hidden()
    tab.assert_clean()


def test_every_link_and_source_on_the_report_resolves(served, tab):  # noqa: F811
    for slug in (HOSTILE_SLUG, PLAIN_SLUG):
        tab.goto(served.url(f"reports/{slug}/index.html"))
        urls = _assert_references_resolve(tab, extra=("manifest.json", "data/"))
        links = {urlsplit(r["url"]).path for r in _references(tab.page) if r["tag"] == "a"}
        for linked in ("manifest.json", "data/"):
            assert f"/reports/{slug}/{linked}" in links, f"the page does not link {linked}"
        paths = {urlsplit(url).path for url in urls}
        assert any("/charts/" in path for path in paths)
        assert tab.page.request.get(served.url(f"reports/{slug}/data/results.json")).ok
    tab.assert_clean()


def test_hostile_file_names_run_no_script(served, tab):  # noqa: F811
    report_scripts = [  # the report-wide control, the inline explorers (none loaded yet)
        f'<script src="explorer/{name}.js" defer=""></script>'
        for name in ("slider", "explorer", "colormaps")
    ]
    for path, scripts in (
        (f"reports/{HOSTILE_SLUG}/index.html", report_scripts),
        ("index.html", []),
    ):
        tab.goto(served.url(path))
        assert _load_every_image(tab.page) == []
        assert _script_surface(tab.page) == {
            "scripts": scripts,
            "handlers": [],
            "javascript_urls": [],
            "frames": [],
        }, path
        tab.assert_clean()
    # Shown as text, not parsed as markup: every hostile name is in a caption, literally.
    tab.goto(served.url(f"reports/{HOSTILE_SLUG}/index.html"))
    captions = tab.page.locator("figcaption").all_text_contents()
    alts = tab.page.evaluate("() => [...document.images].map((img) => img.alt)")
    for name in HOSTILE_NAMES:
        assert any(caption.startswith(f"{name} · ") for caption in captions), name
        assert alts.count(f"Attention maps of {name}") == 1, name
    assert tab.page.title() == HOSTILE_TITLE
    tab.assert_clean()
