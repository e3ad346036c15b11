"""The attention explorer (issue 12) in headless Chromium, from ``file://``, on the image pages:
the controls change the canvas, its pixels equal the Python overlays, nothing leaves the report,
hostile names stay data, and without JavaScript the page is the static one. The report-wide
control switches every overlay of a page, and a full gallery page with every sprite loaded keeps
within the page-weight bound. Inline explorers: ``test_explorer_inline.py``. The jekyll tests
(``test_jekyll.py``) run the same checks on a real Jekyll build with the helpers here.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from conftest import ARTIFACTS, ROOT, tiny_model_dir
from explorer_pages import (
    BrowserTab,
    _image_ids,
    _record,
    browser_tab,
    fixture_reports,  # noqa: F401 (the fixture reports)
    fixture_tab,  # noqa: F401 (the fixture tab)
    folder_url,
)
from PIL import Image
from served_reports import HOSTILE_NAMES, _load_every_image, browser  # noqa: F401

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.publish import explorer, render
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import Analysis, AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _image_pages(report: Path) -> list[Path]:
    return sorted((report / "images").glob("*.html"))


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
