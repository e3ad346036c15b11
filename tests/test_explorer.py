"""The attention explorer of the image pages (issue 12) in headless Chromium, from ``file://``:
the controls change the canvas, its pixels equal the Python overlays, nothing leaves the report,
hostile names stay data, and without JavaScript the page is the static one.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import rewrite_as_format_3, write_images
from PIL import Image
from test_browser import HOSTILE_NAMES, SENTINEL_SCRIPT, _hostile_folder, browser  # noqa: F401

from reportgen import api
from reportgen.publish import explorer, render, site
from reportgen.publish.site import ReportOptions
from reportgen.record import ImageRecord
from reportgen.results import Analysis, AnalysisOptions

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass(frozen=True)
class Reports:
    heads: Path  # hostile names, every head's attention (kept by default, 8-bit)
    no_heads: Path  # maps files as format 3 stored them by default: no per-head attention


@pytest.fixture(scope="module")
def reports(tiny_vit_dir, tmp_path_factory) -> Reports:
    tmp = tmp_path_factory.mktemp("explorer")
    date = site.parse_date("2024-05-24")
    options = ReportOptions(slug="heads", date=date, gallery_threshold=2, formats=("html",))
    heads = api.build(
        _hostile_folder(tmp / "hostile"),
        tmp / "site",
        AnalysisOptions(model=str(tiny_vit_dir), device="cpu", cache_dir=tmp / "cache"),
        options,
    )
    no_heads = api.build(
        write_images(tmp / "plain", 3, seed=2),
        tmp / "site",
        AnalysisOptions(model=str(tiny_vit_dir), device="cpu", cache_dir=tmp / "cache"),
        ReportOptions(slug="no-heads", date=date, gallery_threshold=2, formats=("html",)),
    )
    for maps_file in (no_heads / "data" / "maps").iterdir():
        rewrite_as_format_3(maps_file, heads=False)
    api.rerender(no_heads, cache_dir=tmp / "cache")
    return Reports(heads, no_heads)


@dataclass
class FileTab:
    """A page opened from disk, with what it logged and requested."""

    page: object
    root: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, path: Path) -> None:
        self.page.goto(path.as_uri(), wait_until="load")

    def ready(self) -> None:
        self.page.wait_for_selector("#explorer[data-ready=true]", timeout=10_000)

    def canvas(self) -> str:
        return self.page.eval_on_selector("[data-control=canvas]", "c => c.toDataURL()")

    def pixels(self) -> np.ndarray:
        """The canvas's RGB pixels."""
        url = self.canvas()
        png = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.page.evaluate("window.__xss") == 0
        inside = self.root.resolve().as_uri() + "/"
        outside = [url for url in self.requests if not url.startswith((inside, "data:"))]
        assert outside == [], outside


def _tab(browser, root: Path, javascript: bool = True):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, java_script_enabled=javascript
    )
    context.add_init_script(SENTINEL_SCRIPT)
    page = context.new_page()
    tab = FileTab(page, root)
    page.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    page.on("request", lambda request: tab.requests.append(request.url))
    return context, tab


@pytest.fixture
def tab(browser, reports):  # noqa: F811
    context, tab = _tab(browser, reports.heads.parent.parent)
    try:
        yield tab
    finally:
        context.close()


def _image_pages(report: Path) -> list[Path]:
    return sorted((report / "images").glob("*.html"))


def _record(report: Path, page: Path) -> ImageRecord:
    analysis = Analysis.load(report / "data")
    return analysis.record(next(image for image in analysis.images if image.id == page.stem))


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
    head_count = _record(reports.heads, page_path).cls_heads.shape[1]
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
    record = _record(reports.heads, page_path)
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
    tab.assert_clean()


def test_without_heads_the_selector_offers_only_the_mean(browser, reports):  # noqa: F811
    context, tab = _tab(browser, reports.no_heads)
    try:
        tab.open(_image_pages(reports.no_heads)[0])
        tab.ready()
        options = tab.page.eval_on_selector_all("#explorer-head option", "o => o.map(x => x.value)")
        assert options == ["mean"]
        assert tab.page.is_disabled("[data-control=show-heads]")
        assert tab.page.is_disabled("#explorer-artifacts")
        tab.assert_clean()
    finally:
        context.close()


def test_without_javascript_the_static_figure_is_there(browser, reports):  # noqa: F811
    context, tab = _tab(browser, reports.heads, javascript=False)
    try:
        tab.open(_image_pages(reports.heads)[0])
        assert tab.page.is_hidden("#explorer")
        figure = tab.page.locator("figure img").first
        assert figure.evaluate("img => img.complete && img.naturalWidth > 0")
        for page_name in ("index.html", "gallery/level-1-entropy-1.html"):
            tab.open(reports.heads / page_name)
            assert tab.page.is_hidden("#wide-control")
            sources = tab.page.locator("img[data-sprite]").evaluate_all(
                "all => all.map(img => img.currentSrc)"
            )
            assert sources and not any("/sprites/" in source for source in sources)
    finally:
        context.close()


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


def _switched(tab: FileTab, value: str) -> list[bytes]:
    """Move the report-wide control to ``value``; screenshots of every visible picture it
    switches, each once it has loaded (lazy ones load when scrolled to)."""
    tab.page.fill("#wide-panel", value)
    shots = []
    for picture in tab.page.locator("img[data-sprite]:visible").all():
        picture.scroll_into_view_if_needed()
        picture.evaluate("img => img.decode()")
        shots.append(picture.screenshot())
    return shots


@pytest.mark.parametrize("page_name", ["gallery/level-1-entropy-1.html", "index.html"])
def test_the_report_wide_control_switches_every_overlay(tab, reports, page_name):
    tab.open(reports.heads / page_name)
    pictures = tab.page.locator("img[data-sprite]")
    assert pictures.count() > 0
    assert tab.page.text_content("#wide-panel-name") == "as published"
    sources = pictures.evaluate_all("all => all.map(img => img.src)")
    published = _switched(tab, "0")
    first_layer = _switched(tab, "1")
    assert tab.page.text_content("#wide-panel-name") == "L1"
    switched = pictures.evaluate_all("all => all.map(img => img.src)")
    assert all("/sprites/" in source for source in switched)
    rollout = _switched(tab, tab.page.get_attribute("#wide-panel", "max"))
    assert tab.page.text_content("#wide-panel-name") == "rollout"
    assert first_layer != published and rollout != first_layer
    _switched(tab, "0")
    assert pictures.evaluate_all("all => all.map(img => img.src)") == sources
    assert tab.page.locator("img.sprite-view").count() == 0
    tab.assert_clean()
