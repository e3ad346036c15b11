"""The site that test_browser.py and test_browser_galleries.py open in headless Chromium: a
report with hostile file names, a plain one and one with galleries, built once per module into one
site folder and served on 127.0.0.1 by ``http.server``; the Chromium they drive (Playwright's sync
API, Debian's chromium), a tab that records everything a page reports, and the page checks they
share. Other browser tests import some of these through ``test_browser.py``."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import numpy as np
import pytest
from conftest import write_images
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.results import AnalysisParams

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


@contextlib.contextmanager
def serving_folder(folder: Path) -> Iterator[str]:
    """``folder`` served on 127.0.0.1 (a free port) without request logs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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
    with serving_folder(root) as url:
        yield Site(root, url, hostile, plain, galleries)


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
