"""A report with galleries in headless Chromium: the gallery pages load their thumbnails and
only their own scripts, the name filter finds images of every level and shows hostile names as
text, and the image pages link back and their files resolve. The site is served_reports.py's,
built once for this module."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS
from served_reports import (
    GALLERY_SLUG,
    HOSTILE_NAMES,
    Site,
    _assert_references_resolve,
    _load_every_image,
    _script_surface,
    browser,  # noqa: F401
    served,  # noqa: F401
    tab,  # noqa: F401
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# --- galleries -------------------------------------------------------------------------------


def _gallery_url(served: Site, page: str) -> str:  # noqa: F811
    return served.url(f"reports/{GALLERY_SLUG}/{page}")


def test_gallery_pages_load_their_thumbnails_and_only_their_own_script(served, tab):  # noqa: F811
    names = sorted(p.name for p in (served.gallery_report / "gallery").glob("level-*.html"))
    assert names
    for name in names:
        tab.goto(_gallery_url(served, f"gallery/{name}"))
        assert _load_every_image(tab.page) == []
        surface = _script_surface(tab.page)
        own = ("filter.js", "explorer/slider.js")
        assert [s for s in surface["scripts"] if not any(o in s for o in own)] == [], name
        assert surface["handlers"] == surface["javascript_urls"] == surface["frames"] == []
        _assert_references_resolve(tab)
        assert tab.page.locator("#name-filter").is_visible()  # shown once the script ran
    tab.goto(_gallery_url(served, "gallery/level-1-entropy-1.html"))
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "gallery.png", full_page=True)
    tab.assert_clean()


def test_the_filter_finds_images_of_every_level_by_name_as_text(served, tab):  # noqa: F811
    tab.goto(_gallery_url(served, "gallery/level-1-entropy-1.html"))
    page = tab.page
    results = page.locator("#name-filter-results > li")
    static = page.locator("section.level")
    field = page.locator("#name-filter-input")
    for name in HOSTILE_NAMES:
        field.fill(name[:12])
        page.wait_for_function("() => !document.getElementById('name-filter-results').hidden")
        shown = results.locator(".name").all_text_contents()
        assert name in shown, (name, shown)
        assert static.is_hidden()
    field.fill("img0")
    page.wait_for_function(
        "() => document.querySelectorAll('#name-filter-results > li').length === 8"
    )
    assert page.locator("#name-filter-status").inner_text() == "8 images"
    field.fill("no such image name")
    page.wait_for_function(
        "() => document.getElementById('name-filter-status').textContent.startsWith('no image')"
    )
    assert results.count() == 0
    field.fill("")
    page.wait_for_function("() => document.getElementById('name-filter-results').hidden")
    assert static.is_visible()
    field.fill(HOSTILE_NAMES[0][:12])
    page.wait_for_function("() => document.querySelectorAll('#name-filter-results > li').length")
    assert _load_every_image(page) == []
    results.first.locator("a").click()
    page.wait_for_url("**/images/*.html")
    assert page.locator("h1").inner_text() in HOSTILE_NAMES
    tab.assert_clean()


def test_image_pages_link_back_and_their_files_resolve(served, tab):  # noqa: F811
    for page in sorted((served.gallery_report / "images").glob("*.html"))[:4]:
        tab.goto(_gallery_url(served, f"images/{page.name}"))
        assert _load_every_image(tab.page) == []
        assert tab.page.locator("svg.layer-chart").count() == 1
        expected = [
            '<script src="../explorer/explorer.js"></script>',
            '<script src="../explorer/colormaps.js"></script>',
        ]  # the explorer's data: the maps file, which it fetches
        assert _script_surface(tab.page)["scripts"] == expected
        maps = tab.page.get_attribute("#explorer", "data-maps")
        assert maps == f"../data/maps/{page.stem}.npz"
        urls = {urlsplit(url).path for url in _assert_references_resolve(tab)}
        assert any("/data/maps/" in url for url in urls)
        assert any("/gallery/" in url for url in urls)
    tab.assert_clean()
