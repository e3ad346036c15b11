"""The explorer reading each image's maps file itself (``--explorer-data maps``, the default
since issue 23), in headless Chromium: served over http(s) it fetches the ``.npz`` and draws the
Python overlays (layers, raw heads, single heads, max and mean it recomputes, min it reads or, in
files before format 6, recomputes, rollout), on image pages and inline; opened from disk it says
how to serve the folder or rebuild with data scripts; no data script is written or requested.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import rewrite_record_format, write_images
from explorer_pages import _record, browser_tab, folder_url, open_inline_explorer
from served_reports import browser, serving_folder  # noqa: F401

from reportgen import api, store
from reportgen.analysis.execution import Execution
from reportgen.errors import ReportgenError
from reportgen.methods import maps, registry
from reportgen.publish import explorer, render
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import Analysis, AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Served:
    url: str  # the site's address
    pages: Path  # a report with image pages (galleries)
    single: Path  # a single-page report: explorers inline, float16 heads


@pytest.fixture(scope="module")
def served(tiny_vit_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explorer-maps")
    site = tmp / "site"
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    options = ReportOptions(date=parse_date("2024-05-24"), formats=("html", "jekyll"))
    pages = api.build(
        write_images(tmp / "images", 3, seed=3),
        site,
        AnalysisParams(model=str(tiny_vit_dir), rollout_start_layer=1),  # min leaves layer 1 out
        options.changed(slug="pages", gallery_threshold=2),
        execution,
    )
    single = api.build(
        tmp / "images",
        site,
        AnalysisParams(model=str(tiny_vit_dir), keep_heads=True),
        options.changed(slug="single"),
        execution,
    )
    with serving_folder(site) as url:
        yield Served(url, pages, single)


def _url(served: Served, path: Path) -> str:
    return served.url + path.relative_to(served.pages.parents[1]).as_posix()  # the site's


def test_no_data_script_is_written(served):
    for report in (served.pages, served.single):
        written = sorted(path.name for path in (report / explorer.FOLDER).iterdir())
        assert not [name for name in written if name.endswith(".js") and "-" in name], written


def test_served_image_pages_draw_the_python_overlays_from_the_maps_file(browser, served):  # noqa: F811
    page_path = sorted((served.pages / "images").glob("*.html"))[0]
    record = _record(served.pages, page_path.stem)
    with browser_tab(browser, served.url) as tab:
        tab.open(_url(served, page_path))
        tab.ready()
        layers = record.maps["layers"]
        heads = record.cls_heads.astype(np.float64)

        def assert_shows(grid, mask=None):
            expected = render.overlay(record.seen_image, grid, "jet", 0.5)
            if mask is not None and mask.any():
                expected = render.outline_cells(expected, mask)
            assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2

        for layer in (1, len(layers)):
            tab.page.fill("#explorer-layer", str(layer))
            assert_shows(layers[layer - 1], record.artifact_mask[layer - 1])
        tab.page.select_option("#explorer-artifacts", "raw")
        assert_shows(heads.mean(axis=1)[-1])
        tab.page.select_option("#explorer-artifacts", "masked")
        tab.page.select_option("#explorer-head", "2")
        assert_shows(heads[-1, 1])
        tab.page.select_option("#explorer-head", "mean")
        options = tab.page.eval_on_selector_all("#explorer-map option", "o => o.map(x => x.value)")
        norms = ["norms"] if "norms" in record.maps else []
        features = ["features"] if "features" in record.maps else []
        assert options == ["layers", *norms, *features, *registry.grid_maps(record.maps)]
        every_layer = maps.aggregate(maps.relative_to_peak(layers.astype(np.float64)), "min")
        assert not np.allclose(record.maps["min"], every_layer)  # the kept min is what is drawn
        for name in ("max", "min", "mean", "rollout"):
            tab.page.select_option("#explorer-map", name)
            assert_shows(record.maps[name])
        if norms:  # 8-bit levels and their ranges, as the maps file keeps them
            tab.page.select_option("#explorer-map", "norms")
            assert_shows(record.maps["norms"][-1])
        if features:  # three 8-bit channels, drawn as they are
            tab.page.select_option("#explorer-map", "features")
            expected = render.colour_pixels(record.maps["features"], record.seen_image.shape[:2])
            assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
        requested = [url.removeprefix(served.url) for url in tab.requests]
        assert f"reports/pages/data/maps/{page_path.stem}.npz" in requested
        assert tab.explorer_data() == []  # no data script
        tab.assert_clean()


def test_the_report_says_which_layers_its_min_is_taken_over(served):
    text = " ".join(html.unescape((served.pages / "index.html").read_text()).split())
    assert "The smallest is taken over layers 2 to" in text  # rollout starts after layer 1


def test_a_served_inline_explorer_reads_float16_heads(browser, served):  # noqa: F811
    image_id = Analysis.load(served.single / "data").images[-1].id
    record = _record(served.single, image_id)
    with browser_tab(browser, served.url) as tab:
        tab.open(_url(served, served.single / "index.html"))
        section = open_inline_explorer(tab, image_id)
        tab.page.fill(f"#{section}-layer", str(len(record.maps["layers"])))
        tab.page.select_option(f"#{section}-head", "1")
        expected = render.overlay(
            record.seen_image, record.cls_heads.astype(np.float64)[-1, 0], "jet", 0.5
        )
        assert np.abs(tab.pixels(section) - expected.astype(int)).max() <= 2
        tab.assert_clean()


def test_a_page_opened_from_disk_says_how_to_serve_it(browser, served):  # noqa: F811
    page_path = sorted((served.pages / "images").glob("*.html"))[0]
    with browser_tab(browser, folder_url(served.pages)) as tab:
        tab.open(page_path)
        tab.page.wait_for_selector("#explorer[data-ready=unavailable]", timeout=10_000)
        status = tab.page.inner_text("#explorer [data-control=status]")
        assert "python -m http.server" in status and "--explorer-data scripts" in status
        assert tab.page.locator("#explorer canvas").is_hidden()
        tab.assert_clean()  # nothing fetched, nothing failed


def test_the_distill_flavour_needs_data_scripts():
    options = ReportOptions(formats=("distill",), explorer_data="maps")
    with pytest.raises(ReportgenError, match="--explorer-data maps does not work with"):
        options.validated()


@pytest.mark.parametrize("record_format", [4, 5])
def test_the_explorer_computes_the_min_of_a_maps_file_before_format_6_as_it_was_made(
    browser,  # noqa: F811
    served,
    record_format,
):
    page_path = sorted((served.pages / "images").glob("*.html"))[-1]
    maps_file = served.pages / "data" / "maps" / f"{page_path.stem}.npz"
    kept = maps_file.read_bytes()
    rewrite_record_format(maps_file, record_format)  # without its min, as those files were
    try:
        record = _record(served.pages, page_path.stem)
        layers = record.maps["layers"].astype(np.float64)
        # format 5: every layer relative to its peak; before: the plain minimum
        made = maps.relative_to_peak(layers) if record_format == 5 else layers
        expected_min = made.min(axis=0)
        np.testing.assert_allclose(record.maps["min"], expected_min, rtol=1e-6)
        with browser_tab(browser, served.url) as tab:
            tab.open(_url(served, page_path))
            tab.ready()
            tab.page.select_option("#explorer-map", "min")
            expected = render.overlay(record.seen_image, expected_min, "jet", 0.5)
            assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
            tab.assert_clean()
    finally:
        store.atomic_write(maps_file, kept)


def test_the_explorer_draws_a_format_6_file_as_it_was_made(browser, served):  # noqa: F811
    """Float32 maps and 8-bit heads, as format 6 and earlier keep them (format 7: float16 maps,
    4-bit heads two to a byte): a head and the min are drawn from them."""
    page_path = sorted((served.pages / "images").glob("*.html"))[0]
    maps_file = served.pages / "data" / "maps" / f"{page_path.stem}.npz"
    kept = maps_file.read_bytes()
    rewrite_record_format(maps_file, 6)
    try:
        record = _record(served.pages, page_path.stem)
        with np.load(maps_file) as data:
            assert data["layers"].dtype == np.float32
            assert data["cls_heads"].shape == record.cls_heads.shape  # one level a byte
        with browser_tab(browser, served.url) as tab:
            tab.open(_url(served, page_path))
            tab.ready()
            tab.page.select_option("#explorer-head", "2")
            expected = render.overlay(record.seen_image, record.cls_heads[-1, 1], "jet", 0.5)
            assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
            tab.page.select_option("#explorer-head", "mean")
            tab.page.select_option("#explorer-map", "min")
            expected = render.overlay(record.seen_image, record.maps["min"], "jet", 0.5)
            assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
            tab.assert_clean()
    finally:
        store.atomic_write(maps_file, kept)
