"""The attention explorer (issue 12) in headless Chromium, from ``file://``: on the image pages
and inline below the figures of a single-page report, the controls change the canvas, its pixels
equal the Python overlays, nothing leaves the report, hostile names stay data, and without
JavaScript the page is the static one. The report-wide control switches every overlay of a page,
and a full gallery page with every sprite loaded keeps within the page-weight bound. The jekyll
tests (``test_jekyll.py``) run the same checks on a real Jekyll build with the helpers here.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from conftest import ARTIFACTS, ROOT, rewrite_as_format_3, tiny_model_dir, write_images
from PIL import Image
from test_browser import (  # noqa: F401
    HOSTILE_NAMES,
    SENTINEL_SCRIPT,
    _hostile_folder,
    _load_every_image,
    browser,
)

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import explorer, render
from reportgen.publish.figures import FigureStyle
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.publish.templates import Templates
from reportgen.record import ImageRecord
from reportgen.results import Analysis, AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Reports:
    heads: Path  # hostile names, every head's attention (kept by default, 8-bit)
    no_heads: Path  # maps files as format 3 stored them by default: no per-head attention
    single: Path  # the hostile names again, one page (html and gfm): explorers inline


@pytest.fixture(scope="module")
def reports(tiny_vit_dir, tmp_path_factory) -> Reports:
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
def browser_tab(browser, inside: str, javascript: bool = True) -> Iterator[BrowserTab]:  # noqa: F811
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


@pytest.fixture
def tab(browser, reports):  # noqa: F811
    with browser_tab(browser, folder_url(reports.heads.parent)) as tab:
        yield tab


def _image_pages(report: Path) -> list[Path]:
    return sorted((report / "images").glob("*.html"))


def _record(report: Path, image_id: str) -> ImageRecord:
    analysis = Analysis.load(report / "data")
    return analysis.record(next(image for image in analysis.images if image.id == image_id))


def test_layer_slider_and_head_change_the_canvas(tab, reports):
    page_path = _image_pages(reports.heads)[0]
    tab.open(page_path)
    tab.ready()
    page = tab.page
    layers = int(page.get_attribute("#explorer-layer", "max"))
    assert page.input_value("#explorer-layer") == str(layers)
    before = tab.canvas()
    page.focus("#explorer-layer")
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#explorer-layer") == str(layers - 1)
    after_layer = tab.canvas()
    assert after_layer != before
    heads = page.eval_on_selector_all("#explorer-head option", "o => o.map(x => x.value)")
    head_count = _record(reports.heads, page_path.stem).cls_heads.shape[1]
    assert heads == ["mean", *(str(head) for head in range(1, head_count + 1))]
    page.select_option("#explorer-head", "2")
    assert tab.canvas() != after_layer
    page.check("[data-control=show-heads]")
    small = page.locator("[data-control=heads] button")
    assert small.count() == len(heads) - 1
    small.nth(0).click()
    assert page.input_value("#explorer-head") == "1"
    page.select_option("#explorer-map", "rollout")
    assert page.is_disabled("#explorer-layer") and page.is_disabled("#explorer-head")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
    tab.assert_clean()


def test_canvas_equals_the_python_overlay(tab, reports):
    page_path = _image_pages(reports.heads)[1]
    record = _record(reports.heads, page_path.stem)
    tab.open(page_path)
    tab.ready()
    layers = record.maps["layers"]
    for layer in (1, len(layers)):
        tab.page.fill("#explorer-layer", str(layer))
        expected = render.overlay(record.seen_image, layers[layer - 1], "jet", 0.5)
        if record.artifact_mask is not None and record.artifact_mask[layer - 1].any():
            expected = render.outline_cells(expected, record.artifact_mask[layer - 1])
        difference = np.abs(tab.pixels() - expected.astype(int))
        assert difference.max() <= 2, (layer, difference.max())
    # Raw: the last layer's mean of heads (the script averages them), artifacts not filled.
    tab.page.select_option("#explorer-artifacts", "raw")
    raw = record.cls_heads.astype(np.float64).mean(axis=1)[-1]
    expected = render.overlay(record.seen_image, raw, "jet", 0.5)
    assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
    # One patch's centre at alpha 1 is the colormap's colour of the upsampled stored value.
    tab.page.select_option("#explorer-map", "rollout")
    tab.page.fill("#explorer-alpha", "1")
    heat = render.normalise_for_display(
        render.upsample_bilinear(record.maps["rollout"], record.seen_image.shape[:2])
    )
    row, col = np.unravel_index(np.argmax(record.maps["rollout"]), record.maps["rollout"].shape)
    grid_h, grid_w = record.maps["rollout"].shape
    y = int((row + 0.5) * record.seen_image.shape[0] / grid_h)
    x = int((col + 0.5) * record.seen_image.shape[1] / grid_w)
    colour = render.colormap_lut("jet")[int(heat[y, x] * 255 + 0.5)]
    assert np.abs(tab.pixels()[y, x] - colour).max() <= 2
    # The feature view: its three channels as the image's colours, as the figure draws them.
    tab.page.select_option("#explorer-map", "features")
    expected = render.colour_pixels(record.maps["features"], record.seen_image.shape[:2])
    assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
    tab.assert_clean()


def test_without_heads_the_selector_offers_only_the_mean(browser, reports):  # noqa: F811
    with browser_tab(browser, folder_url(reports.no_heads)) as tab:
        tab.open(_image_pages(reports.no_heads)[0])
        tab.ready()
        options = tab.page.eval_on_selector_all("#explorer-head option", "o => o.map(x => x.value)")
        assert options == ["mean"]
        assert tab.page.is_disabled("[data-control=show-heads]")
        assert tab.page.is_disabled("#explorer-artifacts")
        tab.assert_clean()


def assert_static(tab: BrowserTab) -> None:
    """The page as without JavaScript: no control, no explorer, every picture the published one
    and loaded, no explorer data requested."""
    shown = "all => all.filter((element) => element.checkVisibility()).length"
    for hidden in ("#wide-control", ".explorer-inline", "section.explorer"):
        assert tab.page.locator(hidden).evaluate_all(shown) == 0, hidden
    assert _load_every_image(tab.page) == []
    sources = tab.page.locator("img").evaluate_all("all => all.map(img => img.currentSrc)")
    assert sources and not any("/sprites/" in source for source in sources)
    assert tab.explorer_data() == []


def test_without_javascript_the_static_figures_are_there(browser, reports):  # noqa: F811
    with browser_tab(browser, folder_url(reports.heads.parent), javascript=False) as tab:
        for page in (
            _image_pages(reports.heads)[0],
            reports.heads / "index.html",
            reports.heads / "gallery/level-1-entropy-1.html",
            reports.single / "index.html",
        ):
            tab.open(page)
            assert_static(tab)
        # the two entropy charts, and the artifact scores' where some image has any
        charts = sorted(path.name for path in (reports.single / "charts").glob("*.svg"))
        analysis = Analysis.load(reports.single / "data")
        scored = any(image.artifact_score for image in analysis.images)
        assert charts == sorted(
            ["entropy-by-layer.svg", "entropy-histogram.svg"]
            + (["artifact-scores.svg"] if scored else [])
        )
        images = len(_image_ids(reports.single)) + len(charts)
        assert tab.page.locator("figure img").count() == images


def test_hostile_names_stay_data(tab, reports):
    data = [reports.heads / explorer.files(page.stem).data for page in _image_pages(reports.heads)]
    names = []
    for path in data:
        text = path.read_text()
        assert text.isascii() and not re.search(r"[<>&]", text), path
        names.append(json.loads(text[len("reportgenExplorer(") : -len(");\n")])["name"])
    assert set(HOSTILE_NAMES) <= set(names)
    for page_path in _image_pages(reports.heads):
        tab.open(page_path)
        tab.ready()
    tab.assert_clean()


def test_script_json_escapes_what_could_end_a_script():
    hostile = "</script><!--\u2028\u2029&"
    text = explorer.script_json({"name": hostile})
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text)["name"] == hostile


def test_quantised_grids_round_trip():
    rng = np.random.default_rng(0)
    values = rng.random((3, 4, 5)) * 1e-2
    packed = explorer.quantised(values, 16)
    levels = np.frombuffer(base64.b64decode(packed["data"]), "<u2").reshape(3, 20)
    low, high = np.array(packed["low"])[:, None], np.array(packed["high"])[:, None]
    restored = low + levels / 65535 * (high - low)
    assert np.allclose(restored, values.reshape(3, 20), atol=1e-2 / 65535)


# --- the report-wide control ------------------------------------------------------------------

PICTURES = "img[data-sprite], [data-sprite] img"  # the picture, or held (al-folio's include)


def _switched(tab: BrowserTab, value: str) -> list[bytes]:
    """Move the report-wide control to ``value``; screenshots of every visible picture it
    switches, each once it has loaded (lazy ones load when scrolled to)."""
    tab.page.fill("#wide-panel", value)
    shots = []
    for picture in tab.page.locator(PICTURES).filter(visible=True).all():
        picture.scroll_into_view_if_needed()
        picture.evaluate("img => img.decode()")
        shots.append(picture.screenshot())
    return shots


def assert_the_control_switches_every_overlay(tab: BrowserTab) -> None:
    """On the open page: L1, rollout and the last panel (the features, where the report has
    the token views) show other pictures than the published ones, from the sprites; back at the
    start, every picture is the published one again."""
    pictures = tab.page.locator(PICTURES)
    assert pictures.count() > 0
    assert tab.page.text_content("#wide-panel-name") == "as published"
    sources = pictures.evaluate_all("all => all.map(img => img.src)")
    published = _switched(tab, "0")
    first_layer = _switched(tab, "1")
    assert tab.page.text_content("#wide-panel-name") == "L1"
    switched = pictures.evaluate_all("all => all.map(img => img.src)")
    assert all("/sprites/" in source for source in switched)
    panels = tab.page.get_attribute("#wide-panel", "data-panels").split()
    rollout = _switched(tab, str(panels.index("rollout") + 1))
    assert tab.page.text_content("#wide-panel-name") == "rollout"
    assert first_layer != published and rollout != first_layer
    last = _switched(tab, tab.page.get_attribute("#wide-panel", "max"))
    assert tab.page.text_content("#wide-panel-name") == panels[-1]
    assert last != rollout
    _switched(tab, "0")
    assert pictures.evaluate_all("all => all.map(img => img.src)") == sources
    assert tab.page.locator("img.sprite-view").count() == 0
    tab.assert_clean()


@pytest.mark.parametrize("page_name", ["gallery/level-1-entropy-1.html", "index.html"])
def test_the_report_wide_control_switches_every_overlay(tab, reports, page_name):
    tab.open(reports.heads / page_name)
    assert_the_control_switches_every_overlay(tab)


PAGE_WEIGHT_LIMIT = 3_000_000  # bytes: a page with everything it loads (the galleries issue)


EXAMPLE_PHOTOS = ROOT / "examples" / "images"


def _photos(folder: Path, count: int) -> Path:
    """``count`` distinct square crops (seeded) of the example photos, at most 320 pixels."""
    rng = np.random.default_rng(0)
    sources = sorted(EXAMPLE_PHOTOS.glob("*/*.jpg"))
    folder.mkdir(parents=True)
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as photo:
            width, height = photo.size
            side = int(min(width, height) * rng.uniform(0.4, 0.9))
            left = int(rng.integers(0, width - side + 1))
            top = int(rng.integers(0, height - side + 1))
            crop = photo.convert("RGB").crop((left, top, left + side, top + side))
        crop.thumbnail((320, 320))
        crop.save(folder / f"photo{index:03d}.jpg", quality=90)
    return folder


@pytest.fixture(scope="module")
def full_gallery(tmp_path_factory) -> Path:
    """A report whose single level has 205 images, so one gallery page of 200 thumbnails, from
    a 12-layer model (18 panels a sprite, as ViT-S and ViT-B) on photos (crops of the example
    images): the realistic case of the page-weight bound."""
    tmp = tmp_path_factory.mktemp("full-gallery")
    model = tiny_model_dir(
        tmp_path_factory, "vit", num_hidden_layers=12, image_size=224, patch_size=16
    )
    return api.build(
        _photos(tmp / "images", 205),
        tmp / "site",
        AnalysisParams(model=str(model), levels=1),
        ReportOptions(slug="full", date=parse_date("2024-05-24"), formats=("html",)),
        Execution(device="cpu", cache_dir=tmp / "cache"),
    )


def test_a_full_gallery_page_with_every_sprite_loaded_stays_within_3_mb(browser, full_gallery):  # noqa: F811
    """Scrolled to the end, then the control moved through every panel and scrolled to the end
    again: every thumbnail and every sprite loaded, and all of it with the page <= 3 MB."""
    page_path = full_gallery / "gallery/level-1-entropy-1.html"
    with browser_tab(browser, folder_url(full_gallery)) as tab:
        tab.open(page_path)
        assert _load_every_image(tab.page) == []
        panels = int(tab.page.get_attribute("#wide-panel", "max"))
        assert panels == 18  # L1..L12, max, min, mean, rollout, N12, features
        for value in range(1, panels + 1):
            tab.page.fill("#wide-panel", str(value))
        assert _load_every_image(tab.page) == []
        files = {
            Path(unquote(urlsplit(url).path)) for url in tab.requests if url.startswith("file:")
        }
        assert Counter(path.parent.name for path in files) >= Counter(thumbs=200, sprites=200)
        assert {path.stem for path in files if path.parent.name == "sprites"} == {
            thumb.stem for thumb in files if thumb.parent.name == "thumbs"
        }
        weight = sum(path.stat().st_size for path in files)
        assert weight <= PAGE_WEIGHT_LIMIT, f"{weight / 1e6:.2f} MB with {len(files)} files"
        tab.assert_clean()


# --- inline explorers (single-page reports) ----------------------------------------------------


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


def test_an_inline_explorer_loads_only_its_image_and_draws_it(tab, reports):
    ids = _image_ids(reports.single)
    tab.open(reports.single / "index.html")
    assert tab.page.locator(".explorer-inline").count() == len(ids)
    assert tab.page.locator(".explorer-inline:visible").count() >= 1  # shown by the script
    assert tab.explorer_data() == []
    hostile = next(
        image.id
        for image in Analysis.load(reports.single / "data").images
        if image.name == HOSTILE_NAMES[0]
    )
    for image_id in (ids[0], hostile):
        section = open_inline_explorer(tab, image_id)
        record = _record(reports.single, image_id)
        tab.page.fill(f"#{section}-layer", "1")
        expected = render.overlay(record.seen_image, record.maps["layers"][0], "jet", 0.5)
        if record.artifact_mask is not None and record.artifact_mask[0].any():
            expected = render.outline_cells(expected, record.artifact_mask[0])
        assert np.abs(tab.pixels(section) - expected.astype(int)).max() <= 2
    assert tab.explorer_data() == [ids[0], hostile]
    button = tab.page.locator(f"[aria-controls={section}-panel]")
    button.click()
    assert button.get_attribute("aria-expanded") == "false"
    assert tab.page.is_hidden(f"#{section}")
    scripts = tab.page.locator("script[src]").evaluate_all("all => all.map(s => s.src)")
    assert sorted(src.rsplit("/", 1)[-1] for src in scripts) == sorted(
        ["slider.js", "explorer.js", "colormaps.js", f"{ids[0]}.js", f"{hostile}.js"]
    )
    tab.assert_clean()


def test_the_gfm_page_links_each_inline_explorer_which_the_link_opens(tab, reports):
    readme = (reports.single / "README.md").read_text()
    links = re.findall(r"\]\(index\.html#(explorer-[a-z0-9-]+)\)", readme)
    ids = _image_ids(reports.single)
    assert sorted(links) == sorted(f"explorer-{image_id}" for image_id in ids)
    tab.open((reports.single / "index.html").as_uri() + f"#explorer-{ids[-1]}")
    tab.ready(f"explorer-{ids[-1]}")
    assert tab.page.locator(f"#explorer-{ids[-1]}").is_visible()
    assert tab.explorer_data() == [ids[-1]]
    tab.assert_clean()


def test_the_standalone_explorer_draws_with_no_file_but_itself(browser, reports, tmp_path):  # noqa: F811
    """The page the notebook frames: scripts and image inline, the canvas the Python overlay,
    the hostile name shown as text."""
    analysis = Analysis.load(reports.single / "data")
    image = next(image for image in analysis.images if image.name == HOSTILE_NAMES[0])
    page = tmp_path / "standalone.html"
    page.write_text(explorer.standalone_page(analysis, image, FigureStyle(), Templates()))
    with browser_tab(browser, page.as_uri()) as tab:
        tab.open(page)
        tab.ready()
        record = analysis.record(image)
        tab.page.fill("#explorer-layer", "1")
        expected = render.overlay(record.seen_image, record.maps["layers"][0], "jet", 0.5)
        if record.artifact_mask is not None and record.artifact_mask[0].any():
            expected = render.outline_cells(expected, record.artifact_mask[0])
        assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
        assert tab.page.inner_text(".meta") == HOSTILE_NAMES[0]
        assert [url for url in tab.requests if not url.startswith("data:")] == [page.as_uri()]
        tab.assert_clean()


def test_the_notebook_explorer_works_in_its_sandboxed_frame(browser, reports, tmp_path):  # noqa: F811
    """Report.explorer's HTML in a page, as a notebook shows it: the frame's explorer draws and
    its layer slider changes the canvas."""
    from reportgen.notebook import Report

    report = Report.load(reports.single)
    image_id = report.analysis.images[0].id
    page = tmp_path / "cell.html"
    page.write_text(f"<!DOCTYPE html><html><body>{report.explorer(image_id).data}</body></html>")
    with browser_tab(browser, page.as_uri()) as tab:
        tab.open(page)
        frame = tab.page.frames[1]
        frame.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)
        canvas = "#explorer [data-control=canvas]"
        before = frame.eval_on_selector(canvas, "c => c.toDataURL()")
        frame.focus("#explorer-layer")
        tab.page.keyboard.press("ArrowLeft")
        assert frame.eval_on_selector(canvas, "c => c.toDataURL()") != before
        tab.assert_clean()
