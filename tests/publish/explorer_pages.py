"""The reports the explorer tests open in headless Chromium and the browser tab they open them
in: shared by ``test_explorer.py`` (image pages, the report-wide control) and
``test_explorer_inline.py`` (inline explorers of a single-page report). ``test_explorer.py``
hands the tab helpers on to the other browser tests (jekyll, hugo, mkdocs, the explorer's maps).
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import rewrite_as_format_3, write_images
from PIL import Image
from served_reports import SENTINEL_SCRIPT, _hostile_folder

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import explorer
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.record import ImageRecord
from reportgen.results import Analysis, AnalysisParams


@dataclass(frozen=True)
class Reports:
    heads: Path  # hostile names, every head's attention (kept by default, 8-bit)
    no_heads: Path  # maps files as format 3 stored them by default: no per-head attention
    single: Path  # the hostile names again, one page (html and gfm): explorers inline


@pytest.fixture(scope="module", name="reports")
def fixture_reports(tiny_vit_dir, tmp_path_factory) -> Reports:
    tmp = tmp_path_factory.mktemp("explorer")
    date = parse_date("2024-05-24")
    options = ReportOptions(
        slug="heads",
        date=date,
        gallery=GallerySettings(gallery_threshold=2),
        formats=("html",),
        explorer_data="scripts",  # pages opened from disk: test_explorer_maps serves the default
    )
    heads = api.build(
        FolderSource(_hostile_folder(tmp / "hostile"), recursive=True),
        tmp / "site",
        AnalysisParams(model=str(tiny_vit_dir)),
        options,
        Execution(device="cpu", cache_dir=tmp / "cache"),
    )
    no_heads = api.build(
        write_images(tmp / "plain", 3, seed=2),
        tmp / "site",
        AnalysisParams(model=str(tiny_vit_dir)),
        ReportOptions(
            slug="no-heads",
            date=date,
            gallery=GallerySettings(gallery_threshold=2),
            formats=("html",),
            explorer_data="scripts",
        ),
        Execution(device="cpu", cache_dir=tmp / "cache"),
    )
    for maps_file in (no_heads / "data" / "maps").iterdir():
        rewrite_as_format_3(maps_file, heads=False)
    api.rerender(no_heads, cache_dir=tmp / "cache")
    single = api.build(
        FolderSource(tmp / "hostile", recursive=True),
        tmp / "site",
        AnalysisParams(model=str(tiny_vit_dir), keep_heads=True),
        ReportOptions(slug="single", date=date, formats=("html", "gfm"), explorer_data="scripts"),
        Execution(device="cpu", cache_dir=tmp / "cache"),
    )
    return Reports(heads, no_heads, single)


@dataclass
class BrowserTab:
    """A page with what it logged and requested; everything it loads must start with ``inside``
    (the report's folder on disk, or the served site)."""

    page: object
    inside: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, target: Path | str) -> None:
        """A file on disk, or a URL."""
        url = target.as_uri() if isinstance(target, Path) else target
        self.page.goto(url, wait_until="load")

    def ready(self, explorer: str = "explorer") -> None:
        """Wait until the explorer (the id of its section) has drawn."""
        self.page.wait_for_selector(f"#{explorer}[data-ready=true]", timeout=10_000)

    def canvas(self, explorer: str = "explorer") -> str:
        return self.page.eval_on_selector(
            f"#{explorer} [data-control=canvas]", "c => c.toDataURL()"
        )

    def pixels(self, explorer: str = "explorer") -> np.ndarray:
        """The canvas's RGB pixels."""
        url = self.canvas(explorer)
        png = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)

    def explorer_data(self) -> list[str]:
        """The images whose explorer data the page requested, by id, in order."""
        shared = {explorer.SCRIPT, explorer.COLORMAPS, "slider.js"}
        files = [url for url in self.requests if not url.startswith("data:")]
        names = [urlsplit(url).path.rsplit("/", 2)[-2:] for url in files]
        return [
            name.removesuffix(".js")
            for folder, name in names
            if folder == explorer.FOLDER and name.endswith(".js") and name not in shared
        ]

    def maps_files(self) -> list[str]:
        """The images whose maps file the page fetched (the default explorer data), by id."""
        paths = [urlsplit(url).path for url in self.requests if not url.startswith("data:")]
        return [path.rsplit("/", 1)[-1].removesuffix(".npz") for path in paths if ".npz" in path]

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.page.evaluate("window.__xss") == 0
        outside = [url for url in self.requests if not url.startswith((self.inside, "data:"))]
        assert outside == [], outside


def folder_url(folder: Path) -> str:
    """What a page opened from disk may load: the files below ``folder``."""
    return folder.resolve().as_uri() + "/"


@contextlib.contextmanager
def browser_tab(browser, inside: str, javascript: bool = True) -> Iterator[BrowserTab]:
    """A fresh page in its own context, recording console errors, failed loads and requests."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, java_script_enabled=javascript
    )
    context.add_init_script(SENTINEL_SCRIPT)
    page = context.new_page()
    tab = BrowserTab(page, inside)
    page.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    page.on("requestfailed", lambda request: _failed(tab, request))
    page.on("response", lambda r: r.status >= 400 and tab.errors.append(f"{r.status} {r.url}"))
    page.on("request", lambda request: tab.requests.append(request.url))
    try:
        yield tab
    finally:
        context.close()


def _failed(tab: BrowserTab, request) -> None:
    """A load that failed, unless the browser cut it short (``net::ERR_ABORTED``): a lazy
    image still loading when the test follows a link away. A missing file fails otherwise
    (a 404, or ``net::ERR_FILE_NOT_FOUND`` on disk)."""
    if request.failure != "net::ERR_ABORTED":
        tab.errors.append(f"failed: {request.url} ({request.failure})")


@pytest.fixture(name="tab")
def fixture_tab(browser, reports):
    with browser_tab(browser, folder_url(reports.heads.parent)) as tab:
        yield tab


def _record(report: Path, image_id: str) -> ImageRecord:
    analysis = Analysis.load(report / "data")
    return analysis.record(next(image for image in analysis.images if image.id == image_id))


def _image_ids(report: Path) -> list[str]:
    return [image.id for image in Analysis.load(report / "data").images]


def open_inline_explorer(tab: BrowserTab, image_id: str) -> str:
    """Open an image's inline explorer on the open page (unfolding the block it is in), move
    its layer slider with the keyboard and check that the canvas changed; returns its id."""
    section = f"explorer-{image_id}"
    box = tab.page.locator(f".explorer-inline[data-explorer={section}]")
    folded = box.locator("xpath=ancestor::details")
    if folded.count():
        folded.locator("summary").click()
    button = box.locator("button")
    assert button.get_attribute("aria-expanded") == "false"
    button.click()
    tab.ready(section)
    assert button.get_attribute("aria-expanded") == "true"
    layer = tab.page.locator(f"#{section}-layer")
    layers = int(layer.get_attribute("max"))
    before = tab.canvas(section)
    layer.focus()
    tab.page.keyboard.press("ArrowLeft")
    assert layer.input_value() == str(layers - 1)
    assert tab.canvas(section) != before
    return section


def assert_framed_explorer_follows_its_slider(tab, index: int = 0) -> None:
    """The explorer in the page's ``index``-th frame redraws when its layer slider moves."""
    frame_element = tab.page.locator("iframe").nth(index)
    frame_element.scroll_into_view_if_needed()
    frame = frame_element.element_handle().content_frame()
    frame.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
    canvas = "#explorer [data-control=canvas]"
    before = frame.eval_on_selector(canvas, "c => c.toDataURL()")
    frame.focus("#explorer-layer")
    tab.page.keyboard.press("ArrowLeft")
    assert frame.eval_on_selector(canvas, "c => c.toDataURL()") != before
