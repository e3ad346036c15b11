"""The published pages in headless Chromium (issue 4): images load, nothing leaves 127.0.0.1,
the level blocks fold and unfold, every link resolves, and hostile file names run no script.

A report with hostile file names and a plain one are built once into a site folder, served on
127.0.0.1 by ``http.server`` and opened with Playwright's sync API in Debian's chromium. Full-page
screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import numpy as np
import pytest
from conftest import ARTIFACTS, write_images
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.results import AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
INSTALL_HINT = (
    "install it with `apt-get install -y chromium` and `pip install playwright` "
    "(or run `make test`, which installs both)"
)

# File names that would run script if a page pasted them in unescaped. The "</script>" part
# makes a sub-folder, read recursively, so the relative name is the whole string.
HOSTILE_NAMES = [
    "<script>alert(1)</script>.png",
    '" onerror="alert(1).png',
    "{{ site.title }}.jpg",
    "<img src=x onerror=alert(1)>.png",
    "javascript:alert(1).png",
]
HOSTILE_TITLE = 'Browser <script>alert("title")</script> check'
HOSTILE_SLUG = "hostile"
PLAIN_TITLE = "Plain images"
PLAIN_SLUG = "plain"
GALLERY_TITLE = "Images with galleries"
GALLERY_SLUG = "galleries"

# Runs before any script of the page: counts calls of the dialog functions instead of showing
# a dialog, so a payload is caught even if it never reaches the dialog handler.
SENTINEL_SCRIPT = """
window.__xss = 0;
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = function () { window.__xss += 1; };
}
"""


# --- the site, the server and the browser ---------------------------------------------------


@dataclass(frozen=True)
class Site:
    root: Path
    base_url: str
    hostile_report: Path
    plain_report: Path
    gallery_report: Path

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)


def _hostile_folder(folder: Path) -> Path:
    write_images(folder, 8)
    rng = np.random.default_rng(7)
    for name in HOSTILE_NAMES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((36, 44, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, "JPEG" if name.endswith(".jpg") else "PNG")
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tiny_vit_dir, tmp_path_factory):
    """Two reports in one site folder, served on 127.0.0.1 for the whole module."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "site"
    analysis = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    date = parse_date("2024-05-24")
    hostile = api.build(
        FolderSource(_hostile_folder(tmp / "hostile"), recursive=True),
        root,
        analysis,
        ReportOptions(title=HOSTILE_TITLE, slug=HOSTILE_SLUG, date=date),
        execution,
    )
    plain = api.build(
        write_images(tmp / "plain", 6, seed=1),
        root,
        analysis,
        ReportOptions(title=PLAIN_TITLE, slug=PLAIN_SLUG, date=date),
        execution,
    )
    galleries = api.build(
        FolderSource(tmp / "hostile", recursive=True),
        root,
        analysis,
        ReportOptions(
            title=GALLERY_TITLE,
            slug=GALLERY_SLUG,
            date=date,
            gallery=GallerySettings(gallery_threshold=4, page_size=3),
        ),
        execution,
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Site(root, f"http://{host}:{port}/", hostile, plain, galleries)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; a missing browser is a failure, not a skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not importable: {INSTALL_HINT}", pytrace=False)
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(f"chromium is not on PATH: {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A fresh page with everything it reports recorded."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def goto(self, url: str) -> None:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, no dialog, no script ran, nothing external."""
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.dialogs == [], self.dialogs
        assert self.page.evaluate("window.__xss") == 0, "a dialog function was called"
        outside = [url for url in self.requests if not _local(url)]
        assert outside == [], f"requests left 127.0.0.1: {outside}"
        assert self.requests, "no request was recorded"


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "data" or (parts.scheme == "http" and parts.hostname == "127.0.0.1")


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(SENTINEL_SCRIPT)
    page = context.new_page()
    tab = Tab(page)

    def on_console(message):
        # The pages declare an empty icon, so not even /favicon.ico is fetched: any error counts.
        if message.type == "error":
            tab.console_errors.append(f"{message.text} ({message.location.get('url') or ''})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    page.on("request", lambda request: tab.requests.append(request.url))

    def on_dialog(dialog):
        tab.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield tab
    finally:
        context.close()


# --- helpers ----------------------------------------------------------------------------------


def _load_every_image(page) -> list[dict]:
    """Open every <details>, make lazy images eager, scroll to the bottom, wait for all images.

    Returns the images that did not decode (empty when all loaded).
    """
    page.evaluate(
        """() => {
          for (const details of document.querySelectorAll("details")) details.open = true;
          for (const img of document.images) img.loading = "eager";
          window.scrollTo(0, document.documentElement.scrollHeight);
        }"""
    )
    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
    broken = page.evaluate(
        """() => [...document.images]
          .filter((img) => !(img.naturalWidth > 0 && img.naturalHeight > 0))
          .map((img) => ({src: img.getAttribute("src"), alt: img.alt}))"""
    )
    page.evaluate(
        """() => {
          for (const details of document.querySelectorAll("details")) details.open = false;
          window.scrollTo(0, 0);
        }"""
    )
    return broken


def _script_surface(page) -> dict[str, list[str]]:
    """Everything on the page that could run script: it should all be empty."""
    return page.evaluate(
        """() => {
          const all = [...document.querySelectorAll("*")];
          const urlAttributes = ["href", "src", "action", "formaction", "data", "srcset"];
          return {
            scripts: [...document.querySelectorAll("script")].map((s) => s.outerHTML),
            handlers: all.flatMap((el) => [...el.attributes]
              .filter((a) => a.name.toLowerCase().startsWith("on"))
              .map((a) => `${el.tagName.toLowerCase()} ${a.name}=${a.value}`)),
            javascript_urls: all.flatMap((el) => urlAttributes
              .map((name) => el.getAttribute(name))
              .filter((v) => v !== null && /^\\s*javascript:/i.test(v))),
            frames: [...document.querySelectorAll("iframe, frame, object, embed")]
              .map((el) => el.outerHTML),
          };
        }"""
    )


def _references(page) -> list[dict[str, str]]:
    """Every href and src on the page: element, attribute and absolute URL."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[href], [src]")].flatMap((el) =>
          ["href", "src"].filter((name) => el.hasAttribute(name)).map((name) => ({
            tag: el.tagName.toLowerCase(),
            attribute: name,
            url: new URL(el.getAttribute(name), document.baseURI).href,
          })))"""
    )


def _assert_references_resolve(tab: Tab, extra: tuple[str, ...] = ()) -> set[str]:
    """Every same-origin href/src (and ``extra`` paths) answers 200; returns the URLs checked.

    Only plain links (``<a href>``) may point elsewhere, over https (they are not followed:
    the test has no network); anything the page loads must come from this server.
    """
    page = tab.page
    here = urlsplit(page.url)
    references = _references(page) + [
        {"tag": "extra", "attribute": "", "url": urljoin(page.url, path)} for path in extra
    ]
    problems, checked = [], set()
    for reference in references:
        url = reference["url"]
        parts = urlsplit(url)
        if parts.scheme == "data":  # inline (the empty icon): nothing is fetched
            continue
        if (parts.scheme, parts.netloc) != (here.scheme, here.netloc):
            if not (reference["tag"] == "a" and parts.scheme == "https"):
                problems.append(f"{reference}: not on this server")
            continue
        if parts.fragment and parts.path == here.path:
            if not page.evaluate("(id) => document.getElementById(id) !== null", parts.fragment):
                problems.append(f"{url}: no element with that id")
            continue
        if url in checked:
            continue
        checked.add(url)
        response = page.request.get(url)
        if response.status != 200:
            problems.append(f"{url}: HTTP {response.status}")
    assert problems == [], problems
    return checked


# --- the checks -------------------------------------------------------------------------------


def test_report_images_load_and_nothing_leaves_localhost(served, tab):
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


def test_index_lists_both_reports_and_links_to_them(served, tab):
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


def test_each_levels_details_block_opens_and_closes(served, tab):
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


def test_every_link_and_source_on_the_report_resolves(served, tab):
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


def test_hostile_file_names_run_no_script(served, tab):
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


# --- galleries -------------------------------------------------------------------------------


def _gallery_url(served: Site, page: str) -> str:
    return served.url(f"reports/{GALLERY_SLUG}/{page}")


def test_gallery_pages_load_their_thumbnails_and_only_their_own_script(served, tab):
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


def test_the_filter_finds_images_of_every_level_by_name_as_text(served, tab):
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


def test_image_pages_link_back_and_their_files_resolve(served, tab):
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
